"""MPEG program streams (MPEG-1/2 ``.mpg``, DVD ``.vob``) and bare MPEG video elementary streams."""

from __future__ import annotations

from typing import Any

from .base import Audit, Malformed, SCAN_WINDOW, check_trailer, scan_encoder_strings, unpack


def parse_mpeg_ps(data: Any, audit: Audit) -> None:
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
            raise Malformed(f"no start code at byte {pos}")
        code = data[pos + 3]
        if code == 0xB9:  # program end
            pos += 4
            break
        if code == 0xBA:
            (flags,) = unpack("B", data, pos + 4, n)
            if flags >> 6 == 1:  # MPEG-2 pack header: 14 bytes and stuffing
                (stuffing,) = unpack("B", data, pos + 13, n)
                pos += 14 + (stuffing & 7)
            else:
                pos += 12
            continue
        (length,) = unpack(">H", data, pos + 4, n)
        if code in (0xBB, 0xBC, 0xBE, 0xBF, 0xBD) or 0xC0 <= code <= 0xEF:
            audit._note(f"MPEG-PS stream 0x{code:02X}")
            if 0xE0 <= code <= 0xEF and video_at < 0:
                video_at = pos
        else:
            audit._flag("unknown metadata", f"MPEG-PS stream 0x{code:02X}")
        pos += 6 + length
    if pos > n:
        raise Malformed("packet past the end of the file (truncated)")
    if video_at >= 0:
        _scan_mpeg_user_data(data, video_at, n, audit, "MPEG-PS video")
    if pos < n:
        check_trailer(data, pos, audit, "MPEG-PS after the program end")


def _scan_mpeg_user_data(data: Any, start: int, end: int, audit: Audit, where: str) -> None:
    scan_encoder_strings(data, start, end, audit, where)
    if data.find(b"\x00\x00\x01\xb2", start, min(end, start + SCAN_WINDOW)) >= 0:
        audit._flag("text chunk", f"{where} user data")
