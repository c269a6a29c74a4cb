"""FLV: tag types, and the keys of the onMetaData script tag (AMF0)."""

from __future__ import annotations

from typing import Any

from .base import Audit, MAX_DEPTH, Malformed, check_trailer, guarded, unpack

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


def parse_flv(data: Any, audit: Audit) -> None:
    n = len(data)
    (header_size,) = unpack(">I", data, 5, n)
    pos = header_size + 4  # PreviousTagSize0
    while pos + 11 <= n:
        tag_type, size_hi, size_lo = unpack(">BBH", data, pos, n)
        size = (size_hi << 16) | size_lo
        body, end = pos + 11, pos + 11 + size
        if end + 4 > n:
            raise Malformed("tag past the end of the file (truncated)")
        kind = tag_type & 0x1F
        if kind in (8, 9):
            audit._note("FLV audio/video tags")
        elif kind == 18:
            guarded(audit, "FLV script data", _walk_amf_keys, data, body, end, audit)
        else:
            audit._flag("unknown metadata", f"FLV tag type {kind}")
        pos = end + 4
    if pos < n:
        check_trailer(data, pos, audit, "FLV after the last tag")


def _walk_amf_keys(data: Any, pos: int, end: int, audit: Audit) -> None:
    """The names in an onMetaData script tag (AMF0: a string, then an ECMA array or object)."""
    (marker,) = unpack("B", data, pos, end)
    if marker != 2:
        raise Malformed("script tag does not start with its name")
    (length,) = unpack(">H", data, pos + 1, end)
    name = bytes(data[pos + 3 : pos + 3 + length]).decode("latin-1")
    where = f"FLV script data {name[:32]!r}"
    if name != "onMetaData":
        audit._flag("timed metadata track", where)
        return
    _amf_value(data, pos + 3 + length, end, audit, where, 0, top=True)


def _amf_value(data: Any, pos: int, end: int, audit: Audit, where: str, depth: int, top: bool = False) -> int:
    """Skip one AMF0 value; the keys of a top-level array or object are classified. Returns the position after it."""
    if depth > MAX_DEPTH:
        raise Malformed("AMF values nested too deep")
    (marker,) = unpack("B", data, pos, end)
    pos += 1
    if marker == 0:
        return pos + 8
    if marker == 1:
        return pos + 1
    if marker in (2, 4):  # string, movie clip
        return pos + 2 + unpack(">H", data, pos, end)[0]
    if marker == 12:
        return pos + 4 + unpack(">I", data, pos, end)[0]
    if marker in (5, 6, 13):  # null, undefined, unsupported
        return pos
    if marker == 7:
        return pos + 2
    if marker == 11:
        return pos + 10
    if marker == 10:
        (count,) = unpack(">I", data, pos, end)
        pos += 4
        for _ in range(count):
            pos = _amf_value(data, pos, end, audit, where, depth + 1)
            if pos > end:
                raise Malformed("array past the end of the tag")
        return pos
    if marker in (3, 8, 16):
        if marker == 8:
            pos += 4
        elif marker == 16:
            pos += 2 + unpack(">H", data, pos, end)[0]
        while True:
            (length,) = unpack(">H", data, pos, end)
            if length == 0 and unpack("B", data, pos + 2, end)[0] == 9:
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
                raise Malformed("object past the end of the tag")
    raise Malformed(f"unknown AMF0 type {marker}")
