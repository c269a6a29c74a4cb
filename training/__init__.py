"""Training the second-stage candidate classifier: ``python -m training`` from the repository root.

Kept outside the ``crowdveil`` package on purpose: it needs PyTorch (``pip install -e '.[train]'``),
which the product never imports; the product runs the exported ONNX file with onnxruntime.
It calls the product's own ``crowdveil.detect.second_stage.classifier_inputs``, so the two
read candidates the same way.
"""
