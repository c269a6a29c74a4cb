"""Which identifying metadata *kinds* a file carries, found by our own byte-level walk.

This does not trust any decoder's idea of "metadata" (Pillow's ``.info`` hides
whatever it does not understand). It walks the container structure itself and
classifies every segment, chunk, box, tag or element it meets: each one is
either on a short structural allowlist (listed in ``Audit.structural``) or a
``Finding`` of one of ``KINDS``. It never reports values, only kinds and where
they sit. Anything it cannot follow (bad sizes, offsets past the end, loops,
nesting too deep) becomes a ``"unparseable metadata"`` finding, never an
exception, so a damaged or hostile file can only ever fail closed.

Used to list what an input carried, as the verify step on every output, and by
``crowdveil audit``.

What our own outputs look like to the audit:

* Pillow ``Image.save`` JPEG / PNG / WebP / GIF / TIFF with no ``exif=``,
  ``icc_profile=``, ``comment=`` or ``pnginfo=``: clean (the JPEG's JFIF APP0
  has no thumbnail and is structural).
* pillow_heif HEIC without ``exif=``: clean; an RGBA one carries an alpha
  ``auxl`` item, listed as structural.
* PyAV H.264 MP4, default muxer options: ``software`` twice, from the
  ``moov/udta/meta/ilst/©too`` "Lavf…" encoder tag and from the x264 SEI
  message (x264 version and full option string) at the start of ``mdat``.
  With ``options={"fflags": "+bitexact"}`` the muxer drops ``©too`` (it still
  writes an empty ``udta/meta/hdlr+ilst``, which is structural) and the
  creation/modification times in ``mvhd/tkhd/mdhd`` stay zero, so only the
  SEI ``software`` finding remains. Removing SEI NAL units with the
  ``filter_units=remove_types=6`` bitstream filter
  (``av.bitstream.BitStreamFilterContext``) on every packet gives a clean MP4.
  Only the first 64 KiB of each ``mdat`` are searched for encoder strings;
  the audit does not otherwise look inside coded media samples.
* Setting container metadata ``creation_time`` fills ``mvhd/tkhd/mdhd``
  times (``timestamps``); ``location`` is written as 3GPP ``udta/loci`` in MP4
  and as ``udta/©xyz`` in MOV (``location``).

* PyAV Matroska/WebM: ``software`` from Info MuxingApp/WritingApp and the
  ENCODER tag, gone with ``+bitexact`` (the DURATION tag is structural); the
  encoder SEI is found in the first 64 KiB of each cluster. PyAV AVI: a LIST
  INFO ``text chunk`` (ISFT "Lavf…"), gone with ``+bitexact``; its JUNK index
  placeholders are structural.

Not covered: maker notes are flagged as a whole; inside them only Panasonic,
Nikon, Olympus/OM System and Sony notes are looked into (serials, face counts,
previews). Coded samples are not looked into beyond the encoder strings; AVI
``movi`` data is not scanned. BMP is reported as ``unknown``.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..errors import InputError

__all__ = ["KINDS", "Finding", "Audit", "audit_bytes", "audit_file"]

KINDS = (
    "GPS position", "timestamps", "device make/model", "camera serial", "owner/author",
    "software", "embedded thumbnail", "hidden image", "trailing data", "EXIF", "XMP", "IPTC",
    "comment", "text chunk", "colour profile", "maker notes", "face regions", "location",
    "timed metadata track", "unknown metadata", "unparseable metadata",
)

_MAX_DEPTH = 16  # box / element nesting; real files stay below 10
_MAX_IFDS = 64  # IFDs per TIFF structure
_MAX_ITEM_BYTES = 4 << 20  # HEIF metadata items read into memory, at most
_SCAN_WINDOW = 64 << 10  # bytes of coded data searched for encoder strings


@dataclass(frozen=True)
class Finding:
    """One piece of identifying metadata: its kind and where it sits, never its value."""

    kind: str  # one of KINDS
    where: str  # e.g. "JPEG APP1 Exif IFD0"


@dataclass
class Audit:
    """What one file carries. ``clean`` means nothing beyond the structural allowlist."""

    format: str
    findings: list[Finding] = field(default_factory=list)
    structural: list[str] = field(default_factory=list)
    # Set mirrors of the two lists, so that hostile files with many entries stay linear.
    _seen: set[Finding | str] = field(default_factory=set, init=False, repr=False, compare=False)

    @property
    def kinds(self) -> list[str]:
        return sorted({f.kind for f in self.findings})

    @property
    def clean(self) -> bool:
        return not self.findings

    def _flag(self, kind: str, where: str) -> None:
        finding = Finding(kind, where)
        if finding not in self._seen:
            self._seen.add(finding)
            self.findings.append(finding)

    def _note(self, what: str) -> None:
        if what not in self._seen:
            self._seen.add(what)
            self.structural.append(what)


class _Malformed(Exception):
    """A structure contradicts its own sizes or offsets."""


# Everything a bounds-checked walk over hostile bytes may raise; nothing else is swallowed.
_PARSE_ERRORS = (_Malformed, IndexError, struct.error, ValueError, OverflowError)


def audit_bytes(data: Any) -> Audit:
    """Audit a whole file held in ``data`` (bytes, bytearray or mmap)."""
    fmt = _container_format(data)
    audit = Audit(fmt)
    parse = _PARSERS.get(fmt)
    if parse is None:
        audit._flag("unparseable metadata", "empty file" if not len(data) else "unknown container")
        return audit
    _guarded(audit, f"{fmt} structure", parse, data, audit)
    return audit


def audit_file(path: str | os.PathLike[str]) -> Audit:
    """Audit a file on disk through a read-only memory map (large videos are not read whole).

    Raises:
        InputError: the file cannot be opened or read.
    """
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                return audit_bytes(b"")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return audit_bytes(mapped)
    except OSError as exc:
        raise InputError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from exc


# -- shared helpers --------------------------------------------------------------------------


def _guarded(audit: Audit, where: str, parse: Callable[..., None], *args: Any) -> None:
    """Run one parser; damage becomes a finding and the walk of the enclosing container goes on."""
    try:
        parse(*args)
    except _PARSE_ERRORS as exc:
        reason = str(exc) if isinstance(exc, _Malformed) else type(exc).__name__
        audit._flag("unparseable metadata", f"{where} ({reason})")


def _unpack(fmt: str, data: Any, pos: int, end: int) -> tuple:
    size = struct.calcsize(fmt)
    if pos < 0 or pos + size > min(end, len(data)):
        raise _Malformed("field past the end of its structure")
    return struct.unpack_from(fmt, data, pos)


def _uint(data: Any, pos: int, size: int, end: int) -> tuple[int, int]:
    """Big-endian unsigned int of ``size`` bytes (0 allowed) and the position after it."""
    if pos < 0 or pos + size > min(end, len(data)):
        raise _Malformed("field past the end of its structure")
    return int.from_bytes(bytes(data[pos : pos + size]), "big"), pos + size


def _cstring(data: Any, pos: int, end: int) -> tuple[bytes, int]:
    stop = data.find(b"\0", pos, end)
    stop = end if stop < 0 else stop
    return bytes(data[pos : min(stop, pos + 256)]), stop + 1


def _fourcc(code: bytes) -> str:
    return "".join(chr(c) if 32 <= c < 127 or c == 0xA9 else "?" for c in code)


def _check_trailer(data: Any, start: int, audit: Audit, where: str) -> None:
    if start >= len(data):
        return
    audit._flag("trailing data", where)
    # Motion photos and MPF append whole JPEGs / MP4s after the image.
    if any(data.find(sig, start) >= 0 for sig in (b"\xff\xd8\xff", b"ftyp", b"\x89PNG", b"RIFF")):
        audit._flag("hidden image", where)


def _check_padding(data: Any, start: int, end: int, audit: Audit, where: str) -> None:
    """Padding boxes/chunks may be empty or zeros; anything else is a hiding place."""
    for chunk_start in range(start, end, 1 << 20):
        chunk = bytes(data[chunk_start : min(end, chunk_start + (1 << 20))])
        if chunk.count(0) != len(chunk):
            audit._flag("unknown metadata", f"{where} (non-zero padding)")
            return


# -- TIFF / EXIF -------------------------------------------------------------------------------

_TAG_KINDS = {
    0x8825: "GPS position",
    **dict.fromkeys((0x0132, 0x9003, 0x9004, 0x9010, 0x9011, 0x9012, 0x9290, 0x9291, 0x9292), "timestamps"),
    **dict.fromkeys((0x010F, 0x0110, 0xA433, 0xA434, 0xC614, 0x013C), "device make/model"),
    **dict.fromkeys((0xA431, 0xA435, 0xC62F, 0xA420), "camera serial"),
    **dict.fromkeys((0x013B, 0x8298, 0x9C9D, 0xA430), "owner/author"),
    **dict.fromkeys((0x0131, 0x000B), "software"),
    **dict.fromkeys((0x927C, 0xC634), "maker notes"),  # MakerNote, DNGPrivateData
    **dict.fromkeys((0x010E, 0x9286, 0x9C9B, 0x9C9C, 0x9C9E, 0x9C9F, 0x010D, 0x011D), "comment"),
    **dict.fromkeys((0x83BB, 0x8649), "IPTC"),  # IPTC-NAA, Photoshop resources
    0x02BC: "XMP",
    0x8773: "colour profile",
    0x0201: "embedded thumbnail",  # JPEGInterchangeFormat
    0x014A: "hidden image",  # SubIFDs: full-size or preview images beside the main one
}
# Baseline tags that only describe how to decode the pixels. Beyond the usual list this
# admits NewSubfileType, ColorMap, YCbCr*, ReferenceBlackWhite, JPEGTables, T4/T6Options:
# decoding parameters too, carrying nothing about who, where or when.
_TIFF_PIXEL_TAGS = frozenset({
    0x00FE, 0x0100, 0x0101, 0x0102, 0x0103, 0x0106, 0x010A, 0x0111, 0x0112, 0x0115, 0x0116,
    0x0117, 0x011A, 0x011B, 0x011C, 0x0124, 0x0125, 0x0128, 0x013D, 0x0140, 0x0142, 0x0143,
    0x0144, 0x0145, 0x0152, 0x0153, 0x015B, 0x0211, 0x0212, 0x0213, 0x0214,
})
_EXIF_IFD, _THUMBNAIL_DATA_TAGS = 0x8769, {0x0111, 0x0201}
# Olympus ORF and Panasonic RW2 are TIFF structures with a magic number of their own.
_RAW_TIFF_MAGIC = {b"IIRO": "<", b"IIRS": "<", b"MMOR": ">", b"IIU\0": "<"}


def _ifd_entries(data: Any, pos: int, end: int, order: str) -> Iterator[tuple[int, int, int, int, int]]:
    """(tag, type, count, value or offset, position of the value) of each entry of the IFD at ``pos``."""
    (count,) = _unpack(order + "H", data, pos, end)
    for entry in range(pos + 2, pos + 2 + 12 * count, 12):
        tag, value_type, length, value = _unpack(order + "HHII", data, entry, end)
        inline = _TIFF_TYPE_SIZES.get(value_type, 1) * length <= 4
        yield tag, value_type, length, value, entry + 8 if inline else -1


_TIFF_TYPE_SIZES = {3: 2, 4: 4, 5: 8, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}


def _walk_tiff(data: Any, base: int, end: int, audit: Audit, where: str, standalone: bool = False) -> None:
    """Classify every tag of the TIFF structure at ``base`` (offsets inside are relative to it).

    ``standalone``: a TIFF file, where unlisted tags are unknown metadata and every IFD
    after the first is a hidden image; otherwise an Exif block, where IFD1 is the thumbnail.
    """
    order = {b"II*\0": "<", b"MM\0*": ">", **_RAW_TIFF_MAGIC}.get(bytes(data[base : base + 4]))
    if order is None:
        raise _Malformed("no TIFF header")
    pending = [(_unpack(order + "I", data, base + 4, end)[0], 0)]  # (offset, index in IFD chain; -1: Exif IFD)
    seen: set[int] = set()
    while pending:
        offset, index = pending.pop()
        if offset == 0:
            continue
        if offset in seen or len(seen) >= _MAX_IFDS:
            raise _Malformed("IFD offsets loop")
        seen.add(offset)
        label = f"{where} {'Exif IFD' if index < 0 else f'IFD{index}'}"
        tags = set()
        (count,) = _unpack(order + "H", data, base + offset, end)
        for tag, _type, _length, value, _at in _ifd_entries(data, base + offset, end, order):
            tags.add(tag)
            if tag == _EXIF_IFD:
                pending.append((value, -1))
                if standalone:
                    audit._flag("EXIF", label)
            elif tag in _TAG_KINDS:
                audit._flag(_TAG_KINDS[tag], label)
                if tag == 0x927C:
                    _walk_maker_note(data, base, end, order, base + value, audit, f"{label} MakerNote")
            elif standalone and index >= 0 and tag not in _TIFF_PIXEL_TAGS:
                audit._flag("unknown metadata", f"{label} tag 0x{tag:04X}")
        if index < 0:
            continue
        if index >= (1 if standalone else 2):
            audit._flag("hidden image", label)
        elif index == 1 and tags & _THUMBNAIL_DATA_TAGS:
            audit._flag("embedded thumbnail", label)
        next_at = base + offset + 2 + 12 * count
        pending.append((_unpack(order + "I", data, next_at, end)[0] if next_at + 4 <= end else 0, index + 1))


_OLYMPUS_SUB_IFDS = {
    0x2010: {0x0101: "camera serial", 0x0102: "camera serial", 0x0202: "camera serial"},  # Equipment
    0x2020: {0x0102: "embedded thumbnail"},  # CameraSettings: PreviewImageLength
}
# Vendor maker notes we look into: how the note starts, where its IFD is, what its offsets
# count from ("exif": the Exif TIFF header; "note": the note's start, byte order just before
# the IFD; "own": a TIFF header of its own at note+10), and the tags that matter, in the IFD
# itself (key 0) or in the sub-IFD a tag points to.
_MAKER_NOTES = (
    (b"Panasonic\0", 12, "exif", {0: {0x0025: "camera serial", 0x004E: "face regions"}}),
    (b"Nikon\0\x02", 0, "own", {0: {0x001D: "camera serial"}}),
    (b"OLYMPUS\0", 12, "note", {0: {}, **_OLYMPUS_SUB_IFDS}),
    (b"OM SYSTEM\0", 16, "note", {0: {}, **_OLYMPUS_SUB_IFDS}),
    # Sony enciphers its serial inside Tag9050; its presence is what we can see.
    (b"SONY DSC \0", 12, "exif", {0: {0x9050: "camera serial"}}),
    (b"SONY CAM \0", 12, "exif", {0: {0x9050: "camera serial"}}),
)
_COUNTED_KINDS = ("face regions", "embedded thumbnail")  # only when the first value (a count / length) is > 0


def _walk_maker_note(data: Any, exif_base: int, end: int, order: str, note: int, audit: Audit, where: str) -> None:
    """Serials, faces and previews inside maker notes. Damage is not reported: the note is flagged anyway."""
    head = bytes(data[note : note + 16])
    for prefix, ifd_at, offsets_from, tables in _MAKER_NOTES:
        if head.startswith(prefix):
            break
    else:
        return
    try:
        if offsets_from == "own":
            base, order = note + 10, "<" if head[10:12] == b"II" else ">"
            ifd_at = _unpack(order + "I", data, base + 4, end)[0] + 10
        elif offsets_from == "note":
            base, order = note, "<" if head[ifd_at - 4 : ifd_at - 2] == b"II" else ">"  # just before the IFD
        else:
            base = exif_base
        for tag, value_type, _length, value, value_at in _ifd_entries(data, note + ifd_at, end, order):
            _flag_maker_note_tag(data, base, end, order, tables[0].get(tag), value_type, value, value_at, audit, where)
            if tag in tables and tag:  # a sub-IFD we look into
                for sub_tag, sub_type, _n, sub_value, sub_at in _ifd_entries(data, base + value, end, order):
                    kind = tables[tag].get(sub_tag)
                    _flag_maker_note_tag(data, base, end, order, kind, sub_type, sub_value, sub_at, audit, where)
    except _PARSE_ERRORS:
        return


def _flag_maker_note_tag(
    data: Any, base: int, end: int, order: str, kind: str | None, value_type: int, value: int, value_at: int,
    audit: Audit, where: str,
) -> None:
    if kind in _COUNTED_KINDS:
        count_at = base + value if value_at < 0 else value_at
        if _unpack(order + ("I" if value_type in (4, 9, 13) else "H"), data, count_at, end)[0] == 0:
            return
    if kind:
        audit._flag(kind, where)


# -- XMP / Photoshop ---------------------------------------------------------------------------

_XMP_HINTS = (
    (b"mwg-rs:Regions", "face regions"), (b"MP:RegionInfo", "face regions"), (b"MPRI:Regions", "face regions"),
    (b"exif:GPS", "GPS position"), (b"Iptc4xmpCore:Location", "location"), (b"photoshop:City", "location"),
    (b"tiff:Make", "device make/model"), (b"tiff:Model", "device make/model"),
    (b"aux:SerialNumber", "camera serial"), (b"exifEX:BodySerialNumber", "camera serial"),
    (b"xmp:CreateDate", "timestamps"), (b"exif:DateTimeOriginal", "timestamps"),
    (b"photoshop:DateCreated", "timestamps"), (b"dc:creator", "owner/author"), (b"dc:rights", "owner/author"),
    (b"xmp:CreatorTool", "software"),
    # Google motion photos / depth photos describe images appended to the file
    (b"GCamera:MicroVideo", "hidden image"), (b"GCamera:MotionPhoto", "hidden image"),
    (b"Container:Directory", "hidden image"),  # also matches the older GContainer: prefix
    (b"hdrgm:", "hidden image"),  # Ultra HDR gain map described in XMP
)


# Olympus/Agfa/Sanyo "PictureInfo" APP12: "key=value" text lines.
_PICTURE_INFO_HINTS = ((b"TimeDate=", "timestamps"), (b"Serial#=", "camera serial"), (b"Type=", "device make/model"))


def _classify_xmp(data: Any, start: int, end: int, audit: Audit, where: str) -> None:
    audit._flag("XMP", where)
    _flag_hints(data, start, end, audit, where, _XMP_HINTS)


def _flag_hints(data: Any, start: int, end: int, audit: Audit, where: str, hints: tuple) -> None:
    """Flag the kinds whose marker string occurs in a text block (XMP, PictureInfo)."""
    for needle, kind in hints:
        if data.find(needle, start, end) >= 0:
            audit._flag(kind, where)


_PHOTOSHOP_KINDS = {0x0404: "IPTC", 0x0409: "embedded thumbnail", 0x040C: "embedded thumbnail",
                    0x040F: "colour profile", 0x0422: "EXIF", 0x0424: "XMP"}


def _walk_photoshop(data: Any, pos: int, end: int, audit: Audit, where: str) -> None:
    """Photoshop image resources: "8BIM", id, padded Pascal name, size, data padded to even."""
    while pos < end:
        signature, resource_id, name_length = _unpack(">4sHB", data, pos, end)
        if signature != b"8BIM":
            raise _Malformed("bad 8BIM resource")
        size_at = pos + 6 + ((name_length + 2) & ~1)
        (size,) = _unpack(">I", data, size_at, end)
        if resource_id in _PHOTOSHOP_KINDS:
            audit._flag(_PHOTOSHOP_KINDS[resource_id], f"{where} 8BIM 0x{resource_id:04X}")
        pos = size_at + 4 + size + (size & 1)


# -- JPEG ------------------------------------------------------------------------------------

_XMP_SIGNATURES = (b"http://ns.adobe.com/xap/1.0/\0", b"http://ns.adobe.com/xmp/extension/\0")
# SOFn, DHT, DAC, SOS, DQT, DNL, DRI, DHP, EXP: the markers a decoder needs.
_JPEG_CODING_MARKERS = frozenset(set(range(0xC0, 0xD0)) - {0xC8} | {0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF})


def _parse_jpeg(data: Any, audit: Audit) -> None:
    n, pos = len(data), 2
    while True:
        if pos + 1 >= n:
            raise _Malformed("ends before EOI")
        if data[pos] != 0xFF:
            raise _Malformed("marker expected")
        while pos + 2 < n and data[pos + 1] == 0xFF:  # fill bytes before a marker
            pos += 1
        marker = data[pos + 1]
        if marker == 0xD9:
            pos += 2
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            pos += 2
            continue
        (length,) = _unpack(">H", data, pos + 2, n)
        body, seg_end = pos + 4, pos + 2 + length
        if length < 2 or seg_end > n or marker in (0x00, 0xD8):
            raise _Malformed(f"bad segment 0x{marker:02X}")
        _guarded(audit, f"JPEG marker 0x{marker:02X}", _classify_jpeg_segment, data, marker, body, seg_end, audit)
        pos = _skip_scan_data(data, seg_end) if marker == 0xDA else seg_end
    _check_trailer(data, pos, audit, "JPEG after EOI")


def _skip_scan_data(data: Any, pos: int) -> int:
    """Position of the first marker after entropy-coded data (0xFF00 is stuffing, RSTn continue it)."""
    n = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= n:
            raise _Malformed("scan data runs to the end of the file")
        following = data[pos + 1]
        if following == 0x00 or following == 0xFF or 0xD0 <= following <= 0xD7:
            pos += 1
            continue
        return pos


def _classify_jpeg_segment(data: Any, marker: int, body: int, end: int, audit: Audit) -> None:
    head = bytes(data[body : min(end, body + 40)])
    where = f"JPEG APP{marker - 0xE0}" if 0xE0 <= marker <= 0xEF else f"JPEG marker 0x{marker:02X}"
    if marker in _JPEG_CODING_MARKERS:
        return
    if marker == 0xFE:
        audit._flag("comment", "JPEG COM")
    elif marker == 0xE0 and head.startswith(b"JFIF\0") and end - body >= 14:
        thumbnail_pixels = head[12] * head[13]
        if thumbnail_pixels:
            audit._flag("embedded thumbnail", f"{where} JFIF")
        elif end - body > 14:  # bytes nobody reads
            audit._flag("unknown metadata", f"{where} JFIF extra bytes")
        else:
            audit._note("JFIF header")
    elif marker == 0xE0 and head.startswith(b"JFXX\0"):
        audit._flag("embedded thumbnail", f"{where} JFXX")
    elif marker == 0xE1 and head.startswith(b"Exif\0"):
        audit._flag("EXIF", f"{where} Exif")
        _walk_tiff(data, body + 6, end, audit, f"{where} Exif")
    elif marker == 0xE1 and head.startswith(_XMP_SIGNATURES):
        _classify_xmp(data, body, end, audit, f"{where} XMP")
    elif marker == 0xE2 and head.startswith(b"ICC_PROFILE\0"):
        audit._flag("colour profile", f"{where} ICC_PROFILE")
    elif marker == 0xE2 and head.startswith(b"MPF\0"):
        audit._flag("hidden image", f"{where} MPF")
    elif marker == 0xED and head.startswith(b"Photoshop 3.0\0"):
        audit._flag("IPTC", f"{where} Photoshop")
        _walk_photoshop(data, body + 14, end, audit, f"{where} Photoshop")
    elif marker == 0xEE and head.startswith(b"Adobe"):
        audit._note("Adobe APP14")
    else:
        audit._flag("unknown metadata", where)
        if marker == 0xEC:
            _flag_hints(data, body, end, audit, where, _PICTURE_INFO_HINTS)


# -- PNG -------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_STRUCTURAL = frozenset(
    {b"IHDR", b"PLTE", b"IDAT", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"pHYs", b"bKGD",
     b"acTL", b"fcTL", b"fdAT"}
)
_PNG_CHUNK_KINDS = {b"tEXt": "text chunk", b"zTXt": "text chunk", b"iTXt": "text chunk",
                    b"eXIf": "EXIF", b"iCCP": "colour profile", b"tIME": "timestamps"}
_PNG_KEYWORD_KINDS = {
    "xml:com.adobe.xmp": "XMP", "raw profile type xmp": "XMP",
    "raw profile type exif": "EXIF", "raw profile type app1": "EXIF",
    "raw profile type iptc": "IPTC", "raw profile type 8bim": "IPTC",
    "raw profile type icc": "colour profile", "raw profile type icm": "colour profile",
    "author": "owner/author", "copyright": "owner/author", "creation time": "timestamps",
    "software": "software", "source": "device make/model",
    "comment": "comment", "description": "comment", "title": "comment",
}


def _parse_png(data: Any, audit: Audit) -> None:
    pos, n = 8, len(data)
    while True:
        length, chunk_type = _unpack(">I4s", data, pos, n)
        body, end = pos + 8, pos + 8 + length
        if end + 4 > n:
            raise _Malformed(f"chunk {_fourcc(chunk_type)} past the end of the file")
        pos, where = end + 4, f"PNG {_fourcc(chunk_type)} chunk"
        if chunk_type == b"IEND":
            break
        if chunk_type in _PNG_STRUCTURAL:
            audit._note(where)
            continue
        audit._flag(_PNG_CHUNK_KINDS.get(chunk_type, "unknown metadata"), where)
        if chunk_type in (b"tEXt", b"zTXt", b"iTXt"):
            keyword = _cstring(data, body, end)[0].decode("latin-1").strip().lower()
            if keyword in _PNG_KEYWORD_KINDS:
                audit._flag(_PNG_KEYWORD_KINDS[keyword], where)
            if keyword == "xml:com.adobe.xmp":
                _classify_xmp(data, body, end, audit, where)
        elif chunk_type == b"eXIf":
            tiff_at = body + 6 if bytes(data[body : body + 6]) == b"Exif\0\0" else body
            _guarded(audit, where, _walk_tiff, data, tiff_at, end, audit, where)
    _check_trailer(data, pos, audit, "PNG after IEND")


# -- RIFF: WebP and AVI --------------------------------------------------------------------------


def _riff_chunks(data: Any, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    pos = start
    while pos < end:
        fourcc, size = _unpack("<4sI", data, pos, end)
        body = pos + 8
        if body + size > end:
            raise _Malformed(f"chunk {_fourcc(fourcc)} past the end of its parent")
        yield fourcc, body, body + size
        pos = body + size + (size & 1)


def _riff_end(data: Any) -> int:
    end = 8 + _unpack("<I", data, 4, len(data))[0]
    if end > len(data):
        raise _Malformed("RIFF size past the end of the file")
    return end


_WEBP_STRUCTURAL = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"})


def _parse_webp(data: Any, audit: Audit) -> None:
    riff_end = _riff_end(data)
    for fourcc, body, end in _riff_chunks(data, 12, riff_end):
        where = f"WebP {_fourcc(fourcc)} chunk"
        if fourcc in _WEBP_STRUCTURAL:
            audit._note(where)
        elif fourcc == b"EXIF":
            audit._flag("EXIF", where)
            tiff_at = body + 6 if bytes(data[body : body + 6]) == b"Exif\0\0" else body
            _guarded(audit, where, _walk_tiff, data, tiff_at, end, audit, where)
        elif fourcc == b"XMP ":
            _classify_xmp(data, body, end, audit, where)
        elif fourcc == b"ICCP":
            audit._flag("colour profile", where)
        else:
            audit._flag("unknown metadata", where)
    _check_trailer(data, riff_end, audit, "WebP after RIFF")


_AVI_STRUCTURAL = frozenset({b"avih", b"strh", b"strf", b"indx", b"vprp", b"dmlh", b"idx1"})


def _parse_avi(data: Any, audit: Audit) -> None:
    riff_end = _riff_end(data)
    _walk_avi_list(data, 12, riff_end, audit, "AVI", 0)
    # OpenDML files continue in further "RIFF....AVIX" chunks.
    while bytes(data[riff_end : riff_end + 4]) == b"RIFF" and bytes(data[riff_end + 8 : riff_end + 12]) == b"AVIX":
        size = _unpack("<I", data, riff_end + 4, len(data))[0]
        riff_end += 8 + size + (size & 1)
        if riff_end > len(data):
            raise _Malformed("AVIX chunk past the end of the file")
    _check_trailer(data, riff_end, audit, "AVI after RIFF")


def _walk_avi_list(data: Any, start: int, end: int, audit: Audit, path: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _Malformed("lists nested too deep")
    for fourcc, body, chunk_end in _riff_chunks(data, start, end):
        list_type = bytes(data[body : body + 4]) if fourcc == b"LIST" else b""
        where = f"{path}/{_fourcc(fourcc)}" + (f" {_fourcc(list_type)}" if list_type else "")
        if list_type in (b"hdrl", b"strl", b"odml"):
            _walk_avi_list(data, body + 4, chunk_end, audit, where, depth + 1)
        elif list_type in (b"movi", b"rec ") or fourcc in _AVI_STRUCTURAL:
            audit._note(where)
        elif list_type == b"INFO" or fourcc == b"strn":
            audit._flag("text chunk", where)
        elif fourcc == b"JUNK":
            _check_padding(data, body + _avi_index_stub_size(data, body), chunk_end, audit, where)
        else:
            audit._flag("unknown metadata", where)


def _avi_index_stub_size(data: Any, body: int) -> int:
    """Muxers reserve room for OpenDML indexes as JUNK that starts with an empty index header."""
    head = bytes(data[body : body + 12])
    if head.startswith(b"odmldmlh"):
        return 12
    if head.startswith(b"\x04\0\0\0\0\0\0\0") and head[8:10].isdigit():  # indx stub for stream "NNxx"
        return 12
    return 0


# -- GIF -------------------------------------------------------------------------------------

_GIF_APP_KINDS = {b"NETSCAPE2.0": None, b"ANIMEXTS1.0": None, b"XMP DataXMP": "XMP", b"ICCRGBG1012": "colour profile"}


def _parse_gif(data: Any, audit: Audit) -> None:
    n = len(data)
    (flags,) = _unpack("B", data, 10, n)
    pos = 13 + _gif_colour_table_size(flags)
    while True:
        (block,) = _unpack("B", data, pos, n)
        if block == 0x3B:
            break
        if block == 0x2C:  # image: descriptor, local colour table, LZW code size, data
            (flags,) = _unpack("B", data, pos + 9, n)
            pos = _skip_sub_blocks(data, pos + 11 + _gif_colour_table_size(flags))
        elif block == 0x21:
            (label,) = _unpack("B", data, pos + 1, n)
            blocks_at, pos = pos + 2, _skip_sub_blocks(data, pos + 2)
            if label == 0xF9:
                audit._note("GIF graphic control extension")
            elif label == 0xFE:
                audit._flag("comment", "GIF comment extension")
            elif label == 0x01:
                audit._flag("text chunk", "GIF plain text extension")
            elif label == 0xFF:
                identifier = bytes(data[blocks_at + 1 : blocks_at + 12])
                kind = _GIF_APP_KINDS.get(identifier, "unknown metadata")
                where = f"GIF application extension {_fourcc(identifier[:8])}"
                if kind == "XMP":
                    _classify_xmp(data, blocks_at, pos, audit, where)
                elif kind:
                    audit._flag(kind, where)
                else:
                    audit._note(where)
            else:
                audit._flag("unknown metadata", f"GIF extension 0x{label:02X}")
        else:
            raise _Malformed(f"unknown block 0x{block:02X}")
    _check_trailer(data, pos + 1, audit, "GIF after trailer")


def _gif_colour_table_size(flags: int) -> int:
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _skip_sub_blocks(data: Any, pos: int) -> int:
    while True:
        (size,) = _unpack("B", data, pos, len(data))
        pos += 1 + size
        if size == 0:
            return pos


# -- TIFF file ---------------------------------------------------------------------------------


def _parse_tiff(data: Any, audit: Audit) -> None:
    # Strip and tile data are not walked: bytes between them could hide anything, but
    # they can only be read through tags, and every tag is classified.
    _walk_tiff(data, 0, len(data), audit, "TIFF", standalone=True)


# -- ISOBMFF: HEIF, AVIF, MP4, MOV ----------------------------------------------------------------

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
_XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")


def _boxes(data: Any, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, box end) of each box in [start, end)."""
    pos = start
    while pos < end:
        size, box_type = _unpack(">I4s", data, pos, end)
        header = 8
        if size == 1:
            size, header = _unpack(">Q", data, pos + 8, end)[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise _Malformed(f"box {_fourcc(box_type)} past the end of its parent")
        yield box_type, pos + header, pos + size
        pos += size


def _box_at(data: Any, pos: int, n: int) -> tuple[bytes, int, int] | None:
    """The top-level box at ``pos``, or None when what is there is no box."""
    if n - pos < 8:
        return None
    size, box_type = struct.unpack_from(">I4s", data, pos)
    header = 8
    if size == 1 and n - pos >= 16:
        size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
    elif size == 0:
        size = n - pos
    if size < header or not all(32 <= c < 127 or c == 0xA9 for c in box_type):
        return None
    if pos + size > n:
        raise _Malformed(f"box {_fourcc(box_type)} past the end of the file (truncated)")
    return box_type, pos + header, pos + size


_TOP_LEVEL_STRUCTURAL = frozenset({b"ftyp", b"mfra", b"styp", b"sidx", b"ssix", b"pdin", b"prft"})


def _parse_isobmff(data: Any, audit: Audit) -> None:
    pos, n = 0, len(data)
    while pos < n:
        box = _box_at(data, pos, n)
        if box is None:
            _check_trailer(data, pos, audit, "ISOBMFF after last box")
            return
        box_type, body, end = box
        name, pos = _fourcc(box_type), end
        if box_type in (b"moov", b"moof"):
            where = f"ISOBMFF {name}"
            _guarded(audit, where, _walk_movie, data, body, end, audit, where, 1)
        elif box_type == b"meta":
            _guarded(audit, "ISOBMFF meta", _walk_heif_meta, data, body, end, audit, "ISOBMFF meta")
        elif box_type == b"mdat":
            _scan_encoder_strings(data, body, end, audit, "ISOBMFF mdat")
        elif box_type in (b"free", b"skip", b"wide"):
            _check_padding(data, body, end, audit, f"ISOBMFF {name}")
        elif box_type == b"uuid":
            _classify_uuid(data, body, end, audit, "ISOBMFF uuid")
        elif box_type in _TOP_LEVEL_STRUCTURAL:
            audit._note(f"ISOBMFF {name}")
        else:
            audit._flag("unknown metadata", f"ISOBMFF {name}")


_ENCODER_STRINGS = (b"x264 - core", b"x265 (build", b"Lavc")


def _scan_encoder_strings(data: Any, start: int, end: int, audit: Audit, where: str) -> None:
    """Encoders put their name, version and settings in SEI / user data at the stream start."""
    window_end = min(end, start + _SCAN_WINDOW)
    if any(data.find(needle, start, window_end) >= 0 for needle in _ENCODER_STRINGS):
        audit._flag("software", f"{where} (encoder version string in the coded stream)")


def _classify_uuid(data: Any, body: int, end: int, audit: Audit, where: str) -> None:
    uuid = bytes(data[body : body + 16])
    if uuid == _XMP_UUID:
        _classify_xmp(data, body + 16, end, audit, f"{where} XMP")
    else:
        audit._flag("unknown metadata", f"{where} {uuid.hex()[:8]}")


_MOVIE_CONTAINERS = frozenset(
    {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"mvex", b"moof", b"traf"}
)
_MOVIE_STRUCTURAL = frozenset({
    b"iods", b"trex", b"mehd", b"elst", b"dref", b"vmhd", b"smhd", b"nmhd", b"gmhd", b"hmhd", b"sthd",
    b"stts", b"stsc", b"stsz", b"stz2", b"stco", b"co64", b"ctts", b"cslg", b"stss", b"stps", b"sdtp",
    b"sbgp", b"sgpd", b"subs", b"saiz", b"saio", b"mfhd", b"tfhd", b"tfdt", b"trun", b"trep", b"leva",
    b"tapt", b"load", b"clip", b"matt", b"txas", b"elng", b"senc", b"pssh", b"padb", b"stdp",
})
_TIMED_METADATA_HANDLERS = frozenset({b"meta", b"text", b"sbtl", b"subt", b"tmcd", b"clcp"})
_TIMED_METADATA_ENTRIES = frozenset({
    b"mebx", b"camm", b"gpmd", b"rtmd", b"tx3g", b"text", b"wvtt", b"stpp", b"c608", b"c708",
    b"tmcd", b"mett", b"metx", b"urim",
})
# Handler names every muxer of a family writes; any other names the app or device.
_GENERIC_HANDLER_NAMES = frozenset({
    "", "VideoHandler", "SoundHandler", "DataHandler", "SubtitleHandler", "AliasData",
    "VideoHandle", "SoundHandle",  # Android's MediaMuxer
    "Core Media Video", "Core Media Audio", "Core Media Data Handler", "Core Media Metadata",
})


def _walk_movie(data: Any, start: int, end: int, audit: Audit, path: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _Malformed("boxes nested too deep")
    for box_type, body, box_end in _boxes(data, start, end):
        where = f"{path}/{_fourcc(box_type)}"
        if box_type in _MOVIE_CONTAINERS:
            _walk_movie(data, body, box_end, audit, where, depth + 1)
        elif box_type in (b"mvhd", b"tkhd", b"mdhd"):
            version = _unpack("B", data, body, box_end)[0]
            times = _unpack(">QQ" if version == 1 else ">II", data, body + 4, box_end)
            if any(times):
                audit._flag("timestamps", where)
        elif box_type == b"hdlr":
            _check_handler(data, body, box_end, audit, where, is_track_media=path.endswith("/mdia"))
        elif box_type == b"stsd":
            for entry_type, _, _ in _boxes(data, body + 8, box_end):
                if entry_type in _TIMED_METADATA_ENTRIES:
                    audit._flag("timed metadata track", f"{where}/{_fourcc(entry_type)}")
        elif box_type == b"udta":
            _walk_user_data(data, body, box_end, audit, where)
        elif box_type == b"meta":
            _walk_item_list(data, body, box_end, audit, where)
        elif box_type == b"tref":
            for ref_type, _, _ in _boxes(data, body, box_end):
                if ref_type == b"chap":
                    audit._flag("unknown metadata", f"{where}/chap (chapter track)")
        elif box_type == b"uuid":
            _classify_uuid(data, body, box_end, audit, where)
        elif box_type in (b"free", b"skip"):
            _check_padding(data, body, box_end, audit, where)
        elif box_type not in _MOVIE_STRUCTURAL:
            audit._flag("unknown metadata", where)


def _check_handler(data: Any, body: int, end: int, audit: Audit, where: str, is_track_media: bool) -> None:
    (handler_type,) = _unpack("4s", data, body + 8, end)
    name = bytes(data[body + 24 : min(end, body + 24 + 256)])
    if name and name[0] == len(name) - 1:  # QuickTime writes a Pascal string
        name = name[1:]
    if is_track_media and handler_type in _TIMED_METADATA_HANDLERS:
        audit._flag("timed metadata track", f"{where} {_fourcc(handler_type)}")
    if name.strip(b"\0 ").decode("latin-1") not in _GENERIC_HANDLER_NAMES:
        audit._flag("software", f"{where} name")
    else:
        audit._note(f"{where} {_fourcc(handler_type)}")


_USER_DATA_KINDS = {
    b"\xa9xyz": "location", b"loci": "location",
    b"\xa9day": "timestamps", b"yrrc": "timestamps",
    b"\xa9mak": "device make/model", b"\xa9mod": "device make/model", b"manu": "device make/model",
    b"modl": "device make/model",
    b"\xa9swr": "software", b"\xa9too": "software", b"\xa9enc": "software",
    b"auth": "owner/author", b"\xa9aut": "owner/author", b"\xa9ART": "owner/author", b"cprt": "owner/author",
    b"\xa9cpy": "owner/author",
    b"\xa9cmt": "comment", b"\xa9des": "comment", b"\xa9inf": "comment", b"\xa9nam": "comment",
    b"dscp": "comment", b"titl": "comment",
    # 3GPP asset boxes (3GP phones): performer, album, keywords, genre, rating, classification
    b"perf": "owner/author", b"albm": "comment", b"kywd": "comment", b"gnre": "text chunk", b"rtng": "text chunk",
    b"clsf": "text chunk",
    b"covr": "embedded thumbnail", b"XMP_": "XMP",
}


def _walk_user_data(data: Any, start: int, end: int, audit: Audit, path: str) -> None:
    for box_type, body, box_end in _boxes(data, start, end):
        where = f"{path}/{_fourcc(box_type)}"
        if box_type == b"meta":
            _walk_item_list(data, body, box_end, audit, where)
        elif box_type == b"XMP_":
            _classify_xmp(data, body, box_end, audit, where)
        elif box_type == b"uuid":
            _classify_uuid(data, body, box_end, audit, where)
        elif box_type in (b"free", b"skip"):
            _check_padding(data, body, box_end, audit, where)
        else:
            audit._flag(_USER_DATA_KINDS.get(box_type, "unknown metadata"), where)


_KEY_NAME_RULES = (
    ("location", "location"), ("gps", "GPS position"), ("creation", "timestamps"), ("date", "timestamps"),
    ("make", "device make/model"), ("model", "device make/model"), ("serial", "camera serial"),
    ("software", "software"), ("encoder", "software"), ("author", "owner/author"),
    ("artist", "owner/author"), ("copyright", "owner/author"), ("comment", "comment"),
    ("description", "comment"), ("title", "comment"),
)


def _key_kind(name: str) -> str:
    """Kind of a named metadata key (QuickTime ``keys``, Matroska tags); unnamed ones are unknown."""
    lowered = name.lower()
    return next((kind for word, kind in _KEY_NAME_RULES if word in lowered), "unknown metadata")


def _walk_item_list(data: Any, body: int, end: int, audit: Audit, where: str) -> None:
    """iTunes/QuickTime ``meta``: ``hdlr``, optional ``keys``, then ``ilst`` items."""
    # ISO 'meta' is a full box (4 bytes version/flags); QuickTime's is not.
    start = body if bytes(data[body + 4 : body + 8]) == b"hdlr" else body + 4
    key_names: list[str] = []
    for box_type, box_body, box_end in _boxes(data, start, end):
        name = f"{where}/{_fourcc(box_type)}"
        if box_type == b"keys":
            pos = box_body + 8
            while pos < box_end:
                (size,) = _unpack(">I", data, pos, box_end)
                if size < 8 or pos + size > box_end:
                    raise _Malformed("bad keys entry")
                key_names.append(bytes(data[pos + 8 : pos + min(size, 72)]).decode("latin-1"))
                pos += size
        elif box_type == b"ilst":
            for item_type, item_body, item_end in _boxes(data, box_body, box_end):
                index = int.from_bytes(item_type, "big")
                if 1 <= index <= len(key_names):
                    key = "".join(c if c.isprintable() else "?" for c in key_names[index - 1])
                    audit._flag(_key_kind(key), f"{name}/{key}")
                elif item_type == b"XMP_":
                    _classify_xmp(data, item_body, item_end, audit, f"{name}/XMP_")
                else:
                    audit._flag(_USER_DATA_KINDS.get(item_type, "unknown metadata"), f"{name}/{_fourcc(item_type)}")
        elif box_type == b"hdlr":
            _check_handler(data, box_body, box_end, audit, name, is_track_media=False)
        elif box_type in (b"free", b"skip"):
            _check_padding(data, box_body, box_end, audit, name)
        else:
            audit._flag("unknown metadata", name)


_IMAGE_ITEM_TYPES = frozenset({b"hvc1", b"av01", b"avc1", b"jpeg", b"j2k1", b"vvc1", b"unci", b"grid", b"iden",
                               b"iovl", b"tmap"})
_STRUCTURAL_REFERENCES = frozenset({b"dimg", b"cdsc", b"base", b"prem", b"thmb", b"auxl"})
_ALPHA_AUX_TYPES = frozenset({b"urn:mpeg:hevc:2015:auxid:1", b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha",
                              b"urn:mpeg:avc:2015:auxid:1"})
# Item properties that only describe how to decode or display the pixels.
_STRUCTURAL_PROPERTIES = frozenset({
    b"ispe", b"pixi", b"hvcC", b"av1C", b"avcC", b"vvcC", b"jpgC", b"uncC", b"cmpd", b"irot", b"imir",
    b"clap", b"auxC", b"colr", b"pasp", b"lsel", b"a1op", b"a1lx", b"clli", b"mdcv", b"cclv", b"amve",
    b"rloc", b"free",
})


@dataclass
class _HeifMeta:
    items: dict[int, tuple[bytes | None, bytes]] = field(default_factory=dict)  # id -> (type, mime)
    references: list[tuple[bytes, int, list[int]]] = field(default_factory=list)
    locations: dict[int, tuple[int, list[tuple[int, int]]]] = field(default_factory=dict)
    properties: list[tuple[bytes, int, int]] = field(default_factory=list)
    associations: dict[int, list[int]] = field(default_factory=dict)
    idat: tuple[int, int] = (0, 0)


def _walk_heif_meta(data: Any, body: int, end: int, audit: Audit, where: str) -> None:
    meta = _HeifMeta()
    for box_type, box_body, box_end in _boxes(data, body + 4, end):
        name = f"{where}/{_fourcc(box_type)}"
        if box_type == b"iinf":
            _read_item_infos(data, box_body, box_end, meta)
        elif box_type == b"iref":
            _read_item_references(data, box_body, box_end, meta)
        elif box_type == b"iloc":
            _read_item_locations(data, box_body, box_end, meta)
        elif box_type == b"iprp":
            for prop_type, prop_body, prop_end in _boxes(data, box_body, box_end):
                if prop_type == b"ipco":
                    meta.properties = list(_boxes(data, prop_body, prop_end))
                elif prop_type == b"ipma":
                    _read_property_associations(data, prop_body, prop_end, meta)
        elif box_type == b"idat":
            meta.idat = (box_body, box_end)
        elif box_type == b"uuid":
            _classify_uuid(data, box_body, box_end, audit, name)
        elif box_type == b"hdlr":
            _check_handler(data, box_body, box_end, audit, name, is_track_media=False)
        elif box_type in (b"pitm", b"dinf", b"grpl", b"free", b"skip"):
            audit._note(name)
        else:
            audit._flag("unknown metadata", name)
    _classify_heif_items(data, meta, audit, where)


def _classify_heif_items(data: Any, meta: _HeifMeta, audit: Audit, where: str) -> None:
    hidden_roles: set[int] = set()  # thumbnails, auxiliary images and inputs of derived images
    for ref_type, from_id, to_ids in meta.references:
        label = f"{where}/iref/{_fourcc(ref_type)}"
        if ref_type == b"thmb":
            audit._flag("embedded thumbnail", label)
        elif ref_type == b"auxl":
            if _aux_type(data, meta, from_id) in _ALPHA_AUX_TYPES:
                audit._note(f"{label} (alpha plane)")
            else:
                audit._flag("hidden image", label)
        elif ref_type not in _STRUCTURAL_REFERENCES:
            audit._flag("unknown metadata", label)
        if ref_type == b"dimg":  # tiles and other inputs of a derived image
            hidden_roles.update(to_ids)
        elif ref_type in (b"thmb", b"auxl"):
            hidden_roles.add(from_id)
    for item_id, (item_type, mime) in meta.items.items():
        label = f"{where}/iinf/{_fourcc(item_type or b'????')}"
        if item_type == b"Exif":
            audit._flag("EXIF", label)
            _guarded(audit, label, _classify_exif_item, data, meta, item_id, audit, label)
        elif item_type == b"mime" and (mime == b"application/rdf+xml" or b"xmp" in mime.lower()):
            audit._flag("XMP", label)
            _guarded(audit, label, _classify_xmp_item, data, meta, item_id, audit, label)
        elif item_type not in _IMAGE_ITEM_TYPES:
            audit._flag("IPTC" if item_type == b"iptc" else "unknown metadata", label)
    top_level_images = [i for i, (t, _) in meta.items.items() if t in _IMAGE_ITEM_TYPES and i not in hidden_roles]
    if len(top_level_images) > 1:
        audit._flag("hidden image", f"{where}/iinf ({len(top_level_images)} top-level images)")
    for prop_type, prop_body, prop_end in meta.properties:
        label = f"{where}/iprp/ipco/{_fourcc(prop_type)}"
        if prop_type == b"colr" and bytes(data[prop_body : prop_body + 4]) in (b"prof", b"rICC"):
            audit._flag("colour profile", label)
        elif prop_type == b"udes":  # user description: name, description, tags
            audit._flag("comment", label)
        elif prop_type not in _STRUCTURAL_PROPERTIES:
            audit._flag("unknown metadata", label)


def _read_item_infos(data: Any, body: int, end: int, meta: _HeifMeta) -> None:
    version = _unpack("B", data, body, end)[0]
    for box_type, infe, infe_end in _boxes(data, body + (6 if version == 0 else 8), end):
        if box_type != b"infe":
            raise _Malformed("iinf holds a non-infe box")
        infe_version = _unpack("B", data, infe, infe_end)[0]
        if infe_version < 2:  # no item type: nothing we can vouch for
            item_id, item_type, pos = _unpack(">H", data, infe + 4, infe_end)[0], None, infe_end
        else:
            id_format = ">H" if infe_version == 2 else ">I"
            (item_id,) = _unpack(id_format, data, infe + 4, infe_end)
            pos = infe + 4 + struct.calcsize(id_format) + 2  # skip protection index
            (item_type,) = _unpack("4s", data, pos, infe_end)
            pos = _cstring(data, pos + 4, infe_end)[1]  # item name
        mime = _cstring(data, pos, infe_end)[0] if item_type == b"mime" else b""
        meta.items[item_id] = (item_type, mime)


def _read_item_references(data: Any, body: int, end: int, meta: _HeifMeta) -> None:
    id_size = 2 if _unpack("B", data, body, end)[0] == 0 else 4
    for ref_type, pos, ref_end in _boxes(data, body + 4, end):
        from_id, pos = _uint(data, pos, id_size, ref_end)
        count, pos = _uint(data, pos, 2, ref_end)
        to_ids = []
        for _ in range(count):
            to_id, pos = _uint(data, pos, id_size, ref_end)
            to_ids.append(to_id)
        meta.references.append((ref_type, from_id, to_ids))


def _read_item_locations(data: Any, body: int, end: int, meta: _HeifMeta) -> None:
    version, sizes, more_sizes = _unpack(">B3xBB", data, body, end)
    offset_size, length_size, base_size = sizes >> 4, sizes & 15, more_sizes >> 4
    index_size = more_sizes & 15 if version in (1, 2) else 0
    id_size = 2 if version < 2 else 4
    count, pos = _uint(data, body + 6, id_size, end)
    budget = (end - body) * 8  # extents of zero-width fields would otherwise be free to repeat
    for _ in range(count):
        item_id, pos = _uint(data, pos, id_size, end)
        method = 0
        if version in (1, 2):
            method, pos = _uint(data, pos, 2, end)
        _, pos = _uint(data, pos, 2, end)  # data reference index
        base, pos = _uint(data, pos, base_size, end)
        extent_count, pos = _uint(data, pos, 2, end)
        budget -= extent_count + 1
        if budget < 0:
            raise _Malformed("iloc lists more extents than it can hold")
        extents = []
        for _ in range(extent_count):
            _, pos = _uint(data, pos, index_size, end)
            offset, pos = _uint(data, pos, offset_size, end)
            length, pos = _uint(data, pos, length_size, end)
            extents.append((base + offset, length))
        meta.locations[item_id] = (method & 15, extents)


def _read_property_associations(data: Any, body: int, end: int, meta: _HeifMeta) -> None:
    version, flags = _unpack(">B3s", data, body, end)
    count, pos = _uint(data, body + 4, 4, end)
    for _ in range(count):
        item_id, pos = _uint(data, pos, 2 if version < 1 else 4, end)
        n, pos = _uint(data, pos, 1, end)
        indices = []
        for _ in range(n):
            index, pos = _uint(data, pos, 2 if flags[2] & 1 else 1, end)
            indices.append(index & (0x7FFF if flags[2] & 1 else 0x7F))
        meta.associations[item_id] = indices


def _aux_type(data: Any, meta: _HeifMeta, item_id: int) -> bytes:
    for index in meta.associations.get(item_id, []):
        if 1 <= index <= len(meta.properties) and meta.properties[index - 1][0] == b"auxC":
            _, prop_body, prop_end = meta.properties[index - 1]
            return _cstring(data, prop_body + 4, prop_end)[0]
    return b""


def _item_payload(data: Any, meta: _HeifMeta, item_id: int) -> bytes:
    """An item's bytes, from the file or from ``idat``, at most _MAX_ITEM_BYTES."""
    method, extents = meta.locations.get(item_id, (0, []))
    if method not in (0, 1):
        raise _Malformed("item stored by reference to other items")
    origin, limit = (0, len(data)) if method == 0 else meta.idat
    parts, total = [], 0
    for offset, length in extents:
        start = origin + offset
        stop = limit if length == 0 else start + length
        if stop > limit or total + (stop - start) > _MAX_ITEM_BYTES:
            raise _Malformed("item data past the end of the file")
        parts.append(bytes(data[start:stop]))
        total += stop - start
    return b"".join(parts)


def _classify_xmp_item(data: Any, meta: _HeifMeta, item_id: int, audit: Audit, where: str) -> None:
    payload = _item_payload(data, meta, item_id)
    _classify_xmp(payload, 0, len(payload), audit, where)


def _classify_exif_item(data: Any, meta: _HeifMeta, item_id: int, audit: Audit, where: str) -> None:
    """HEIF Exif item: uint32 offset to the TIFF header, usually "Exif\\0\\0" before it."""
    payload = _item_payload(data, meta, item_id)
    tiff_at = 4 + _unpack(">I", payload, 0, len(payload))[0]
    if payload[tiff_at : tiff_at + 6] == b"Exif\0\0":
        tiff_at += 6
    _walk_tiff(payload, tiff_at, len(payload), audit, where)


# -- Matroska / WebM ---------------------------------------------------------------------------

_SEGMENT, _CLUSTER, _INFO, _TRACKS, _TAGS = 0x18538067, 0x1F43B675, 0x1549A966, 0x1654AE6B, 0x1254C367
_SEGMENT_KINDS = {0x1941A469: ("embedded thumbnail", "Attachments"), 0x1043A770: ("unknown metadata", "Chapters")}
# SeekHead, Cues, Void, CRC-32, and cluster children met when an unknown-size cluster is opened.
_SEGMENT_STRUCTURAL = frozenset({0x114D9B74, 0x1C53BB6B, 0xEC, 0xBF, 0xE7, 0xA3, 0xA0, 0xA7, 0xAB, 0x5854, 0xAF})
_INFO_KINDS = {0x4461: ("timestamps", "DateUTC"), 0x7BA9: ("comment", "Title"), 0x4D80: ("software", "MuxingApp"),
               0x5741: ("software", "WritingApp")}
_GENERIC_MUXING_APPS = {b"Lavf"}  # what ffmpeg writes in bitexact mode: no version


def _ebml_element(data: Any, pos: int, end: int) -> tuple[int, int, int | None]:
    """(id, body start, size or None when unknown) of the element at ``pos``."""
    element_id, pos = _ebml_vint(data, pos, end, keep_marker=True)
    size, body = _ebml_vint(data, pos, end, keep_marker=False)
    width = body - pos
    return element_id, body, None if size == (1 << (7 * width)) - 1 else size


def _ebml_vint(data: Any, pos: int, end: int, keep_marker: bool) -> tuple[int, int]:
    (first,) = _unpack("B", data, pos, end)
    if first == 0:
        raise _Malformed("bad EBML number")
    width = 9 - first.bit_length()
    value, after = _uint(data, pos, width, end)
    return (value if keep_marker else value & ((1 << (7 * width)) - 1)), after


def _ebml_children(data: Any, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    pos = start
    while pos < end:
        element_id, body, size = _ebml_element(data, pos, end)
        if size is None or body + size > end:
            raise _Malformed(f"element 0x{element_id:X} past the end of its parent")
        yield element_id, body, body + size
        pos = body + size


def _parse_matroska(data: Any, audit: Audit) -> None:
    pos, n = 0, len(data)
    while pos < n:
        try:
            element_id, body, size = _ebml_element(data, pos, n)
        except _PARSE_ERRORS:
            element_id = body = size = None
        if element_id not in (0x1A45DFA3, _SEGMENT) or body is None:  # EBML header, Segment
            _check_trailer(data, pos, audit, "Matroska after segment")
            return
        end = n if size is None else body + size
        if end > n:
            raise _Malformed("segment past the end of the file (truncated)")
        if element_id == _SEGMENT:
            _walk_segment(data, body, end, audit)
        pos = end


def _walk_segment(data: Any, pos: int, end: int, audit: Audit) -> None:
    while pos < end:
        element_id, body, size = _ebml_element(data, pos, end)
        if size is None and element_id == _CLUSTER:
            _scan_encoder_strings(data, body, end, audit, "Matroska Cluster")
            pos = body  # live recordings: walk the cluster's children as if they were siblings
            continue
        if size is None or body + size > end:
            raise _Malformed(f"element 0x{element_id:X} past the end of the segment")
        pos, where = body + size, f"Matroska 0x{element_id:X}"
        if element_id == _INFO:
            for child, child_body, child_end in _ebml_children(data, body, pos):
                generic = child in (0x4D80, 0x5741) and bytes(data[child_body:child_end]) in _GENERIC_MUXING_APPS
                if child in _INFO_KINDS and not generic:
                    kind, name = _INFO_KINDS[child]
                    audit._flag(kind, f"Matroska Info {name}")
        elif element_id == _TRACKS:
            _walk_tracks(data, body, pos, audit)
        elif element_id == _TAGS:
            _walk_tags(data, body, pos, audit, 0)
        elif element_id in _SEGMENT_KINDS:
            kind, name = _SEGMENT_KINDS[element_id]
            audit._flag(kind, f"Matroska {name}")
        elif element_id in _SEGMENT_STRUCTURAL or element_id == _CLUSTER:
            audit._note("Matroska media and index")
            if element_id == _CLUSTER:
                _scan_encoder_strings(data, body, pos, audit, "Matroska Cluster")
        else:
            audit._flag("unknown metadata", where)


_TEXT_TRACK_TYPES = (0x11, 0x20, 0x21)  # TrackType: subtitle, buttons, metadata


def _walk_tracks(data: Any, start: int, end: int, audit: Audit) -> None:
    for entry, entry_body, entry_end in _ebml_children(data, start, end):
        if entry != 0xAE:  # TrackEntry
            continue
        for child, child_body, child_end in _ebml_children(data, entry_body, entry_end):
            if child == 0x536E:  # Name
                audit._flag("comment", "Matroska TrackEntry Name")
            elif child == 0x83:  # TrackType
                track_type = _uint(data, child_body, min(8, child_end - child_body), child_end)[0]
                if track_type in _TEXT_TRACK_TYPES:
                    audit._flag("timed metadata track", "Matroska TrackEntry (subtitle/control/metadata track)")


def _walk_tags(data: Any, start: int, end: int, audit: Audit, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _Malformed("tags nested too deep")
    for element_id, body, element_end in _ebml_children(data, start, end):
        if element_id in (0x7373, 0x67C8):  # Tag, SimpleTag (may nest)
            _walk_tags(data, body, element_end, audit, depth + 1)
        elif element_id == 0x45A3:  # TagName
            name = bytes(data[body : min(element_end, body + 64)]).decode("utf-8", "replace")
            if name.upper() != "DURATION":
                safe = "".join(c if c.isprintable() else "?" for c in name)
                audit._flag(_key_kind(name), f"Matroska tag {safe}")



# -- JPEG XL ---------------------------------------------------------------------------------

_JXL_STRUCTURAL = frozenset({b"JXL ", b"ftyp", b"jxll", b"jxlc", b"jxlp", b"jxli"})


def _parse_jxl(data: Any, audit: Audit) -> None:
    if bytes(data[:2]) == b"\xff\x0a":
        # A bare codestream has no box to hold EXIF or XMP; its colour encoding is structure.
        audit._note("JPEG XL codestream")
        return
    for box_type, body, end in _boxes(data, 0, len(data)):
        where = f"JPEG XL {_fourcc(box_type)} box"
        inner = box_type
        if box_type == b"brob":  # Brotli-compressed box: its real type comes first
            inner = bytes(data[body : body + 4])
            where = f"JPEG XL brob({_fourcc(inner)}) box"
        if inner in _JXL_STRUCTURAL:
            audit._note(where)
        elif inner == b"Exif":
            audit._flag("EXIF", where)
            if box_type == b"Exif":
                # The box starts with the offset of the TIFF header; some writers put the header first.
                if bytes(data[body : body + 4]) in (b"II*\0", b"MM\0*"):
                    tiff_at = body
                else:
                    tiff_at = body + 4 + _unpack(">I", data, body, end)[0]
                _guarded(audit, where, _walk_tiff, data, tiff_at, end, audit, where)
        elif inner == b"xml ":
            if box_type == b"brob":
                audit._flag("XMP", where)
            else:
                _classify_xmp(data, body, end, audit, where)
        elif inner == b"jbrd":
            audit._flag("unknown metadata", f"{where} (the original JPEG's segments, kept for reconstruction)")
        elif inner == b"jumb":
            audit._flag("unknown metadata", f"{where} (JUMBF: provenance/C2PA claims)")
        elif box_type in (b"free", b"skip"):
            _check_padding(data, body, end, audit, where)
        else:
            audit._flag("unknown metadata", where)


# -- PNM (PBM, PGM, PPM) ----------------------------------------------------------------------


def _parse_pnm(data: Any, audit: Audit) -> None:
    """Header tokens (magic, width, height, maxval) with ``#`` comments between them, then the raster."""
    kind = bytes(data[1:2])
    wanted = 3 if kind in b"14" else 4
    pos, tokens, n = 0, [], len(data)
    limit = min(n, 1 << 16)  # headers are short; comments beyond 64 KiB are refused as damage
    while len(tokens) < wanted:
        if pos >= limit:
            raise _Malformed("header does not end")
        c = data[pos]
        if c == 0x23:  # '#': a comment to the end of the line
            audit._flag("comment", "PNM header comment")
            stop = data.find(b"\n", pos, limit)
            pos = limit if stop < 0 else stop + 1
        elif c in b" \t\r\n":
            pos += 1
        else:
            start = pos
            while pos < limit and data[pos] not in b" \t\r\n#":
                pos += 1
            tokens.append(bytes(data[start:pos]))
    pos += 1  # the one whitespace byte before a binary raster
    if kind not in b"456":
        audit._note("PNM ASCII raster")
        return
    try:
        width, height = int(tokens[1]), int(tokens[2])
        maxval = int(tokens[3]) if wanted == 4 else 1
    except ValueError as exc:
        raise _Malformed("header numbers unreadable") from exc
    if kind == b"4":
        raster = (width + 7) // 8 * height
    else:
        raster = width * height * (3 if kind == b"6" else 1) * (2 if maxval > 255 else 1)
    audit._note("PNM header")
    end = pos + raster
    if end > n:
        raise _Malformed("raster past the end of the file (truncated)")
    if end < n and bytes(data[end : end + 1]) == b"P" and bytes(data[end + 1 : end + 2]) in (b"1", b"2", b"3", b"4", b"5", b"6"):
        audit._flag("hidden image", "PNM: a second image after the first")
    else:
        _check_trailer(data, end, audit, "PNM after the raster")


# -- FLV -------------------------------------------------------------------------------------

_FLV_STRUCTURAL_KEYS = frozenset({
    "duration", "width", "height", "videodatarate", "framerate", "videocodecid", "audiodatarate",
    "audiosamplerate", "audiosamplesize", "stereo", "audiocodecid", "filesize", "hasvideo", "hasaudio",
    "haskeyframes", "hasmetadata", "canseektoend", "lasttimestamp", "lastkeyframetimestamp", "keyframes",
    "datasize", "videosize", "audiosize", "audiodelay", "lastkeyframelocation", "videoframerate",
})
_FLV_KEY_KINDS = {
    "encoder": "software", "metadatacreator": "software", "creator": "software", "software": "software",
    "creationdate": "timestamps", "date": "timestamps", "creation_time": "timestamps",
    "title": "comment", "comment": "comment", "description": "comment",
    "artist": "owner/author", "author": "owner/author", "copyright": "owner/author",
    "location": "location",
}


def _parse_flv(data: Any, audit: Audit) -> None:
    n = len(data)
    (header_size,) = _unpack(">I", data, 5, n)
    pos = header_size + 4  # PreviousTagSize0
    while pos + 11 <= n:
        tag_type, size_hi, size_lo = _unpack(">BBH", data, pos, n)
        size = (size_hi << 16) | size_lo
        body, end = pos + 11, pos + 11 + size
        if end + 4 > n:
            raise _Malformed("tag past the end of the file (truncated)")
        kind = tag_type & 0x1F
        if kind in (8, 9):
            audit._note("FLV audio/video tags")
        elif kind == 18:
            _guarded(audit, "FLV script data", _walk_amf_keys, data, body, end, audit)
        else:
            audit._flag("unknown metadata", f"FLV tag type {kind}")
        pos = end + 4
    if pos < n:
        _check_trailer(data, pos, audit, "FLV after the last tag")


def _walk_amf_keys(data: Any, pos: int, end: int, audit: Audit) -> None:
    """The names in an onMetaData script tag (AMF0: a string, then an ECMA array or object)."""
    (marker,) = _unpack("B", data, pos, end)
    if marker != 2:
        raise _Malformed("script tag does not start with its name")
    (length,) = _unpack(">H", data, pos + 1, end)
    name = bytes(data[pos + 3 : pos + 3 + length]).decode("latin-1")
    where = f"FLV script data {name[:32]!r}"
    if name != "onMetaData":
        audit._flag("timed metadata track", where)
        return
    _amf_value(data, pos + 3 + length, end, audit, where, 0, top=True)


def _amf_value(data: Any, pos: int, end: int, audit: Audit, where: str, depth: int, top: bool = False) -> int:
    """Skip one AMF0 value; the keys of a top-level array or object are classified. Returns the position after it."""
    if depth > _MAX_DEPTH:
        raise _Malformed("AMF values nested too deep")
    (marker,) = _unpack("B", data, pos, end)
    pos += 1
    if marker == 0:
        return pos + 8
    if marker == 1:
        return pos + 1
    if marker in (2, 4):  # string, movie clip
        return pos + 2 + _unpack(">H", data, pos, end)[0]
    if marker == 12:
        return pos + 4 + _unpack(">I", data, pos, end)[0]
    if marker in (5, 6, 13):  # null, undefined, unsupported
        return pos
    if marker == 7:
        return pos + 2
    if marker == 11:
        return pos + 10
    if marker == 10:
        (count,) = _unpack(">I", data, pos, end)
        pos += 4
        for _ in range(count):
            pos = _amf_value(data, pos, end, audit, where, depth + 1)
            if pos > end:
                raise _Malformed("array past the end of the tag")
        return pos
    if marker in (3, 8, 16):
        if marker == 8:
            pos += 4
        elif marker == 16:
            pos += 2 + _unpack(">H", data, pos, end)[0]
        while True:
            (length,) = _unpack(">H", data, pos, end)
            if length == 0 and _unpack("B", data, pos + 2, end)[0] == 9:
                return pos + 3
            key = bytes(data[pos + 2 : pos + 2 + length]).decode("latin-1")
            pos = _amf_value(data, pos + 2 + length, end, audit, where, depth + 1)
            if top:
                low = key.lower()
                if low in _FLV_KEY_KINDS:
                    audit._flag(_FLV_KEY_KINDS[low], f"{where} {key[:32]}")
                elif low not in _FLV_STRUCTURAL_KEYS:
                    audit._flag("unknown metadata", f"{where} {key[:32]}")
            if pos > end:
                raise _Malformed("object past the end of the tag")
    raise _Malformed(f"unknown AMF0 type {marker}")


# -- MPEG program stream (MPEG-1/2 .mpg, DVD .vob) --------------------------------------------------------


def _parse_mpeg_ps(data: Any, audit: Audit) -> None:
    """Pack headers, system headers and PES packets, each checked for its start code.

    DVD navigation (private stream 2), padding, audio and video packets are
    structure; coded video is searched at its start for encoder strings and for
    MPEG user data, where cameras and editors leave text.
    """
    n, pos = len(data), 0
    if bytes(data[:4]) == b"\x00\x00\x01\xb3":  # an MPEG-1/2 video elementary stream
        _scan_mpeg_user_data(data, 0, n, audit, "MPEG video")
        return
    video_at = -1
    while pos + 4 <= n:
        if bytes(data[pos : pos + 3]) != b"\x00\x00\x01":
            raise _Malformed(f"no start code at byte {pos}")
        code = data[pos + 3]
        if code == 0xB9:  # program end
            pos += 4
            break
        if code == 0xBA:
            (flags,) = _unpack("B", data, pos + 4, n)
            if flags >> 6 == 1:  # MPEG-2 pack header: 14 bytes and stuffing
                (stuffing,) = _unpack("B", data, pos + 13, n)
                pos += 14 + (stuffing & 7)
            else:
                pos += 12
            continue
        (length,) = _unpack(">H", data, pos + 4, n)
        if code in (0xBB, 0xBC, 0xBE, 0xBF, 0xBD) or 0xC0 <= code <= 0xEF:
            audit._note(f"MPEG-PS stream 0x{code:02X}")
            if 0xE0 <= code <= 0xEF and video_at < 0:
                video_at = pos
        else:
            audit._flag("unknown metadata", f"MPEG-PS stream 0x{code:02X}")
        pos += 6 + length
    if pos > n:
        raise _Malformed("packet past the end of the file (truncated)")
    if video_at >= 0:
        _scan_mpeg_user_data(data, video_at, n, audit, "MPEG-PS video")
    if pos < n:
        _check_trailer(data, pos, audit, "MPEG-PS after the program end")


def _scan_mpeg_user_data(data: Any, start: int, end: int, audit: Audit, where: str) -> None:
    _scan_encoder_strings(data, start, end, audit, where)
    if data.find(b"\x00\x00\x01\xb2", start, min(end, start + _SCAN_WINDOW)) >= 0:
        audit._flag("text chunk", f"{where} user data")


# -- MPEG transport stream (.ts, AVCHD .mts/.m2ts) ------------------------------------------------

_TS_PACKETS_READ = 4096  # PAT, PMT and SDT repeat every few hundred ms; this many packets see them
# PMT stream types that carry no picture or sound: timed metadata (ID3, KLV), data carousels.
_TS_METADATA_TYPES = {0x15: "timed metadata track", 0x05: "unknown metadata", 0x0B: "unknown metadata",
                      0x0C: "unknown metadata", 0x0D: "unknown metadata"}
# AVCHD cameras write date, time, exposure, often GPS and model into an H.264 SEI of every frame.
_AVCHD_MDPM = bytes.fromhex("17EE8C60F84D11D98CD60800200C9A66") + b"MDPM"


def _parse_mpeg_ts(data: Any, audit: Audit) -> None:
    n = len(data)
    first, step = (0, 188) if data[0] == 0x47 else (4, 192)
    pmt_pids: set[int] = set()
    seen = 0
    for pos in range(first, n, step):
        if pos + 188 > n:
            if pos < n:
                raise _Malformed("packet past the end of the file (truncated)")
            break
        if data[pos] != 0x47:
            raise _Malformed(f"sync byte missing at {pos}")
        seen += 1
        if seen > _TS_PACKETS_READ:
            break
        pid = ((data[pos + 1] & 0x1F) << 8) | data[pos + 2]
        start = data[pos + 1] & 0x40
        adaptation = (data[pos + 3] >> 4) & 3
        payload = pos + 4
        if adaptation in (2, 3):
            payload += 1 + data[pos + 4]
        if not start or adaptation == 2 or payload >= pos + 188:
            continue
        section = payload + 1 + data[payload]  # pointer field
        if section + 3 > pos + 188:
            continue
        table = data[section]
        length = ((data[section + 1] & 0x0F) << 8) | data[section + 2]
        body_end = min(pos + 188, section + 3 + length)
        if pid == 0 and table == 0:
            for at in range(section + 8, body_end - 4 - 3, 4):
                program = (data[at] << 8) | data[at + 1]
                if program:
                    pmt_pids.add(((data[at + 2] & 0x1F) << 8) | data[at + 3])
            audit._note("MPEG-TS PAT")
        elif pid in pmt_pids and table == 2:
            _walk_ts_pmt(data, section, body_end, audit)
        elif pid == 0x11 and table == 0x42:
            _walk_ts_sdt(data, section, body_end, audit)
        elif pid == 0x12 or pid == 0x14:
            audit._flag("timestamps" if pid == 0x14 else "unknown metadata", f"MPEG-TS {'TDT/TOT' if pid == 0x14 else 'EIT'} table")
    if n % step:
        raise _Malformed("the last packet is cut short (truncated)")
    if data.find(_AVCHD_MDPM) >= 0:
        audit._flag("timed metadata track", "MPEG-TS H.264 SEI MDPM (AVCHD camera data: date, settings, GPS)")
    if first == 4:
        audit._note("M2TS 4-byte time codes")


def _walk_ts_pmt(data: Any, section: int, end: int, audit: Audit) -> None:
    info_length = ((data[section + 10] & 0x0F) << 8) | data[section + 11]
    at = section + 12 + info_length
    while at + 5 <= end - 4:
        stream_type = data[at]
        es_info = ((data[at + 3] & 0x0F) << 8) | data[at + 4]
        if stream_type in _TS_METADATA_TYPES:
            audit._flag(_TS_METADATA_TYPES[stream_type], f"MPEG-TS stream type 0x{stream_type:02X}")
        else:
            audit._note(f"MPEG-TS stream type 0x{stream_type:02X}")
        at += 5 + es_info
    audit._note("MPEG-TS PMT")


def _walk_ts_sdt(data: Any, section: int, end: int, audit: Audit) -> None:
    """Service descriptors name the provider and the service (muxers write their own name there)."""
    at = section + 11
    while at + 5 <= end - 4:
        loop = ((data[at + 3] & 0x0F) << 8) | data[at + 4]
        d = at + 5
        while d + 2 <= min(end - 4, at + 5 + loop):
            tag, size = data[d], data[d + 1]
            if tag == 0x48 and d + 4 <= end:
                provider_length = data[d + 3]
                provider = bytes(data[d + 4 : d + 4 + provider_length])
                service = bytes(data[d + 5 + provider_length : d + 2 + size])
                where = "MPEG-TS SDT service descriptor"
                if provider:
                    audit._flag("software" if provider.endswith(b"FFmpeg") else "text chunk", f"{where} provider name")
                if service.lstrip(b"\x01\x15") not in (b"", b"Service01"):  # muxers put the title here
                    audit._flag("comment", f"{where} service name")
            d += 2 + size
        at += 5 + loop


# -- ASF (WMV, WMA) --------------------------------------------------------------------------


def _guid(text: str) -> bytes:
    import uuid

    return uuid.UUID(text).bytes_le


_ASF_HEADER = _guid("75B22630-668E-11CF-A6D9-00AA0062CE6C")
_ASF_HEADER_EXTENSION = _guid("5FBF03B5-A92E-11CF-8EE3-00C00C205365")
_ASF_FILE_PROPERTIES = _guid("8CABDCA1-A947-11CF-8EE4-00C00C205365")
_ASF_CONTENT_DESCRIPTION = _guid("75B22633-668E-11CF-A6D9-00AA0062CE6C")
_ASF_EXTENDED_CONTENT = _guid("D2D0A440-E307-11D2-97F0-00A0C95EA850")
_ASF_PADDING = _guid("1806D474-CADF-4509-A4BA-9AABCB96AAE8")
_ASF_STRUCTURAL = {
    _guid("75B22636-668E-11CF-A6D9-00AA0062CE6C"): "Data",
    _guid("33000890-E5B1-11CF-89F4-00A0C90349CB"): "Simple Index",
    _guid("D6E229D3-35DA-11D1-9034-00A0C90349BE"): "Index",
    _guid("B7DC0791-A9B7-11CF-8EE6-00C00C205365"): "Stream Properties",
    _guid("86D15240-311D-11D0-A3A4-00A0C90348F6"): "Codec List",
    _guid("7BF875CE-468D-11D1-8D82-006097C9A2B2"): "Stream Bitrate Properties",
    _guid("D6E229DC-35DA-11D1-9034-00A0C90349BE"): "Bitrate Mutual Exclusion",
    _guid("75B22635-668E-11CF-A6D9-00AA0062CE6C"): "Error Correction",
    _guid("14E6A5CB-C672-4332-8399-A96952065B5A"): "Extended Stream Properties",
    _guid("7C4346A9-EFE0-4BFC-B229-393EDE415C85"): "Language List",
    _guid("D6E229DF-35DA-11D1-9034-00A0C90349BE"): "Index Parameters",
    _guid("D4FED15B-88D3-454F-81F0-ED5C45999E24"): "Stream Prioritization",
    _guid("26F18B5D-4584-47EC-9F5F-0E651F0452C9"): "Compatibility",
    _guid("6B203BAD-3F11-48E4-ACA8-D7613DE2CFA7"): "Index Placeholder",
}
_ASF_NAMED = {
    _guid("C5F8CBEA-5BAF-4877-8467-AA8C44FA4CCA"): ("text chunk", "Metadata"),
    _guid("44231C94-9498-49D1-A141-1D134E457054"): ("text chunk", "Metadata Library"),
    _guid("F487CD01-A951-11CF-8EE6-00C00C205365"): ("text chunk", "Marker"),
    _guid("1EFB1A30-0B62-11D0-A39B-00A0C90348F6"): ("text chunk", "Script Command"),
    _guid("2211B3FC-BD23-11D2-B4B7-00A0C955FC6E"): ("unknown metadata", "Content Encryption"),
    _guid("298AE614-2622-4C17-B935-DAE07EE9289C"): ("unknown metadata", "Extended Content Encryption"),
    _guid("2211B3FB-BD23-11D2-B4B7-00A0C955FC6E"): ("unknown metadata", "Content Branding"),
}
_FILETIME_UNIX_EPOCH = 116_444_736_000_000_000  # 1970-01-01 in 100-ns steps since 1601
_ASF_CONTENT_FIELDS = ("comment", "owner/author", "owner/author", "comment", "comment")  # title, author, copyright, description, rating


def _parse_asf(data: Any, audit: Audit) -> None:
    n = len(data)
    (header_size,) = _unpack("<Q", data, 16, n)
    if header_size < 30 or header_size > n:
        raise _Malformed("header object past the end of the file")
    _walk_asf_objects(data, 30, header_size, audit, "ASF header", 0)
    pos = header_size
    while pos + 24 <= n:  # Data and index objects
        guid, size = bytes(data[pos : pos + 16]), _unpack("<Q", data, pos + 16, n)[0]
        if size < 24 or pos + size > n:
            raise _Malformed("object past the end of the file (truncated)")
        name = _ASF_STRUCTURAL.get(guid)
        if name:
            audit._note(f"ASF {name} object")
        elif guid == _ASF_PADDING:
            _check_padding(data, pos + 24, pos + size, audit, "ASF padding")
        else:
            audit._flag("unknown metadata", f"ASF top-level object {guid.hex()[:8]}")
        pos += size
    if pos < n:
        _check_trailer(data, pos, audit, "ASF after the last object")


def _walk_asf_objects(data: Any, pos: int, end: int, audit: Audit, where: str, depth: int) -> None:
    if depth > 2:
        raise _Malformed("objects nested too deep")
    while pos + 24 <= end:
        guid = bytes(data[pos : pos + 16])
        (size,) = _unpack("<Q", data, pos + 16, end)
        if size < 24 or pos + size > end:
            raise _Malformed("object past the end of its parent")
        body, stop = pos + 24, pos + size
        if guid in _ASF_STRUCTURAL:
            audit._note(f"{where} {_ASF_STRUCTURAL[guid]}")
        elif guid == _ASF_PADDING:
            _check_padding(data, body, stop, audit, f"{where} Padding")
        elif guid == _ASF_FILE_PROPERTIES:
            (created,) = _unpack("<Q", data, body + 24, stop)
            audit._note(f"{where} File Properties")
            if created not in (0, _FILETIME_UNIX_EPOCH):  # muxers write 1970-01-01 for "not set"
                audit._flag("timestamps", f"{where} File Properties creation date")
        elif guid == _ASF_CONTENT_DESCRIPTION:
            lengths = _unpack("<5H", data, body, stop)
            for kind, length in zip(_ASF_CONTENT_FIELDS, lengths):
                if length > 2:  # one UTF-16 NUL is an empty field
                    audit._flag(kind, f"{where} Content Description")
        elif guid == _ASF_EXTENDED_CONTENT:
            _walk_asf_descriptors(data, body, stop, audit, f"{where} Extended Content Description")
        elif guid == _ASF_HEADER_EXTENSION:
            _walk_asf_objects(data, body + 22, stop, audit, f"{where} Header Extension", depth + 1)
        elif guid in _ASF_NAMED:
            kind, name = _ASF_NAMED[guid]
            audit._flag(kind, f"{where} {name}")
        else:
            audit._flag("unknown metadata", f"{where} object {guid.hex()[:8]}")
        pos = stop


def _walk_asf_descriptors(data: Any, pos: int, end: int, audit: Audit, where: str) -> None:
    (count,) = _unpack("<H", data, pos, end)
    pos += 2
    for _ in range(count):
        (name_length,) = _unpack("<H", data, pos, end)
        name = bytes(data[pos + 2 : pos + 2 + name_length]).decode("utf-16-le", "replace").rstrip("\0")
        _value_type, value_length = _unpack("<HH", data, pos + 2 + name_length, end)
        pos += 6 + name_length + value_length
        if pos > end:
            raise _Malformed("descriptor past the end of its object")
        low = name.lower()
        if "date" in low or "time" in low:
            kind = "timestamps"
        elif "tool" in low or "encod" in low or "software" in low:
            kind = "software"
        elif "author" in low or "artist" in low or "copyright" in low or "publisher" in low:
            kind = "owner/author"
        elif "location" in low or "gps" in low:
            kind = "GPS position"
        else:
            kind = "text chunk"
        audit._flag(kind, f"{where} {name[:40]}")


# -- RAF (Fujifilm RAW) ----------------------------------------------------------------------


def _parse_raf(data: Any, audit: Audit) -> None:
    """A header naming the camera, an embedded full JPEG preview with its EXIF, then the sensor data."""
    n = len(data)
    audit._flag("device make/model", "RAF header (camera model)")
    jpeg_at, jpeg_length = _unpack(">II", data, 84, n)
    if jpeg_at + jpeg_length > n or jpeg_length < 4:
        raise _Malformed("embedded JPEG past the end of the file")
    audit._flag("embedded thumbnail", "RAF embedded JPEG preview")
    preview = bytes(data[jpeg_at : jpeg_at + jpeg_length])  # a few MB at most
    inner = Audit("jpeg")
    _guarded(inner, "RAF preview JPEG", _parse_jpeg, preview, inner)
    for finding in inner.findings:
        if finding.kind != "trailing data":
            audit._flag(finding.kind, f"RAF preview: {finding.where}")
    audit._flag("maker notes", "RAF sensor and camera settings records")


# -- dispatch ----------------------------------------------------------------------------------


def _container_format(data: Any) -> str:
    head = bytes(data[:64])
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == _PNG_SIGNATURE:
        return "png"
    if head[:4] == b"RIFF":
        return {b"WEBP": "webp", b"AVI ": "riff-avi"}.get(head[8:12], "unknown")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"II*\0", b"MM\0*"):
        return "tiff"
    if head[:4] in _RAW_TIFF_MAGIC:
        return "tiff"  # ORF / RW2: TIFF with a magic number of their own
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "raf"
    if head.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n") or head[:2] == b"\xff\x0a":
        return "jxl"
    if head[:1] == b"P" and head[1:2] in (b"1", b"2", b"3", b"4", b"5", b"6") and head[2:3] in (b" ", b"\t", b"\r", b"\n", b"#"):
        return "pnm"
    if head[:16] == _ASF_HEADER:
        return "asf"
    if head[:4] == b"FLV\x01":
        return "flv"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "mpeg-ps"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "mkv/webm"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        compatible = {head[i : i + 4] for i in range(16, min(len(head), 64), 4)}
        if brand in _AVIF_BRANDS:
            return "avif"
        if brand in _HEIF_BRANDS or (compatible & _HEIF_BRANDS and not compatible & {b"isom", b"mp41", b"mp42"}):
            return "heif"
        return "mov" if brand == b"qt  " else "mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mov"  # old QuickTime files have no ftyp
    if len(data) >= 189 and data[0] == 0x47 and data[188] == 0x47 or len(data) >= 197 and data[4] == 0x47 and data[196] == 0x47:
        return "mpeg-ts"
    return "unknown"


_PARSERS: dict[str, Callable[[Any, Audit], None]] = {
    "jpeg": _parse_jpeg, "png": _parse_png, "webp": _parse_webp, "gif": _parse_gif, "tiff": _parse_tiff,
    "heif": _parse_isobmff, "avif": _parse_isobmff, "mp4": _parse_isobmff, "mov": _parse_isobmff,
    "mkv/webm": _parse_matroska, "riff-avi": _parse_avi,
    "jxl": _parse_jxl, "pnm": _parse_pnm, "flv": _parse_flv, "mpeg-ps": _parse_mpeg_ps, "mpeg-ts": _parse_mpeg_ts,
    "asf": _parse_asf, "raf": _parse_raf,
}
