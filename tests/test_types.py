"""Detections geometry: the one object every stage passes on."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crowdveil.types import Detections, box_coverage, box_iou

coords = st.floats(0, 1000, allow_nan=False, width=32)


@st.composite
def boxes(draw, n=st.integers(0, 8)):
    out = []
    for _ in range(draw(n)):
        x1, y1 = draw(coords), draw(coords)
        out.append([x1, y1, x1 + draw(st.floats(1, 300, width=32)), y1 + draw(st.floats(1, 300, width=32))])
    return np.array(out, np.float32).reshape(-1, 4)


def test_construct_index_merge():
    a = Detections.from_boxes([[0, 0, 10, 10], [5, 5, 20, 20]], score=[0.9, 0.5], source="a")
    b = Detections.from_boxes([[100, 100, 110, 120]], kind="manual")
    m = Detections.merge([a, Detections.empty(), b])
    assert len(m) == 3 and list(m.kind) == ["face", "face", "manual"]
    assert len(m[m.score > 0.6]) == 2 and m[0].xyxy.tolist() == [[0, 0, 10, 10]]
    assert len(Detections.merge([])) == 0
    with pytest.raises(ValueError):
        Detections(np.zeros((2, 4), np.float32), np.zeros(1, np.float32), np.array(["f"] * 2, object),
                   np.zeros(2, np.int64), np.array([""] * 2, object))


def test_expand_clip_and_nms():
    d = Detections.from_boxes([[10, 10, 30, 50]])
    assert d.expand((0.5, 0.25, 0.5, 0.0)).xyxy.tolist() == [[0, 0, 40, 50]]
    assert d.expand(1.0).clip(35, 100).xyxy.tolist() == [[0, 0, 35, 90]]
    assert len(Detections.from_boxes([[200, 200, 210, 210]]).clip(100, 100)) == 0
    dup = Detections.from_boxes([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], score=[0.5, 0.9, 0.7])
    kept = dup.nms(0.4)
    assert sorted(kept.score.tolist()) == pytest.approx([0.7, 0.9])
    # enclose: the strongest box grows over the one it suppressed; the far box is untouched.
    enclosed = dup.nms(0.4, enclose=True)
    assert enclosed.xyxy.tolist() == [[0, 0, 11, 11], [50, 50, 60, 60]]
    assert enclosed.score.tolist() == pytest.approx([0.9, 0.7])


@given(boxes())
def test_enclosing_nms_covers_every_input_pixel(a):
    d = Detections.from_boxes(a, score=np.linspace(1, 0.1, len(a)))
    kept = d.nms(0.3, enclose=True)
    assert len(kept) <= len(d)
    if len(d):
        # every input box lies inside some kept box
        inside = ((d.xyxy[:, None, :2] >= kept.xyxy[None, :, :2] - 1e-4).all(-1)
                  & (d.xyxy[:, None, 2:] <= kept.xyxy[None, :, 2:] + 1e-4).all(-1))
        assert inside.any(1).all()


@given(boxes(n=st.integers(0, 40)), st.sampled_from([(False, None), (True, None), (True, 0.5)]))
def test_nms_whole_matrix_and_row_by_row_agree(a, mode):
    # Up to _NMS_MATRIX boxes nms precomputes every row; beyond, it computes one row per kept box.
    import crowdveil.types as types

    enclose, growth = mode
    d = Detections.from_boxes(a, score=np.linspace(1, 0.1, len(a)))
    whole = d.nms(0.3, enclose=enclose, max_growth=growth)
    saved, types._NMS_MATRIX = types._NMS_MATRIX, 0
    try:
        by_row = d.nms(0.3, enclose=enclose, max_growth=growth)
    finally:
        types._NMS_MATRIX = saved
    assert whole.xyxy.tolist() == by_row.xyxy.tolist() and whole.score.tolist() == by_row.score.tolist()


@given(boxes(), boxes())
def test_iou_and_coverage_properties(a, b):
    iou = box_iou(a, b)
    assert iou.shape == (len(a), len(b))
    assert np.allclose(iou, box_iou(b, a).T, atol=1e-5)
    assert ((iou >= 0) & (iou <= 1 + 1e-5)).all()
    cov = box_coverage(a, b)
    assert ((cov >= 0) & (cov <= 1 + 1e-5)).all() and (cov >= iou - 1e-5).all()
    if len(a):
        assert np.allclose(np.diag(box_iou(a, a)), 1, atol=1e-4)


@given(boxes(), st.floats(0, 2))
def test_expand_contains_original(a, f):
    d = Detections.from_boxes(a)
    grown = d.expand(f)
    assert (box_coverage(d.xyxy, grown.xyxy).diagonal() >= 1 - 1e-4).all() if len(d) else True


@given(boxes(), st.sampled_from(["fill", "mosaic", "blur"]), st.sampled_from(["box", "ellipse"]))
def test_every_style_paints_exactly_the_region_mask(a, style, shape):
    from crowdveil.config import Config
    from crowdveil.redact import paint, region_mask

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (48, 64, 3), np.uint8)
    regions = Detections.from_boxes(a)
    config = Config(style=style, shape=shape)
    out = paint(pixels, regions, config)
    mask = region_mask(48, 64, regions, shape)
    assert np.array_equal(out[~mask], pixels[~mask])  # nothing outside is touched
    if style == "fill":  # the slice fast path (box) and the mask path (ellipse) fill the same pixels
        assert (out[mask] == config.fill_color).all()


def test_verification_cannot_be_turned_off():
    """``Config.verify`` was documented as a switch and never read: a caller who turned it off got it on."""
    from crowdveil.config import Config

    assert Config().verify is True
    with pytest.raises(ValueError, match="verify cannot be turned off"):
        Config(verify=False)
