"""The audit record (``Audit``, ``Finding``, ``KINDS``) and the bounds-checked readers every container parser uses.

A parser raises ``Malformed`` (or any of ``PARSE_ERRORS``) where a structure contradicts
itself; ``guarded`` turns that into an "unparseable metadata" finding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Callable

KINDS = (
    "GPS position", "timestamps", "device make/model", "camera serial", "owner/author",
    "software", "embedded thumbnail", "hidden image", "trailing data", "EXIF", "XMP", "IPTC",
    "comment", "text chunk", "colour profile", "maker notes", "face regions", "location",
    "timed metadata track", "unknown metadata", "unparseable metadata",
)

MAX_DEPTH = 16  # box / element nesting; real files stay below 10
SCAN_WINDOW = 64 << 10  # bytes of coded data searched for encoder strings


@dataclass(frozen=True)
class Finding:
    """One piece of identifying metadata: its kind and where it sits, never its value."""

    kind: str  # one of KINDS
    where: str  # e.g. "JPEG APP1 Exif IFD0"


@dataclass
class Audit:
    """What one file carries. ``clean`` means nothing beyond the structural allowlist."""

    format: str
    findings: list[Finding] = field(default_factory=list)
    structural: list[str] = field(default_factory=list)
    # Set mirrors of the two lists, so that hostile files with many entries stay linear.
    _seen: set[Finding | str] = field(default_factory=set, init=False, repr=False, compare=False)

    @property
    def kinds(self) -> list[str]:
        return sorted({f.kind for f in self.findings})

    @property
    def clean(self) -> bool:
        return not self.findings

    def _flag(self, kind: str, where: str) -> None:
        finding = Finding(kind, where)
        if finding not in self._seen:
            self._seen.add(finding)
            self.findings.append(finding)

    def _note(self, what: str) -> None:
        if what not in self._seen:
            self._seen.add(what)
            self.structural.append(what)


class Malformed(Exception):
    """A structure contradicts its own sizes or offsets."""


# Everything a bounds-checked walk over hostile bytes may raise; nothing else is swallowed.
PARSE_ERRORS = (Malformed, IndexError, struct.error, ValueError, OverflowError)

# One container family's walk of a whole file: what it meets goes into the Audit, damage raises.
Parser = Callable[[Any, Audit], None]


def guarded(audit: Audit, where: str, parse: Callable[..., None], *args: Any) -> None:
    """Run one parser; damage becomes a finding and the walk of the enclosing container goes on."""
    try:
        parse(*args)
    except PARSE_ERRORS as exc:
        reason = str(exc) if isinstance(exc, Malformed) else type(exc).__name__
        audit._flag("unparseable metadata", f"{where} ({reason})")


def unpack(fmt: str, data: Any, pos: int, end: int) -> tuple:
    size = struct.calcsize(fmt)
    if pos < 0 or pos + size > min(end, len(data)):
        raise Malformed("field past the end of its structure")
    return struct.unpack_from(fmt, data, pos)


def uint(data: Any, pos: int, size: int, end: int) -> tuple[int, int]:
    """Big-endian unsigned int of ``size`` bytes (0 allowed) and the position after it."""
    if pos < 0 or pos + size > min(end, len(data)):
        raise Malformed("field past the end of its structure")
    return int.from_bytes(bytes(data[pos : pos + size]), "big"), pos + size


def cstring(data: Any, pos: int, end: int) -> tuple[bytes, int]:
    stop = data.find(b"\0", pos, end)
    stop = end if stop < 0 else stop
    return bytes(data[pos : min(stop, pos + 256)]), stop + 1


def fourcc(code: bytes) -> str:
    return "".join(chr(c) if 32 <= c < 127 or c == 0xA9 else "?" for c in code)


def check_trailer(data: Any, start: int, audit: Audit, where: str) -> None:
    if start >= len(data):
        return
    audit._flag("trailing data", where)
    # Motion photos and MPF append whole JPEGs / MP4s after the image.
    if any(data.find(sig, start) >= 0 for sig in (b"\xff\xd8\xff", b"ftyp", b"\x89PNG", b"RIFF")):
        audit._flag("hidden image", where)


def check_padding(data: Any, start: int, end: int, audit: Audit, where: str) -> None:
    """Padding boxes/chunks may be empty or zeros; anything else is a hiding place."""
    for chunk_start in range(start, end, 1 << 20):
        chunk = bytes(data[chunk_start : min(end, chunk_start + (1 << 20))])
        if chunk.count(0) != len(chunk):
            audit._flag("unknown metadata", f"{where} (non-zero padding)")
            return


_ENCODER_STRINGS = (b"x264 - core", b"x265 (build", b"Lavc")


def scan_encoder_strings(data: Any, start: int, end: int, audit: Audit, where: str) -> None:
    """Encoders put their name, version and settings in SEI / user data at the stream start."""
    window_end = min(end, start + SCAN_WINDOW)
    if any(data.find(needle, start, window_end) >= 0 for needle in _ENCODER_STRINGS):
        audit._flag("software", f"{where} (encoder version string in the coded stream)")


_KEY_NAME_RULES = (
    ("location", "location"), ("gps", "GPS position"), ("creation", "timestamps"), ("date", "timestamps"),
    ("make", "device make/model"), ("model", "device make/model"), ("serial", "camera serial"),
    ("software", "software"), ("encoder", "software"), ("author", "owner/author"),
    ("artist", "owner/author"), ("copyright", "owner/author"), ("comment", "comment"),
    ("description", "comment"), ("title", "comment"),
)


def key_kind(name: str) -> str:
    """Kind of a named metadata key (QuickTime ``keys``, Matroska tags); unnamed ones are unknown."""
    lowered = name.lower()
    return next((kind for word, kind in _KEY_NAME_RULES if word in lowered), "unknown metadata")
