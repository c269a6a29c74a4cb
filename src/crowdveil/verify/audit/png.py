"""PNG and APNG chunks, with the keywords of text chunks."""

from __future__ import annotations

from typing import Any

from .base import Audit, Malformed, check_trailer, cstring, fourcc, guarded, unpack
from .tiff import walk_tiff
from .xmp import classify_xmp

_PNG_STRUCTURAL = frozenset(
    {b"IHDR", b"PLTE", b"IDAT", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"pHYs", b"bKGD",
     b"acTL", b"fcTL", b"fdAT"}
)
_PNG_CHUNK_KINDS = {b"tEXt": "text chunk", b"zTXt": "text chunk", b"iTXt": "text chunk",
                    b"eXIf": "EXIF", b"iCCP": "colour profile", b"tIME": "timestamps"}
_PNG_KEYWORD_KINDS = {
    "xml:com.adobe.xmp": "XMP", "raw profile type xmp": "XMP",
    "raw profile type exif": "EXIF", "raw profile type app1": "EXIF",
    "raw profile type iptc": "IPTC", "raw profile type 8bim": "IPTC",
    "raw profile type icc": "colour profile", "raw profile type icm": "colour profile",
    "author": "owner/author", "copyright": "owner/author", "creation time": "timestamps",
    "software": "software", "source": "device make/model",
    "comment": "comment", "description": "comment", "title": "comment",
}


def parse_png(data: Any, audit: Audit) -> None:
    pos, n = 8, len(data)
    while True:
        length, chunk_type = unpack(">I4s", data, pos, n)
        body, end = pos + 8, pos + 8 + length
        if end + 4 > n:
            raise Malformed(f"chunk {fourcc(chunk_type)} past the end of the file")
        pos, where = end + 4, f"PNG {fourcc(chunk_type)} chunk"
        if chunk_type == b"IEND":
            break
        if chunk_type in _PNG_STRUCTURAL:
            audit._note(where)
            continue
        audit._flag(_PNG_CHUNK_KINDS.get(chunk_type, "unknown metadata"), where)
        if chunk_type in (b"tEXt", b"zTXt", b"iTXt"):
            keyword = cstring(data, body, end)[0].decode("latin-1").strip().lower()
            if keyword in _PNG_KEYWORD_KINDS:
                audit._flag(_PNG_KEYWORD_KINDS[keyword], where)
            if keyword == "xml:com.adobe.xmp":
                classify_xmp(data, body, end, audit, where)
        elif chunk_type == b"eXIf":
            tiff_at = body + 6 if bytes(data[body : body + 6]) == b"Exif\0\0" else body
            guarded(audit, where, walk_tiff, data, tiff_at, end, audit, where)
    check_trailer(data, pos, audit, "PNG after IEND")
