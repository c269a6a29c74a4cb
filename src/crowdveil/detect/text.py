"""Text regions (licence plates, badges, signs, writing on clothes): PaddleOCR's PP-OCRv4 detector.

The ONNX file ships in the ``rapidocr-onnxruntime`` wheel (Apache-2.0), read
and sha256-checked like every weight file; the package itself is never
imported. The network is a DB (differentiable binarization) segmenter: it
gives each pixel a probability of being text, on a shrunk kernel of each
line. Its regions here are the bounding boxes of the connected parts of that
map, grown back by DB's unclip distance (area × ratio / perimeter), so a
tilted line is covered by its axis-aligned box.

Small text matters most (a plate is 20-40 px tall in a street photo): besides
a whole-image pass at ``WHOLE_LONG_SIDE``, a larger photo is read in
overlapping tiles at its own resolution (less when very large, as for faces:
``tiling.small_face_scale``). Overlapping finds are merged into the box
enclosing them, so a line cut by a tile border is still covered whole.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..types import Detections
from . import weights
from .base import Detector, rescale
from .onnx_session import make_session, shared_session
from .tiling import small_face_scale, tile_origins

KIND = "text"
_MULTIPLE = 32  # the network's input sides are multiples of its largest stride
WHOLE_LONG_SIDE = 960  # PP-OCR's own default limit for the whole-image pass
TILE_PX = 960
TILE_OVERLAP = 0.25
TILED_BUDGET_MPX = 24.0  # network input pixels of the tiled pass, at most (big photos shrink to fit)
MAX_SCALE = 2.0  # small photos are read enlarged: PP-OCR finds lines from ~10 px tall at its input
# DB post-processing, PaddleOCR's defaults: pixel threshold, a region's mean probability, unclip ratio.
PIXEL_THRESHOLD = 0.3
REGION_THRESHOLD = 0.5
UNCLIP_RATIO = 1.6
MIN_SIDE = 3  # map pixels; thinner parts are noise
def _session():
    return shared_session(("ppocr",), lambda: make_session(weights.load_verified(weights.PPOCR_TEXT_DET)))


def regions_from_probability(prob: np.ndarray, threshold: float = PIXEL_THRESHOLD,
                             region_threshold: float = REGION_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (x1 y1 x2 y2, map pixels) and scores of the text regions of a DB probability map."""
    binary = (prob > threshold).astype(np.uint8)
    # PaddleOCR dilates the text mask by 2 × 2 before finding its parts (close letters join into a line).
    count, labels, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(binary, np.ones((2, 2), np.uint8)),
                                                               connectivity=8)
    boxes, scores = [], []
    for i in range(1, count):
        x, y, w, h, _area = stats[i]
        if min(w, h) < MIN_SIDE:
            continue
        inside = (labels[y : y + h, x : x + w] == i) & (binary[y : y + h, x : x + w] > 0)
        score = float(prob[y : y + h, x : x + w][inside].mean())
        if score < region_threshold:
            continue
        grow = w * h * UNCLIP_RATIO / (2 * (w + h))  # DB's unclip distance for a w × h kernel
        boxes.append([x - grow, y - grow, x + w + grow, y + h + grow])
        scores.append(score)
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32)


class PPOCRText(Detector):
    """One pass of the PP-OCRv4 text detector at ``scale``."""

    def __init__(self, scale: float = 1.0, region_threshold: float = REGION_THRESHOLD) -> None:
        self.scale = scale
        self.region_threshold = region_threshold
        self.name = f"ppocr-text@{scale:g}x>{region_threshold:g}"
        self._sess = _session()  # load (and check the weights) now: ModelError before any work

    @property
    def models(self) -> dict[str, str]:
        return {"ch_PP-OCRv4_det_infer.onnx (rapidocr-onnxruntime)": weights.PPOCR_TEXT_DET.sha256}

    def detect(self, rgb: np.ndarray) -> Detections:
        h, w = rgb.shape[:2]
        img = rescale(rgb, self.scale)
        ih, iw = img.shape[:2]
        ph, pw = -(-ih // _MULTIPLE) * _MULTIPLE, -(-iw // _MULTIPLE) * _MULTIPLE
        # BGR scaled to [-1, 1], as PaddleOCR trains it; padding is 0 (mid grey), no text.
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :ih, :iw] = (img[:, :, ::-1].astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)
        prob = self._sess.run(None, {self._sess.get_inputs()[0].name: blob})[0][0, 0, :ih, :iw]
        boxes, scores = regions_from_probability(prob, region_threshold=self.region_threshold)
        dets = Detections.from_boxes(boxes, scores, kind=KIND, source=self.name).clip(iw, ih)
        if self.scale != 1.0 and len(dets):
            dets = dets.scale(w / iw, h / ih)
        return dets


class TextDetector(Detector):
    """Text regions of a photo: a whole-image pass, plus tiles at full resolution for small text."""

    name = "ppocr-text"

    def __init__(self, region_threshold: float = REGION_THRESHOLD, *, whole_long_side: int = WHOLE_LONG_SIDE,
                 tile_px: int = TILE_PX, budget_mpx: float = TILED_BUDGET_MPX, max_scale: float = MAX_SCALE) -> None:
        self.region_threshold = region_threshold
        self.whole_long_side = whole_long_side
        self.tile_px = tile_px
        self.budget_mpx = budget_mpx
        self.max_scale = max_scale
        self._at: dict[float, PPOCRText] = {}
        self._at_scale(1.0)

    def _at_scale(self, scale: float) -> PPOCRText:
        if scale not in self._at:
            self._at[scale] = PPOCRText(scale, self.region_threshold)
        return self._at[scale]

    @property
    def models(self) -> dict[str, str]:
        return self._at_scale(1.0).models

    def detect(self, rgb: np.ndarray) -> Detections:
        h, w = rgb.shape[:2]
        whole = min(1.0, self.whole_long_side / max(h, w))
        found = [self._at_scale(whole).detect(rgb)]
        tiled = small_face_scale(h, w, self.budget_mpx, max_scale=self.max_scale)
        if tiled > whole:
            tile = max(64, int(self.tile_px / tiled))
            net = self._at_scale(tiled)
            for y in tile_origins(h, tile, TILE_OVERLAP):
                for x in tile_origins(w, tile, TILE_OVERLAP):
                    found.append(net.detect(np.ascontiguousarray(rgb[y : y + tile, x : x + tile])).shift(x, y))
        # Enclose, never drop: a part of a line found in one tile and the whole line in another stay covered.
        return Detections.merge(found).nms(0.1, enclose=True)
