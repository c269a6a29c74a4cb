"""A second network's opinion on a first network's big, unsure finds (a detector wrapping a detector).

YuNet's false finds in a video of one person signing are hands and shirt
prints, face-sized and scoring 0.45-0.8: no rule on score, size or track
length separates them from a real face in a crowd. CenterFace rarely makes
the same mistake ("It Takes Two to Tango", CVPR Workshops 2018: two
detectors' true finds agree, their false ones differ). ``Confirmed`` re-reads
each such find's neighbourhood with CenterFace, enlarged to the scale it
reads best, and keeps the find only where CenterFace sees a face there too.
Small finds and sure ones are kept unread: recall first, and in a crowd
most faces are small.
"""

from __future__ import annotations

import numpy as np

from ..types import Detections, box_iou
from .base import Detector
from .second_stage import neighbourhood, resized

__all__ = ["Confirmed", "confirmation_scores"]

# A find is re-read when it is CONFIRM_MIN_PX tall or more (as the first network saw it) and scores
# under CONFIRM_SURE: smaller or surer ones are kept as they are. Measured on the video benchmark
# (the detector's and the verifier's finds both confirmed): from 64 px, the ASL clips' worst frames
# went 15.9 -> 14.2 % (brother), 15.2 -> 14.1 % (night), 10.6 -> 5.6 % (help), and the crowd
# clips' collateral 17.0 -> 14.9 % with 4 exposed face-frames of 3,098 fewer (248 -> 244). From
# 48 px: 8 more face-frames exposed, 16-31-px faces that a 48-63-px find over them had covered.
# Of 35 faces >= 48 px that YuNet scored 0.4-0.85 on the WIDER images (protest and training
# sets), CenterFace scored one under 0.05 here (0.04, a loose box of a face whose tighter box it
# scored 0.18; next lowest: masked surgeons, 0.067 and 0.075); of 62 finds of hands >= 48 px at
# 0.3-0.85 on the ASL clips, it scored 37 % under 0.05.
CONFIRM_MIN_PX = 64
CONFIRM_SURE = 0.85
# The re-read crop: CONFIRM_CONTEXT × the find's longer side, centred on it, resized to CONFIRM_CROP_PX
# (the find then spans ~64 px, a size CenterFace is sure at).
CONFIRM_CONTEXT = 3.0
CONFIRM_CROP_PX = 192
# CenterFace's score at the find that keeps it; its box must overlap the find (CONFIRM_IOU), or sit
# inside it at about its size (a find grown towards the back of the head is wider than the face).
CONFIRM_SCORE = 0.05
CONFIRM_IOU = 0.3


def _crop(rgb: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The find's neighbourhood at ``CONFIRM_CROP_PX`` (black outside the frame), and the find in its coordinates."""
    canvas, (left, top, right, bottom) = neighbourhood(rgb, box, CONFIRM_CONTEXT)
    kx, ky = CONFIRM_CROP_PX / (right - left), CONFIRM_CROP_PX / (bottom - top)
    x1, y1, x2, y2 = (float(v) for v in box)
    target = np.array([[(x1 - left) * kx, (y1 - top) * ky, (x2 - left) * kx, (y2 - top) * ky]], np.float32)
    return resized(canvas, CONFIRM_CROP_PX), target


def confirmation_scores(rgb: np.ndarray, boxes: np.ndarray, reader: Detector) -> np.ndarray:
    """``reader``'s best score at each box, read on the box's enlarged neighbourhood (0 where it sees nothing)."""
    scores = np.zeros(len(boxes), np.float32)
    for i, box in enumerate(boxes):
        crop, target = _crop(rgb, box)
        found = reader.detect(crop)
        if not len(found):
            continue
        overlap = box_iou(target, found.xyxy)[0] >= CONFIRM_IOU
        centres = (found.xyxy[:, :2] + found.xyxy[:, 2:]) / 2
        th = float(target[0, 3] - target[0, 1])
        inside = ((centres[:, 0] >= target[0, 0]) & (centres[:, 0] <= target[0, 2]) & (centres[:, 1] >= target[0, 1])
                  & (centres[:, 1] <= target[0, 3]) & (found.height >= 0.5 * th) & (found.height <= 2.0 * th))
        match = overlap | inside
        if match.any():
            scores[i] = float(found.score[match].max())
    return scores


class Confirmed(Detector):
    """``first``'s finds, less its big unsure ones that ``reader`` does not see a face at.

    ``scale``: how ``first`` resized the image (its finds' heights × ``scale``
    are what it saw); ``min_px``: the height, so seen, from which a find is
    re-read. The finds dropped are not painted; their count is not kept:
    this detector says only where the faces are.
    """

    def __init__(self, first: Detector, reader: Detector, *, scale: float = 1.0, min_px: int = CONFIRM_MIN_PX) -> None:
        self.first, self.reader, self.scale, self.min_px = first, reader, scale, min_px
        self.name = f"{first.name}, big unsure finds confirmed by {reader.name}"

    @property
    def models(self) -> dict[str, str]:
        return {**self.first.models, **self.reader.models}

    def detect(self, rgb: np.ndarray) -> Detections:
        found = self.first.detect(rgb)
        if not len(found):
            return found
        asked = np.flatnonzero((found.height * self.scale >= self.min_px) & (found.score < CONFIRM_SURE)
                               & (found.kind == "face"))
        if not len(asked):
            return found
        keep = np.ones(len(found), bool)
        keep[asked] = confirmation_scores(rgb, found.xyxy[asked], self.reader) >= CONFIRM_SCORE
        return found if keep.all() else found[keep]
