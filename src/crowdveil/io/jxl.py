"""JPEG XL: the size a file declares, read from its codestream header before anything is decoded.

``pillow-jxl-plugin`` decodes the whole image while Pillow opens it, so
Pillow's size is known only after the pixels are in memory: a 200-byte file
declaring 60000×60000 would allocate gigabytes first. The SizeHeader
(ISO/IEC 18181-1, the first field after the ``FF 0A`` signature) is read
here, so the pixel and memory limits apply before the decoder runs.
"""

from __future__ import annotations

import struct

from ..errors import CorruptInput

__all__ = ["declared_size"]

_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}
_MAX_BOXES = 64  # before the codestream: signature, ftyp, level, metadata boxes


def declared_size(data: bytes, name: str = "image") -> tuple[int, int]:
    """(width, height) a JPEG XL file (bare codestream or ISOBMFF container) declares.

    Raises:
        CorruptInput: no codestream header can be found or read.
    """
    stream = _codestream_head(data, name)
    if stream[:2] != b"\xff\x0a":
        raise CorruptInput(f"{name} is not a JPEG XL codestream", hint="Re-export it as JPEG XL, JPEG or PNG.")
    bits = _Bits(stream[2:34])
    try:
        small = bits.take(1)
        height = (bits.take(5) + 1) * 8 if small else _u32(bits) + 1
        ratio = bits.take(3)
        if ratio:
            num, den = _RATIOS[ratio]
            width = height * num // den
        else:
            width = (bits.take(5) + 1) * 8 if small else _u32(bits) + 1
    except IndexError as exc:
        raise CorruptInput(f"{name}: its JPEG XL header is cut short", hint="The file is damaged; copy it again.") from exc
    return width, height


def _u32(bits: "_Bits") -> int:
    return bits.take((9, 13, 18, 30)[bits.take(2)])


def _codestream_head(data: bytes, name: str) -> bytes:
    if not data.startswith(_CONTAINER):
        return data
    pos, n = 0, len(data)
    for _ in range(_MAX_BOXES):
        if pos + 8 > n:
            break
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1 and pos + 16 <= n:
            size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:
            size = n - pos
        if size < header:
            break
        if kind == b"jxlc":
            return data[pos + header : pos + size]
        if kind == b"jxlp":  # partial codestream: a 4-byte index first
            return data[pos + header + 4 : pos + size]
        pos += size
    raise CorruptInput(f"{name}: its JPEG XL container holds no codestream", hint="The file is damaged; copy it again.")


class _Bits:
    """Little-endian bit reader, least significant bit first (as JPEG XL packs fields)."""

    def __init__(self, data: bytes) -> None:
        self._value, self._left, self._pos = int.from_bytes(data, "little"), len(data) * 8, 0

    def take(self, count: int) -> int:
        if self._pos + count > self._left:
            raise IndexError("past the end")
        out = (self._value >> self._pos) & ((1 << count) - 1)
        self._pos += count
        return out
