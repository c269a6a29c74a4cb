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
from crowdveil.bench.video import video_command
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
    result = CliRunner().invoke(photos_command, ["--data", str(root), "--json", str(out), "--preset", "default",
                                                 "--no-people-free"])
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


# -- people-free photos: the painted share -------------------------------------------------------


@pytest.fixture(scope="module")
def people_free_list(tmp_path_factory):
    """A list in the shared data's layout: a face-free gradient, a crowd crop turned by EXIF, a missing file."""
    from PIL import Image

    base = tmp_path_factory.mktemp("people_free")
    root = base / "metadata_samples"
    (root / "a").mkdir(parents=True)
    yy, xx = np.mgrid[0:240, 0:320]
    gradient = np.stack([60 + 120 * yy / 240, 90 + 100 * xx / 320, np.full(yy.shape, 140.0)], axis=2).astype(np.uint8)
    Image.fromarray(gradient).save(root / "a" / "empty.png")
    pixels, _ = make_crowd()
    # Stored sideways with orientation 6 (rotate 90° clockwise to view): decoded upright it is 480 wide, 360 high.
    crowd = Image.fromarray(np.ascontiguousarray(pixels[0:360, 0:480])).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    crowd.save(root / "a" / "crowd.jpg", quality=95, exif=exif)
    listing = base / "people_free.txt"
    listing.write_text("# comment\na/empty.png\n\na/crowd.jpg\na/missing.jpg\n")
    return listing


