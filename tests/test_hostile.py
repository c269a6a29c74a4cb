"""Hostile input: every file either comes out clean and verified or is refused
with a typed crowdveil error, never an untyped exception, a hang or a partial file.

Covers empty, truncated, mislabelled and non-image files; header bombs in
every decoded format (declared size checked before pixels are allocated);
deeply nested and oversized metadata; and the CLI's one-line messages.
"""

from __future__ import annotations

import base64
import io
import signal
import struct
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from crowdveil import Config, anonymize
from crowdveil.cli import EXIT, main
from crowdveil.errors import CorruptInput, CrowdveilError, InputError, TooLarge, UnsupportedFormat
from crowdveil.io.image import decode_image

from helpers import exiftool_tags, face_on_background, jpeg_with_phone_metadata, no_temp_files, sha256
from exiftool_allowlist import non_structural


@contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging the suite) when the block runs past ``seconds``."""

    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: a hang on hostile input")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _encoded(fmt: str, size=(48, 32), **params) -> bytes:
    pixels = np.random.default_rng(0).integers(60, 200, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, **params)
    return buf.getvalue()


def anonymize_or_refuse(src: Path, out_dir: Path, detector, config: Config | None = None):
    """Run the pipeline; return the report, or the typed error. Anything else fails the test."""
    before = sha256(src)
    try:
        with deadline(60):
            report = anonymize(src, None, config or Config(), detector=detector, verifier=detector, out_dir=out_dir)
    except CrowdveilError as exc:
        assert not out_dir.exists() or not list(out_dir.iterdir()), "an error left files behind"
        outcome = exc
    else:
        assert report.passed and Path(report.destination).is_file()
        leaks = non_structural(exiftool_tags(Path(report.destination)))
        assert leaks == {}, f"exiftool still shows {sorted(leaks)}"
        assert no_temp_files(out_dir)
        outcome = report
    assert sha256(src) == before, "the original was modified"
    return outcome


# -- empty, truncated, mislabelled, not an image --------------------------------------------------


def test_zero_byte_file_is_refused_as_empty(tmp_path, fast_detector):
    src = tmp_path / "empty.jpg"
    src.write_bytes(b"")
    outcome = anonymize_or_refuse(src, tmp_path / "out", fast_detector)
    assert isinstance(outcome, CorruptInput) and "empty" in str(outcome)


@pytest.mark.parametrize("fmt,suffix", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"), ("HEIF", ".heic"), ("TIFF", ".tif"), ("GIF", ".gif"),
                                        ("JXL", ".jxl"), ("PPM", ".ppm")])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_truncated_files_fail_closed(tmp_path, fast_detector, fmt, suffix, keep):
    import pillow_heif
    import pillow_jxl  # noqa: F401 - registers JPEG XL

    pillow_heif.register_heif_opener()
    pixels, _ = face_on_background(96, 64, faces=((30, 8, 48),))
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt)
    data = buf.getvalue()
    src = tmp_path / f"cut{suffix}"
    src.write_bytes(data[: max(1, int(len(data) * keep))])
    outcome = anonymize_or_refuse(src, tmp_path / "out", fast_detector)
    assert isinstance(outcome, InputError), f"{fmt} cut to {keep:.0%} should be refused, got {outcome!r}"


def test_wrong_extension_is_sniffed_from_content(tmp_path, fast_detector):
    pixels, boxes = face_on_background(160, 120, faces=((50, 20, 70),))
    src = tmp_path / "really_a_png.jpg"
    info_png = io.BytesIO()
    Image.fromarray(pixels).save(info_png, "PNG")
    src.write_bytes(info_png.getvalue())
    report = anonymize_or_refuse(src, tmp_path / "out", fast_detector)
    assert not isinstance(report, Exception), report
    assert exiftool_tags(Path(report.destination))["File:FileType"] == "PNG", "a lossless input stays lossless"
    assert report.face_count >= 1
    src = tmp_path / "really_a_jpeg.png"
    src.write_bytes(jpeg_with_phone_metadata(tmp_path / "phone.jpg", pixels).read_bytes())
    report = anonymize_or_refuse(src, tmp_path / "out2", fast_detector)
    assert not isinstance(report, Exception), report
    assert exiftool_tags(Path(report.destination))["File:FileType"] == "JPEG"
    assert "GPS position" in report.metadata_removed


@pytest.mark.parametrize(
    "name,data",
    [
        ("notes.jpg", b"meeting at 6pm, bring banners\n" * 20),
        ("doc.png", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n"),
        ("noise.heic", bytes(np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8))),
        ("script.webp", b"#!/bin/sh\nrm -rf /\n"),
        ("photo.jpg", b"\xff\xd8\xff"),  # the JPEG magic and nothing else
        ("photo.png", b"\x89PNG\r\n\x1a\n"),
        ("archive.tif", b"PK\x03\x04" + b"\0" * 64),
    ],
)
def test_not_an_image_is_refused(tmp_path, fast_detector, name, data):
    src = tmp_path / name
    src.write_bytes(data)
    outcome = anonymize_or_refuse(src, tmp_path / "out", fast_detector)
    assert isinstance(outcome, (UnsupportedFormat, CorruptInput)), outcome


def test_raw_camera_file_is_refused_with_convert_hint(tmp_path, fast_detector):
    src = tmp_path / "IMG_0001.dng"
    src.write_bytes(_encoded("TIFF"))  # a DNG is a TIFF; the suffix says RAW
    outcome = anonymize_or_refuse(src, tmp_path / "out", fast_detector)
    assert isinstance(outcome, UnsupportedFormat) and "RAW" in str(outcome)
    assert "convert it to jpeg" in outcome.hint.lower()


# -- header bombs ------------------------------------------------------------------------------------


def _png_bomb(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _png_chunk(b"IEND", b"")


def _jpeg_bomb(width: int, height: int) -> bytes:
    data = bytearray(_encoded("JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _gif_bomb(width: int, height: int) -> bytes:
    data = bytearray(_encoded("GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    descriptor = data.find(b"\x2c", 13)
    data[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def _tiff_bomb(width: int, height: int) -> bytes:
    data = bytearray(_encoded("TIFF"))
    ifd = struct.unpack("<I", data[4:8])[0]
    for i in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        tag, kind = struct.unpack("<HH", data[entry : entry + 4])
        if tag in (256, 257):
            value = width if tag == 256 else height
            data[entry + 8 : entry + 12] = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
    return bytes(data)


def _webp_bomb(width: int, height: int) -> bytes:
    data = bytearray(_encoded("WEBP", quality=50))
    vp8 = data.find(b"VP8 ") + 8
    assert data[vp8 + 3 : vp8 + 6] == b"\x9d\x01\x2a"  # key frame start code; then 14-bit sizes
    data[vp8 + 6 : vp8 + 10] = struct.pack("<HH", width, height)
    return bytes(data)


def _heic_bomb(width: int, height: int, coded=(64, 64)) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    data = bytearray(_encoded("HEIF", size=coded))  # 64×64: no clean-aperture crop box
    ispe = data.find(b"ispe")
    data[ispe + 8 : ispe + 16] = struct.pack(">II", width, height)
    return bytes(data)


def _pnm_bomb(width: int, height: int) -> bytes:
    return f"P6\n{width} {height}\n255\n".encode() + bytes(64)


def _jxl_bomb(width: int, height: int) -> bytes:
    """A real 8×8 JPEG XL codestream whose SizeHeader is rewritten to declare ``width``×``height``."""
    import pillow_jxl  # noqa: F401 - registers JPEG XL

    data = _encoded("JXL", size=(8, 8), lossless=True, use_container=False)
    assert data[:2] == b"\xff\x0a"
    stream, pos = int.from_bytes(data[2:], "little"), 0

    def take(count):
        nonlocal pos
        pos += count
        return (stream >> (pos - count)) & ((1 << count) - 1)

    assert take(1) == 1  # the encoder wrote a "small" size header: 5 bits of height/8, ratio, maybe width/8
    take(5)
    if take(3) == 0:
        take(5)
    header, at = 0, 0
    for value, bits in ((0, 1), (3, 2), (height - 1, 30), (0, 3), (3, 2), (width - 1, 30)):
        header, at = header | value << at, at + bits
    rest = len(data[2:]) * 8 - pos
    return b"\xff\x0a" + (header | (stream >> pos) << at).to_bytes((at + rest + 7) // 8, "little")


BOMBS = {
    "png": (_png_bomb, 60000, 60000),
    "jpeg": (_jpeg_bomb, 60000, 60000),
    "gif": (_gif_bomb, 65535, 65535),
    "tiff": (_tiff_bomb, 60000, 60000),
    "webp": (_webp_bomb, 16000, 16000),  # VP8's 14-bit size fields: 268 MP at most
    "heic": (_heic_bomb, 20000, 20000),
    "pnm": (_pnm_bomb, 60000, 60000),
    "jxl": (_jxl_bomb, 60000, 60000),  # its plugin decodes on open: the header is read by crowdveil first
}


@pytest.mark.parametrize("fmt", sorted(BOMBS))
def test_header_bomb_refused_from_declared_size_before_decoding(fmt, monkeypatch):
    build, width, height = BOMBS[fmt]
    data = build(width, height)
    assert len(data) < 64 << 10, "a bomb is a small file"
    loads = []
    from PIL import ImageFile

    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self, *a, **k: loads.append(1) or real_load(self, *a, **k))
    with pytest.raises(TooLarge) as caught:
        decode_image(data, fmt if fmt != "heic" else "heif", max_pixels=100_000_000, name=f"bomb.{fmt}")
    message = str(caught.value)
    assert f"{width}×{height}" in message and "megapixels" in message and "limit of 100" in message
    assert not loads, "pixels were decoded before the size check"
    assert "--max-megapixels" in caught.value.hint


def test_pixel_limit_is_configurable_and_explained_by_the_cli(tmp_path):
    pixels, _ = face_on_background(2000, 1000, faces=((400, 100, 300),))  # 2 MP
    src = tmp_path / "two_mp.png"
    Image.fromarray(pixels).save(src)
    result = CliRunner().invoke(main, [str(src), "--out", str(tmp_path / "out"), "--fast", "--max-megapixels", "1"])
    assert result.exit_code == EXIT["failed"], result.output
    assert "2000×1000" in result.output and "limit of 1" in result.output and "--max-megapixels" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "two_mp.veiled.png").exists()
    result = CliRunner().invoke(main, [str(src), "--out", str(tmp_path / "out"), "--fast", "--max-megapixels", "3"])
    assert result.exit_code == EXIT["ok"], result.output


def test_heic_above_libheif_security_limit_is_too_large_not_corrupt(tmp_path, fast_detector):
    # 60000² = 3.6 GP behind a crop box (48×32 is coded as 64×64 plus "clap"):
    # libheif refuses it itself, before crowdveil sees the size.
    src = tmp_path / "huge.heic"
    src.write_bytes(_heic_bomb(60000, 60000, coded=(48, 32)))
    outcome = anonymize_or_refuse(src, tmp_path / "out", fast_detector)
    assert isinstance(outcome, TooLarge), outcome


# -- nested and oversized metadata ----------------------------------------------------------------------


def _looping_exif(size: int = 65000) -> bytes:
    """A TIFF header whose IFD0 points at itself from every pointer tag and as its next IFD."""
    entries = b"".join(struct.pack("<HHII", (0x8769, 0x8825, 0xA005, 0x014A)[i % 4], 4, 1, 8) for i in range(200))
    body = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 200) + entries + struct.pack("<I", 8)
    return body + b"\0" * (size - len(body))


def jpeg_with_ifd_loops() -> bytes:
    pixels, _ = face_on_background(160, 120, faces=((50, 20, 70),))
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG")
    plain = buf.getvalue()
    app1 = b"Exif\x00\x00" + _looping_exif()
    assert len(app1) + 2 <= 0xFFFF
    return plain[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + plain[2:]


def png_with_thousands_of_text_chunks() -> bytes:
    pixels, _ = face_on_background(160, 120, faces=((50, 20, 70),))
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    plain = buf.getvalue()
    texts = b"".join(_png_chunk(b"tEXt", b"k%d\x00" % i + b"v" * 50) for i in range(5000))
    ztexts = b"".join(_png_chunk(b"zTXt", b"z%d\x00\x00" % i + zlib.compress(b"x" * 1000)) for i in range(2000))
    itxts = b"".join(_png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + b"<x/>" * 50) for _ in range(500))
    return plain[:33] + texts + ztexts + itxts + plain[33:]  # after IHDR


def tiff_with_cyclic_ifds() -> bytes:
    data = bytearray(_encoded("TIFF", size=(160, 120)))
    ifd = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[ifd : ifd + 2])[0]
    next_pointer = ifd + 2 + 12 * count
    data[next_pointer : next_pointer + 4] = struct.pack("<I", len(data))  # IFD0 → IFD1
    return bytes(data) + bytes(data[ifd:next_pointer]) + struct.pack("<I", ifd)  # IFD1 → IFD0


def jpeg_with_many_app_segments() -> bytes:
    """2000 APP segments (XMP, comments, IPTC) of near-maximum size: ~60 MB of metadata."""
    pixels, _ = face_on_background(160, 120, faces=((50, 20, 70),))
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG")
    plain = buf.getvalue()
    segment = lambda marker, payload: marker + struct.pack(">H", len(payload) + 2) + payload  # noqa: E731
    xmp = segment(b"\xff\xe1", b"http://ns.adobe.com/xap/1.0/\x00" + b"<x:xmpmeta>" + b"a" * 30000)
    com = segment(b"\xff\xfe", b"c" * 65000)
    iptc = segment(b"\xff\xed", b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00" + struct.pack(">I", 40000) + b"\x1c" * 40000)
    return plain[:2] + (xmp + com + iptc) * 400 + plain[2:]


@pytest.mark.parametrize(
    "name,build",
    [("ifd_loops.jpg", jpeg_with_ifd_loops), ("text_chunks.png", png_with_thousands_of_text_chunks),
     ("cyclic.tif", tiff_with_cyclic_ifds), ("app_segments.jpg", jpeg_with_many_app_segments)],
)
def test_nested_or_oversized_metadata_ends_clean_or_refused(tmp_path, fast_detector, name, build):
    src = tmp_path / name
    src.write_bytes(build())
    outcome = anonymize_or_refuse(src, tmp_path / "out", fast_detector)
    if isinstance(outcome, Exception):
        assert isinstance(outcome, InputError) and outcome.hint
    else:
        assert outcome.metadata_removed, "the input's metadata must be reported as removed"


# -- regressions found by the fuzzers (fuzz/) -----------------------------------------------------------

# fuzz_photo: an ISO-BMFF file with an unknown ftyp brand and junk after it is
# sniffed as MP4; it must be refused as damaged video, not crash.
FTYP_UNKNOWN_BRAND = base64.b64decode(
    "AAAAHGZ0eXBoZWV0Yf//AAAAAAAAAHyevqYtf3Zdh3hmtfpIu7BozZSscVXZXxxGbMbNbzSHeGa1+ki7sGjNlKxxVdlfHEZsxs1vNFW2owSa"
    "wQod319acZkq/B5mlmbjL+Gr+aXD8UljtJp+SMLOyJuZBjx3BcW6ZbRWXKjmalXqn1JSPmtq+5XKsyZu95F/Qxyzlmh9efT7nTWhoKCgoKCg"
    "oKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgw1QoakA="
)


def test_fuzz_regression_ftyp_with_unknown_brand(tmp_path, fast_detector):
    src = tmp_path / "input.bin"
    src.write_bytes(FTYP_UNKNOWN_BRAND)
    outcome = anonymize_or_refuse(src, tmp_path / "out", fast_detector)
    assert isinstance(outcome, InputError), outcome


# -- the CLI's side: one line per failure, exit codes, no traceback --------------------------------------


def test_cli_reports_each_hostile_file_in_one_line_and_keeps_going(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "bomb.png").write_bytes(_png_bomb(60000, 60000))
    (folder / "notes.jpg").write_bytes(b"not a photo at all\n" * 10)
    (folder / "cut.jpg").write_bytes(_encoded("JPEG")[:200])
    (folder / "raw.dng").write_bytes(_encoded("TIFF"))
    pixels, _ = face_on_background(160, 120, faces=((50, 20, 70),))
    jpeg_with_phone_metadata(folder / "good.jpg", pixels)
    before = {p.name: sha256(p) for p in folder.iterdir()}
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [str(folder / "*"), "--out", str(out), "--fast", "--quiet"])
    assert result.exit_code == EXIT["failed"], result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())  # undo rich's line wrapping
    for name, reason in [("empty.jpg", "empty"), ("bomb.png", "megapixels"), ("notes.jpg", "not a photo or video"),
                         ("cut.jpg", "could not be decoded"), ("raw.dng", "RAW")]:
        assert f"FAILED {folder / name}" in text.replace("\n", " ") or f"FAILED {folder}/{name}" in text, name
        assert reason in text, reason
    assert text.count("what to do:") == 5
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["good.veiled.jpg"]
    assert non_structural(exiftool_tags(out / "good.veiled.jpg")) == {}
    assert {p.name: sha256(p) for p in folder.iterdir()} == before


def _special_files(folder: Path) -> None:
    """What a hostile folder can hold besides photos: a FIFO, a link to a device, a link loop."""
    import os

    folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / "b.jpg")  # opening it for reading waits for a writer, forever
    (folder / "zero.jpg").symlink_to("/dev/zero")  # reading it never ends
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")  # resolve() raised RuntimeError
    pixels, _ = face_on_background(160, 120, faces=((50, 20, 70),))
    jpeg_with_phone_metadata(folder / "a.jpg", pixels)
    jpeg_with_phone_metadata(folder / "c.jpg", pixels)


def test_fifo_device_and_link_loop_are_refused_one_line_each_and_the_batch_goes_on(tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "in"
    _special_files(folder)
    out = tmp_path / "out"
    # A walk skips zero.jpg (a link out of the folder); named, it is refused like the others.
    for args, refused in (([str(folder), "--out", str(out)], ("b.jpg", "loop.jpg")),
                          ([str(folder / "b.jpg"), str(folder / "zero.jpg"), str(folder / "loop.jpg"),
                            str(folder / "a.jpg")], ("b.jpg", "zero.jpg", "loop.jpg"))):
        # timeout only guards against the hang this test is about
        run = subprocess.run([sys.executable, "-c", "from crowdveil.cli import main; main()", *args, "--fast", "-q"],
                             capture_output=True, text=True, timeout=300)
        text = " ".join((run.stdout + run.stderr).split())
        assert run.returncode == EXIT["failed"], text
        assert "Traceback" not in text and "MemoryError" not in text and "RuntimeError" not in text, text
        for name in refused:
            assert f"FAILED {folder / name}" in text, (name, text)
        assert "not a regular file" in text and "loops" in text
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a.veiled.jpg", "c.veiled.jpg"]
    assert (folder / "a.veiled.jpg").exists()


def test_special_files_do_not_block_the_studio(tmp_path):
    """A FIFO blocked the studio's only analysis worker, and a link loop stopped it at start."""
    import threading

    from crowdveil.studio.workspace import Workspace

    folder = tmp_path / "in"
    _special_files(folder)
    workspace = Workspace(Config(preset="fast"), tmp_path / "out")
    try:
        items = {item.name: item for item in workspace.add_folder(folder)}
        idle = threading.Thread(target=workspace.wait_idle, daemon=True)
        idle.start()
        idle.join(timeout=300)  # guards against the hang only
        assert not idle.is_alive(), "the analysis worker is stuck"
        assert {n: i.status for n, i in items.items()} == {"a.jpg": "ready", "b.jpg": "error", "c.jpg": "ready",
                                                          "loop.jpg": "error"}
        assert "not a regular file" in items["b.jpg"].message and "loops" in items["loop.jpg"].message
        uploaded_zero = workspace.add_upload("z", folder / "zero.jpg")  # a device reached by name
        workspace.wait_idle()
        assert uploaded_zero.status == "error" and "not a regular file" in uploaded_zero.message
    finally:
        workspace.close()


