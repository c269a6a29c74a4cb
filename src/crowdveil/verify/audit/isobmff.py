"""ISO base media files (ISO/IEC 14496-12): HEIF/HEIC, AVIF, MP4, MOV, 3GP and Canon CR3.

Movies: ``moov``/``moof`` boxes, track handlers, user data and iTunes/QuickTime item lists.
HEIF images: the items of the ``meta`` box, their references and properties.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Iterator

from .base import (MAX_DEPTH, Audit, Malformed, check_padding, check_trailer, cstring, fourcc, guarded, key_kind,
                   scan_encoder_strings, uint, unpack)
from .tiff import walk_tiff
from .xmp import classify_xmp

_MAX_ITEM_BYTES = 4 << 20  # HEIF metadata items read into memory, at most
_XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")


def boxes(data: Any, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, box end) of each box in [start, end)."""
    pos = start
    while pos < end:
        size, box_type = unpack(">I4s", data, pos, end)
        header = 8
        if size == 1:
            size, header = unpack(">Q", data, pos + 8, end)[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise Malformed(f"box {fourcc(box_type)} past the end of its parent")
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
        raise Malformed(f"box {fourcc(box_type)} past the end of the file (truncated)")
    return box_type, pos + header, pos + size


_TOP_LEVEL_STRUCTURAL = frozenset({b"ftyp", b"mfra", b"styp", b"sidx", b"ssix", b"pdin", b"prft"})


def parse_isobmff(data: Any, audit: Audit) -> None:
    pos, n = 0, len(data)
    while pos < n:
        box = _box_at(data, pos, n)
        if box is None:
            check_trailer(data, pos, audit, "ISOBMFF after last box")
            return
        box_type, body, end = box
        name, pos = fourcc(box_type), end
        if box_type in (b"moov", b"moof"):
            where = f"ISOBMFF {name}"
            guarded(audit, where, _walk_movie, data, body, end, audit, where, 1)
        elif box_type == b"meta":
            guarded(audit, "ISOBMFF meta", _walk_heif_meta, data, body, end, audit, "ISOBMFF meta")
        elif box_type == b"mdat":
            scan_encoder_strings(data, body, end, audit, "ISOBMFF mdat")
        elif box_type in (b"free", b"skip", b"wide"):
            check_padding(data, body, end, audit, f"ISOBMFF {name}")
        elif box_type == b"uuid":
            _classify_uuid(data, body, end, audit, "ISOBMFF uuid")
        elif box_type in _TOP_LEVEL_STRUCTURAL:
            audit._note(f"ISOBMFF {name}")
        else:
            audit._flag("unknown metadata", f"ISOBMFF {name}")


def _classify_uuid(data: Any, body: int, end: int, audit: Audit, where: str) -> None:
    uuid = bytes(data[body : body + 16])
    if uuid == _XMP_UUID:
        classify_xmp(data, body + 16, end, audit, f"{where} XMP")
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
    if depth > MAX_DEPTH:
        raise Malformed("boxes nested too deep")
    for box_type, body, box_end in boxes(data, start, end):
        where = f"{path}/{fourcc(box_type)}"
        if box_type in _MOVIE_CONTAINERS:
            _walk_movie(data, body, box_end, audit, where, depth + 1)
        elif box_type in (b"mvhd", b"tkhd", b"mdhd"):
            version = unpack("B", data, body, box_end)[0]
            times = unpack(">QQ" if version == 1 else ">II", data, body + 4, box_end)
            if any(times):
                audit._flag("timestamps", where)
        elif box_type == b"hdlr":
            _check_handler(data, body, box_end, audit, where, is_track_media=path.endswith("/mdia"))
        elif box_type == b"stsd":
            for entry_type, _, _ in boxes(data, body + 8, box_end):
                if entry_type in _TIMED_METADATA_ENTRIES:
                    audit._flag("timed metadata track", f"{where}/{fourcc(entry_type)}")
        elif box_type == b"udta":
            _walk_user_data(data, body, box_end, audit, where)
        elif box_type == b"meta":
            _walk_item_list(data, body, box_end, audit, where)
        elif box_type == b"tref":
            for ref_type, _, _ in boxes(data, body, box_end):
                if ref_type == b"chap":
                    audit._flag("unknown metadata", f"{where}/chap (chapter track)")
        elif box_type == b"uuid":
            _classify_uuid(data, body, box_end, audit, where)
        elif box_type in (b"free", b"skip"):
            check_padding(data, body, box_end, audit, where)
        elif box_type not in _MOVIE_STRUCTURAL:
            audit._flag("unknown metadata", where)


def _check_handler(data: Any, body: int, end: int, audit: Audit, where: str, is_track_media: bool) -> None:
    (handler_type,) = unpack("4s", data, body + 8, end)
    name = bytes(data[body + 24 : min(end, body + 24 + 256)])
    if name and name[0] == len(name) - 1:  # QuickTime writes a Pascal string
        name = name[1:]
    if is_track_media and handler_type in _TIMED_METADATA_HANDLERS:
        audit._flag("timed metadata track", f"{where} {fourcc(handler_type)}")
    if name.strip(b"\0 ").decode("latin-1") not in _GENERIC_HANDLER_NAMES:
        audit._flag("software", f"{where} name")
    else:
        audit._note(f"{where} {fourcc(handler_type)}")


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
    for box_type, body, box_end in boxes(data, start, end):
        where = f"{path}/{fourcc(box_type)}"
        if box_type == b"meta":
            _walk_item_list(data, body, box_end, audit, where)
        elif box_type == b"XMP_":
            classify_xmp(data, body, box_end, audit, where)
        elif box_type == b"uuid":
            _classify_uuid(data, body, box_end, audit, where)
        elif box_type in (b"free", b"skip"):
            check_padding(data, body, box_end, audit, where)
        else:
            audit._flag(_USER_DATA_KINDS.get(box_type, "unknown metadata"), where)


def _walk_item_list(data: Any, body: int, end: int, audit: Audit, where: str) -> None:
    """iTunes/QuickTime ``meta``: ``hdlr``, optional ``keys``, then ``ilst`` items."""
    # ISO 'meta' is a full box (4 bytes version/flags); QuickTime's is not.
    start = body if bytes(data[body + 4 : body + 8]) == b"hdlr" else body + 4
    key_names: list[str] = []
    for box_type, box_body, box_end in boxes(data, start, end):
        name = f"{where}/{fourcc(box_type)}"
        if box_type == b"keys":
            pos = box_body + 8
            while pos < box_end:
                (size,) = unpack(">I", data, pos, box_end)
                if size < 8 or pos + size > box_end:
                    raise Malformed("bad keys entry")
                key_names.append(bytes(data[pos + 8 : pos + min(size, 72)]).decode("latin-1"))
                pos += size
        elif box_type == b"ilst":
            for item_type, item_body, item_end in boxes(data, box_body, box_end):
                index = int.from_bytes(item_type, "big")
                if 1 <= index <= len(key_names):
                    key = "".join(c if c.isprintable() else "?" for c in key_names[index - 1])
                    audit._flag(key_kind(key), f"{name}/{key}")
                elif item_type == b"XMP_":
                    classify_xmp(data, item_body, item_end, audit, f"{name}/XMP_")
                else:
                    audit._flag(_USER_DATA_KINDS.get(item_type, "unknown metadata"), f"{name}/{fourcc(item_type)}")
        elif box_type == b"hdlr":
            _check_handler(data, box_body, box_end, audit, name, is_track_media=False)
        elif box_type in (b"free", b"skip"):
            check_padding(data, box_body, box_end, audit, name)
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
    for box_type, box_body, box_end in boxes(data, body + 4, end):
        name = f"{where}/{fourcc(box_type)}"
        if box_type == b"iinf":
            _read_item_infos(data, box_body, box_end, meta)
        elif box_type == b"iref":
            _read_item_references(data, box_body, box_end, meta)
        elif box_type == b"iloc":
            _read_item_locations(data, box_body, box_end, meta)
        elif box_type == b"iprp":
            for prop_type, prop_body, prop_end in boxes(data, box_body, box_end):
                if prop_type == b"ipco":
                    meta.properties = list(boxes(data, prop_body, prop_end))
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
        label = f"{where}/iref/{fourcc(ref_type)}"
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
        label = f"{where}/iinf/{fourcc(item_type or b'????')}"
        if item_type == b"Exif":
            audit._flag("EXIF", label)
            guarded(audit, label, _classify_exif_item, data, meta, item_id, audit, label)
        elif item_type == b"mime" and (mime == b"application/rdf+xml" or b"xmp" in mime.lower()):
            audit._flag("XMP", label)
            guarded(audit, label, _classify_xmp_item, data, meta, item_id, audit, label)
        elif item_type not in _IMAGE_ITEM_TYPES:
            audit._flag("IPTC" if item_type == b"iptc" else "unknown metadata", label)
    top_level_images = [i for i, (t, _) in meta.items.items() if t in _IMAGE_ITEM_TYPES and i not in hidden_roles]
    if len(top_level_images) > 1:
        audit._flag("hidden image", f"{where}/iinf ({len(top_level_images)} top-level images)")
    for prop_type, prop_body, prop_end in meta.properties:
        label = f"{where}/iprp/ipco/{fourcc(prop_type)}"
        if prop_type == b"colr" and bytes(data[prop_body : prop_body + 4]) in (b"prof", b"rICC"):
            audit._flag("colour profile", label)
        elif prop_type == b"udes":  # user description: name, description, tags
            audit._flag("comment", label)
        elif prop_type not in _STRUCTURAL_PROPERTIES:
            audit._flag("unknown metadata", label)


def _read_item_infos(data: Any, body: int, end: int, meta: _HeifMeta) -> None:
    version = unpack("B", data, body, end)[0]
    for box_type, infe, infe_end in boxes(data, body + (6 if version == 0 else 8), end):
        if box_type != b"infe":
            raise Malformed("iinf holds a non-infe box")
        infe_version = unpack("B", data, infe, infe_end)[0]
        if infe_version < 2:  # no item type: nothing we can vouch for
            item_id, item_type, pos = unpack(">H", data, infe + 4, infe_end)[0], None, infe_end
        else:
            id_format = ">H" if infe_version == 2 else ">I"
            (item_id,) = unpack(id_format, data, infe + 4, infe_end)
            pos = infe + 4 + struct.calcsize(id_format) + 2  # skip protection index
            (item_type,) = unpack("4s", data, pos, infe_end)
            pos = cstring(data, pos + 4, infe_end)[1]  # item name
        mime = cstring(data, pos, infe_end)[0] if item_type == b"mime" else b""
        meta.items[item_id] = (item_type, mime)


def _read_item_references(data: Any, body: int, end: int, meta: _HeifMeta) -> None:
    id_size = 2 if unpack("B", data, body, end)[0] == 0 else 4
    for ref_type, pos, ref_end in boxes(data, body + 4, end):
        from_id, pos = uint(data, pos, id_size, ref_end)
        count, pos = uint(data, pos, 2, ref_end)
        to_ids = []
        for _ in range(count):
            to_id, pos = uint(data, pos, id_size, ref_end)
            to_ids.append(to_id)
        meta.references.append((ref_type, from_id, to_ids))


def _read_item_locations(data: Any, body: int, end: int, meta: _HeifMeta) -> None:
    version, sizes, more_sizes = unpack(">B3xBB", data, body, end)
    offset_size, length_size, base_size = sizes >> 4, sizes & 15, more_sizes >> 4
    index_size = more_sizes & 15 if version in (1, 2) else 0
    id_size = 2 if version < 2 else 4
    count, pos = uint(data, body + 6, id_size, end)
    budget = (end - body) * 8  # extents of zero-width fields would otherwise be free to repeat
    for _ in range(count):
        item_id, pos = uint(data, pos, id_size, end)
        method = 0
        if version in (1, 2):
            method, pos = uint(data, pos, 2, end)
        _, pos = uint(data, pos, 2, end)  # data reference index
        base, pos = uint(data, pos, base_size, end)
        extent_count, pos = uint(data, pos, 2, end)
        budget -= extent_count + 1
        if budget < 0:
            raise Malformed("iloc lists more extents than it can hold")
        extents = []
        for _ in range(extent_count):
            _, pos = uint(data, pos, index_size, end)
            offset, pos = uint(data, pos, offset_size, end)
            length, pos = uint(data, pos, length_size, end)
            extents.append((base + offset, length))
        meta.locations[item_id] = (method & 15, extents)


def _read_property_associations(data: Any, body: int, end: int, meta: _HeifMeta) -> None:
    version, flags = unpack(">B3s", data, body, end)
    count, pos = uint(data, body + 4, 4, end)
    for _ in range(count):
        item_id, pos = uint(data, pos, 2 if version < 1 else 4, end)
        n, pos = uint(data, pos, 1, end)
        indices = []
        for _ in range(n):
            index, pos = uint(data, pos, 2 if flags[2] & 1 else 1, end)
            indices.append(index & (0x7FFF if flags[2] & 1 else 0x7F))
        meta.associations[item_id] = indices


def _aux_type(data: Any, meta: _HeifMeta, item_id: int) -> bytes:
    for index in meta.associations.get(item_id, []):
        if 1 <= index <= len(meta.properties) and meta.properties[index - 1][0] == b"auxC":
            _, prop_body, prop_end = meta.properties[index - 1]
            return cstring(data, prop_body + 4, prop_end)[0]
    return b""


def _item_payload(data: Any, meta: _HeifMeta, item_id: int) -> bytes:
    """An item's bytes, from the file or from ``idat``, at most _MAX_ITEM_BYTES."""
    method, extents = meta.locations.get(item_id, (0, []))
    if method not in (0, 1):
        raise Malformed("item stored by reference to other items")
    origin, limit = (0, len(data)) if method == 0 else meta.idat
    parts, total = [], 0
    for offset, length in extents:
        start = origin + offset
        stop = limit if length == 0 else start + length
        if stop > limit or total + (stop - start) > _MAX_ITEM_BYTES:
            raise Malformed("item data past the end of the file")
        parts.append(bytes(data[start:stop]))
        total += stop - start
    return b"".join(parts)


def _classify_xmp_item(data: Any, meta: _HeifMeta, item_id: int, audit: Audit, where: str) -> None:
    payload = _item_payload(data, meta, item_id)
    classify_xmp(payload, 0, len(payload), audit, where)


def _classify_exif_item(data: Any, meta: _HeifMeta, item_id: int, audit: Audit, where: str) -> None:
    """HEIF Exif item: uint32 offset to the TIFF header, usually "Exif\\0\\0" before it."""
    payload = _item_payload(data, meta, item_id)
    tiff_at = 4 + unpack(">I", payload, 0, len(payload))[0]
    if payload[tiff_at : tiff_at + 6] == b"Exif\0\0":
        tiff_at += 6
    walk_tiff(payload, tiff_at, len(payload), audit, where)
