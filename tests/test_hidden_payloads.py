"""Hidden payloads never survive: each one built the way phones and editors write it.

Every input here carries a second picture of the unredacted face somewhere a viewer
does not show it, and the tests first prove that the payload is really there and
really shows the face (an independent reader extracts it: exiftool, PyAV or
libheif, and the detector finds the face in it). Then the real pipeline runs and
the output is judged three ways: by exiftool against the structural allowlist, by
our own audit, and by a raw walk of the bytes (one JPEG SOI…EOI and nothing after
it, or a PNG whose IEND chunk ends the file; no ``ftyp`` box anywhere).
``crowdveil audit`` must name the payload's kind on the input (exit 1) without
printing any value planted in it, and call the output clean (exit 0).

The payloads:

* ``mpf_secondary``: JPEG with an MPF APP2 index (CIPA DC-007) whose second
  entry, a "Large Thumbnail", is a full JPEG of the scene appended after the
  first EOI, as cameras write their display previews.
* ``ultra_hdr``: Ultra HDR: primary JPEG with XMP in the ``hdrgm`` and Google
  ``Container`` namespaces, an MPF index, and a grey gain-map JPEG (with its own
  ``hdrgm`` XMP) after EOI. A real gain map shows the scene's structure, faces
  included; this one is the scene's luminance.
* ``motion_photo``: Google Motion Photo: JPEG with ``GCamera:MotionPhoto`` and a
  ``Container:Directory`` naming a ``video/mp4`` item, and a real H.264 MP4 of
  the scene (PyAV) appended after EOI.
* ``png_acropalypse``: a PNG cropped "in place" (aCropalypse, CVE-2023-21036):
  the cropped image was written over the original file without truncating it,
  so the tail of the original's IDAT stream and its IEND follow the new IEND.
* ``png_appended_png``: a whole PNG of the scene after IEND.
* ``heic_thumbnail_depth``: HEIC with a ``thmb`` thumbnail item (pillow_heif's
  ``info["thumbnails"]``) and a depth auxiliary image. pillow_heif 1.8 can only
  *read* depth and auxiliary images, not write them, so the file is written by
  pillow_heif as two top-level images and then turned into what phones write by
  a small ISOBMFF edit: an ``auxC`` property ``urn:mpeg:hevc:2015:auxid:2``
  (HEVC depth) on the second image and an ``iref/auxl`` from it to the primary
  (sizes and ``iloc`` offsets rewritten). libheif then lists it as a depth image
  and no longer as a top-level image, and exiftool reports its
  ``AuxiliaryImageType``. Apple's own auxiliary types (HDR gain map, portrait
  matte) differ only in that URN, so they are not built separately.
* ``exif_thumbnail``: JPEG with EXIF IFD1 holding a JPEG thumbnail of the
  scene, plus GPS, serial and timestamps (``crowdveil.demo.phone_exif``).

A HEIC with two *top-level* images (a burst-like container) is refused, not
reduced to its primary image: ``test_heic_with_two_top_level_images_is_refused``.

Not built: Apple's MPF gain map in JPEGs (an MPF secondary image like
``mpf_secondary`` with Apple XMP instead of ``hdrgm``; the MPF path is the same)
and Samsung's SEFT trailer (proprietary, no public spec to build an honest one).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import av
import numpy as np
import pillow_heif
import pytest
from click.testing import CliRunner
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from crowdveil import Config, anonymize
from crowdveil.cli import EXIT, main
from crowdveil.demo import phone_exif
from crowdveil.errors import UnsupportedFormat
from crowdveil.verify.audit import audit_file

from helpers import exiftool_tags, face_on_background, filled_share
from exiftool_allowlist import non_structural

pillow_heif.register_heif_opener()

WIDTH, HEIGHT = 320, 240
FACE = (110, 60, 110)  # x, y, height of the pasted face

# Values planted in the inputs that no audit output may repeat. phone_exif writes
# make "DemoPhone", model "DP-1", software "demo 1.0", serial "SN-0042-DEMO",
# 2026:11:01 14:03:00 and GPS 48°51'24" N 2°17'40" E (48.8567, 2.2944).
PLANTED = (
    "SN-0042-DEMO", "DemoPhone", "DP-1", "demo 1.0", "2026:11:01", "14:03",
    "48.85", "48 deg", "51'", "2.294", "17'", "PLANTED-XMP-SERIAL", "34.5678", "Planted Author",
)
PLANTED_XMP = b' exif:GPSLatitude="12,34.5678N" aux:SerialNumber="PLANTED-XMP-SERIAL"'
XMP_NAMESPACES = (
    b' xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:aux="http://ns.adobe.com/exif/1.0/aux/"'
    b' xmlns:GCamera="http://ns.google.com/photos/1.0/camera/"'
    b' xmlns:Container="http://ns.google.com/photos/1.0/container/"'
    b' xmlns:Item="http://ns.google.com/photos/1.0/container/item/"'
    b' xmlns:hdrgm="http://ns.adobe.com/hdr-gain-map/1.0/"'
)

# What exiftool may never show in an output, whatever the allowlist says.
PAYLOAD_TAG_WORDS = re.compile(r"thumbnail|preview|mpf|mpimage|xmp|trailer|embedded|gainmap|motionphoto|"
                               r"auxiliary|depthimage|warning|gps|serial", re.IGNORECASE)


# -- builders -------------------------------------------------------------------------------------


def scene() -> np.ndarray:
    pixels, _ = face_on_background(WIDTH, HEIGHT, faces=(FACE,))
    return pixels


def face_box() -> tuple[int, int, int, int]:
    return face_on_background(WIDTH, HEIGHT, faces=(FACE,))[1][0]


def jpeg(img: Image.Image, **save) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **save)
    return buf.getvalue()


def png(img: Image.Image, **save) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **save)
    return buf.getvalue()


def xmp_packet(description_attrs: bytes, body: bytes = b"") -> bytes:
    return (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description rdf:about=""' + XMP_NAMESPACES + description_attrs + b">" + body
            + b"</rdf:Description></rdf:RDF></x:xmpmeta>")


def container_directory(*items: tuple[bytes, bytes, int]) -> bytes:
    """Google ``Container:Directory``: (mime, semantic, length) per item, primary first."""
    lis = b"".join(
        b'<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="%s" Item:Semantic="%s" Item:Length="%d"/>'
        b"</rdf:li>" % item for item in items)
    return b"<Container:Directory><rdf:Seq>" + lis + b"</rdf:Seq></Container:Directory>"


def end_of_app_segments(data: bytes) -> int:
    """Offset of the first marker after SOI that is not an APPn segment."""
    pos = 2
    while 0xE0 <= data[pos + 1] <= 0xEF:
        pos += 2 + struct.unpack_from(">H", data, pos + 2)[0]
    return pos


def mpf_segment(entries: list[tuple[int, int, int]]) -> bytes:
    """APP2 "MPF" with an MP Index IFD: (attribute, size, offset from the MPF TIFF header) per image."""
    count = 3
    entries_at = 8 + 2 + 12 * count + 4
    ifd = struct.pack(">H", count)
    ifd += struct.pack(">HHI4s", 0xB000, 7, 4, b"0100")  # MPFVersion
    ifd += struct.pack(">HHII", 0xB001, 4, 1, len(entries))  # NumberOfImages
    ifd += struct.pack(">HHII", 0xB002, 7, 16 * len(entries), entries_at)  # MPEntry
    ifd += struct.pack(">I", 0)
    mp_entries = b"".join(struct.pack(">IIIHH", attribute, size, offset, 0, 0) for attribute, size, offset in entries)
    payload = b"MPF\0" + b"MM\0*" + struct.pack(">I", 8) + ifd + mp_entries
    return struct.pack(">BBH", 0xFF, 0xE2, len(payload) + 2) + payload


def with_mpf(primary: bytes, secondary: bytes, secondary_type: int) -> bytes:
    """``primary`` with an MPF index after its APPn segments, then ``secondary`` after its EOI."""
    at = end_of_app_segments(primary)
    first_length = len(primary) + len(mpf_segment([(0, 0, 0)] * 2))
    tiff_header_at = at + 4 + 4  # marker and length, "MPF\0"
    segment = mpf_segment([(0x030000, first_length, 0),  # baseline MP primary image
                           (secondary_type, len(secondary), first_length - tiff_header_at)])
    return primary[:at] + segment + primary[at:] + secondary


def mp4_of(pixels: np.ndarray, frames: int = 6) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = pixels.shape[1], pixels.shape[0], "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(pixels, 2 * i, axis=1), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def build_mpf_secondary() -> bytes:
    primary = jpeg(Image.fromarray(scene()), exif=phone_exif())
    return with_mpf(primary, jpeg(Image.fromarray(scene())), 0x010001)  # Large Thumbnail (VGA equivalent)


def gain_map() -> Image.Image:
    return Image.fromarray(scene()).convert("L").resize((WIDTH // 2, HEIGHT // 2), Image.BILINEAR)


def build_ultra_hdr() -> bytes:
    gain_map_xmp = xmp_packet(b' hdrgm:Version="1.0" hdrgm:GainMapMin="0" hdrgm:GainMapMax="2"'
                              b' hdrgm:Gamma="1" hdrgm:OffsetSDR="0.015625" hdrgm:OffsetHDR="0.015625"'
                              b' hdrgm:HDRCapacityMin="0" hdrgm:HDRCapacityMax="2" hdrgm:BaseRenditionIsHDR="False"')
    secondary = jpeg(gain_map(), xmp=gain_map_xmp)
    primary_xmp = xmp_packet(b' hdrgm:Version="1.0"' + PLANTED_XMP,
                             container_directory((b"image/jpeg", b"Primary", 0), (b"image/jpeg", b"GainMap", len(secondary))))
    primary = jpeg(Image.fromarray(scene()), exif=phone_exif(), xmp=primary_xmp)
    return with_mpf(primary, secondary, 0x000000)  # gain maps are "undefined" type in MPF


def build_motion_photo() -> bytes:
    video = mp4_of(scene())
    xmp = xmp_packet(b' GCamera:MotionPhoto="1" GCamera:MotionPhotoVersion="1"'
                     b' GCamera:MotionPhotoPresentationTimestampUs="0"' + PLANTED_XMP,
                     container_directory((b"image/jpeg", b"Primary", 0), (b"video/mp4", b"MotionPhoto", len(video))))
    return jpeg(Image.fromarray(scene()), exif=phone_exif(), xmp=xmp) + video


def with_small_idat_chunks(data: bytes, size: int = 8192) -> bytes:
    """The same PNG with its zlib stream cut into ``size``-byte IDAT chunks, as libpng
    (and so Android's Bitmap.compress) writes them."""
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    stream = b"".join(body for kind, body in chunks if kind == b"IDAT")
    out = data[:8]
    for kind, body in chunks:
        if kind == b"IDAT":
            if not stream:
                continue
            bodies, stream = [stream[i : i + size] for i in range(0, len(stream), size)], b""
        else:
            bodies = [body]
        for piece in bodies:
            out += struct.pack(">I4s", len(piece), kind) + piece + struct.pack(">I", zlib.crc32(kind + piece))
    return out


def _png_text() -> PngInfo:
    info = PngInfo()
    info.add_text("Author", "Planted Author")
    return info


def build_png_acropalypse() -> bytes:
    original = with_small_idat_chunks(png(Image.fromarray(scene()), pnginfo=_png_text()))
    x, _y, _h = FACE
    cropped = with_small_idat_chunks(png(Image.fromarray(scene()[:, x - 20 :]).crop((0, 0, 160, 120)), pnginfo=_png_text()))
    assert len(cropped) < len(original) // 2
    return cropped + original[len(cropped) :]  # written over the original without truncating it


def build_png_appended_png() -> bytes:
    return png(Image.fromarray(scene()), pnginfo=_png_text()) + png(Image.fromarray(scene()))


def build_exif_thumbnail() -> bytes:
    thumbnail = jpeg(Image.fromarray(scene()).resize((WIDTH // 2, HEIGHT // 2), Image.LANCZOS))
    return jpeg(Image.fromarray(scene()), exif=phone_exif(thumbnail))


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _children(data: bytes, start: int = 0) -> list[tuple[bytes, bytes]]:
    """(type, payload) of the boxes in ``data[start:]``; small files only (no 64-bit sizes)."""
    out, pos = [], start
    while pos < len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        assert 8 <= size <= len(data) - pos, (kind, size)
        out.append((kind, data[pos + 8 : pos + size]))
        pos += size
    return out


def make_auxiliary(heic: bytes, aux_type: bytes) -> bytes:
    """Turn the second top-level image of a pillow_heif file into an auxiliary image of the primary.

    Adds ``auxC`` (``aux_type``) to ``ipco``, associates it with the second image in
    ``ipma``, adds ``iref/auxl`` (second image -> primary), and shifts every file offset
    in ``iloc`` by the growth of ``meta`` (libheif writes ftyp, meta, mdat in that order).
    """
    top = _children(heic)
    assert [kind for kind, _ in top] == [b"ftyp", b"meta", b"mdat"]
    meta = top[1][1]
    boxes = dict(_children(meta, 4))
    order = [kind for kind, _ in _children(meta, 4)] + ([b"iref"] if b"iref" not in boxes else [])
    primary = struct.unpack_from(">H", boxes[b"pitm"], 4)[0]
    references = _children(boxes.get(b"iref", b"\0\0\0\0"), 4)
    thumbnails = {struct.unpack_from(">H", body)[0] for kind, body in references if kind == b"thmb"}
    images = [struct.unpack_from(">H", body, 4)[0] for _, body in _children(boxes[b"iinf"], 6) if body[8:12] == b"hvc1"]
    (aux_id,) = [i for i in images if i != primary and i not in thumbnails]
    references.append((b"auxl", struct.pack(">HHH", aux_id, 1, primary)))
    boxes[b"iref"] = b"\0\0\0\0" + b"".join(_box(kind, body) for kind, body in references)

    iprp = dict(_children(boxes[b"iprp"]))
    properties = _children(iprp[b"ipco"]) + [(b"auxC", b"\0\0\0\0" + aux_type + b"\0")]
    ipma = iprp[b"ipma"]
    assert ipma[0] == 0 and not ipma[3] & 1, "expects 16-bit item ids and 7-bit property indices"
    pos, associations = 8, []
    for _ in range(struct.unpack_from(">I", ipma, 4)[0]):
        item_id, count = struct.unpack_from(">HB", ipma, pos)
        indices = ipma[pos + 3 : pos + 3 + count]
        pos += 3 + count
        if item_id == aux_id:
            indices, count = indices + bytes([len(properties)]), count + 1
        associations.append(struct.pack(">HB", item_id, count) + indices)
    boxes[b"iprp"] = (_box(b"ipco", b"".join(_box(kind, body) for kind, body in properties))
                      + _box(b"ipma", ipma[:8] + b"".join(associations)))

    def assemble() -> bytes:
        return _box(b"meta", meta[:4] + b"".join(_box(kind, boxes[kind]) for kind in order))

    growth = len(assemble()) - (8 + len(meta))
    iloc = bytearray(boxes[b"iloc"])
    version = iloc[0]
    assert version in (0, 1)
    offset_size, length_size, base_size = iloc[4] >> 4, iloc[4] & 15, iloc[5] >> 4
    index_size = iloc[5] & 15 if version else 0

    def shift(at: int, size: int) -> None:
        iloc[at : at + size] = (int.from_bytes(iloc[at : at + size], "big") + growth).to_bytes(size, "big")

    pos = 8
    for _ in range(struct.unpack_from(">H", iloc, 6)[0]):
        pos += 2  # item id
        method = 0
        if version:
            method, pos = struct.unpack_from(">H", iloc, pos)[0] & 15, pos + 2
        pos += 2  # data reference index
        base_at, pos = pos, pos + base_size
        extents, pos = struct.unpack_from(">H", iloc, pos)[0], pos + 2
        if method == 0 and base_size:
            shift(base_at, base_size)
        for _ in range(extents):
            pos += index_size
            if method == 0 and not base_size:
                shift(pos, offset_size)
            pos += offset_size + length_size
    boxes[b"iloc"] = bytes(iloc)
    return _box(b"ftyp", top[0][1]) + assemble() + _box(b"mdat", top[2][1])


HEVC_DEPTH = b"urn:mpeg:hevc:2015:auxid:2"


def build_heic_thumbnail_depth() -> bytes:
    heif = pillow_heif.from_pillow(Image.fromarray(scene()))
    heif.add_from_pillow(Image.fromarray(scene()).convert("L"))  # the depth-like map: the scene's shapes
    heif[0].info["thumbnails"] = [WIDTH // 2]
    heif[1].info["thumbnails"] = []
    buf = io.BytesIO()
    heif.save(buf, quality=80, exif=phone_exif())
    return make_auxiliary(buf.getvalue(), HEVC_DEPTH)


# -- independent extraction of each payload -----------------------------------------------------


def exiftool_binary(path: Path, tag: str) -> bytes:
    exe = shutil.which("exiftool")
    if exe is None:
        pytest.fail("exiftool is required (apt-get install libimage-exiftool-perl)")
    return subprocess.run([exe, "-b", f"-{tag}", str(path)], capture_output=True, check=True).stdout


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def payload_mpf_image(tag: str) -> Callable[[Path], list[np.ndarray]]:
    """exiftool follows the MPF index to the second image; ``tag`` depends on its MP type."""
    return lambda path: [decode(exiftool_binary(path, f"MPImage2:{tag}"))]


def payload_motion_photo(path: Path) -> list[np.ndarray]:
    data = path.read_bytes()
    length = int(re.search(rb'Item:Semantic="MotionPhoto" Item:Length="(\d+)"', data).group(1))
    with av.open(io.BytesIO(data[-length:])) as container:  # readers locate the video from the end
        return [next(container.decode(video=0)).to_ndarray(format="rgb24")]


def payload_after_iend(path: Path) -> list[np.ndarray]:
    data = path.read_bytes()
    return [decode(data[data.index(b"IEND") + 8 :])]


def payload_heic(path: Path) -> list[np.ndarray]:
    heif = pillow_heif.open_heif(path)
    assert len(heif) == 1, "the depth image must not be a top-level image"
    (depth,) = heif.info["depth_images"]
    thumbnail = heif[0].get_thumbnail(0)
    return [np.asarray(thumbnail.to_pillow().convert("RGB")), np.asarray(depth.to_pillow().convert("RGB"))]


def payload_exif_thumbnail(path: Path) -> list[np.ndarray]:
    return [decode(exiftool_binary(path, "ThumbnailImage"))]


@dataclass(frozen=True)
class Case:
    build: Callable[[], bytes]
    suffix: str
    kinds: frozenset[str]  # what the audit must name on the input
    exiftool_evidence: tuple[str, ...]  # Group:Tag keys exiftool shows on the input
    payload_faces: Callable[[Path], list[np.ndarray]] | None  # pictures extracted from the payload
    output_format: str


CASES = {
    "mpf_secondary": Case(build_mpf_secondary, ".jpg", frozenset({"hidden image", "trailing data"}),
                          ("MPF0:NumberOfImages", "MPImage2:PreviewImage"), payload_mpf_image("PreviewImage"), "jpeg"),
    "ultra_hdr": Case(build_ultra_hdr, ".jpg", frozenset({"hidden image", "trailing data", "XMP", "camera serial"}),
                      ("MPImage2:MPImage2", "XMP-hdrgm:Version"), payload_mpf_image("MPImage2"), "jpeg"),
    "motion_photo": Case(build_motion_photo, ".jpg",
                         frozenset({"hidden image", "trailing data", "XMP", "GPS position", "camera serial"}),
                         ("XMP-GCamera:MotionPhoto", "File:EmbeddedVideo"), payload_motion_photo, "jpeg"),
    "png_acropalypse": Case(build_png_acropalypse, ".png", frozenset({"trailing data", "owner/author"}),
                            ("PNG:Author",), None, "png"),
    "png_appended_png": Case(build_png_appended_png, ".png", frozenset({"trailing data", "hidden image"}),
                             ("PNG:Author",), payload_after_iend, "png"),
    "heic_thumbnail_depth": Case(build_heic_thumbnail_depth, ".heic",
                                 frozenset({"embedded thumbnail", "hidden image", "EXIF", "GPS position"}),
                                 ("QuickTime:AuxiliaryImageType",), payload_heic, "jpeg"),
    "exif_thumbnail": Case(build_exif_thumbnail, ".jpg",
                           frozenset({"embedded thumbnail", "GPS position", "camera serial", "timestamps"}),
                           ("IFD1:ThumbnailImage", "GPS:GPSLatitude"), payload_exif_thumbnail, "jpeg"),
}


# -- raw byte oracles (independent of crowdveil's audit) -----------------------------------------

_JPEG_CODING = {0xC0, 0xC1, 0xC2, 0xC4, 0xDB, 0xDD, 0xDA}


def assert_single_bare_jpeg(data: bytes) -> None:
    """One SOI…EOI image with only JFIF and coding segments, and nothing after EOI."""
    assert data[:2] == b"\xff\xd8"
    assert data.count(b"\xff\xd8\xff") == 1, "a second JPEG is embedded"
    pos, markers = 2, []
    while True:
        assert data[pos] == 0xFF, f"marker expected at {pos}"
        marker = data[pos + 1]
        if marker == 0xD9:
            break
        length = struct.unpack_from(">H", data, pos + 2)[0]
        markers.append(marker)
        if marker == 0xE0:
            assert data[pos + 4 : pos + 9] == b"JFIF\0" and length == 16, "APP0 other than a thumbnail-less JFIF"
        else:
            assert marker in _JPEG_CODING, f"segment 0x{marker:02X} in the output"
        pos += 2 + length
        if marker == 0xDA:  # entropy-coded data: 0xFF is followed by 0x00 stuffing or RSTn only
            while not (data[pos] == 0xFF and data[pos + 1] not in (0x00, *range(0xD0, 0xD8))):
                pos += 1
    assert pos + 2 == len(data), f"{len(data) - pos - 2} bytes after EOI"
    assert markers.count(0xDA) >= 1


def assert_single_bare_png(data: bytes) -> None:
    """PNG signature, IHDR/IDAT (PLTE, tRNS) chunks, and an IEND that ends the file."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data.count(b"\x89PNG") == 1
    pos, types = 8, []
    while True:
        length, kind = struct.unpack_from(">I4s", data, pos)
        types.append(kind)
        pos += 12 + length
        if kind == b"IEND":
            break
    assert set(types) <= {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}, types
    assert pos == len(data), f"{len(data) - pos} bytes after IEND"


def assert_output_is_bare(out: Path, fmt: str) -> None:
    data = out.read_bytes()
    assert b"ftyp" not in data
    assert_single_bare_jpeg(data) if fmt == "jpeg" else assert_single_bare_png(data)
    tags = exiftool_tags(out)
    assert non_structural(tags) == {}
    assert not [key for key in tags if PAYLOAD_TAG_WORDS.search(key)]
    audit = audit_file(out)
    assert audit.clean, audit.findings


# -- the tests ----------------------------------------------------------------------------------


def audit_cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["audit", *map(str, args)])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def detector():
    from crowdveil.detect.centerface import CenterFace

    return CenterFace(threshold=0.3)


@pytest.mark.parametrize("name", list(CASES))
def test_payload_is_real_listed_and_gone(name, tmp_path, detector):
    case = CASES[name]
    src = tmp_path / f"{name}{case.suffix}"
    src.write_bytes(case.build())

    # The fixture is honest: exiftool sees the payload, and it shows the unredacted face.
    tags = exiftool_tags(src)
    assert set(case.exiftool_evidence) <= set(tags), sorted(tags)
    for picture in case.payload_faces(src) if case.payload_faces else []:
        assert len(detector.detect(np.ascontiguousarray(picture))), "the payload must show the face"

    # (a) crowdveil audit names the payload's kind and repeats no planted value.
    code, human = audit_cli(src)
    json_code, listing = audit_cli("--json", src)
    assert code == json_code == EXIT["failed"], human
    assert case.kinds <= set(json.loads(listing)[str(src)]["kinds"]), listing
    for shown in (human, listing):
        assert not [value for value in PLANTED if value in shown], shown

    # (b) the real pipeline; the output is judged by exiftool, our audit and its raw bytes.
    report = anonymize(src, None, Config(), detector=detector, verifier=detector)
    out = Path(report.destination)
    assert report.passed and out.is_file()
    assert case.kinds <= set(report.metadata_removed)
    assert_output_is_bare(out, case.output_format)
    if name != "png_acropalypse":  # its visible crop shows no face
        assert filled_share(np.asarray(Image.open(out)), face_box()) > 0.97

    # (c) and crowdveil audit calls it clean.
    code, human = audit_cli(out)
    assert code == EXIT["ok"] and "clean" in human, human


def test_acropalypse_tail_is_the_original_idat_stream(tmp_path):
    """The aCropalypse fixture carries what the real bug left: IDAT chunks and an IEND after IEND."""
    data = build_png_acropalypse()
    first_iend = data.index(b"IEND") + 8
    tail = data[first_iend:]
    assert tail.endswith(b"IEND\xaeB`\x82") and tail.count(b"IDAT") >= 2
    # The first whole chunk of the tail is one of the original's IDAT chunks, CRC intact.
    at = tail.index(b"IDAT") - 4
    length = struct.unpack_from(">I", tail, at)[0]
    body = tail[at + 8 : at + 8 + length]
    assert struct.unpack_from(">I", tail, at + 8 + length)[0] == zlib.crc32(b"IDAT" + body)
    assert len(tail) > len(data) // 2  # most of the original image is still there
    path = tmp_path / "cropped.png"
    path.write_bytes(data)
    assert Image.open(path).size == (160, 120)  # viewers show only the crop


def test_heic_with_two_top_level_images_is_refused(tmp_path, detector):
    """Two top-level images is a burst/collection: refused, nothing written, original untouched."""
    heif = pillow_heif.from_pillow(Image.fromarray(scene()))
    heif.add_from_pillow(Image.fromarray(scene()[:, ::-1].copy()))
    src = tmp_path / "two.heic"
    heif.save(src, quality=80)
    before = src.read_bytes()
    code, listing = audit_cli("--json", src)
    assert code == EXIT["failed"] and "hidden image" in json.loads(listing)[str(src)]["kinds"]
    with pytest.raises(UnsupportedFormat, match="2 frames"):
        anonymize(src, None, Config(), detector=detector, verifier=detector)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.heic"]
    assert src.read_bytes() == before


def test_byte_oracles_catch_every_payload_shape():
    """The raw checks above are not vacuous: bare files pass, every payload shape fails."""
    bare_jpeg, bare_png = jpeg(Image.fromarray(scene())), png(Image.fromarray(scene()))
    assert_single_bare_jpeg(bare_jpeg)
    assert_single_bare_png(bare_png)
    for dirty in (bare_jpeg + b"\0", bare_jpeg + mp4_of(scene()[:64, :64], frames=1), build_mpf_secondary(),
                  build_exif_thumbnail(), jpeg(Image.fromarray(scene()), xmp=xmp_packet(b""))):
        with pytest.raises(AssertionError):
            assert_single_bare_jpeg(dirty)
    for dirty in (bare_png + b"\0", build_png_acropalypse(), build_png_appended_png(),
                  png(Image.fromarray(scene()), pnginfo=_png_text())):
        with pytest.raises(AssertionError):
            assert_single_bare_png(dirty)
