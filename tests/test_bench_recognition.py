"""The recognition benchmark: its rank-1 and AUC against hand-computed values,
the strength override of the styles, and the command end to end on a tiny
WIDER-format root made from the demo's face (dlib comes with the bench extra)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from crowdveil.bench.recognition import at_chance, auc, distances, rank1, recognition_command
from crowdveil.bench.wider import write_wider
from crowdveil.config import Config
from crowdveil.demo import astronaut_face, make_crowd
from crowdveil.redact import blur, mosaic, paint
from crowdveil.types import Detections


def test_rank1_counts_own_nearest_and_shares_ties():
    dist = np.array([
        [0.1, 0.5, 0.9],  # own nearest: 1
        [0.2, 0.3, 0.9],  # another is nearer: 0
        [0.4, 0.9, 0.4],  # tied with one other: 1/2
    ])
    assert rank1(dist) == pytest.approx((1 + 0 + 0.5) / 3)
    # Every probe the same (a solid fill): each is nearest to the same gallery face, exactly chance.
    same = np.tile([0.3, 0.7, 0.5, 0.9], (4, 1))
    assert rank1(same) == pytest.approx(1 / 4)


def test_auc_is_the_share_of_other_pairs_farther_than_own():
    dist = np.array([
        [0.1, 0.5, 0.9],
        [0.2, 0.3, 0.9],
        [0.4, 0.9, 0.4],
    ])
    # Other distances: 0.5 0.9 0.2 0.9 0.4 0.9. Own 0.1: 6 farther; own 0.3: 5 farther;
    # own 0.4: 4 farther and one tie.
    assert auc(dist) == pytest.approx((6 / 6 + 5 / 6 + 4.5 / 6) / 3)
    assert auc(np.tile([0.3, 0.7, 0.5, 0.9], (4, 1))) == pytest.approx(0.5)
    assert auc(np.array([[0.0, 1.0], [1.0, 0.0]])) == 1.0
    assert auc(np.array([[1.0, 0.0], [0.0, 1.0]])) == 0.0


def test_distances_and_the_at_chance_rule():
    a = np.array([[0.0, 0.0], [3.0, 4.0]], np.float32)
    assert distances(a, a).tolist() == [[0.0, 5.0], [5.0, 0.0]]
    assert at_chance(0.01, 0.005, 0.55) and not at_chance(0.011, 0.005, 0.5) and not at_chance(0.0, 0.005, 0.56)


@pytest.mark.parametrize("style,module,default", [("mosaic", mosaic, "BLOCKS_ACROSS"), ("blur", blur, "PIXELS_ACROSS")])
def test_paint_at_the_default_strength_is_paint_without_one(style, module, default):
    pixels, boxes = make_crowd()
    regions = Detections.from_boxes(boxes[-6:]).clip(pixels.shape[1], pixels.shape[0])
    config = Config(style=style)
    plain = paint(pixels, regions, config)
    assert np.array_equal(plain, paint(pixels, regions, config, strength=getattr(module, default)))
    weaker = paint(pixels, regions, config, strength=4 * getattr(module, default))
    assert not np.array_equal(plain, weaker)
    # A weaker setting keeps more of the face's detail: more distinct colours in the biggest region.
    x1, y1, x2, y2 = (int(v) for v in regions.xyxy[-1])
    assert len(np.unique(weaker[y1:y2, x1:x2].reshape(-1, 3), axis=0)) > len(np.unique(plain[y1:y2, x1:x2].reshape(-1, 3), axis=0))


def _faces_root(tmp_path, n: int = 6):
    """A WIDER root of ``n`` photos, each one face of 100-180 px on its own background, tinted differently."""
    from PIL import Image

    face = astronaut_face()
    images = []
    rng = np.random.default_rng(3)
    for i in range(n):
        h = 100 + 16 * i
        w = round(h * face.shape[1] / face.shape[0])
        canvas = rng.integers(40, 200, (h * 3, w * 3, 3)).astype(np.uint8)
        tinted = np.asarray(Image.fromarray(face).resize((w, h), Image.LANCZOS)).astype(np.int16)
        tinted = (tinted + rng.integers(-40, 40, 3)).clip(0, 255).astype(np.uint8)
        canvas[h : 2 * h, w : 2 * w] = tinted
        images.append((f"12--Group/{i}.jpg", canvas, [(w, h, w, h)]))
    write_wider(tmp_path, images)
    return tmp_path


def test_the_command_measures_every_style_and_the_control(tmp_path):
    pytest.importorskip("dlib")
    pytest.importorskip("face_recognition_models")
    root = _faces_root(tmp_path / "wider")
    out = tmp_path / "rec.json"
    result = CliRunner().invoke(recognition_command, ["--data", str(root), "--json", str(out), "--no-curve"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["faces"] == 6
    assert set(report["styles"]) == {"fill", "mosaic", "blur"}
    for entry in report["styles"].values():
        assert entry["chance"] == pytest.approx(1 / 6, abs=1e-4)
        assert set(entry["shapes"]) == {"box", "ellipse"}
    # A solid fill leaves every probe the same grey: exactly chance, by the tie rule.
    assert report["styles"]["fill"]["rank1"] == pytest.approx(1 / 6, abs=1e-4)
    assert report["styles"]["fill"]["auc"] == pytest.approx(0.5)
    # The recognizer works: an unredacted JPEG finds its original.
    assert report["unredacted_jpeg50"]["rank1"] == 1.0
    assert "| fill | box |" in result.output


def test_the_command_says_what_to_do_without_data(tmp_path):
    result = CliRunner().invoke(recognition_command, ["--data", str(tmp_path / "missing")])
    assert result.exit_code != 0 and "not a WIDER FACE root" in result.output