def test_the_studio_writes_no_export_through_a_link_planted_in_its_output_folder(tmp_path):
    """The CLI refused links inside --out; the studio's exports went wherever a planted link pointed."""
    from crowdveil.studio.workspace import Workspace

    pixels, _ = face_on_background(160, 120, faces=((50, 20, 70),))
    folder = tmp_path / "src"
    (folder / "sub").mkdir(parents=True)
    jpeg_with_phone_metadata(folder / "sub" / "mine.jpg", pixels)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere, target_is_directory=True)  # planted before the export
    workspace = Workspace(Config(preset="fast"), out)
    try:
        (item,) = workspace.add_folder(folder)
        workspace.wait_idle()
        workspace.export_photo(item.id, [], [], "fill", "box")
        assert item.status == "refused" and "symbolic link" in item.export["message"], item.export
        assert list(elsewhere.iterdir()) == [], "nothing is written through the link"
    finally:
        workspace.close()


def test_a_folder_walk_does_not_follow_links_out_of_the_folder(tmp_path):
    """``src/link.jpg → ../outside/another_users_photo.jpg`` was previewed and exported by the studio."""
    import http.client
    import json

    from crowdveil.studio.app import KEY_HEADER
    from crowdveil.studio.server import StudioServer
    from crowdveil.studio.workspace import Workspace

    pixels, _ = face_on_background(160, 120, faces=((50, 20, 70),))
    outside = tmp_path / "outside"
    outside.mkdir()
    jpeg_with_phone_metadata(outside / "another_users_photo.jpg", pixels)
    folder = tmp_path / "src"
    (folder / "sub").mkdir(parents=True)
    jpeg_with_phone_metadata(folder / "mine.jpg", pixels)
    (folder / "link.jpg").symlink_to(outside / "another_users_photo.jpg")
    (folder / "sub" / "inside-link.jpg").symlink_to(folder / "mine.jpg")  # stays inside: kept
    (folder / "linked-dir").symlink_to(outside, target_is_directory=True)

    from crowdveil.runner.batch import plan_jobs

    assert sorted(j.src.name for j in plan_jobs([folder], tmp_path / "out")) == ["inside-link.jpg", "mine.jpg"]
    workspace = Workspace(Config(preset="fast"), tmp_path / "out")
    workspace.add_folder(folder)
    with StudioServer(workspace) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.request("GET", f"/?token={server.token}")
        response = conn.getresponse()
        response.read()
        conn.request("GET", "/api/state", headers={"Cookie": response.getheader("set-cookie").split(";")[0],
                                                   KEY_HEADER: response.getheader("location").partition("#key=")[2]})
        state = json.loads(conn.getresponse().read())
        conn.close()
    assert sorted(i["name"] for i in state["items"]) == ["inside-link.jpg", "mine.jpg"]


