"""``crowdveil audit FILE…``: names the kinds of identifying metadata, never their values.

Exit code 1 when any file carries any, 0 when every file is clean, 2 for bad usage.
The fixtures are the audit's own (tests/test_audit.py), written to disk; what each
one must contain is checked there against exiftool, so here only the command's
contract is tested: exit codes, one line per file, the ``--json`` shape, and that
no planted value ever reaches the output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from crowdveil.cli import EXIT, main
from crowdveil.verify.audit import KINDS, audit_file

from helpers import face_on_background, jpeg_with_phone_metadata
from test_audit import CLEAN, DIRTY, XMP_PACKET, _image, _video, clean_fixtures, dirty_fixtures

SUFFIXES = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "tiff": ".tif", "heif": ".heic",
            "mp4": ".mp4", "mov": ".mov", "mkv/webm": ".mkv", "riff-avi": ".avi"}


def audit(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["audit", *map(str, args)])
    return result.exit_code, result.output


def write(folder: Path, name: str, data: bytes, fmt: str) -> Path:
    path = folder / f"{name}{SUFFIXES[fmt]}"
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def dirty_files(tmp_path_factory) -> dict[str, tuple[Path, str, set[str]]]:
    folder = tmp_path_factory.mktemp("dirty")
    return {name: (write(folder, name, data, fmt), fmt, expected)
            for name, (data, fmt, expected) in ((n, dirty_fixtures()[n]) for n in DIRTY)}


@pytest.fixture(scope="module")
def clean_files(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("clean")
    return {name: (write(folder, name, data, fmt), fmt) for name, (data, fmt) in ((n, clean_fixtures()[n]) for n in CLEAN)}


def test_json_lists_the_kinds_of_every_dirty_file_and_exits_1(dirty_files):
    paths = [path for path, _fmt, _expected in dirty_files.values()]
    code, output = audit("--json", *paths)
    assert code == EXIT["failed"], output
    listing = json.loads(output)
    assert list(listing) == [str(p) for p in paths]  # one entry per argument, in order
    for name, (path, fmt, expected) in dirty_files.items():
        entry = listing[str(path)]
        assert set(entry) == {"format", "kinds", "where"}, entry
        assert entry["format"] == fmt
        assert entry["kinds"] == sorted(set(entry["kinds"])) and set(entry["kinds"]) <= set(KINDS)
        assert expected <= set(entry["kinds"]), (name, expected - set(entry["kinds"]))
        assert entry["kinds"] == audit_file(path).kinds
        assert entry["where"] == sorted(set(entry["where"])) and entry["where"]
        assert all(isinstance(w, str) and w for w in entry["where"])


def test_clean_files_exit_0_one_line_each(clean_files):
    paths = [path for path, _fmt in clean_files.values()]
    code, output = audit(*paths)
    assert code == EXIT["ok"], output
    assert output.splitlines() == [f"{path} ({fmt}): clean" for path, fmt in clean_files.values()]
    code, output = audit("--json", *paths)
    assert code == EXIT["ok"]
    assert json.loads(output) == {str(path): {"format": fmt, "kinds": [], "where": []}
                                  for path, fmt in clean_files.values()}


def test_one_dirty_file_among_clean_ones_exits_1(clean_files, dirty_files):
    clean, _ = clean_files["jpeg"]
    dirty, _, _ = dirty_files["jpeg_exif"]
    code, output = audit(clean, dirty, clean_files["png"][0])
    assert code == EXIT["failed"]
    lines = output.splitlines()
    assert len(lines) == 3 and lines[0] == f"{clean} (jpeg): clean"
    assert lines[1].startswith(f"{dirty} (jpeg): ") and "GPS position" in lines[1] and "camera serial" in lines[1]


def test_human_output_is_one_unwrapped_line_per_file_however_long(tmp_path, dirty_files):
    """Rich would wrap at 80 columns when piped; a path cut in two cannot be grepped or pasted."""
    deep = tmp_path / ("long-folder-name-" * 6) / ("and-another-one-" * 4)
    deep.mkdir(parents=True)
    path = deep / "phone.jpg"
    path.write_bytes(dirty_files["jpeg_exif"][0].read_bytes())
    code, output = audit(path)
    assert code == EXIT["failed"]
    assert output.splitlines() == [f"{path} (jpeg): {', '.join(audit_file(path).kinds)}"]


def test_file_names_are_printed_as_they_are(tmp_path, clean_files):
    """Rich markup and emoji codes in a name are shown literally, not interpreted."""
    path = tmp_path / "march:thumbs_up:[bold red]x.jpg"
    path.write_bytes(clean_files["jpeg"][0].read_bytes())
    code, output = audit(path)
    assert code == EXIT["ok"]
    assert output.splitlines() == [f"{path} (jpeg): clean"]


def _files_with_planted_values(folder: Path) -> tuple[list[Path], tuple[str, ...]]:
    pixels, _ = face_on_background(160, 120, faces=((50, 20, 60),))
    # phone_exif: DemoPhone DP-1, "demo 1.0", serial SN-0042-DEMO, 2026:11:01 14:03:00,
    # GPS 48°51'24" N 2°17'40" E, and a thumbnail.
    phone = jpeg_with_phone_metadata(folder / "phone.jpg", pixels)
    info = PngInfo()
    info.add_text("Author", "Planted Person")
    info.add_text("Comment", "meet at the north gate")
    info.add_itxt("XML:com.adobe.xmp", XMP_PACKET.decode())  # exif:GPSLatitude="48,51.462N", a face region
    text_png = folder / "notes.png"
    Image.fromarray(pixels).save(text_png, pnginfo=info)
    xmp_webp = folder / "xmp.webp"
    _image().save(xmp_webp, "WEBP", xmp=XMP_PACKET)
    located = folder / "clip.mp4"
    located.write_bytes(_video(metadata={"creation_time": "2024-05-01T12:00:00Z", "location": "+48.8577+002.2950/",
                                         "title": "Planted Title"}))
    planted = ("DemoPhone", "DP-1", "demo 1.0", "SN-0042-DEMO", "2026:11:01", "14:03", "48 deg", "51'", "48.85",
               "2.294", "Planted Person", "north gate", "51.462", "48.8577", "2.2950", "2024-05-01", "Planted Title",
               "Lavf")
    return [phone, text_png, xmp_webp, located], planted


def test_values_are_never_printed(tmp_path):
    paths, planted = _files_with_planted_values(tmp_path)
    for args in (paths, ["--json", *paths]):
        code, output = audit(*args)
        assert code == EXIT["failed"]
        assert [value for value in planted if value in output] == []
    listing = json.loads(audit("--json", *paths)[1])
    assert {"GPS position", "camera serial", "embedded thumbnail", "timestamps"} <= set(listing[str(paths[0])]["kinds"])
    assert {"owner/author", "comment", "face regions"} <= set(listing[str(paths[1])]["kinds"])
    assert "location" in listing[str(paths[3])]["kinds"]


def test_installed_command(tmp_path, dirty_files, clean_files):
    """The console script itself, as a user runs it."""
    exe = Path(sys.executable).with_name("crowdveil")
    dirty, clean = dirty_files["jpeg_mpf"][0], clean_files["jpeg"][0]
    run = subprocess.run([str(exe), "audit", str(dirty), str(clean)], capture_output=True, text=True)
    assert run.returncode == EXIT["failed"], run.stderr
    assert run.stdout.splitlines() == [f"{dirty} (jpeg): hidden image, trailing data", f"{clean} (jpeg): clean"]
    run = subprocess.run([str(exe), "audit", "--json", str(clean)], capture_output=True, text=True)
    assert run.returncode == EXIT["ok"] and json.loads(run.stdout)[str(clean)]["kinds"] == []


def test_what_cannot_be_parsed_is_not_clean(tmp_path):
    empty, text = tmp_path / "empty.jpg", tmp_path / "notes.jpg"
    empty.write_bytes(b"")
    text.write_bytes(b"not an image at all")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(clean_fixtures()["jpeg"][0][:300])
    code, output = audit("--json", empty, text, truncated)
    assert code == EXIT["failed"]
    listing = json.loads(output)
    assert listing[str(empty)]["kinds"] == ["unparseable metadata"]
    assert listing[str(text)] == {"format": "unknown", "kinds": ["unparseable metadata"], "where": ["unknown container"]}
    assert listing[str(truncated)]["format"] == "jpeg" and "unparseable metadata" in listing[str(truncated)]["kinds"]


@pytest.mark.parametrize("args", [[], ["MISSING.jpg"], ["FOLDER"]], ids=["no files", "missing file", "folder"])
def test_usage_errors_exit_2(tmp_path, args):
    args = [str(tmp_path / "missing.jpg") if a == "MISSING.jpg" else str(tmp_path) if a == "FOLDER" else a for a in args]
    code, output = audit(*args)
    assert code == EXIT["usage"], output
    if args:
        assert args[0] in output
