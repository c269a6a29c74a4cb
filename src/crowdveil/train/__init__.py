"""Training the second-stage candidate classifier (``pip install 'crowdveil[train]'``).

Never imported by the product: the product runs the exported ONNX file with
onnxruntime. ``python -m crowdveil.train`` reproduces the shipped weights.
"""