# -- the formats read since issue 16 ------------------------------------------------------------------


def test_jpeg_xl_bomb_never_reaches_its_decoder(monkeypatch):
    """pillow-jxl-plugin decodes every pixel while Pillow opens the file: crowdveil must refuse first."""
    from pillow_jxl import JpegXLImagePlugin

    opened = []
    monkeypatch.setattr(JpegXLImagePlugin.JXLImageFile, "_open", lambda self: opened.append(1))
    with pytest.raises(TooLarge) as caught:
        decode_image(_jxl_bomb(60000, 60000), "jxl", max_pixels=100_000_000, name="bomb.jxl")
    assert "60000×60000" in str(caught.value) and not opened


def _apng_claiming(frames: int) -> bytes:
    """A real two-frame APNG whose acTL chunk claims ``frames`` frames."""
    one, two = (Image.fromarray(np.full((32, 48, 3), v, np.uint8)) for v in (40, 200))
    buf = io.BytesIO()
    one.save(buf, "PNG", save_all=True, append_images=[two], duration=100)
    data = bytearray(buf.getvalue())
    at = data.find(b"acTL")
    data[at + 4 : at + 8] = struct.pack(">I", frames)
    data[at + 12 : at + 16] = struct.pack(">I", zlib.crc32(bytes(data[at : at + 12])))
    return bytes(data)


