"""Animated GIF, animated WebP and APNG: frames in (Pillow) and clean animations out.

An animation is anonymized as a short video (``pipeline.video``): every frame
detected, tracked, painted and verified. ``AnimationSource`` reads one the way
``io.video.VideoSource`` reads a video: whole upright RGB frames (Pillow
composites each frame over the ones before it, as a viewer shows it) with a
presentation time in milliseconds. ``CleanAnimationWriter`` writes the same
kind of animation back from the painted pixels alone, with each frame's
timing and the loop count kept and nothing else: no comment, XMP, EXIF,
ICC or text chunk can ride along, because none is handed to Pillow.

Transparency is flattened onto white: a face behind a transparent pixel is
still a face, and the detector and verifier read colour only.

Encoders merge a frame identical to the one before it into that one (its
duration added): the written file can hold fewer frames than the source,
showing the same pictures at the same times. The verifier matches the
written frames to the source's by time (``frame_times``).
"""

from __future__ import annotations

import io
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, cast

import numpy as np
from PIL import Image

from ..errors import CorruptInput, TooLarge, UnsupportedFormat
from .formats import OUTPUTS
from .video import SourceInfo, VideoFrame

__all__ = ["AnimationSource", "CleanAnimationWriter", "animation_frames", "output_kind", "ANIMATION_OUTPUTS", "MAX_FRAMES"]

# sniffed format → (Pillow writer, output suffix)
ANIMATION_OUTPUTS = {kind: (writer, OUTPUTS[kind]) for kind, writer in (("gif", "GIF"), ("webp", "WEBP"), ("apng", "PNG"))}
# An animation with more frames than this is refused (a chat clip has tens to hundreds):
# each frame costs a detection, and one header can claim millions of them.
MAX_FRAMES = 20_000
_TIME_BASE = Fraction(1, 1000)  # Pillow gives durations in milliseconds
_DEFAULT_RATE = Fraction(10)  # frames that all say 0 ms are shown at about 10 a second by browsers
_WEBP_QUALITY = 90


