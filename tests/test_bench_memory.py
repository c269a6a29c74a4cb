"""``crowdveil bench memory``'s plumbing on a tiny photo (the measurements themselves are the benchmark's, never a test)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from crowdveil.bench.big_photo import BIG_FACES, BIG_HEIGHT, BIG_WIDTH, planted_faces, write_big_photo
from crowdveil.bench.memory import TIME, covered_faces, max_rss_bytes, parse_custom
from crowdveil.cli import main


def test_planted_faces_are_the_scripts_at_200_mp_and_fit_small_photos():
    assert planted_faces(BIG_WIDTH, BIG_HEIGHT) == BIG_FACES
    assert [h for _, _, h in planted_faces(8000, 6000)] == [h for _, _, h in BIG_FACES]  # a phone photo: same faces
    for x, y, h in planted_faces(320, 240):
        assert 0 <= x and 0 <= y and y + h <= 240


def test_max_rss_is_read_from_gnu_time_output():
    report = "\tUser time (seconds): 1.0\n\tMaximum resident set size (kbytes): 123456\n\tExit status: 0\n"
    assert max_rss_bytes(report) == 123456 * 1024
    with pytest.raises(ValueError):
        max_rss_bytes("time: cannot run crowdveil")


def test_custom_case_names():
    assert parse_custom("640x480.jpg") == ("custom-640x480-jpg", 640, 480, ".jpg")
    with pytest.raises(Exception):
        parse_custom("640x480.png")


def test_covered_faces_reads_the_written_pixels(tmp_path):
    photo = write_big_photo(tmp_path / "p.jpg", 640, 480)
    assert covered_faces(photo.path, photo.faces, (128, 128, 128)) == 0  # nothing painted yet
    pixels = np.asarray(Image.open(photo.path)).copy()
    x1, y1, x2, y2 = photo.faces[0]
    pixels[y1:y2, x1:x2] = 128
    Image.fromarray(pixels).save(tmp_path / "one.png")
    assert covered_faces(tmp_path / "one.png", photo.faces, (128, 128, 128)) == 1


@pytest.mark.skipif(not Path(TIME).exists(), reason="GNU time (/usr/bin/time) measures the child's peak memory")
def test_bench_memory_runs_the_command_and_checks_the_faces(tmp_path):
    out = tmp_path / "memory.json"
    result = CliRunner().invoke(main, ["bench", "memory", "--custom", "640x480.jpg", "--work", str(tmp_path / "work"),
                                       "--json", str(out)])
    assert result.exit_code == 0, result.output
    case, = json.loads(out.read_text())["cases"]
    assert case["case"] == "custom-640x480-jpg" and case["exit_code"] == 0
    assert 50 < case["peak_rss_mb"] < 4096  # an interpreter with the models loaded, nowhere near a 200 MP photo's
    assert case["faces_planted"] == 4 and case["faces_covered"] == 4
    assert case["within_target"] is None  # a custom case has no target
    assert Path(case["output"]).suffix == ".jpg"
    assert "custom-640x480-jpg" in result.output and "4/4" in result.output
