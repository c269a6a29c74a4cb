"""The second stage: the shipped classifier loads only with its own digest, keeps real
faces and drops real non-faces, and merged regions never balloon over their neighbours."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from skimage import data as skdata

from crowdveil.detect import weights
from crowdveil.detect.registry import CANDIDATE_VIEWS, build_candidates, build_detector
from crowdveil.detect.second_stage import (
    CLOSER_CROP_PX,
    CLOSER_MAX_PX,
    CLOSER_MIN_PX,
    MAX_ENCLOSE_GROWTH,
    Candidates,
    SecondStage,
    _run_classifier,
    candidate_crops,
    closer_crops,
    closer_rows,
    candidate_features,
    build_reader,
    feature_count,
    neighbourhood,
    second_look,
)
from crowdveil.demo import make_crowd
from crowdveil.errors import ModelError
from crowdveil.types import Detections, box_coverage, box_iou

from PIL import Image

from helpers import astronaut_face, face_on_background


@pytest.fixture(scope="module")
def second_stage() -> SecondStage:
    detector = build_detector("default")
    assert isinstance(detector, SecondStage)
    return detector


def test_the_classifier_weights_ship_inside_the_package_and_are_small():
    raw = weights.load_verified(weights.CANDIDATE_CLASSIFIER)
    assert 10_000 < len(raw) <= 2_000_000


def test_classifier_weights_with_another_digest_are_refused():
    tampered = dataclasses.replace(weights.CANDIDATE_CLASSIFIER, sha256="0" * 64)
    with pytest.raises(ModelError, match="expected 0000"):
        SecondStage(build_candidates(), 0.1, model=tampered)


def test_a_missing_classifier_file_is_a_model_error_that_says_what_to_do():
    absent = dataclasses.replace(weights.CANDIDATE_CLASSIFIER, relative_path="detect/models/no_such_file.onnx")
    with pytest.raises(ModelError) as info:
        SecondStage(build_candidates(), 0.1, model=absent)
    assert "reinstall" in info.value.hint.lower()


def test_the_closer_look_ships_inside_the_package_is_small_and_the_default_reads_it(second_stage):
    raw = weights.load_verified(weights.CLOSER_LOOK)
    assert 10_000 < len(raw) <= 2_000_000
    assert second_stage.models["closer_look.onnx (crowdveil)"] == weights.CLOSER_LOOK.sha256


def test_closer_look_weights_with_another_digest_are_refused():
    tampered = dataclasses.replace(weights.CLOSER_LOOK, sha256="0" * 64)
    with pytest.raises(ModelError, match="expected 0000"):
        SecondStage(build_candidates(), 0.1, closer=tampered)


def test_the_closer_look_reads_the_big_candidates_at_64_px_with_the_same_context():
    rgb = np.zeros((200, 200, 3), np.uint8)
    rgb[90:110, 90:110] = 255  # a white 20-px square inside a 40-px box: the centre half of its crop
    boxes = Detections.from_boxes([[80, 80, 120, 120], [10, 10, 20, 20], [0, 0, 24, 24], [0, 0, 150, 150]])
    # the huge one keeps the first network's answer (read closer, enlarged close-ups lost faces)
    assert closer_rows(boxes).tolist() == [0, 2] and (CLOSER_MIN_PX, CLOSER_MAX_PX) == (24, 128)
    assert closer_rows(boxes, every_size=True).tolist() == [0, 2, 3]
    crops = closer_crops(rgb, boxes.xyxy[closer_rows(boxes)])
    assert crops.shape == (2, 3, CLOSER_CROP_PX, CLOSER_CROP_PX) == (2, 3, 64, 64)
    white = np.argwhere(crops[0, 0] > 127)  # 2× context: the 20 px of an 80-px square at 64 px is 16 px
    assert 15 <= white[:, 0].max() - white[:, 0].min() + 1 <= 17 and abs(white.mean() - 31.5) < 1


def test_the_closer_look_keeps_a_real_face_and_turns_down_a_table_and_a_cup(second_stage):
    photo = skdata.coffee().copy()
    photo[40:200, 420:540] = np.asarray(Image.fromarray(astronaut_face()).resize((120, 160)))
    proposed = second_stage.candidates.detect(photo)
    face = proposed[box_iou(proposed.xyxy, np.array([[420, 40, 540, 200]], np.float32))[:, 0] >= 0.3]
    # 48-px boxes over the cup, saucer and table, as a lone CenterFace view proposes them
    grid = [[x, y, x + 48, y + 48] for x in range(10, 380, 60) for y in range(10, 350, 60)]
    elsewhere = Detections.from_boxes(grid, score=[0.06] * len(grid), source=["centerface"] * len(grid))
    candidates = Detections.merge([face, elsewhere])
    p, features = second_stage.probabilities(photo, candidates)
    rows = closer_rows(candidates)
    assert len(face) and rows.tolist() == list(range(len(candidates)))  # all of them 24-127 px
    closer = _run_classifier(second_stage._closer_sess, closer_crops(photo, candidates.xyxy[rows]), features[rows])
    assert np.array_equal(p, closer)  # its answer is the one they are judged by
    assert (closer[: len(face)] >= 0.9).all(), closer[: len(face)]
    assert np.median(closer[len(face):]) < 0.03 and closer[len(face):].max() < 0.2, closer[len(face):]


def test_each_candidate_is_read_by_one_network_and_the_second_look_only_serves_the_first(second_stage, monkeypatch):
    from crowdveil.detect import second_stage as module

    photo = skdata.coffee().copy()
    photo[40:200, 420:540] = np.asarray(Image.fromarray(astronaut_face()).resize((120, 160)))
    sizes = [12, 20, 30, 60, 100, 140, 200]
    boxes = Detections.from_boxes([[10 + i * 2, 10, 10 + i * 2 + h, 10 + h] for i, h in enumerate(sizes)],
                                  score=[0.3] * len(sizes), source=["centerface"] * len(sizes))
    looked, first_read, closer_read = [], [], []
    real_look, real_run = module.second_look, module._run_classifier

    def look(rgb, candidates, reader):
        looked.extend(candidates.height.tolist())
        return real_look(rgb, candidates, reader)

    def run(session, crops, features):
        (closer_read if session is second_stage._closer_sess else first_read).append(len(crops))
        return real_run(session, crops, features)

    monkeypatch.setattr(module, "second_look", look)
    monkeypatch.setattr(module, "_run_classifier", run)
    p, features = second_stage.probabilities(photo, boxes)
    assert p.shape == (7,) and ((p >= 0) & (p <= 1)).all()
    assert sorted(looked) == [12, 20, 140, 200]  # the first network's candidates: under 24 px and from 128 px
    assert sum(first_read) == 4 and sum(closer_read) == 3  # 30, 60 and 100 px: the closer look's
    assert features.shape == (7, feature_count(CANDIDATE_VIEWS))


def test_features_say_which_views_agree_and_how_big_a_box_is_beside_its_neighbours():
    faces = [[100, 100, 120, 124], [101, 99, 121, 123], [300, 100, 320, 124], [301, 101, 321, 125]]
    outsize = [[500, 50, 900, 450]]
    d = Detections.from_boxes(faces + outsize, score=[0.9, 0.8, 0.7, 0.6, 0.06],
                              source=["centerface", "yunet", "centerface", "yunet-mirrored", "centerface"])
    f = candidate_features(d, CANDIDATE_VIEWS)
    assert f.shape == (5, feature_count(CANDIDATE_VIEWS))  # classifier_inputs appends the second look to these
    views = len(CANDIDATE_VIEWS)
    assert f[0, :views].tolist() == pytest.approx([0.9, 0, 0.8, 0, 0])  # its own view and YuNet's overlapping box
    assert f[0, views] == 2 and f[4, views] == 1  # views agreeing
    vs_median = f[:, -3]
    assert vs_median[4] > 3.5  # the big lone box is > 2**3.5 times the confident faces' height
    assert abs(vs_median[0]) < 0.2


def test_crops_are_centred_with_context_and_black_outside_the_image():
    rgb = np.full((100, 100, 3), 255, np.uint8)
    crops = candidate_crops(rgb, np.array([[40, 40, 60, 60], [-10, -10, 10, 10]], np.float32), size=24)
    assert crops.shape == (2, 3, 24, 24)
    assert crops[0].min() == 255  # 2× context of a centred box stays inside the image
    assert crops[1][:, :10, :10].max() == 0 and crops[1][:, -5:, -5:].min() == 255


def test_a_neighbourhood_holds_its_box_with_context_and_says_where_it_lies():
    rgb = np.arange(100 * 120 * 3, dtype=np.uint32).reshape(100, 120, 3).astype(np.uint8)
    for box in ([40.3, 30.6, 60.2, 45.1], [-12.5, 80, 7.5, 110], [110, -5, 130, 20]):
        canvas, (x1, y1, x2, y2) = neighbourhood(rgb, box, 2.5)
        side = max(box[2] - box[0], box[3] - box[1]) * 2.5
        assert canvas.shape[:2] == (y2 - y1, x2 - x1)
        assert side <= x2 - x1 <= side + 2 and side <= y2 - y1 <= side + 2
        assert x1 <= box[0] and y1 <= box[1] and x2 >= box[2] and y2 >= box[3]
        # the canvas is the image where they overlap, black elsewhere
        ix1, iy1, ix2, iy2 = max(0, x1), max(0, y1), min(120, x2), min(100, y2)
        assert (canvas[iy1 - y1 : iy2 - y1, ix1 - x1 : ix2 - x1] == rgb[iy1:iy2, ix1:ix2]).all()
        outside = np.ones(canvas.shape[:2], bool)
        outside[iy1 - y1 : iy2 - y1, ix1 - x1 : ix2 - x1] = False
        assert canvas[outside].max(initial=0) == 0


def test_the_second_look_reads_big_candidates_again_sixteen_to_a_mosaic():
    pixels, boxes = face_on_background(640, 480, faces=((300, 200, 80),))
    face, texture, tiny = list(boxes[0]), [20, 20, 100, 100], [10, 400, 20, 410]
    cands = Detections.from_boxes([face] * 18 + [texture, tiny])  # 19 big ones: two mosaics
    scores = second_look(pixels, cands, build_reader())
    assert (scores[:18] > 0.5).all(), scores
    assert scores[18] < 0.05 and scores[19] == 0  # the tiny one is not re-read


def test_a_real_face_is_kept(second_stage):
    pixels, boxes = face_on_background(640, 480, faces=((300, 200, 60), (80, 60, 24)))
    found = second_stage.detect(pixels)
    cover = box_coverage(np.array(boxes, np.float32), found.expand(0.3).xyxy).max(axis=1)
    assert (cover >= 0.8).all(), found.to_list()


def test_faces_in_a_small_picture_are_kept(second_stage):
    # A 200-px strip: a classifier that learnt "small picture, no face" turned all of these down.
    pixels, boxes = make_crowd()
    strip = np.ascontiguousarray(pixels[:200, :720])
    faces = np.array([b for b in boxes if b[2] <= 720 and b[3] <= 200 and b[3] - b[1] >= 16], np.float32)
    found = second_stage.detect(strip)
    cover = box_coverage(faces, found.expand(0.3).xyxy).max(axis=1)
    assert len(faces) >= 6 and (cover >= 0.8).all(), cover


def test_the_astronaut_photo_keeps_her_face(second_stage):
    photo = skdata.astronaut()
    found = second_stage.detect(photo)
    face = np.array([[165, 35, 285, 195]], np.float32)  # demo._FACE_CROP
    assert box_coverage(face, found.expand(0.3).xyxy).max() >= 0.8


def test_the_judgement_is_what_is_painted_and_every_candidate_turned_down(second_stage):
    # a face on the coffee photo: the face is kept; the cup and saucer are proposed and turned down
    photo = skdata.coffee().copy()
    photo[40:200, 420:540] = np.asarray(Image.fromarray(astronaut_face()).resize((120, 160)))
    proposed = second_stage.candidates.detect(photo)
    judged = second_stage.judge(photo)
    assert len(judged.faces) and len(judged.rejected) and len(judged.rejected) < len(proposed)
    # the rejected are the proposals as their views found them: box, view score and view name
    pairs = {(tuple(b), float(s), str(v)) for b, s, v in zip(proposed.xyxy.tolist(), proposed.score, proposed.source)}
    assert all((tuple(b), float(s), str(v)) in pairs
               for b, s, v in zip(judged.rejected.xyxy.tolist(), judged.rejected.score, judged.rejected.source))
    assert judged.faces.to_list() == second_stage.detect(photo).to_list()


# Animals are left out, as in the people-free benchmark list: a cat's face is a face to a face detector.
@pytest.mark.parametrize("name", ["grass", "brick", "gravel", "coffee", "rocket", "coins", pytest.param(
    "hubble_deep_field", marks=pytest.mark.xfail(strict=True, reason="a known weakness: galaxies are blobs the views "
                                                 "and the classifier take for faces (9 % of the picture painted)"))])
def test_photos_with_no_person_get_no_region_or_nearly_none(second_stage, name):
    photo = getattr(skdata, name)()
    if photo.ndim == 2:
        photo = np.stack([photo] * 3, axis=2)
    proposed = second_stage.candidates.detect(photo)
    found = second_stage.detect(photo)
    painted = np.zeros(photo.shape[:2], bool)
    for x1, y1, x2, y2 in found.expand(0.3).clip(photo.shape[1], photo.shape[0]).xyxy.astype(int):
        painted[y1:y2, x1:x2] = True
    # The views alone propose things here; the classifier turns them down.
    assert painted.mean() <= 0.02, (len(proposed), found.to_list())


def test_enclosing_nms_never_grows_a_box_past_its_bound():
    # Six small faces under one big low-score box, plus their duplicates.
    small = [[x, 100, x + 20, 124] for x in range(100, 400, 50)]
    dups = [[x + 2, 101, x + 22, 126] for x in range(100, 400, 50)]
    big = [[90, 60, 410, 300]]
    d = Detections.from_boxes(small + dups + big, score=[0.9] * 6 + [0.8] * 6 + [0.95])
    merged = d.nms(0.4, enclose=True, max_growth=MAX_ENCLOSE_GROWTH)
    # Every kept box is at most (1 + 2 × growth) × the size of the box it grew from.
    assert len(merged) == 7
    for box in merged.xyxy:
        w, h = box[2] - box[0], box[3] - box[1]
        assert w <= 320 * (1 + 2 * MAX_ENCLOSE_GROWTH) and h <= 240 * (1 + 2 * MAX_ENCLOSE_GROWTH)
    faces = merged[merged.xyxy[:, 2] - merged.xyxy[:, 0] < 40]
    assert len(faces) == 6 and (faces.width <= 22).all()  # each face grew over its duplicate only


def test_a_far_box_is_not_swallowed_by_a_bounded_enclose():
    # A strong small box and a weaker big one overlapping it above the NMS threshold:
    # unbounded, the small one would grow into the big one.
    d = Detections.from_boxes([[0, 0, 10, 10], [0, 0, 14, 14]], score=[0.9, 0.5])
    assert d.nms(0.4, enclose=True).xyxy.tolist() == [[0, 0, 14, 14]]
    bounded = d.nms(0.4, enclose=True, max_growth=0.2)
    assert sorted(bounded.xyxy.tolist()) == [[0, 0, 10, 10], [0, 0, 14, 14]]  # both kept, neither grown


def test_candidates_keep_each_view_apart():
    class Fixed:
        models: dict = {}

        def __init__(self, boxes):
            self.boxes = boxes

        def detect(self, rgb):
            return Detections.from_boxes(self.boxes, source="whatever")

    c = Candidates([Fixed([[0, 0, 5, 5]]), Fixed([[1, 1, 6, 6], [9, 9, 12, 12]])], ["a", "b"])
    found = c.detect(np.zeros((20, 20, 3), np.uint8))
    assert found.source.tolist() == ["a", "b", "b"]
    with pytest.raises(ValueError):
        Candidates([Fixed([])], ["a", "b"])