def test_people_free_photos_report_the_painted_share(people_free_list, tmp_path):
    out = tmp_path / "pf.json"
    result = CliRunner().invoke(photos_command, ["--no-wider", "--people-free", str(people_free_list),
                                                 "--preset", "default", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "**people-free photos: mean painted share** (n=2)" in result.output
    report = json.loads(out.read_text())
    assert "exposed_ge16" not in report["crowdveil"]  # --no-wider: the people-free part alone
    for side in report:
        for key in ("people_free_mean_pct", "people_free_worst_pct", "people_free_over5"):
            assert key in report[side], (side, key)
        files = {f["file"]: f for f in report[side]["people_free_files"]}
        assert files["a/empty.png"]["painted_pct"] == 0.0
        assert files["a/missing.jpg"]["painted_pct"] is None and "FileNotFoundError" in files["a/missing.jpg"]["error"]
        assert report[side]["people_free_photos"] == 2 and report[side]["people_free_not_measured"] == 1
        assert (files["a/crowd.jpg"]["width"], files["a/crowd.jpg"]["height"]) == (480, 360)
    mine = report["crowdveil"]
    crowd = {f["file"]: f for f in mine["people_free_files"]}["a/crowd.jpg"]
    assert 0.0 < crowd["painted_pct"] < 100.0 and crowd["regions"] > 0
    assert mine["people_free_worst_file"] == "a/crowd.jpg"
    assert mine["people_free_worst_pct"] == crowd["painted_pct"]
    assert mine["people_free_mean_pct"] == pytest.approx(crowd["painted_pct"] / 2)
    assert mine["people_free_over5"] == (1 if crowd["painted_pct"] > 5 else 0)


def test_people_free_none_with_no_wider_is_a_usage_error(people_free_list):
    result = CliRunner().invoke(photos_command, ["--no-wider", "--people-free", "none"])
    assert result.exit_code == 2 and "nothing to measure" in result.output
    result = CliRunner().invoke(photos_command, ["--no-wider", "--people-free", str(people_free_list),
                                                 "--people-free-root", str(people_free_list.parent / "nowhere")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_summaries_of_painted_shares():
    from crowdveil.bench.metrics import PaintedPhoto, frame_share_stats, summarize_painted

    summary = summarize_painted([PaintedPhoto("a", 0.0), PaintedPhoto("b", 12.0), PaintedPhoto("c", 3.0),
                                 PaintedPhoto("d", None, error="TooLarge")])
    assert summary["people_free_mean_pct"] == pytest.approx(5.0)
    assert (summary["people_free_worst_pct"], summary["people_free_worst_file"]) == (12.0, "b")
    assert summary["people_free_over5"] == 1 and summary["people_free_not_measured"] == 1
    stats = frame_share_stats([float(v) for v in range(0, 101, 10)])
    assert stats == {"painted_median_pct": 50.0, "painted_p90_pct": pytest.approx(90.0), "painted_max_pct": 100.0,
                     "painted_max_frame": 10}
    assert frame_share_stats([])["painted_max_pct"] is None


# -- video: the painted share of each frame ------------------------------------------------------


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory):
    from crowdveil.bench.video import write_moving_face_clip

    path = tmp_path_factory.mktemp("clip") / "face.mp4"
    boxes = write_moving_face_clip(path, width=320, height=240, frames=12, face_height=80)
    return path, boxes


def test_video_painted_shares_are_what_the_written_file_shows(face_clip, tmp_path):
    import av

    from crowdveil.bench.video import measure_crowdveil
    from crowdveil.config import Config

    src, boxes = face_clip
    shares: list[float] = []
    config = Config()
    _, report = measure_crowdveil(src, tmp_path, config, shares=shares)
    assert report["passed"] and len(shares) == len(boxes) == report["video"]["frames"]
    with av.open(str(tmp_path / "face.veiled.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24").astype(int) for f in c.decode(video=0)]
    for share, (x1, y1, x2, y2), rgb in zip(shares, boxes, frames):
        face_pct = 100 * (x2 - x1) * (y2 - y1) / (320 * 240)
        assert face_pct * 0.95 <= share < 100  # at least the face, never the whole frame
        # Every painted pixel shows the fill colour in the file (the textured background rarely does).
        grey = 100 * (np.abs(rgb - np.array(config.fill_color)).max(axis=2) <= 16).mean()
        assert grey >= 0.9 * share


def test_video_cli_reports_painted_share_columns(face_clip, tmp_path):
    src, boxes = face_clip
    out = tmp_path / "video.json"
    from crowdveil.bench.video import deface_available

    with_deface = deface_available() is None
    result = CliRunner().invoke(video_command, [str(src), "--no-leak", "--json", str(out)]
                                + ([] if with_deface else ["--no-deface"]))
    assert result.exit_code == 0, result.output
    assert "painted % median | p90 | max (frame)" in result.output and "leak test" not in result.output
    row = json.loads(out.read_text())["files"][str(src)]
    assert len(row["painted_pct_per_frame"]) == len(boxes)
    assert 0 < row["painted_median_pct"] <= row["painted_p90_pct"] <= row["painted_max_pct"] < 100
    assert row["painted_pct_per_frame"][row["painted_max_frame"]] == pytest.approx(row["painted_max_pct"], abs=1e-3)
    if row.get("deface") is not None:  # deface's own loop ran: its shares were recorded frame by frame
        assert len(row["deface"]["painted_pct_per_frame"]) == len(boxes)
        assert 0 <= row["deface"]["painted_median_pct"] <= row["deface"]["painted_max_pct"] < 100


def test_ceiling_reencodes_a_full_range_matroska_clip(tmp_path):
    """The ASL clips' kind of source (full-range, in Matroska's 1/1000 time base) gives every frame.

    The ASL clips themselves made the ceiling's muxer refuse packets all
    stamped 0; this synthetic clip did not reproduce that, it guards the path.
    """
    import av

    from crowdveil.bench.video import measure_ceiling

    src = tmp_path / "clip.mkv"
    rng = np.random.default_rng(1)
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuvj420p"
        for _ in range(8):
            rgb = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")))
        out.mux(stream.encode(None))
    assert measure_ceiling(src, tmp_path) > 0
    with av.open(str(tmp_path / "ceiling.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 8


def test_crowd_video_pans_move_the_ground_truth_with_the_picture(tmp_path):
    import av

    from crowdveil.bench.video_crowd import write_pan_clip

    pixels, boxes = make_crowd()
    xywh = np.array([(x1, y1, x2 - x1, y2 - y1) for x1, y1, x2, y2 in boxes], float)
    clip = write_pan_clip(pixels, xywh, tmp_path / "pan.mp4", frames=6)
    with av.open(str(clip.path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == len(clip.faces) == 6 and frames[0].shape == (clip.height, clip.width, 3)
    # The biggest face, where the frame shows it, is the same pixels as in the photo (H.264 at CRF 18).
    big = int(np.argmax(xywh[:, 3]))
    x, y, w, h = xywh[big].astype(int)
    for frame, moved in zip(frames, clip.faces):
        fx, fy = moved[big, :2].astype(int)
        if fx < 0 or fy < 0 or fx + w > clip.width or fy + h > clip.height:
            continue
        diff = np.abs(frame[fy:fy + h, fx:fx + w].astype(int) - pixels[y:y + h, x:x + w].astype(int)).mean()
        assert diff < 6


def test_crowd_video_scores_exposure_and_collateral_per_frame(tmp_path):
    from crowdveil.bench.video_crowd import CrowdVideoScore, PanClip

    faces = [np.array([[10, 10, 20, 20], [50, 10, 20, 20], [90, 90, 20, 20]], float)] * 2
    clip = PanClip(tmp_path / "x.mp4", 100, 100, faces, np.array([True, True, True]))
    covered_first = np.zeros((100, 100), bool)
    covered_first[10:30, 10:30] = True  # face 0 covered, face 1 exposed, face 2 is cut by the frame: not scored
    covered_first[60:70, 0:10] = True  # 1 % of the frame, outside every grown face box
    score = CrowdVideoScore()
    score.add([covered_first, covered_first], clip)
    d = score.to_dict()
    assert d["face_frames"] == 4 and d["exposed_all"] == 0.5 and d["exposed_ge16"] == 0.5
    assert d["collateral_pct"] == pytest.approx(1.0)


# -- enlarged close-ups ---------------------------------------------------------------------------


def test_a_closeup_holds_its_face_at_the_asked_size_in_the_middle():
    from crowdveil.bench.closeups import CLOSEUP_CONTEXT, closeup

    image = np.zeros((300, 400, 3), np.uint8)
    image[100:200, 20:100] = 255  # an 80 × 100 "face" near the left edge
    pixels, (x, y, w, h) = closeup(image, (20, 100, 80, 100), 320)
    side = round(CLOSEUP_CONTEXT * 100 * 3.2)
    assert pixels.shape == (side, side, 3) and (w, h) == (256, 320)
    assert abs(x + w / 2 - side / 2) <= 1 and abs(y + h / 2 - side / 2) <= 1
    assert pixels[y + 10 : y + h - 10, x + 10 : x + w - 10].min() == 255  # the face is where its box says
    assert pixels[side // 2, :20].max() == 0  # left of the photo: black


def test_cli_closeups_count_the_big_faces_left_exposed(tmp_path):
    from helpers import face_on_background

    pixels, boxes = face_on_background(640, 480, faces=((300, 200, 110), (80, 60, 24)))
    xywh = [(int(x1), int(y1), int(x2 - x1), int(y2 - y1)) for x1, y1, x2, y2 in boxes]
    write_wider(tmp_path / "wider", [("99--Demo/face.jpg", pixels, xywh)])
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(photos_command, ["--data", str(tmp_path / "wider"), "--json", str(out), "--preset",
                                                 "default", "--no-people-free", "--no-deface", "--closeups"])
    assert result.exit_code == 0, result.output
    assert "enlarged close-ups left exposed, face 320 px tall (of 1)" in result.output
    report = json.loads(out.read_text())["crowdveil"]
    assert report["closeups_faces"] == 1  # only the face of 96 px or more
    assert report["closeups_exposed"] == {"320": 0, "160": 0}
    refused = CliRunner().invoke(photos_command, ["--no-wider", "--closeups"])
    assert refused.exit_code == 2
