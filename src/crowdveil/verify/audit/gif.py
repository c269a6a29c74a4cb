"""GIF blocks and extensions."""

from __future__ import annotations

from typing import Any

from .base import Audit, Malformed, check_trailer, fourcc, unpack
from .xmp import classify_xmp

_GIF_APP_KINDS = {b"NETSCAPE2.0": None, b"ANIMEXTS1.0": None, b"XMP DataXMP": "XMP", b"ICCRGBG1012": "colour profile"}


def parse_gif(data: Any, audit: Audit) -> None:
    n = len(data)
    (flags,) = unpack("B", data, 10, n)
    pos = 13 + _gif_colour_table_size(flags)
    while True:
        (block,) = unpack("B", data, pos, n)
        if block == 0x3B:
            break
        if block == 0x2C:  # image: descriptor, local colour table, LZW code size, data
            (flags,) = unpack("B", data, pos + 9, n)
            pos = _skip_sub_blocks(data, pos + 11 + _gif_colour_table_size(flags))
        elif block == 0x21:
            (label,) = unpack("B", data, pos + 1, n)
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
                where = f"GIF application extension {fourcc(identifier[:8])}"
                if kind == "XMP":
                    classify_xmp(data, blocks_at, pos, audit, where)
                elif kind:
                    audit._flag(kind, where)
                else:
                    audit._note(where)
            else:
                audit._flag("unknown metadata", f"GIF extension 0x{label:02X}")
        else:
            raise Malformed(f"unknown block 0x{block:02X}")
    check_trailer(data, pos + 1, audit, "GIF after trailer")


def _gif_colour_table_size(flags: int) -> int:
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _skip_sub_blocks(data: Any, pos: int) -> int:
    while True:
        (size,) = unpack("B", data, pos, len(data))
        pos += 1 + size
        if size == 0:
            return pos
