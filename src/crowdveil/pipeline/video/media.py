"""How one run reads its source and writes and re-reads its output: a video, or an animation.

Also the checks on the written container itself (``stream_check``), and
``SourceFacts``: what the first pass learned about the source that every
later pass needs (size, rate, each frame's time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

from ...errors import TooLarge
from ...io.animation import AnimationSource, CleanAnimationWriter
from ...io.video import CleanMp4Writer, SourceInfo, VideoFrame, VideoSource
from ...types import Check

__all__ = ["Media", "FrameWriter", "SourceFacts", "FramesByTime", "even_sized"]

# Container tags PyAV reports for any MP4 that come from ftyp, not from metadata.
_STRUCTURAL_FORMAT_TAGS = {"major_brand", "minor_version", "compatible_brands"}
_STRUCTURAL_STREAM_TAGS = {"language": {"und"}, "handler_name": {"VideoHandler", "SoundHandler"},
                           "vendor_id": {"[0][0][0][0]"}}


class FrameWriter(Protocol):
    """``CleanMp4Writer`` or ``CleanAnimationWriter``: pixels (and samples) in, a clean file out."""

    def write_video(self, rgb: np.ndarray, pts: int) -> int: ...

    def write_audio(self, frame: object) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


Source = VideoSource | AnimationSource


@dataclass
class SourceFacts:
    """What the first pass learned about the source; the later passes read it, never change it."""

    info: SourceInfo
    size: tuple[int, int]  # (width, height) as written: upright, even for H.264
    frames: int  # frames decoded (and written)
    frame_pts: list[int] = field(default_factory=list)  # each frame's pts in the output (time_base units)
    last_frame_s: float = 0.0  # presentation time of the last source frame, from 0
    audio_kept: bool = False

    @property
    def rate(self) -> Fraction:
        return self.info.rate

    @property
    def time_base(self) -> Fraction:
        return self.info.time_base


class Media:
    """How one run reads its source and writes and re-reads its output.

    Args:
        animation: ``None`` for a video; for an animation, what to write:
            ``gif``, ``webp``, ``apng`` (the same kind back) or ``mp4``.
    """

    def __init__(self, animation: str | None = None) -> None:
        self.animation = animation
        self.mp4_out = animation in (None, "mp4")

    @property
    def even(self) -> bool:
        """H.264 4:2:0 needs an even size; an animation written back does not."""
        return self.mp4_out

    @property
    def matched_by_time(self) -> bool:
        """An animation written back is matched to the source by frame time: its encoder
        merges a frame identical to the one before into that one."""
        return not self.mp4_out

    def open_source(self, path: Path, *, audio: bool = False, max_pixels: int | None = None) -> Source:
        if self.animation is None:
            return VideoSource(path, audio=audio, max_pixels=max_pixels)
        return AnimationSource(path, audio=False, max_pixels=max_pixels)

    def open_output(self, path: Path) -> Source:
        return VideoSource(path) if self.mp4_out else AnimationSource(path)

    def prepared(self, frame: VideoFrame) -> VideoFrame:
        """``frame`` as it is written: cropped to an even size for H.264."""
        return even_sized(frame) if self.even else frame

    def writer(self, path: Path, source: Source, *, width: int, height: int, audio: object,
               max_held_pixels: int) -> FrameWriter:
        info = source.info
        if self.mp4_out:
            return CleanMp4Writer(path, width=width, height=height, rate=info.rate, time_base=info.time_base,
                                  audio=audio)
        assert isinstance(source, AnimationSource) and self.animation is not None
        return _BoundedAnimationWriter(path, self.animation, loop=source.loop, last_duration_ms=source.durations_ms[-1],
                                       frame_pixels=width * height, max_held_pixels=max_held_pixels)

    def stream_check(self, path: Path, *, keep_audio: bool) -> Check:
        if self.mp4_out:
            return _stream_check(path, keep_audio=keep_audio)
        assert self.animation is not None
        return _animation_check(path, self.animation)


def even_sized(frame: VideoFrame) -> VideoFrame:
    """H.264 4:2:0 needs even sizes: one edge row/column is cropped (the report says so)."""
    assert frame.rgb is not None
    h, w = frame.rgb.shape[:2]
    if h % 2 or w % 2:
        frame.rgb = frame.rgb[: h - h % 2, : w - w % 2]
        frame.size = (w - w % 2, h - h % 2)
    return frame


class _BoundedAnimationWriter(CleanAnimationWriter):
    """An animation writer that refuses to hold more than ``max_held_pixels`` before it writes."""

    def __init__(self, path: Path, kind: str, *, loop: int | None, last_duration_ms: int, frame_pixels: int,
                 max_held_pixels: int) -> None:
        super().__init__(path, kind, loop=loop, last_duration_ms=last_duration_ms)
        self._frame_pixels, self._max_held, self._held = frame_pixels, max_held_pixels, 0

    def write_video(self, rgb: np.ndarray, pts: int) -> int:
        self._held += self._frame_pixels
        if self._held > self._max_held:
            raise TooLarge(
                f"the animation's frames hold more than {self._max_held / 1e6:.0f} megapixels together, more than "
                "crowdveil keeps in memory to write an animation back",
                hint="Write it as a video instead (--animation mp4), or raise --max-megapixels.",
            )
        return super().write_video(rgb, pts)


class FramesByTime:
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
