"""What outputs are called: the original's name (``keep``) or a number (``neutral``).

A phone names a photo after the moment it was taken (``PXL_20250301_143022123``)
and people rename them after who is in them (``Maria_at_march``): metadata
stripped from the bytes survives in the name. ``neutral`` names carry nothing
but an order: ``veiled-0001.jpg``, ``veiled-0002.mp4``… numbered in the order
the sources are given (folders walked in sorted order), so the same command
on the same files gives the same names again (and resumes). Files added to
a folder renumber the ones after them: the earlier outputs then no longer
match their names, and are refused as "already exists" rather than
overwritten; run into a new output folder. The mapping from originals to numbers is only
shown to the user (screen, a report they asked for), never written beside
the outputs.

The CLI, the studio and batch runs all name outputs here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

__all__ = [
    "NAME_STYLES", "NEUTRAL_PREFIX", "output_stem", "neutral_stems", "is_neutral_output", "identifying_name_reasons",
]

NAME_STYLES = ("keep", "neutral")
NEUTRAL_PREFIX = "veiled-"
_NEUTRAL = re.compile(r"^veiled-\d{4,}\.[A-Za-z0-9]+$")

# Prefixes cameras, phones and apps put in front of the capture time or a counter.
_DEVICE_PREFIXES = (
    "img", "pxl", "dsc", "dscn", "dscf", "dsc0", "vid", "mvimg", "pano", "burst", "gopr", "gp", "dji", "mov", "mvi",
    "screenshot", "screen shot", "screen_shot", "screenrecord", "whatsapp", "signal", "telegram", "photo", "video",
    "pict", "sam", "cimg", "p", "wp", "snapchat", "received",
)
_DEVICE = re.compile(r"^(?:%s)(?=[_\-\s\d]|$)" % "|".join(re.escape(p) for p in sorted(_DEVICE_PREFIXES, key=len, reverse=True)),
                     re.IGNORECASE)
_DATE = re.compile(r"(?<!\d)(?:19|20)\d\d[-_.]?(?:0[1-9]|1[0-2])[-_.]?(?:0[1-9]|[12]\d|3[01])(?!\d{3})")
_TIME = re.compile(r"(?<!\d)(?:[01]\d|2[0-3])[-_.:h]?[0-5]\d[-_.:m]?[0-5]\d")
_WORD = re.compile(r"[^\W\d_]{3,}")


def output_stem(src: Path, neutral_stem: str | None = None) -> str:
    """The output's name without its suffix: ``<stem>.veiled``, or the neutral one given."""
    return neutral_stem if neutral_stem else f"{Path(src).stem}.veiled"


def neutral_stems(sources: Iterable[Path]) -> list[str]:
    """``veiled-0001``, ``veiled-0002``… one per source, in the order given."""
    return [f"{NEUTRAL_PREFIX}{i:04d}" for i, _ in enumerate(sources, start=1)]


def is_neutral_output(name: str) -> bool:
    return bool(_NEUTRAL.match(name))


def identifying_name_reasons(name: str) -> list[str]:
    """Why a file name may identify (``device``, ``date``, ``time``, ``words``); empty when it looks neutral.

    A kept output name repeats the original's: the camera that named it, the
    moment it was taken, and whatever words someone typed into it.
    """
    stem = Path(name).name
    stem = stem[: stem.index(".")] if "." in stem else stem
    reasons = []
    device = _DEVICE.match(stem)
    if device:
        reasons.append("device")
    if _DATE.search(stem):
        reasons.append("date")
    if _TIME.search(stem[device.end():] if device else stem):
        # A bare 6-digit counter after a device prefix (IMG_123456) reads as a time too: a phone's
        # counter and a clock time leak alike.
        reasons.append("time")
    rest = stem[device.end():] if device else stem
    if _WORD.search(rest) and not is_neutral_output(name):
        reasons.append("words")
    return reasons
