"""The edges every pipeline shares: the report it starts, the "fail or commit" step, stage timing.

A file is anonymized into ``PendingOutput``'s hidden temp file; ``fail_or_commit``
is the one place that decides whether it is kept: the report passed every
check, or nothing is written and ``VerificationFailed`` carries the report.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..errors import VerificationFailed
from ..io.output import PendingOutput
from ..types import Report
from ..version import __version__

__all__ = ["CommitCallback", "PHOTO_REPAIR_ROUNDS", "VIDEO_REPAIR_ROUNDS", "start_report", "fail_or_commit", "ms_since",
           "default_destination"]

CommitCallback = Callable[[Path, str], None]
"""``on_commit(dst, sha256)``: called with the verified output's digest just before it is renamed into
place; if it raises, nothing is renamed (the resume manifest records the file here)."""

# Rounds in which faces the verifier finds in a written photo are added and the photo
# repainted; a face still found after that fails the file.
PHOTO_REPAIR_ROUNDS = 2
# Rounds of "paint what the verifier found on a video's frames, encode their GOPs and verify
# them again"; then a find fails the file. One more than a photo: a repair there only covers
# the frames around each find, and a face near the verifier's threshold flickers on the others.
VIDEO_REPAIR_ROUNDS = 3


def start_report(src: Path, dst: Path, *, media: str = "photo", notes: list[str] | None = None) -> Report:
    """The report of one run, before anything is known about the file but its paths."""
    return Report(source=str(src), destination=str(dst), media=media, version=__version__, notes=list(notes or []))


def fail_or_commit(report: Report, pending: PendingOutput, src: Path, dst: Path, *, overwrite: bool,
                   on_commit: CommitCallback | None) -> None:
    """Rename the verified output into place, or raise ``VerificationFailed`` (nothing is written).

    ``report.passed`` must already say whether every check passed.
    """
    if not report.passed:
        failed = "; ".join(f"{c.name}: {c.detail}" for c in report.checks if not c.passed)
        report.error = f"verification failed ({failed})"
        raise VerificationFailed(f"{src.name}: {report.error}; nothing was written", report=report)
    if on_commit is not None:
        assert report.output_sha256 is not None  # set by every pipeline once its checks passed
        on_commit(dst, report.output_sha256)
    pending.commit(overwrite=overwrite)


def ms_since(since: float) -> float:
    """Milliseconds from ``since`` (``time.perf_counter()``), as the report's timings hold them."""
    return round((time.perf_counter() - since) * 1000, 1)


def default_destination(src: Path, out_fmt: str, out_dir: str | Path | None = None,
                        neutral_stem: str | None = None) -> Path:
    """``<stem>.veiled.<ext>`` (or ``<neutral_stem>.<ext>``) beside the source, or in ``out_dir``."""
    from ..io.formats import OUTPUTS
    from ..io.naming import output_stem

    folder = src.parent if out_dir is None else Path(out_dir)
    suffix = OUTPUTS.get(out_fmt, ".mp4")
    return folder / f"{output_stem(src, neutral_stem)}{suffix}"
