"""The encode passes: detect+track+paint+encode (the first), paint again from the ledger, GOP repair.

Each pass reads the source again from the start (decoding is cheap next to
detection) and writes ``Job.temp``, ``PendingOutput``'s hidden temp file:
only painted frames ever reach a file. A pass returns what it learned; it
never touches the report (``report.VideoReport`` writes it).
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ...config import Config
from ...detect.registry import fit_scale, video_long_side
from ...errors import SpliceImpossible
from ...io.video import GopSplicer, SourceInfo, VideoFrame
from ...redact import paint
from ...track import IouTracker, TrackerSettings
from ...types import Detections, VideoTrack
from ..common import ms_since
from .detection import Ahead, FrameDetector, Views
from .ledger import RegionLedger, TrackLog
from .media import FrameWriter, Media, Source, SourceFacts

__all__ = ["Job", "FirstPass", "Repainted", "Reencoded", "detect_and_encode", "repaint", "reencode",
           "ProgressCallback"]

ProgressCallback = Callable[[int, "int | None"], None]
"""``progress(frames_done, frames_total_or_None)``, called after each frame is encoded."""


@dataclass(frozen=True)
class Job:
    """What every pass of one run reads: the source, the temp file it writes, the settings."""

    src: Path
    temp: Path
    config: Config
    media: Media
    progress: ProgressCallback | None = None

    @property
    def max_pixels(self) -> int:
        return int(self.config.max_megapixels * 1e6)  # per frame, as for a photo


@dataclass
class FirstPass:
    """What the first pass wrote and learned."""

    facts: SourceFacts
    ledger: RegionLedger
    tracks: list[VideoTrack]
    tracks_started: int
    detection_failed: int  # frames the detector crashed on (each painted over entirely)
    source_notes: list[str]  # what the decoder had to say about the source
    detector: tuple[str, dict[str, str]] | None  # the built views' description and models; None: handed in
    ms: float


@dataclass
class Repainted:
    """A whole encode again from the ledger."""

    source_notes: list[str]
    ms: float


@dataclass
class Reencoded:
    """A repair's encode: the GOPs around the changed frames, or (``redone`` None) the whole file."""

    redone: set[int] | None  # the frames encoded again; None: every frame
    gops_redone: int = 0
    gops: int | None = None  # the file's GOPs, when spliced
    fallback: str | None = None  # why the file could not be spliced
    repainted: Repainted | None = None
    ms: float = 0.0


def detect_and_encode(job: Job, views: Views, tracker_settings: TrackerSettings) -> FirstPass:
    """Decode, detect (in worker threads), track, paint and encode every frame; the ledger records what was painted."""
    started = time.perf_counter()
    config = job.config
    tracker = IouTracker(tracker_settings)
    detector = FrameDetector(views)
    waiting: deque[VideoFrame] = deque()
    tracks = TrackLog()
    writer: FrameWriter | None = None
    ledger: RegionLedger | None = None
    info: SourceInfo | None = None
    described: tuple[str, dict[str, str]] | None = None
    frame_pts: list[int] = []
    last_frame_s, done, scale = 0.0, 0, 1.0

    def write(frame: VideoFrame, regions: Detections) -> None:
        nonlocal last_frame_s, done
        assert writer is not None and info is not None and frame.rgb is not None
        pts = writer.write_video(paint(frame.rgb, regions, config) if len(regions) else frame.rgb, frame.pts)
        if frame.index == len(frame_pts):
            frame_pts.append(pts)
        last_frame_s = float(frame.pts * info.time_base)
        done += 1
        if job.progress is not None:
            job.progress(done, info.frames_declared)

    def release(index: int, found: Detections) -> None:
        assert ledger is not None
        tracks.observe(index, found)
        write(waiting.popleft(), ledger.record(index, found))

    def track(detected: list[tuple[VideoFrame, Detections]]) -> None:
        for frame, found in detected:
            waiting.append(frame)
            for index, final in tracker.push(frame.index, detector.kept(found, scale)):
                release(index, final)

    try:
        with job.media.open_source(job.src, audio=config.keep_audio, max_pixels=job.max_pixels) as source, \
                Ahead(detector, views.workers) as ahead:
            info = source.info
            for item in source.items():
                if not isinstance(item, VideoFrame):
                    assert writer is not None  # items() yields a video frame first
                    writer.write_audio(item)
                    continue
                frame = job.media.prepared(item)
                if writer is None:
                    assert frame.rgb is not None
                    h, w = frame.rgb.shape[:2]
                    ledger = RegionLedger((w, h), config.padding, "bodies" in config.cover)
                    scale = fit_scale(video_long_side(config.preset), w, h)
                    writer = _open_writer(job, source, w, h)
                    views.start((w, h))
                    described = views.described()
                track(ahead.put(frame))
            track(ahead.finish())
            for index, found in tracker.finish():
                release(index, found)
            source_notes = list(getattr(source, "notes", []))
        assert writer is not None and ledger is not None
        writer.close()
        writer = None
        _fsync(job.temp)
    finally:
        if writer is not None:
            writer.abort()
    facts = SourceFacts(info=info, size=ledger.size, frames=done, frame_pts=frame_pts, last_frame_s=last_frame_s,
                        audio_kept=bool(config.keep_audio and info.audio_codec))
    return FirstPass(facts, ledger, tracks.tracks(), tracker.tracks_started, len(detector.failed), source_notes,
                     described, ms_since(started))


