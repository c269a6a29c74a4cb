"""PNM (PBM, PGM, PPM): header comments, and what follows the raster."""

from __future__ import annotations

from typing import Any

from .base import Audit, Malformed, check_trailer


def parse_pnm(data: Any, audit: Audit) -> None:
    """Header tokens (magic, width, height, maxval) with ``#`` comments between them, then the raster."""
    kind = bytes(data[1:2])
    wanted = 3 if kind in b"14" else 4
    pos, n = 0, len(data)
    tokens: list[bytes] = []
    limit = min(n, 1 << 16)  # headers are short; comments beyond 64 KiB are refused as damage
    while len(tokens) < wanted:
        if pos >= limit:
            raise Malformed("header does not end")
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
        raise Malformed("header numbers unreadable") from exc
    if kind == b"4":
        raster = (width + 7) // 8 * height
    else:
        raster = width * height * (3 if kind == b"6" else 1) * (2 if maxval > 255 else 1)
    audit._note("PNM header")
    end = pos + raster
    if end > n:
        raise Malformed("raster past the end of the file (truncated)")
    if end < n and bytes(data[end : end + 1]) == b"P" and bytes(data[end + 1 : end + 2]) in (b"1", b"2", b"3", b"4", b"5", b"6"):
        audit._flag("hidden image", "PNM: a second image after the first")
    else:
        check_trailer(data, end, audit, "PNM after the raster")
