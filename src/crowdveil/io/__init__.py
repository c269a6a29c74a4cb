"""Reading media in and writing clean media out: one module per format family."""
