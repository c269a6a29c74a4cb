"""What a run covers besides faces, composed on the face detector and verifier.

``--cover text`` adds the text detector's regions (kind ``text``) to what the
face detector finds, and to what the verifier re-detects in the written file,
so a line still readable after painting is painted and checked again, and one
still found fails the file. Bodies need no detector: they are derived from
the painted faces (``redact.bodies``). With faces only, the detectors are
returned unchanged: the face path is the same code as without this module.
"""

from __future__ import annotations

import numpy as np

from ..config import Config
from ..types import Detections
from .base import Detector, Judgement


class Covering(Detector):
    """The face detector's regions plus the text detector's."""

    def __init__(self, faces: Detector, text: Detector) -> None:
        self.faces = faces
        self.text = text
        self.name = f"{getattr(faces, 'name', 'faces')}+{getattr(text, 'name', 'text')}"

    @property
    def models(self) -> dict[str, str]:
        return {**self.faces.models, **self.text.models}

    def detect(self, rgb: np.ndarray) -> Detections:
        return self.judge(rgb).faces

    def judge(self, rgb: np.ndarray) -> Judgement:
        faces = self.faces.judge(rgb)
        return Judgement(Detections.merge([faces.faces, self.text.detect(rgb)]), faces.rejected)


# As for faces, the pass that decides what is painted takes more than the verifier fails a
# file for: the verifier re-reads a photo whose painted boxes changed what is around them,
# and a faint find there is most often the edge of a box, not a line left readable.
DETECT_TEXT_THRESHOLD = 0.4
VERIFY_TEXT_THRESHOLD = 0.6
_TEXT: dict[str, Detector] = {}


def text_detector(role: str = "detector") -> Detector:
    """The text detector of ``role`` (``detector`` or ``verifier``), one per process, built on first use."""
    if role not in _TEXT:
        from .text import TextDetector

        _TEXT[role] = TextDetector(DETECT_TEXT_THRESHOLD if role == "detector" else VERIFY_TEXT_THRESHOLD)
    return _TEXT[role]


def with_covers(detector: Detector, config: Config, role: str = "detector") -> Detector:
    """``detector`` (the face detector, or with ``role="verifier"`` the verifier) extended by ``config.cover``."""
    if "text" not in config.cover or isinstance(detector, Covering):
        return detector
    return Covering(detector, text_detector(role))
