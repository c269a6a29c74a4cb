"""A first network's big, unsure finds are kept only where CenterFace, reading their
neighbourhood enlarged, sees a face too (``detect.confirm``); small or sure finds are kept unread."""

from __future__ import annotations

import numpy as np
from PIL import Image
from skimage import data as skdata

from crowdveil.detect.base import Detector
from crowdveil.detect.centerface import CenterFace
from crowdveil.detect.confirm import CONFIRM_MIN_PX, CONFIRM_SCORE, CONFIRM_SURE, Confirmed, confirmation_scores
from crowdveil.detect.registry import PHOTO_THRESHOLDS, _yunet, build_detector, build_verifier
from crowdveil.types import Detections, box_iou

from helpers import astronaut_face


class Says(Detector):
    """A first network that finds exactly the boxes it is given."""

    name = "says"

    def __init__(self, boxes, scores) -> None:
        self.found = Detections.from_boxes(boxes, scores, source="says")
        self.calls = 0

    def detect(self, rgb: np.ndarray) -> Detections:
        self.calls += 1
        return self.found


class Counting(Detector):
    """A reader that sees nothing and counts the crops it was shown."""

    name = "counting"

    def __init__(self) -> None:
        self.shown: list[tuple[int, int]] = []

    def detect(self, rgb: np.ndarray) -> Detections:
        self.shown.append(rgb.shape[:2])
        return Detections.empty()


def _coffee_with_a_face() -> tuple[np.ndarray, list[float], list[float]]:
    """The coffee photo with the astronaut's face pasted on it: the face's box, and the saucer's."""
    photo = skdata.coffee().copy()  # 400 × 600
    photo[40:200, 420:540] = np.asarray(Image.fromarray(astronaut_face()).resize((120, 160)))
    return photo, [420, 40, 540, 200], [60, 230, 330, 390]


def test_centerface_confirms_a_real_face_and_not_a_saucer():
    photo, face, saucer = _coffee_with_a_face()
    scores = confirmation_scores(photo, np.array([face, saucer], np.float32), CenterFace(threshold=CONFIRM_SCORE))
    assert scores[0] >= 0.5 and scores[1] < CONFIRM_SCORE, scores


def test_a_big_unsure_find_is_dropped_where_centerface_sees_no_face_and_kept_where_it_does():
    photo, face, saucer = _coffee_with_a_face()
    first = Says([face, saucer], [0.6, 0.6])
    kept = Confirmed(first, CenterFace(threshold=CONFIRM_SCORE)).detect(photo)
    assert kept.xyxy.tolist() == [face]


def test_small_finds_and_sure_ones_are_kept_without_asking():
    photo = np.zeros((400, 400, 3), np.uint8)
    small = [10, 10, 30, CONFIRM_MIN_PX - 1 + 10]
    sure = [100, 100, 200, 220]
    big_unsure = [250, 250, 350, 370]
    reader = Counting()
    first = Says([small, sure, big_unsure], [0.3, CONFIRM_SURE, CONFIRM_SURE - 0.01])
    kept = Confirmed(first, reader).detect(photo)
    assert kept.xyxy.tolist() == [small, sure]  # the reader saw nothing at the big unsure one
    assert len(reader.shown) == 1


def test_the_height_that_asks_is_the_one_the_first_network_saw():
    # a 100-px find on a frame the first network read at half size was 50 px to it: kept unread
    assert CONFIRM_MIN_PX > 50
    reader = Counting()
    first = Says([[0, 0, 100, 100]], [0.5])
    frame = np.zeros((200, 200, 3), np.uint8)
    assert len(Confirmed(first, reader, scale=0.5).detect(frame)) == 1
    assert reader.shown == []
    assert len(Confirmed(first, reader, scale=1.0).detect(frame)) == 0
    assert len(reader.shown) == 1


def test_fast_photos_leave_the_coffee_cup_and_keep_the_face():
    # YuNet alone at --fast's threshold takes the cup for a 325-px face (0.35); CenterFace does not.
    cup = skdata.coffee()
    assert len(_yunet(PHOTO_THRESHOLDS["fast"]).detect(cup)) == 1
    assert len(build_detector("fast").detect(cup)) == 0
    photo, face, _ = _coffee_with_a_face()
    for detector in (build_detector("fast"), build_verifier("fast")):
        found = detector.detect(photo)
        assert len(found) == 1 and box_iou(np.array([face], np.float32), found.xyxy)[0, 0] > 0.5, found.xyxy


def test_min_px_sets_the_height_from_which_finds_are_read_again():
    photo = np.zeros((400, 400, 3), np.uint8)
    eighty, hundred = [10, 10, 70, 90], [200, 200, 280, 300]
    reader = Counting()
    kept = Confirmed(Says([eighty, hundred], [0.5, 0.5]), reader, min_px=96).detect(photo)
    assert kept.xyxy.tolist() == [eighty] and len(reader.shown) == 1