def animation_frames(data: bytes, fmt: str) -> int:
    """How many frames a GIF, WebP or PNG holds (1 for a still; 0 when Pillow cannot open it).

    Raises nothing: a file Pillow cannot open is left to the photo decoder,
    which refuses it with the reason.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                if fmt == "png" and not getattr(im, "is_animated", False):
                    return 1
                return int(getattr(im, "n_frames", 1))
    except Exception:  # noqa: BLE001 - Pillow raises many untyped errors on damaged files
        return 0


def output_kind(fmt: str) -> str:
    """The animation kind written for a sniffed format: ``gif``, ``webp`` or ``apng``."""
    return "apng" if fmt == "png" else fmt


class AnimationSource:
    """Decode an animation: whole RGB frames with millisecond ``pts``, like ``VideoSource``.

    Args:
        path: the file.
        audio: ignored (animations carry no sound); accepted so both sources open alike.
        max_pixels: a frame's pixel limit (``Config.max_megapixels``).

    Raises (on open or while decoding):
        CorruptInput: Pillow cannot read it, or it breaks off mid-way.
        TooLarge: frames above ``max_pixels`` or more than ``MAX_FRAMES`` frames.
    """

    audio_stream = None

    def __init__(self, path: str | Path, *, audio: bool = False, max_pixels: int | None = None) -> None:
        del audio
        self.path = Path(path)
        self.notes: list[str] = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._image = Image.open(self.path)
                fmt = (self._image.format or "").lower()
                width, height = self._image.size
                if max_pixels is not None and width * height > max_pixels:
                    raise TooLarge(f"{self.path.name} has frames of {width}×{height} = {width * height / 1e6:.0f} "
                                   f"megapixels, above the limit of {max_pixels / 1e6:.0f}")
                if width <= 0 or height <= 0:
                    raise CorruptInput(f"{self.path.name} declares an empty size {width}×{height}")
                count = int(getattr(self._image, "n_frames", 1))
                self.format_name = fmt
                if count > MAX_FRAMES:
                    raise TooLarge(f"{self.path.name} holds {count} frames, more than the {MAX_FRAMES} crowdveil "
                                   "reads in an animation",
                                   hint="Convert it to MP4 (e.g. ffmpeg -i in.gif out.mp4), then run crowdveil on the MP4.")
                self.durations_ms = self._durations(count)
        except (TooLarge, CorruptInput):
            self._close_quietly()
            raise
        except Exception as exc:  # noqa: BLE001 - Pillow's errors on damaged files are untyped
            self._close_quietly()
            raise CorruptInput(f"{self.path.name} cannot be read as an animation ({type(exc).__name__}: {exc})") from exc
        self.frame_times = [0]
        for duration in self.durations_ms[:-1]:
            self.frame_times.append(self.frame_times[-1] + duration)
        total_ms = self.frame_times[-1] + self.durations_ms[-1]
        self.format = "apng" if fmt == "png" else fmt
        self.loop = self._image.info.get("loop")
        rate = Fraction(count * 1000, total_ms).limit_denominator(1000) if total_ms > 0 else _DEFAULT_RATE
        self.info = SourceInfo(container=self.format, video_codec=self.format, stored_size=(width, height),
                               rate=rate, time_base=_TIME_BASE, frames_declared=count, duration_s=total_ms / 1000)

    def _durations(self, count: int) -> list[int]:
        """Each frame's display time in whole milliseconds (APNG delays may be fractions)."""
        starts, elapsed = [], 0.0
        for index in range(count):
            self._image.seek(index)
            if self.format_name == "webp":
                self._image.load()  # WebP says a frame's duration once it is decoded
            starts.append(round(elapsed))
            elapsed += max(0.0, float(self._image.info.get("duration") or 0))
        ends = starts[1:] + [round(elapsed)]
        self._image.seek(0)
        return [end - start for start, end in zip(starts, ends)]

    def items(self, pixels_for: Callable[[int], bool] | None = None) -> Iterator[VideoFrame]:
        """Every frame, decoded (an animation's frames are small; ``pixels_for`` is not needed)."""
        del pixels_for
        index = 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for index in range(len(self.durations_ms)):
                    self._image.seek(index)
                    rgb = self._flattened(self._image)
                    yield VideoFrame(index, rgb, self.frame_times[index], (rgb.shape[1], rgb.shape[0]))
        except (TooLarge, CorruptInput):
            raise
        except Exception as exc:  # noqa: BLE001
            raise CorruptInput(f"{self.path.name} is damaged: decoding stopped after {index} frame(s) "
                               f"({type(exc).__name__}: {exc})") from exc

    frames = items

    def _flattened(self, frame: Image.Image) -> np.ndarray:
        if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
            rgba = frame.convert("RGBA")
            if cast(tuple[tuple[int, int], ...], rgba.getextrema())[3][0] < 255:
                if not self.notes:
                    self.notes.append("transparent pixels flattened onto white")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                rgba = Image.alpha_composite(white, rgba)
            return np.asarray(rgba.convert("RGB")).copy()
        return np.asarray(frame.convert("RGB")).copy()

    def _close_quietly(self) -> None:
        image = getattr(self, "_image", None)
        if image is not None:
            image.close()

    def close(self) -> None:
        self._image.close()

    def __enter__(self) -> "AnimationSource":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class CleanAnimationWriter:
    """A GIF, WebP or APNG written from painted frames and their times only.

    Pillow writes an animation in one call, so the frames are held until
    ``close`` (the caller bounds their number and size). ``write_video``
    takes ``pts`` in milliseconds, as ``AnimationSource`` gives them; the last
    frame keeps ``last_duration_ms``.
    """

    def __init__(self, path: str | Path, kind: str, *, loop: int | None, last_duration_ms: int) -> None:
        if kind not in ANIMATION_OUTPUTS:
            raise UnsupportedFormat(f"crowdveil does not write {kind} animations", hint="Write GIF, WebP or APNG.")
        self.path, self.kind, self.loop, self.last_duration_ms = Path(path), kind, loop, last_duration_ms
        self._frames: list[Image.Image] = []
        self._pts: list[int] = []

    def write_video(self, rgb: np.ndarray, pts: int) -> int:
        if self._pts and pts < self._pts[-1]:
            pts = self._pts[-1]  # keep order; a frame is never dropped
        self._frames.append(Image.fromarray(np.ascontiguousarray(rgb[:, :, :3]), "RGB"))
        self._pts.append(pts)
        return pts

    def write_audio(self, frame) -> None:  # pragma: no cover - animations have no sound
        del frame

    def close(self) -> None:
        if not self._frames:
            raise CorruptInput(f"{self.path.name}: no frame to write")
        durations = [b - a for a, b in zip(self._pts, self._pts[1:])] + [self.last_duration_ms]
        params: dict = {"save_all": True, "append_images": self._frames[1:], "duration": durations}
        if self.loop is not None:
            params["loop"] = self.loop
        if self.kind == "webp":
            params.update(quality=_WEBP_QUALITY, method=4)
        elif self.kind == "apng":
            params.update(default_image=False, compress_level=6)
        writer, _suffix = ANIMATION_OUTPUTS[self.kind]
        with open(self.path, "wb") as fh:
            self._frames[0].save(fh, writer, **params)
        self._frames.clear()

    def abort(self) -> None:
        self._frames.clear()
