"""JPEG XL: a bare codestream, or the ISOBMFF-style box container with Exif/XMP/JUMBF boxes."""

from __future__ import annotations

from typing import Any

from .base import Audit, check_padding, fourcc, guarded, unpack
from .isobmff import boxes
from .tiff import walk_tiff
from .xmp import classify_xmp

_JXL_STRUCTURAL = frozenset({b"JXL ", b"ftyp", b"jxll", b"jxlc", b"jxlp", b"jxli"})


def parse_jxl(data: Any, audit: Audit) -> None:
    if bytes(data[:2]) == b"\xff\x0a":
        # A bare codestream has no box to hold EXIF or XMP; its colour encoding is structure.
        audit._note("JPEG XL codestream")
        return
    for box_type, body, end in boxes(data, 0, len(data)):
        where = f"JPEG XL {fourcc(box_type)} box"
        inner = box_type
        if box_type == b"brob":  # Brotli-compressed box: its real type comes first
            inner = bytes(data[body : body + 4])
            where = f"JPEG XL brob({fourcc(inner)}) box"
        if inner in _JXL_STRUCTURAL:
            audit._note(where)
        elif inner == b"Exif":
            audit._flag("EXIF", where)
            if box_type == b"Exif":
                # The box starts with the offset of the TIFF header; some writers put the header first.
                if bytes(data[body : body + 4]) in (b"II*\0", b"MM\0*"):
                    tiff_at = body
                else:
                    tiff_at = body + 4 + unpack(">I", data, body, end)[0]
                guarded(audit, where, walk_tiff, data, tiff_at, end, audit, where)
        elif inner == b"xml ":
            if box_type == b"brob":
                audit._flag("XMP", where)
            else:
                classify_xmp(data, body, end, audit, where)
        elif inner == b"jbrd":
            audit._flag("unknown metadata", f"{where} (the original JPEG's segments, kept for reconstruction)")
        elif inner == b"jumb":
            audit._flag("unknown metadata", f"{where} (JUMBF: provenance/C2PA claims)")
        elif box_type in (b"free", b"skip"):
            check_padding(data, body, end, audit, where)
        else:
            audit._flag("unknown metadata", where)