def repaint(job: Job, facts: SourceFacts, ledger: RegionLedger) -> Repainted:
    """Encode the whole video again, each frame painted with the ledger's regions (no detection)."""
    started = time.perf_counter()
    config = job.config
    writer: FrameWriter | None = None
    done = 0
    try:
        with job.media.open_source(job.src, audio=config.keep_audio, max_pixels=job.max_pixels) as source:
            for item in source.items():
                if not isinstance(item, VideoFrame):
                    assert writer is not None  # items() yields a video frame first
                    writer.write_audio(item)
                    continue
                frame = job.media.prepared(item)
                assert frame.rgb is not None
                if writer is None:
                    h, w = frame.rgb.shape[:2]
                    writer = _open_writer(job, source, w, h)
                regions = ledger[frame.index]
                writer.write_video(paint(frame.rgb, regions, config) if len(regions) else frame.rgb, frame.pts)
                done += 1
                if job.progress is not None:
                    job.progress(done, facts.info.frames_declared)
            source_notes = list(getattr(source, "notes", []))
        assert writer is not None
        writer.close()
        writer = None
        _fsync(job.temp)
    finally:
        if writer is not None:
            writer.abort()
    return Repainted(source_notes, ms_since(started))


def reencode(job: Job, facts: SourceFacts, ledger: RegionLedger, changed: set[int]) -> Reencoded:
    """Encode again the GOPs that show ``changed`` frames; every other GOP is copied byte for byte.

    An animation is small: it is written whole again. When the file cannot
    be spliced (``SpliceImpossible``), the whole video is encoded again.
    """
    if not job.media.mp4_out:
        return Reencoded(redone=None, repainted=repaint(job, facts, ledger))
    started = time.perf_counter()
    w, h = facts.size
    spliced = job.temp.with_name(job.temp.name + ".splice")
    try:
        splicer = GopSplicer(job.temp, width=w, height=h, rate=facts.rate, time_base=facts.time_base)
        gop_of = [splicer.gop_of(float(pts * facts.time_base)) for pts in facts.frame_pts]
        if np.bincount(gop_of, minlength=len(splicer.gop_frames)).tolist() != splicer.gop_frames:
            raise SpliceImpossible("the file's GOPs do not hold the frames written")
        redo = {gop_of[i] for i in changed}
        redone = {i for i, g in enumerate(gop_of) if g in redo}
        with job.media.open_source(job.src, max_pixels=job.max_pixels) as source:
            splicer.write(spliced, redo, _painted(job, facts, ledger, source.frames(pixels_for=redone.__contains__),
                                                  redone))
        os.replace(spliced, job.temp)
    except SpliceImpossible as exc:
        why = f"could not repair GOP by GOP ({exc}); encoded the whole video again"
        return Reencoded(redone=None, fallback=why, repainted=repaint(job, facts, ledger))
    finally:
        spliced.unlink(missing_ok=True)
    _fsync(job.temp)
    return Reencoded(redone=redone, gops_redone=len(redo), gops=len(splicer.gop_frames), ms=ms_since(started))


def _painted(job: Job, facts: SourceFacts, ledger: RegionLedger, frames: Iterator[VideoFrame],
             wanted: set[int]) -> Iterator[tuple[int, np.ndarray]]:
    for frame in frames:
        if frame.index in wanted:
            frame = job.media.prepared(frame)
            assert frame.rgb is not None
            regions = ledger[frame.index]
            yield facts.frame_pts[frame.index], paint(frame.rgb, regions, job.config) if len(regions) else frame.rgb


def _open_writer(job: Job, source: Source, width: int, height: int) -> FrameWriter:
    return job.media.writer(job.temp, source, width=width, height=height,
                            audio=source.audio_stream if job.config.keep_audio else None,
                            max_held_pixels=job.max_pixels)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
