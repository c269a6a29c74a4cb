"""RIFF containers: WebP chunks and AVI lists (with OpenDML's AVIX continuations)."""

from __future__ import annotations

from typing import Any, Iterator

from .base import Audit, MAX_DEPTH, Malformed, check_padding, check_trailer, fourcc, guarded, unpack
from .tiff import walk_tiff
from .xmp import classify_xmp


def _riff_chunks(data: Any, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    pos = start
    while pos < end:
        chunk_id, size = unpack("<4sI", data, pos, end)
        body = pos + 8
        if body + size > end:
            raise Malformed(f"chunk {fourcc(chunk_id)} past the end of its parent")
        yield chunk_id, body, body + size
        pos = body + size + (size & 1)


def _riff_end(data: Any) -> int:
    end = 8 + unpack("<I", data, 4, len(data))[0]
    if end > len(data):
        raise Malformed("RIFF size past the end of the file")
    return end


_WEBP_STRUCTURAL = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"})


def parse_webp(data: Any, audit: Audit) -> None:
    riff_end = _riff_end(data)
    for chunk_id, body, end in _riff_chunks(data, 12, riff_end):
        where = f"WebP {fourcc(chunk_id)} chunk"
        if chunk_id in _WEBP_STRUCTURAL:
            audit._note(where)
        elif chunk_id == b"EXIF":
            audit._flag("EXIF", where)
            tiff_at = body + 6 if bytes(data[body : body + 6]) == b"Exif\0\0" else body
            guarded(audit, where, walk_tiff, data, tiff_at, end, audit, where)
        elif chunk_id == b"XMP ":
            classify_xmp(data, body, end, audit, where)
        elif chunk_id == b"ICCP":
            audit._flag("colour profile", where)
        else:
            audit._flag("unknown metadata", where)
    check_trailer(data, riff_end, audit, "WebP after RIFF")


_AVI_STRUCTURAL = frozenset({b"avih", b"strh", b"strf", b"indx", b"vprp", b"dmlh", b"idx1"})


def parse_avi(data: Any, audit: Audit) -> None:
    riff_end = _riff_end(data)
    _walk_avi_list(data, 12, riff_end, audit, "AVI", 0)
    # OpenDML files continue in further "RIFF....AVIX" chunks.
    while bytes(data[riff_end : riff_end + 4]) == b"RIFF" and bytes(data[riff_end + 8 : riff_end + 12]) == b"AVIX":
        size = unpack("<I", data, riff_end + 4, len(data))[0]
        riff_end += 8 + size + (size & 1)
        if riff_end > len(data):
            raise Malformed("AVIX chunk past the end of the file")
    check_trailer(data, riff_end, audit, "AVI after RIFF")


def _walk_avi_list(data: Any, start: int, end: int, audit: Audit, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Malformed("lists nested too deep")
    for chunk_id, body, chunk_end in _riff_chunks(data, start, end):
        list_type = bytes(data[body : body + 4]) if chunk_id == b"LIST" else b""
        where = f"{path}/{fourcc(chunk_id)}" + (f" {fourcc(list_type)}" if list_type else "")
        if list_type in (b"hdrl", b"strl", b"odml"):
            _walk_avi_list(data, body + 4, chunk_end, audit, where, depth + 1)
        elif list_type in (b"movi", b"rec ") or chunk_id in _AVI_STRUCTURAL:
            audit._note(where)
        elif list_type == b"INFO" or chunk_id == b"strn":
            audit._flag("text chunk", where)
        elif chunk_id == b"JUNK":
            check_padding(data, body + _avi_index_stub_size(data, body), chunk_end, audit, where)
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
