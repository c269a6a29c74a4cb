"""The photo benchmark: WIDER parsing, the exposure/collateral metric (against
hand-computed values) and the CLI's JSON, on a tiny WIDER-format root built
from the synthetic demo crowd (no shared data needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from crowdveil.bench.metrics import box_cover, collateral_share, score_image, summarize
from crowdveil.bench.photos import photos_command, subset
from crowdveil.bench.wider import load_wider, parse_ground_truth, write_wider
from crowdveil.demo import make_crowd

GT_TEXT = """0--Parade/a.jpg
3
10 10 20 20 0 0 0 0 0 0 
5 5 0 10 2 0 0 0 0 0 
150 80 10 10 0 0 0 1 2 0 
12--Group/b.jpg
0
0 0 0 0 0 0 0 0 0 0 
12--Group/c.jpg
1
1 2 3 4 0 0 0 0 0 0 
"""


def test_ground_truth_parsing_keeps_order_flags_and_empty_images():
    images = parse_ground_truth(GT_TEXT)
    assert [im.relpath for im in images] == ["0--Parade/a.jpg", "12--Group/b.jpg", "12--Group/c.jpg"]
    a, b, c = images
    assert a.boxes.tolist() == [[10, 10, 20, 20], [5, 5, 0, 10], [150, 80, 10, 10]]
    assert a.invalid.tolist() == [False, False, True]
    # zero-width and invalid boxes are not scored
    assert a.scored.tolist() == [True, False, False]
    assert a.event == "0--Parade"
    assert b.boxes.shape == (0, 4)
    assert c.xyxy.tolist() == [[1, 2, 4, 6]]


def test_truncated_ground_truth_is_an_error():
    with pytest.raises(ValueError, match="box lines expected"):
        parse_ground_truth("0--Parade/a.jpg\n3\n1 2 3 4 0 0 0 0 0 0\n")


def test_metric_matches_hand_computed_values():
    mask = np.zeros((100, 200), bool)
    mask[10:30, 10:40] = True  # over faces 1 and 2
    mask[60:70, 90:110] = True  # over the lower part of face 3 and beside it
    mask[80:90, 0:10] = True  # far from any face
    boxes = np.array([
        [10, 10, 20, 20],   # fully covered
        [30, 10, 20, 20],   # cols 30..39 of 30..49 covered: 50 %  -> exposed
        [100, 50, 16, 16],  # not covered                           -> exposed
        [5, 5, 0, 10],      # zero width: not scored
        [150, 80, 10, 10],  # invalid: not scored
    ])
    scored = np.array([True, True, True, False, False])
    # face 3 spans rows 50..65, cols 100..115: rows 60..65 x cols 100..109 are covered, 60 of 256 px
    assert box_cover(mask, boxes[:3]).tolist() == [1.0, 0.5, 60 / 256]
    # Grown 1.5x around their centres, faces 1 and 2 allow rows 5..34 x cols 5..54 (the whole first
    # block) and face 3 rows 46..69 x cols 96..119: cols 90..95 of the second block (60 px) and the
    # whole third block (100 px) are collateral, 160 of 20,000 px.
    assert collateral_share(mask, boxes) == pytest.approx(160 / 20000)
    s = score_image("0--Parade", boxes, scored, mask, ms=50.0)
    assert s.heights.tolist() == [20, 20, 16] and s.exposed.tolist() == [False, True, True]

    other = score_image("12--Group", np.array([[0, 0, 9, 12], [0, 20, 30, 40], [50, 0, 80, 100]]),
                        np.array([True, True, True]), np.zeros((120, 200), bool), ms=150.0)
    summary = summarize([s, other])
    assert summary.faces == {"10-15": 1, "16-31": 3, "32-95": 1, ">=96": 1, "ge16": 5, "ge32": 2}
    assert summary.exposed["16-31"] == pytest.approx(2 / 3)
    assert summary.exposed["10-15"] == 1.0 and summary.exposed["32-95"] == 1.0
    assert summary.exposed["ge16"] == pytest.approx(4 / 5)
    assert summary.exposed["ge32"] == 1.0
    assert summary.collateral_pct == pytest.approx(100 * (160 / 20000 + 0) / 2)
    assert summary.images_per_s == pytest.approx(2 / 0.2)
    assert summary.median_ms == pytest.approx(100.0)
    assert summary.per_event["0--Parade"] == {"faces_ge16": 3, "exposed_ge16": pytest.approx(2 / 3)}


def test_subset_spreads_over_the_list():
    assert subset(list(range(100)), 5) == [0, 25, 50, 74, 99]
    assert subset([1, 2], 5) == [1, 2]


def test_deface_mask_matches_what_deface_paints():
    pytest.importorskip("deface.deface", reason="deface is in the bench extra")
    from deface.deface import anonymize_frame

    from crowdveil.bench.photos import deface_mask

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    dets = np.array([[40, 30, 80, 90, 0.9], [140, 100, 170, 130, 0.5]], np.float32)  # the second is cut by the border
    out = frame.copy()
    anonymize_frame(dets, out, mask_scale=1.3, replacewith="solid", ellipse=True, draw_scores=False,
                    replaceimg=None, mosaicsize=20)
    # "solid" paints the whole scaled box; our mask is the ellipse inside it (deface's default blur shape).
    painted_box = np.any(out != frame, axis=2)
    mask = deface_mask(dets, 120, 160)
    assert mask.any() and not (mask & ~painted_box).any()
    blurred = frame.copy()
    anonymize_frame(dets, blurred, mask_scale=1.3, replacewith="blur", ellipse=True, draw_scores=False,
                    replaceimg=None, mosaicsize=20)
    changed = np.any(blurred != frame, axis=2)
    assert not (changed & ~mask).any()
    assert changed[mask].mean() > 0.9  # random pixels change under a blur almost everywhere


@pytest.fixture(scope="module")
def demo_wider(tmp_path_factory):
    """Two images cut from the demo crowd, in WIDER format; returns the root and the face count."""
    pixels, boxes = make_crowd()
    images = []
    for i, (x0, y0, x1, y1) in enumerate([(0, 0, 720, 200), (700, 0, 1400, 200)]):
        crop = np.ascontiguousarray(pixels[y0:y1, x0:x1])
        inside = [(bx1 - x0, by1 - y0, bx2 - bx1, by2 - by1) for bx1, by1, bx2, by2 in boxes
                  if bx1 >= x0 and by1 >= y0 and bx2 <= x1 and by2 <= y1]
        images.append((f"99--Demo/crowd_{i}.jpg", crop, inside))
    root = tmp_path_factory.mktemp("wider")
    write_wider(root, images)
    return root, sum(len(b) for _, _, b in images)


def test_fixture_round_trips_through_the_loader(demo_wider):
    root, n = demo_wider
    loaded = load_wider(root)
    assert len(loaded) == 2 and sum(len(im.boxes) for _, im in loaded) == n >= 10
    assert all(path.is_file() for path, _ in loaded)


def test_cli_writes_the_promised_json(demo_wider, tmp_path):
    root, _ = demo_wider
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(photos_command, ["--data", str(root), "--json", str(out), "--preset", "default"])
    assert result.exit_code == 0, result.output
    assert "| **exposed, faces ≥ 16 px**" in result.output
    report = json.loads(out.read_text())
    sides = ["crowdveil", "deface"] if "deface" in report else ["crowdveil"]
    for side in sides:
        for key in ("exposed_ge16", "exposed_ge32", "collateral_pct", "images_per_s"):
            assert isinstance(report[side][key], float), (side, key)
        assert 0.0 <= report[side]["exposed_ge16"] <= 1.0 and report[side]["images_per_s"] > 0
    # The demo's faces are clear and frontal: the default covers every one of at least 16 px.
    assert report["crowdveil"]["exposed_ge16"] == 0.0
    assert report["crowdveil"]["failed_files"] == 0


def test_missing_data_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(photos_command, ["--data", str(tmp_path), "--no-deface"])
    assert result.exit_code == 2 and "not a WIDER FACE root" in result.output
