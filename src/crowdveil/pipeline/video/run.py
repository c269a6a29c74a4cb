"""``anonymize_video``: the passes in their order, and the repair loop.

first pass (detect, track, paint, encode) → [regions drawn in review: encode
their GOPs again] → verify → up to ``VIDEO_REPAIR_ROUNDS`` × (add the
verifier's finds to the ledger, encode their GOPs again, verify those) →
the faces check → fail or commit. Each pass is a function of its inputs;
``VideoReport`` is the only thing that writes the report.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ...config import Config
from ...detect.base import Detector
from ...errors import CorruptInput, DetectionFailed, UnsupportedFormat
from ...io.output import PendingOutput, check_destination
from ...track import TrackerSettings
from ...types import Detections, Report
from ...verify.audit import Audit, audit_file
from ...io.digest import sha256_file
from ..common import VIDEO_REPAIR_ROUNDS, CommitCallback, fail_or_commit, ms_since, start_report
from .detection import Views
from .encode import Job, ProgressCallback, detect_and_encode, reencode
from .media import Media
from .report import VideoReport
from .verify import VERIFY_ALL_UP_TO, VERIFY_STEP, verify_output

__all__ = ["anonymize_video", "PaintedCallback", "REPAIR_REACH", "MAX_FAILED_DETECTION_SHARE"]

PaintedCallback = Callable[[list[Detections], tuple[int, int]], None]
"""``painted(regions_per_frame, (width, height))``: what the written file really shows painted,
repairs included (``crowdveil bench video`` measures the painted share of each frame from it)."""

# A find is also painted on this many frames either side: a face the verifier
# sees near its threshold flickers in and out of detection on neighbouring frames.
REPAIR_REACH = 4
MAX_FAILED_DETECTION_SHARE = 0.1


def anonymize_video(
    src: str | Path,
    dst: str | Path,
    config: Config,
    *,
    fmt: str = "",
    detector: Detector | None = None,
    verifier: Detector | None = None,
    progress: ProgressCallback | None = None,
    tracker: TrackerSettings = TrackerSettings(),
    painted: PaintedCallback | None = None,
    on_commit: CommitCallback | None = None,
    added: dict[int, Detections] | None = None,
    animation: str | None = None,
) -> Report:
    """Write an anonymized, verified MP4 of the video ``src`` to ``dst``.

    With ``animation``, ``src`` is an animated GIF, WebP or APNG, written as
    ``animation`` (``gif``, ``webp``, ``apng`` or ``mp4``).

    Args:
        src: a video (any container in ``io.formats``) or an animation; never modified.
        dst: output path (an MP4 is written whatever its suffix).
        config: settings (``keep_audio``, style, shape, padding, threshold…).
        fmt: container sniffed by the caller, for the report.
        detector, verifier: override the per-frame detectors (tests, benchmarks).
        progress: called as ``progress(done, total)`` after each frame is
            encoded; ``total`` is the container's frame count or ``None``.
        tracker: how long regions live around their detections.
        painted: called once, after the last repair round and before the
            file is kept or refused, with the regions painted on each frame
            of the written file (see ``PaintedCallback``).
        on_commit: ``on_commit(dst, sha256)`` just before the verified
            output is renamed into place (see ``pipeline.anonymize``).
        added: regions a person drew on given frames (``{frame: boxes}``, the
            studio's review), padded like any region; one that touches a
            tracked region is painted on every frame of that track, moved with
            it (see ``RegionLedger.add_reviewed``). Verified like every other frame.

    Returns:
        The ``Report``, with video specifics in ``report.video``.

    Raises:
        CorruptInput: the file cannot be decoded (as a whole or mid-way).
        TooLarge: its frames are above ``config.max_megapixels``.
        DetectionFailed: the detector failed on too many frames.
        VerificationFailed: a check failed; nothing was written.
        OutputError: the destination cannot be written.
    """
    started = time.perf_counter()
    src, dst = Path(src), Path(dst)
    if "text" in config.cover:
        # The text detector takes seconds a frame: refused rather than a video with its text left readable.
        raise UnsupportedFormat(f"{src.name}: covering text is for photos; videos cover faces and bodies",
                                hint="Run the video without --cover text (faces, and bodies if asked, are covered).")
    check_destination(src, dst, overwrite=config.overwrite)
    report = start_report(src, dst, media="video")
    report.source_sha256 = sha256_file(src)
    source_audit = audit_file(src)
    report.metadata_removed = source_audit.kinds
    _refuse_cut_stream(src, fmt, source_audit)
    media = Media(animation)
    writes = VideoReport(report, config, media)
    detectors, verifiers = Views("detector", config, detector), Views("verifier", config, verifier)

    with PendingOutput(dst) as pending:
        assert pending.path is not None  # set on entering the block
        job = Job(src, pending.path, config, media, progress)
        first = detect_and_encode(job, detectors, tracker)
        writes.first_pass(first)
        facts, ledger = first.facts, first.ledger
        if first.detection_failed > MAX_FAILED_DETECTION_SHARE * max(1, facts.frames):
            raise DetectionFailed(f"face detection failed on {first.detection_failed} of {facts.frames} frames; "
                                  "nothing was written")
        changed = ledger.add_reviewed(added, REPAIR_REACH) if added else set()
        if changed:
            assert added is not None
            writes.reencoded(reencode(job, facts, ledger, changed))
            writes.reviewed(len(added), len(changed))
        verifiers.start(facts.size)
        writes.verifier(verifiers.described())
        result = verify_output(job, facts, ledger, verifiers)
        writes.verified(result)
        # A repair also paints the frames between those verified around each find.
        reach = REPAIR_REACH + (0 if facts.frames <= VERIFY_ALL_UP_TO else VERIFY_STEP - 1)
        repaired: set[int] = set()
        for _ in range(VIDEO_REPAIR_ROUNDS):
            if not result.leftover:
                break
            repaired |= set(result.leftover)
            writes.repaired(repaired)
            done = reencode(job, facts, ledger, ledger.add_repairs(result.leftover, reach))
            writes.reencoded(done)
            writes.repair_round(len(result.leftover), done.redone)
            result = verify_output(job, facts, ledger, verifiers, only=done.redone,
                                   verified_before=frozenset(result.verified or ()))
            writes.verified(result)
        writes.finish(facts, ledger, first.tracks, result.leftover, verifiers.name, job.temp)
        if painted is not None:
            painted(ledger.frames(), facts.size)
        writes.timed(ms_since(started), facts.frames, time.perf_counter() - started)
        fail_or_commit(report, pending, src, dst, overwrite=config.overwrite, on_commit=on_commit)
    return report


# Streams whose decoders conceal damage: a file cut short still decodes, its last frames
# half grey (half a face is still a face). The byte walk sees the cut; such a file is refused.
_CUT_STREAM_FORMATS = {"flv", "mpegps", "mpegts", "asf"}


def _refuse_cut_stream(src: Path, fmt: str, source_audit: Audit) -> None:
    cut = [f.where for f in source_audit.findings if f.kind == "unparseable metadata" and "truncated" in f.where]
    if fmt in _CUT_STREAM_FORMATS and cut:
        raise CorruptInput(
            f"{src.name} is cut short ({cut[0]}): its last frames would come out broken; nothing was written",
            hint="Copy the file again from the camera or phone; if it was cut off while recording, "
                 "re-save it with a video editor first, then run crowdveil on the copy.",
        )
