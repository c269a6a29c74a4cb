"""The structural metadata audit: what it finds, what it calls clean, and that it never crashes."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
from functools import lru_cache

import av
import av.bitstream
import numpy as np
import piexif
import pillow_heif
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo

from crowdveil.errors import InputError
from crowdveil.verify.audit import KINDS, Audit, Finding, audit_bytes, audit_file

pillow_heif.register_heif_opener()

XMP_PACKET = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/"'
    b' xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"'
    b' xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"'
    b' exif:GPSLatitude="48,51.462N" exif:GPSLongitude="2,17.7E">'
    b'<mwg-rs:Regions rdf:parseType="Resource">'
    b'<mwg-rs:AppliedToDimensions stDim:w="32" stDim:h="24" stDim:unit="pixel"/>'
    b'<mwg-rs:RegionList><rdf:Bag><rdf:li rdf:parseType="Resource"><mwg-rs:Type>Face</mwg-rs:Type>'
    b'<mwg-rs:Area stArea:x="0.5" stArea:y="0.5" stArea:w="0.2" stArea:h="0.2" stArea:unit="normalized"/>'
    b"</rdf:li></rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>"
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)


# -- fixture builders ---------------------------------------------------------------------------


def _image(mode: str = "RGB", size: tuple[int, int] = (48, 32)) -> Image.Image:
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 5 % 256, y * 7 % 256, (x + y) * 3 % 256], axis=-1).astype(np.uint8)
    img = Image.fromarray(rgb)
    return img.convert(mode) if mode != "RGB" else img


def _encode(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def _insert_jpeg_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """Put one APPn/COM segment right after SOI."""
    return jpeg[:2] + struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload + jpeg[2:]


def _exif_bytes() -> bytes:
    thumbnail = _encode(_image(size=(16, 12)), "JPEG")
    return piexif.dump({
        "0th": {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Model: b"EOS 5D", piexif.ImageIFD.Software: b"fw 1.0"},
        "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2024:05:01 12:00:00", piexif.ExifIFD.BodySerialNumber: b"123456"},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((48, 1), (51, 1), (0, 1))},
        "1st": {piexif.ImageIFD.JPEGInterchangeFormat: 0, piexif.ImageIFD.JPEGInterchangeFormatLength: 0},
        "thumbnail": thumbnail,
    })


def _mpf_payload() -> bytes:
    # MP Format index IFD: MPFVersion "0100", NumberOfImages 2
    ifd = struct.pack(">H", 2) + struct.pack(">HHI4s", 0xB000, 7, 4, b"0100") + struct.pack(">HHII", 0xB001, 4, 1, 2)
    return b"MPF\0" + b"MM\0*" + struct.pack(">I", 8) + ifd + struct.pack(">I", 0)


def _icc_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _png_with_everything() -> bytes:
    info = PngInfo()
    info.add_text("Author", "someone")
    info.add_itxt("XML:com.adobe.xmp", XMP_PACKET.decode())
    info.add(b"tIME", struct.pack(">HBBBBB", 2024, 5, 1, 12, 0, 0))
    png = _encode(_image(), "PNG", pnginfo=info, exif=_exif_bytes(), icc_profile=_icc_profile())
    return png + b"hidden after IEND"


def _video(container_format: str = "mp4", metadata: dict | None = None, options: dict | None = None,
           strip_sei: bool = False, codec: str = "libx264") -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format=container_format, options=options or {}) as out:
        out.metadata.update(metadata or {})
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        bsf = av.bitstream.BitStreamFilterContext("filter_units=remove_types=6", stream, stream) if strip_sei else None

        def mux(packets):
            for packet in packets:
                for filtered in bsf.filter(packet) if bsf else [packet]:
                    out.mux(filtered)

        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 40, np.uint8), format="rgb24")
            mux(stream.encode(frame))
        mux(stream.encode())
        if bsf:
            for filtered in bsf.filter(None):
                out.mux(filtered)
    return buf.getvalue()


BITEXACT = {"fflags": "+bitexact"}


@lru_cache(maxsize=None)
def dirty_fixtures() -> dict[str, tuple[bytes, str, set[str]]]:
    """name -> (bytes, expected format, kinds that must be found)."""
    clean_jpeg = _encode(_image(), "JPEG")
    return {
        "jpeg_exif": (_encode(_image(), "JPEG", exif=_exif_bytes()), "jpeg",
                      {"EXIF", "GPS position", "camera serial", "timestamps", "device make/model",
                       "software", "embedded thumbnail"}),
        "jpeg_xmp": (_encode(_image(), "JPEG", xmp=XMP_PACKET), "jpeg", {"XMP", "face regions", "GPS position"}),
        "jpeg_icc": (_encode(_image(), "JPEG", icc_profile=_icc_profile()), "jpeg", {"colour profile"}),
        "jpeg_comment": (_encode(_image(), "JPEG", comment=b"shot by me"), "jpeg", {"comment"}),
        "jpeg_mpf": (_insert_jpeg_segment(clean_jpeg, 0xE2, _mpf_payload()) + clean_jpeg, "jpeg",
                     {"hidden image", "trailing data"}),
        "jpeg_trailer": (clean_jpeg + _video(options=BITEXACT), "jpeg", {"trailing data", "hidden image"}),
        "png_everything": (_png_with_everything(), "png",
                           {"text chunk", "owner/author", "XMP", "face regions", "EXIF", "GPS position",
                            "colour profile", "timestamps", "trailing data"}),
        "webp_exif_xmp": (_encode(_image(), "WEBP", exif=_exif_bytes(), xmp=XMP_PACKET), "webp",
                          {"EXIF", "XMP", "GPS position", "camera serial", "face regions"}),
        "gif_comment": (_encode(_image(), "GIF", comment=b"hello"), "gif", {"comment"}),
        "tiff_exif": (_encode(_image(), "TIFF", exif=_exif_bytes()), "tiff",
                      {"device make/model", "EXIF", "GPS position", "camera serial", "timestamps"}),
        "heic_exif": (_encode(_image(), "HEIF", exif=_exif_bytes()), "heif",
                      {"EXIF", "GPS position", "camera serial", "device make/model"}),
        "heic_xmp": (_encode(_image(), "HEIF", xmp=XMP_PACKET), "heif", {"XMP", "GPS position", "face regions"}),
        "heic_two_images": (_encode(_image(), "HEIF", save_all=True, append_images=[_image("L").convert("RGB")]),
                            "heif", {"hidden image"}),
        "mp4_metadata": (_video(metadata={"creation_time": "2024-05-01T12:00:00Z", "location": "+48.8577+002.2950/"}),
                         "mp4", {"timestamps", "location", "software"}),
        "mov_metadata": (_video("mov", metadata={"location": "+48.8577+002.2950/"}), "mov", {"location", "software"}),
        "mov_apple_keys": (_video("mov", codec="mpeg4", options={"movflags": "use_metadata_tags"}, metadata={
                               "com.apple.quicktime.location.ISO6709": "+48.8577+002.2950/",
                               "com.apple.quicktime.make": "Apple", "com.android.version": "13"}),
                           "mov", {"location", "device make/model", "unknown metadata"}),
        "mkv_default": (_video("matroska"), "mkv/webm", {"software"}),
        "avi_default": (_video("avi", codec="mpeg4"), "riff-avi", {"text chunk"}),
    }


@lru_cache(maxsize=None)
def clean_fixtures() -> dict[str, tuple[bytes, str]]:
    return {
        "jpeg": (_encode(_image(), "JPEG"), "jpeg"),
        "jpeg_grey": (_encode(_image("L"), "JPEG", quality=95), "jpeg"),
        "jpeg_progressive": (_encode(_image(), "JPEG", progressive=True), "jpeg"),
        "png": (_encode(_image(), "PNG"), "png"),
        "png_rgba": (_encode(_image("RGBA"), "PNG"), "png"),
        "webp": (_encode(_image(), "WEBP"), "webp"),
        "webp_lossless_rgba": (_encode(_image("RGBA"), "WEBP", lossless=True), "webp"),
        "gif": (_encode(_image(), "GIF"), "gif"),
        "tiff": (_encode(_image(), "TIFF"), "tiff"),
        "heic": (_encode(_image(), "HEIF"), "heif"),
        "heic_alpha": (_encode(_image("RGBA"), "HEIF"), "heif"),
        "mp4_bitexact_no_sei": (_video(options=BITEXACT, strip_sei=True), "mp4"),
        "mkv_bitexact_no_sei": (_video("matroska", options=BITEXACT, strip_sei=True), "mkv/webm"),
        "avi_bitexact": (_video("avi", codec="mpeg4", options=BITEXACT), "riff-avi"),
    }


# -- what is found ------------------------------------------------------------------------------


DIRTY = [
    "jpeg_exif", "jpeg_xmp", "jpeg_icc", "jpeg_comment", "jpeg_mpf", "jpeg_trailer", "png_everything",
    "webp_exif_xmp", "gif_comment", "tiff_exif", "heic_exif", "heic_xmp", "heic_two_images", "mp4_metadata",
    "mov_metadata",
    "mov_apple_keys", "mkv_default", "avi_default",
]
CLEAN = [
    "jpeg", "jpeg_grey", "jpeg_progressive", "png", "png_rgba", "webp", "webp_lossless_rgba", "gif", "tiff",
    "heic", "heic_alpha", "mp4_bitexact_no_sei", "mkv_bitexact_no_sei", "avi_bitexact",
]


def _fixture_bytes(name: str) -> bytes:
    return dirty_fixtures()[name][0] if name in DIRTY else clean_fixtures()[name][0]


@pytest.mark.parametrize("name", DIRTY)
def test_dirty_fixture_kinds(name):
    data, fmt, expected = dirty_fixtures()[name]
    audit = audit_bytes(data)
    assert audit.format == fmt
    assert not audit.clean
    assert expected <= set(audit.kinds), (expected - set(audit.kinds), audit.findings)
    assert "unparseable metadata" not in audit.kinds, audit.findings


@pytest.mark.parametrize("name", CLEAN)
def test_our_clean_outputs_are_clean(name):
    data, fmt = clean_fixtures()[name]
    audit = audit_bytes(data)
    assert audit.format == fmt
    assert audit.clean, audit.findings
    assert audit.kinds == []


def test_pillow_jfif_header_is_structural():
    audit = audit_bytes(clean_fixtures()["jpeg"][0])
    assert audit.structural == ["JFIF header"]


def test_heic_alpha_plane_is_listed_as_structural():
    audit = audit_bytes(clean_fixtures()["heic_alpha"][0])
    assert any("alpha plane" in s for s in audit.structural)


def test_pyav_mp4_findings_by_muxer_setting():
    """What the video pipeline must do to get a clean MP4 (see the module docstring)."""
    default = audit_bytes(_video())
    assert set(default.findings) == {
        Finding("software", "ISOBMFF mdat (encoder version string in the coded stream)"),
        Finding("software", "ISOBMFF moov/udta/meta/ilst/©too"),
    }
    bitexact = audit_bytes(_video(options=BITEXACT))
    assert bitexact.findings == [Finding("software", "ISOBMFF mdat (encoder version string in the coded stream)")]
    assert audit_bytes(_video(options=BITEXACT, strip_sei=True)).clean


def test_mp4_metadata_locations():
    audit = audit_bytes(dirty_fixtures()["mp4_metadata"][0])
    wheres = {f.where for f in audit.findings}
    assert {"ISOBMFF moov/mvhd", "ISOBMFF moov/trak/tkhd", "ISOBMFF moov/trak/mdia/mdhd"} <= wheres
    assert Finding("location", "ISOBMFF moov/udta/loci") in audit.findings  # ffmpeg's mp4 muxer writes 3GPP loci
    mov = audit_bytes(dirty_fixtures()["mov_metadata"][0])
    assert Finding("location", "ISOBMFF moov/udta/©xyz") in mov.findings  # and ©xyz in mov


def test_jpeg_exif_thumbnail_is_found_in_ifd1():
    audit = audit_bytes(dirty_fixtures()["jpeg_exif"][0])
    assert Finding("embedded thumbnail", "JPEG APP1 Exif IFD1") in audit.findings
    assert Finding("GPS position", "JPEG APP1 Exif IFD0") in audit.findings
    assert Finding("camera serial", "JPEG APP1 Exif Exif IFD") in audit.findings


def test_jfif_thumbnail_and_extra_app_segments():
    jpeg = clean_fixtures()["jpeg"][0]
    jfif_with_thumb = b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x02\x02" + bytes(12)
    with_thumb = jpeg[:2] + struct.pack(">BBH", 0xFF, 0xE0, len(jfif_with_thumb) + 2) + jfif_with_thumb + jpeg[20:]
    assert "embedded thumbnail" in audit_bytes(with_thumb).kinds
    assert audit_bytes(_insert_jpeg_segment(jpeg, 0xE5, b"vendor stuff")).kinds == ["unknown metadata"]
    photoshop_iptc = b"Photoshop 3.0\0" + b"8BIM\x04\x04\0\0" + struct.pack(">I", 2) + b"\x1c\x02"
    assert audit_bytes(_insert_jpeg_segment(jpeg, 0xED, photoshop_iptc)).kinds == ["IPTC"]
    assert audit_bytes(_insert_jpeg_segment(jpeg, 0xEE, b"Adobe\0d\0\0\0\0\x01")).clean


def test_findings_use_the_vocabulary():
    for data in map(_fixture_bytes, DIRTY + CLEAN):
        audit = audit_bytes(data)
        assert all(isinstance(f, Finding) and f.kind in KINDS for f in audit.findings)
        assert audit.kinds == sorted(set(audit.kinds))


# -- robustness ---------------------------------------------------------------------------------


def test_unknown_and_empty_inputs():
    assert audit_bytes(b"").findings == [Finding("unparseable metadata", "empty file")]
    unknown = audit_bytes(b"%PDF-1.7 not an image")
    assert unknown.format == "unknown"
    assert unknown.findings == [Finding("unparseable metadata", "unknown container")]


def test_cyclic_ifd_offsets_terminate():
    # IFD0 at 8 with one entry, next-IFD pointer back to itself.
    tiff = b"II*\0" + struct.pack("<IHHHIII", 8, 1, 0x0100, 4, 1, 1, 8)
    audit = audit_bytes(tiff)
    assert audit.format == "tiff"
    assert "unparseable metadata" in audit.kinds
    jpeg = clean_fixtures()["jpeg"][0]
    assert "unparseable metadata" in audit_bytes(_insert_jpeg_segment(jpeg, 0xE1, b"Exif\0\0" + tiff)).kinds


def test_nesting_depth_is_limited():
    box = b"\0\0\0\x08free"
    for _ in range(200):
        box = struct.pack(">I", len(box) + 8) + b"trak" + box
    mp4 = b"\0\0\0\x10ftypisom\0\0\0\0" + struct.pack(">I", len(box) + 8) + b"moov" + box
    assert "unparseable metadata" in audit_bytes(mp4).kinds


@pytest.mark.parametrize("name", DIRTY + CLEAN)
def test_truncations_never_raise(name):
    data = _fixture_bytes(name)
    step = max(1, len(data) // 97)
    for cut in range(0, len(data), step):
        audit = audit_bytes(data[:cut])
        assert isinstance(audit, Audit)
        if audit.format in ("jpeg", "png", "webp", "gif") and cut:
            assert not audit.clean  # a cut image file always fails closed


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_random_mutations_never_raise(data):
    original = bytearray(_fixture_bytes(data.draw(st.sampled_from(DIRTY + CLEAN), label="fixture")))
    for _ in range(data.draw(st.integers(1, 8), label="mutations")):
        pos = data.draw(st.integers(0, len(original) - 1))
        action = data.draw(st.sampled_from(["set", "insert", "delete", "max"]))
        if action == "set":
            original[pos] = data.draw(st.integers(0, 255))
        elif action == "max":  # sizes and offsets turned into huge numbers
            original[pos : pos + 4] = b"\xff\xff\xff\xff"
        elif action == "insert":
            original[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            del original[pos : pos + data.draw(st.integers(1, 16))]
    audit = audit_bytes(bytes(original))
    assert all(f.kind in KINDS for f in audit.findings)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512), st.sampled_from([
    b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x10\0\0\0WEBP", b"RIFF\x10\0\0\0AVI ", b"GIF89a", b"II*\0",
    b"MM\0*", b"\x1a\x45\xdf\xa3", b"\0\0\0\x18ftypheic", b"\0\0\0\x18ftypisom", b"\0\0\0\x08moov",
]))
def test_random_bytes_behind_a_signature_never_raise(tail, signature):
    audit = audit_bytes(signature + tail)
    assert audit.format != "unknown"


# -- files --------------------------------------------------------------------------------------


def test_audit_file_matches_audit_bytes(tmp_path):
    for name in ("jpeg_exif", "mp4_metadata", "heic_exif"):
        data = dirty_fixtures()[name][0]
        path = tmp_path / name
        path.write_bytes(data)
        assert audit_file(path) == audit_bytes(data)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert audit_file(empty).findings == [Finding("unparseable metadata", "empty file")]
    with pytest.raises(InputError):
        audit_file(tmp_path / "missing.jpg")


# -- cross-check against exiftool ------------------------------------------------------------


_PNG_HEADER_TAGS = ("ImageWidth", "ImageHeight", "BitDepth", "ColorType", "Compression", "Filter", "Interlace")


def _exiftool_evidence(key: str, value) -> set[str]:
    """The audit kinds one exiftool ``Group:Tag`` stands for."""
    group, _, tag = key.partition(":")
    text = str(value)
    kinds = set()
    rules = (
        ("EXIF", group in ("IFD0", "ExifIFD", "IFD1", "GPS", "InteropIFD")),
        ("GPS position", "GPS" in tag or group == "GPS"),
        ("timestamps", ("Date" in tag or tag.endswith("Time")) and not text.startswith("0000")),
        ("device make/model", tag in ("Make", "Model", "LensMake", "LensModel") or tag.endswith(".make")),
        ("camera serial", "Serial" in tag),
        ("owner/author", tag in ("Artist", "Copyright", "Author", "OwnerName", "Creator")),
        ("software", tag in ("Software", "Encoder", "SoftwareVersion", "CreatorTool", "MuxingApp", "WritingApp")),
        ("embedded thumbnail", tag in ("ThumbnailImage", "ThumbnailTIFF", "PreviewImage")),
        ("hidden image", group.startswith("MPF") or "MPImage" in tag or tag in ("EmbeddedVideo", "EmbeddedImage")),
        # exiftool names what it found appended to a JPEG (MPF images, an embedded video)
        # rather than warning about a trailer; PNG/WebP trailers get a warning.
        ("trailing data", group == "ExifTool" and "railer" in text or group.startswith("MPF")
         or tag in ("EmbeddedVideo", "EmbeddedImage")),
        ("XMP", group.startswith("XMP")),
        ("IPTC", group == "IPTC"),
        ("comment", "Comment" in tag or "Description" in tag),
        ("text chunk", group == "RIFF" and tag == "Software" or group == "PNG" and tag not in _PNG_HEADER_TAGS),
        ("colour profile", group.startswith("ICC")),
        ("face regions", tag.startswith("Region")),
        ("location", "Location" in tag or "GPSCoordinates" in tag or tag.endswith("ISO6709")),
    )
    for kind, matches in rules:
        if matches:
            kinds.add(kind)
    return kinds


# exiftool lists the properties of one image only; it says nothing about a second top-level item.
_EXIFTOOL_BLIND = {"heic_two_images": {"hidden image"}}


@pytest.mark.parametrize("name", DIRTY)
def test_exiftool_sees_the_same_kinds(name, tmp_path):
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        pytest.skip("exiftool is not installed; the cross-check needs it (apt-get install libimage-exiftool-perl)")
    data, _fmt, _expected = dirty_fixtures()[name]
    path = tmp_path / f"{name}.bin"
    path.write_bytes(data)
    run = subprocess.run([exiftool, "-j", "-a", "-G1", "-ee", "-u", str(path)], capture_output=True, timeout=60)
    (tags,) = json.loads(run.stdout)
    seen = set()
    for key, value in tags.items():
        seen |= _exiftool_evidence(key, value)
    # "unknown metadata" has no exiftool counterpart to compare with. exiftool does not read
    # the encoder string in the coded stream, but these fixtures also carry a container
    # encoder tag, so "software" is still comparable.
    ours = set(audit_bytes(data).kinds) - {"unknown metadata", "unparseable metadata"}
    ours -= _EXIFTOOL_BLIND.get(name, set())
    assert ours <= seen, (ours - seen, sorted(tags))
