"""``scripts/precision_bounds.py``: the "never wrong" classifier's regions, on hand-made candidates
(the script itself reads the benchmark, which tests do not have)."""

import importlib.util
from pathlib import Path

import numpy as np

from crowdveil.types import Detections
from training.labels import FACE, NOT_FACE

_SPEC = importlib.util.spec_from_file_location(
    "precision_bounds", Path(__file__).resolve().parents[1] / "scripts" / "precision_bounds.py")
bounds = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bounds)

SHAPE = (200, 200)
FACE_BOX = np.array([[50, 50, 80, 80]], np.float32)  # one scored 30-px face
SCORED = np.array([True])


def regions(xyxy, p, labels):
    candidates = Detections.from_boxes(np.array(xyxy, np.float32), np.array(p, np.float32))
    p = candidates.score.copy()
    accepted = np.ones(len(p), bool)
    default = bounds.painted(candidates, p, accepted, SHAPE, 0.3)
    kept = bounds.never_wrong(candidates, p, accepted, np.array(labels, np.int8), [FACE], FACE_BOX, SCORED,
                              default, SHAPE, 0.3)
    return default, kept


def test_a_never_wrong_classifier_drops_the_accepted_non_face_far_from_every_face():
    default, kept = regions([[52, 52, 78, 78], [150, 150, 190, 190]], [0.9, 0.5], [FACE, NOT_FACE])
    assert default[170, 170] and not kept[170, 170]
    assert kept[65, 65] and kept.sum() < default.sum()


def test_a_face_only_a_non_face_box_covered_gets_that_box_back():
    # a box nine times the face's area over it: labelled not a face, yet it is what covers the face
    default, kept = regions([[20, 20, 110, 110], [150, 150, 190, 190]], [0.3, 0.5], [NOT_FACE, NOT_FACE])
    assert default[50:80, 50:80].all() and kept[50:80, 50:80].all()
    assert not kept[170, 170]  # only the box over the face came back
