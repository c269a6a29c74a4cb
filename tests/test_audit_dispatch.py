"""One sniffer, one suffix table, one file hash: the audit dispatches on ``io.sniff``'s format names."""

from __future__ import annotations

import hashlib
import io
import os
import struct

import pytest
from PIL import Image

from crowdveil.errors import UnsupportedFormat
from crowdveil.io.animation import ANIMATION_OUTPUTS
from crowdveil.io.digest import sha256_file
from crowdveil.io.formats import ANIMATION_SUFFIXES, FORMATS, OUTPUT_SUFFIXES, OUTPUTS, suffixes_of
from crowdveil.io.image import OUTPUT_FORMATS
from crowdveil.io.sniff import SNIFF_BYTES, raw_container, sniff
from crowdveil.verify.audit import _FAMILIES, _RAW_FAMILIES, audit_bytes


def test_every_format_the_sniffer_names_is_walked_by_one_family():
    """A format added to ``io.formats`` without an audit family fails here, not as "unknown container" in a user's run."""
    names = {f.name for f in FORMATS}
    assert set(_FAMILIES) == names - {"raw", "bmp"}  # BMP has no metadata container; RAW goes by its container
    assert set(_RAW_FAMILIES) == {"tiff", "isobmff", "raf"}


def _tiff() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 120, 150)).save(buf, "TIFF")
    return buf.getvalue()


@pytest.mark.parametrize("head,container,family", [
    (b"FUJIFILMCCD-RAW 0201FF383501" + bytes(80), "raf", "raf"),
    (b"\0\0\0\x18ftypcrx " + bytes(60), "isobmff", "mp4"),
    (b"FOVb" + bytes(60), "x3f", "unknown"),
    (b"IIRO" + _tiff()[4:], "tiff", "tiff"),
    (b"II*\0\x10\0\0\0CR\x02\0" + bytes(60), "tiff", "tiff"),
])
def test_raw_files_are_audited_by_the_container_they_are_built_on(head, container, family):
    assert sniff(head[:SNIFF_BYTES], "x") == "raw"
    assert raw_container(head[:SNIFF_BYTES]) == container
    assert audit_bytes(head).format == family


def test_what_the_sniffer_refuses_is_an_unknown_container_to_the_audit():
    wav = b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + bytes(40)
    with pytest.raises(UnsupportedFormat):
        sniff(wav, "x.wav")
    audit = audit_bytes(wav)
    assert audit.format == "unknown" and not audit.clean
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "BMP")
    assert sniff(buf.getvalue(), "x") == "bmp"
    assert audit_bytes(buf.getvalue()).format == "unknown"  # as the audit's docstring says


def test_the_output_suffixes_come_from_one_table():
    assert OUTPUT_SUFFIXES == (".jpg", ".png", ".webp", ".gif", ".mp4")
    assert all(OUTPUTS[fmt] == suffix for fmt, suffix in OUTPUT_FORMATS.items())
    assert all(OUTPUTS[kind] == suffix for kind, (_writer, suffix) in ANIMATION_OUTPUTS.items())
    assert ANIMATION_SUFFIXES == {".mp4": "mp4", ".gif": "gif", ".webp": "webp", ".png": "apng", ".apng": "apng"}
    for fmt, suffix in OUTPUTS.items():
        if fmt not in ("apng", "mp4"):  # an APNG is a .png; the video output is written for any video read
            assert suffix in suffixes_of(fmt), fmt


def test_sha256_file_reads_in_blocks_and_takes_a_prefix(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)  # more than one block, not a whole number of them
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(path, prefix=b"p\0") == hashlib.sha256(b"p\0" + data).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(empty) == hashlib.sha256(b"").hexdigest()
    with pytest.raises(OSError):
        sha256_file(tmp_path / "missing")