def _animated_gif_bomb(width: int, height: int) -> bytes:
    frames = [Image.fromarray(np.full((32, 48, 3), v, np.uint8)) for v in (40, 200)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    data = bytearray(buf.getvalue())
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


@pytest.mark.parametrize("name,build", [
    ("frames.png", lambda: _apng_claiming(2**31 - 1)),  # an APNG header claiming two billion frames
    ("huge.gif", lambda: _animated_gif_bomb(65535, 65535)),  # an animation declaring 4 GP frames
])
def test_animation_bombs_are_refused_before_decoding_frames(tmp_path, fast_detector, name, build):
    src = tmp_path / name
    src.write_bytes(build())
    with deadline(30):
        outcome = anonymize_or_refuse(src, tmp_path / "out", fast_detector)
    assert isinstance(outcome, (TooLarge, CorruptInput)), outcome


@pytest.mark.parametrize("data,reason", [
    (b"P6\n64 48\n255\n" + bytes(100), "could not be decoded"),  # raster cut short
    (b"P5\n# only a comment\n", "could not be decoded"),  # header never ends
    (b"\xff\x0a", "JPEG XL"),  # a JPEG XL signature and nothing else
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n" + bytes(20), "JPEG XL"),  # a container with no codestream
    (b"FLV\x01\x05\x00\x00\x00\x09" + bytes(40), ""),  # an FLV header and no tag
    (bytes.fromhex("3026B2758E66CF11A6D900AA0062CE6C") + bytes(60), ""),  # an ASF header GUID, nothing in it
    (b"\x00\x00\x01\xba" + bytes(60), ""),  # an MPEG-PS pack start code alone
])
def test_damaged_new_formats_are_refused(tmp_path, fast_detector, data, reason):
    src = tmp_path / "damaged.bin"
    src.write_bytes(data)
    with deadline(30):
        outcome = anonymize_or_refuse(src, tmp_path / "out", fast_detector)
    assert isinstance(outcome, InputError), outcome
    assert reason in str(outcome)
