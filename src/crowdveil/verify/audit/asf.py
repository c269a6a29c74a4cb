"""ASF (WMV, WMA): header objects, content descriptions and their descriptors."""

from __future__ import annotations

import uuid
from typing import Any

from .base import Audit, Malformed, check_padding, check_trailer, unpack


def _guid(text: str) -> bytes:
    return uuid.UUID(text).bytes_le


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


def parse_asf(data: Any, audit: Audit) -> None:
    n = len(data)
    (header_size,) = unpack("<Q", data, 16, n)
    if header_size < 30 or header_size > n:
        raise Malformed("header object past the end of the file")
    _walk_asf_objects(data, 30, header_size, audit, "ASF header", 0)
    pos = header_size
    while pos + 24 <= n:  # Data and index objects
        guid, size = bytes(data[pos : pos + 16]), unpack("<Q", data, pos + 16, n)[0]
        if size < 24 or pos + size > n:
            raise Malformed("object past the end of the file (truncated)")
        name = _ASF_STRUCTURAL.get(guid)
        if name:
            audit._note(f"ASF {name} object")
        elif guid == _ASF_PADDING:
            check_padding(data, pos + 24, pos + size, audit, "ASF padding")
        else:
            audit._flag("unknown metadata", f"ASF top-level object {guid.hex()[:8]}")
        pos += size
    if pos < n:
        check_trailer(data, pos, audit, "ASF after the last object")


def _walk_asf_objects(data: Any, pos: int, end: int, audit: Audit, where: str, depth: int) -> None:
    if depth > 2:
        raise Malformed("objects nested too deep")
    while pos + 24 <= end:
        guid = bytes(data[pos : pos + 16])
        (size,) = unpack("<Q", data, pos + 16, end)
        if size < 24 or pos + size > end:
            raise Malformed("object past the end of its parent")
        body, stop = pos + 24, pos + size
        if guid in _ASF_STRUCTURAL:
            audit._note(f"{where} {_ASF_STRUCTURAL[guid]}")
        elif guid == _ASF_PADDING:
            check_padding(data, body, stop, audit, f"{where} Padding")
        elif guid == _ASF_FILE_PROPERTIES:
            (created,) = unpack("<Q", data, body + 24, stop)
            audit._note(f"{where} File Properties")
            if created not in (0, _FILETIME_UNIX_EPOCH):  # muxers write 1970-01-01 for "not set"
                audit._flag("timestamps", f"{where} File Properties creation date")
        elif guid == _ASF_CONTENT_DESCRIPTION:
            lengths = unpack("<5H", data, body, stop)
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
    (count,) = unpack("<H", data, pos, end)
    pos += 2
    for _ in range(count):
        (name_length,) = unpack("<H", data, pos, end)
        name = bytes(data[pos + 2 : pos + 2 + name_length]).decode("utf-16-le", "replace").rstrip("\0")
        _value_type, value_length = unpack("<HH", data, pos + 2 + name_length, end)
        pos += 6 + name_length + value_length
        if pos > end:
            raise Malformed("descriptor past the end of its object")
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
