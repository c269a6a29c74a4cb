"""Matroska and WebM: EBML elements of the segment (Info, Tracks, Tags, Attachments, Chapters)."""

from __future__ import annotations

from typing import Any, Iterator

from .base import Audit, MAX_DEPTH, Malformed, PARSE_ERRORS, check_trailer, key_kind, scan_encoder_strings, uint, unpack

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
    (first,) = unpack("B", data, pos, end)
    if first == 0:
        raise Malformed("bad EBML number")
    width = 9 - first.bit_length()
    value, after = uint(data, pos, width, end)
    return (value if keep_marker else value & ((1 << (7 * width)) - 1)), after


def _ebml_children(data: Any, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    pos = start
    while pos < end:
        element_id, body, size = _ebml_element(data, pos, end)
        if size is None or body + size > end:
            raise Malformed(f"element 0x{element_id:X} past the end of its parent")
        yield element_id, body, body + size
        pos = body + size


def parse_matroska(data: Any, audit: Audit) -> None:
    pos, n = 0, len(data)
    while pos < n:
        try:
            element_id, body, size = _ebml_element(data, pos, n)
        except PARSE_ERRORS:
            element_id = None
        if element_id not in (0x1A45DFA3, _SEGMENT):  # EBML header, Segment
            check_trailer(data, pos, audit, "Matroska after segment")
            return
        end = n if size is None else body + size
        if end > n:
            raise Malformed("segment past the end of the file (truncated)")
        if element_id == _SEGMENT:
            _walk_segment(data, body, end, audit)
        pos = end


def _walk_segment(data: Any, pos: int, end: int, audit: Audit) -> None:
    while pos < end:
        element_id, body, size = _ebml_element(data, pos, end)
        if size is None and element_id == _CLUSTER:
            scan_encoder_strings(data, body, end, audit, "Matroska Cluster")
            pos = body  # live recordings: walk the cluster's children as if they were siblings
            continue
        if size is None or body + size > end:
            raise Malformed(f"element 0x{element_id:X} past the end of the segment")
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
                scan_encoder_strings(data, body, pos, audit, "Matroska Cluster")
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
                track_type = uint(data, child_body, min(8, child_end - child_body), child_end)[0]
                if track_type in _TEXT_TRACK_TYPES:
                    audit._flag("timed metadata track", "Matroska TrackEntry (subtitle/control/metadata track)")


def _walk_tags(data: Any, start: int, end: int, audit: Audit, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Malformed("tags nested too deep")
    for element_id, body, element_end in _ebml_children(data, start, end):
        if element_id in (0x7373, 0x67C8):  # Tag, SimpleTag (may nest)
            _walk_tags(data, body, element_end, audit, depth + 1)
        elif element_id == 0x45A3:  # TagName
            name = bytes(data[body : min(element_end, body + 64)]).decode("utf-8", "replace")
            if name.upper() != "DURATION":
                safe = "".join(c if c.isprintable() else "?" for c in name)
                audit._flag(key_kind(name), f"Matroska tag {safe}")
