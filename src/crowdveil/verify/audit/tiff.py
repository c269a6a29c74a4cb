"""TIFF structures: TIFF files (and the TIFF-based RAW files), the Exif blocks other
containers embed, and the vendor maker notes inside them.
"""

from __future__ import annotations

from typing import Any, Iterator

from .base import Audit, Malformed, PARSE_ERRORS, unpack

_MAX_IFDS = 64  # IFDs per TIFF structure

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
    (count,) = unpack(order + "H", data, pos, end)
    for entry in range(pos + 2, pos + 2 + 12 * count, 12):
        tag, value_type, length, value = unpack(order + "HHII", data, entry, end)
        inline = _TIFF_TYPE_SIZES.get(value_type, 1) * length <= 4
        yield tag, value_type, length, value, entry + 8 if inline else -1


_TIFF_TYPE_SIZES = {3: 2, 4: 4, 5: 8, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}


def walk_tiff(data: Any, base: int, end: int, audit: Audit, where: str, standalone: bool = False) -> None:
    """Classify every tag of the TIFF structure at ``base`` (offsets inside are relative to it).

    ``standalone``: a TIFF file, where unlisted tags are unknown metadata and every IFD
    after the first is a hidden image; otherwise an Exif block, where IFD1 is the thumbnail.
    """
    order = {b"II*\0": "<", b"MM\0*": ">", **_RAW_TIFF_MAGIC}.get(bytes(data[base : base + 4]))
    if order is None:
        raise Malformed("no TIFF header")
    pending = [(unpack(order + "I", data, base + 4, end)[0], 0)]  # (offset, index in IFD chain; -1: Exif IFD)
    seen: set[int] = set()
    while pending:
        offset, index = pending.pop()
        if offset == 0:
            continue
        if offset in seen or len(seen) >= _MAX_IFDS:
            raise Malformed("IFD offsets loop")
        seen.add(offset)
        label = f"{where} {'Exif IFD' if index < 0 else f'IFD{index}'}"
        tags = set()
        (count,) = unpack(order + "H", data, base + offset, end)
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
        pending.append((unpack(order + "I", data, next_at, end)[0] if next_at + 4 <= end else 0, index + 1))


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
            ifd_at = unpack(order + "I", data, base + 4, end)[0] + 10
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
    except PARSE_ERRORS:
        return


def _flag_maker_note_tag(
    data: Any, base: int, end: int, order: str, kind: str | None, value_type: int, value: int, value_at: int,
    audit: Audit, where: str,
) -> None:
    if kind in _COUNTED_KINDS:
        count_at = base + value if value_at < 0 else value_at
        if unpack(order + ("I" if value_type in (4, 9, 13) else "H"), data, count_at, end)[0] == 0:
            return
    if kind:
        audit._flag(kind, where)


def parse_tiff(data: Any, audit: Audit) -> None:
    # Strip and tile data are not walked: bytes between them could hide anything, but
    # they can only be read through tags, and every tag is classified.
    walk_tiff(data, 0, len(data), audit, "TIFF", standalone=True)
