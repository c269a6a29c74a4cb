"""Videos in (PyAV, upright RGB frames) and clean H.264/AAC MP4s out.

Reading: ``VideoSource`` demuxes one video stream (and, when asked, one
audio stream) and yields upright RGB frames: the rotation/flip in the
stream's display matrix is applied to the pixels, exactly as ffmpeg's
autorotate does, because phones store portrait video sideways and a
player that ignores the matrix would show it sideways after we drop it.
Every other stream (data, subtitles, timed GPS metadata, cover art,
chapters) is never read.

Writing: ``CleanMp4Writer`` builds a new MP4 from pixels and audio
samples only, so nothing of the source container can ride along:

* container and stream metadata are left empty, and the muxer runs with
  ``fflags=+bitexact`` so it writes no ``©too`` "Lavf…" encoder tag and
  zero creation/modification times in ``mvhd/tkhd/mdhd``;
* x264 writes its version and full option string in an SEI message in
  the first frame; the ``filter_units=remove_types=6`` bitstream filter
  drops every SEI NAL unit from every packet (none is needed to decode);
* the handler names are the muxer's generic ``VideoHandler`` /
  ``SoundHandler``; no display matrix is written (the pixels are upright).

No frame is ever written anywhere but into the encoder: no temp dumps.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator, cast

import cv2
import numpy as np

from ..errors import CorruptInput, SpliceImpossible, TooLarge, UnsupportedFormat

__all__ = ["VideoFrame", "VideoSource", "CleanMp4Writer", "EncoderSettings", "orientation_from_matrix", "upright"]

# x264 settings shared by crowdveil's encoder and the benchmark's ceiling.
# ``veryfast`` keeps encoding well below detection cost on 2 cores; CRF 20
# is visually close to the source at phone bit rates.
X264_PRESET = "veryfast"
X264_CRF = 20
# Longest GOP: a repair re-encodes at most this long a stretch around each find.
KEYFRAME_SECONDS = 2.0
AAC_BIT_RATE = 128_000
# Removes SEI NAL units (type 6): x264's version and settings string lives there.
STRIP_SEI = "filter_units=remove_types=6"
# Muxer options: no encoder tag, no times; moov first so players can stream it.
MP4_OPTIONS = {"fflags": "+bitexact", "movflags": "+faststart"}


@dataclass(frozen=True)
class EncoderSettings:
    """How the H.264 stream is encoded (also used by the benchmark's ceiling).

    ``keyframe_seconds`` bounds a GOP; GOPs are closed, so each one decodes
    on its own, and a verifier's find is repaired by re-encoding
    the GOPs around it (``GopSplicer``) instead of the whole video.
    """

    preset: str = X264_PRESET
    crf: int = X264_CRF
    keyframe_seconds: float = KEYFRAME_SECONDS

    def options(self) -> dict[str, str]:
        return {"preset": self.preset, "crf": str(self.crf)}

    def gop_size(self, rate: Fraction | float) -> int:
        return max(1, round(float(rate) * self.keyframe_seconds))

    def configure(self, cc, rate: Fraction, time_base: Fraction) -> None:
        """Set up an x264 codec context; every encoder of one file must match (``GopSplicer``)."""
        import av

        cc.framerate = rate
        cc.time_base = time_base
        cc.gop_size = self.gop_size(rate)
        # Closed GOPs (x264 wrappers have disagreed on the default): no frame refers
        # across a keyframe, which GopSplicer's byte-for-byte copies rely on.
        cc.flags |= av.codec.context.Flags.bitexact | av.codec.context.Flags.closed_gop


@dataclass
class VideoFrame:
    """One decoded frame, upright.

    Args:
        index: 0-based position in presentation order.
        rgb: (H, W, 3) uint8, the display matrix already applied; ``None``
            when the reader was told this frame's pixels are not needed.
        pts: presentation time in ``time_base`` units, rebased to start at 0.
        size: upright (width, height), known even without the pixels.
    """

    index: int
    rgb: np.ndarray | None
    pts: int
    size: tuple[int, int] = (0, 0)


# -- orientation ---------------------------------------------------------------------------------


def orientation_from_matrix(matrix: bytes | None) -> str:
    """The transform that makes stored pixels upright, from a display matrix.

    Follows ffmpeg's autorotate (``fftools/ffmpeg_filter.c``) so our output
    looks the way ffplay and phones show the source. Returns one of
    ``none``, ``clock``, ``cclock``, ``transpose`` (cclock_flip),
    ``antitranspose`` (clock_flip), ``rot180``, ``hflip``, ``vflip``.
    Angles that are not multiples of 90° are refused by the caller.
    """
    if not matrix or len(matrix) < 36:
        return "none"
    m = struct.unpack("<9i", bytes(matrix[:36]))
    # ffmpeg's get_rotation(): minus av_display_rotation_get(), i.e. the clockwise
    # angle the picture must be turned by to be shown upright.
    scale0 = np.hypot(m[0], m[3])
    scale1 = np.hypot(m[1], m[4])
    if scale0 == 0 or scale1 == 0:
        return "none"
    theta = round(float(np.degrees(np.arctan2(m[1] / scale1, m[0] / scale0))))
    theta -= 360 * np.floor(theta / 360 + 0.9 / 360)
    if abs(theta - 90) < 1:
        return "transpose" if m[3] > 0 else "clock"
    if abs(theta - 180) < 1:
        flips = (m[0] < 0, m[4] < 0)
        return {(True, True): "rot180", (True, False): "hflip", (False, True): "vflip"}.get(flips, "none")
    if abs(theta - 270) < 1:
        return "antitranspose" if m[3] < 0 else "cclock"
    if abs(theta) < 1 or abs(theta - 360) < 1:
        return "vflip" if m[4] < 0 else "none"
    raise UnsupportedFormat(
        f"the video asks to be shown rotated by {theta:g}°, which crowdveil does not apply",
        hint="Rotate it by a multiple of 90° in a video editor first, then run crowdveil on the copy.",
    )


def upright_size(width: int, height: int, orientation: str) -> tuple[int, int]:
    """The (width, height) of a stored frame once ``upright`` has turned it."""
    turned = orientation in ("clock", "cclock", "transpose", "antitranspose")
    return (height, width) if turned else (width, height)


def upright(rgb: np.ndarray, orientation: str) -> np.ndarray:
    """Apply an ``orientation_from_matrix`` transform to (H, W, C) pixels."""
    if orientation == "none":
        return rgb
    out = {
        "clock": lambda a: np.rot90(a, -1),
        "cclock": lambda a: np.rot90(a, 1),
        "transpose": lambda a: a.transpose(1, 0, 2),
        "antitranspose": lambda a: np.rot90(a, 2).transpose(1, 0, 2),
        "rot180": lambda a: a[::-1, ::-1],
        "hflip": lambda a: a[:, ::-1],
        "vflip": lambda a: a[::-1],
    }[orientation](rgb)
    return np.ascontiguousarray(out)


# -- pixels --------------------------------------------------------------------------------------

# Frame colorspaces swscale converts with BT.601 coefficients, as OpenCV's I420
# conversions do (AVColorSpace: 2 unspecified, 5 BT470BG, 6 SMPTE170M).
_BT601_SPACES = {2, 5, 6}
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG


def to_rgb(frame) -> np.ndarray:
    """(H, W, 3) RGB of a decoded PyAV frame, as stored.

    8-bit 4:2:0 in BT.601 limited range goes through OpenCV (about twice as
    fast as swscale, same coefficients); anything else (BT.709, full range,
    10-bit, odd sizes) through swscale, which reads the frame's colorspace.
    """
    if (frame.format.name == "yuv420p" and not frame.width % 2 and not frame.height % 2
            and int(frame.colorspace) in _BT601_SPACES and int(frame.color_range) != _FULL_RANGE):
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
    return frame.to_ndarray(format="rgb24")


def to_i420_frame(rgb: np.ndarray):
    """A yuv420p PyAV frame of even-sized RGB pixels, BT.601 limited range.

    OpenCV's conversion matches swscale's default for an untagged frame and
    is about five times faster: at 720p, 1 ms against 5 ms a frame, on the
    thread that feeds the encoder.
    """
    import av

    yuv = np.asarray(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420), np.uint8)  # uint8 already: no copy
    return av.VideoFrame.from_ndarray(yuv, format="yuv420p")


# -- reading -------------------------------------------------------------------------------------


@dataclass
class SourceInfo:
    """What the source holds, for the report (kinds and counts, never values)."""

    container: str = ""
    video_codec: str = ""
    stored_size: tuple[int, int] = (0, 0)
    rate: Fraction = Fraction(0)
    time_base: Fraction = Fraction(1, 90000)
    frames_declared: int | None = None
    duration_s: float | None = None
    audio_codec: str | None = None
    ignored_streams: list[str] = field(default_factory=list)


class VideoSource:
    """Decode one video file: upright RGB frames, plus audio frames on request.

    Use as a context manager; ``frames()`` or ``items()`` decodes the file
    once (open a new ``VideoSource`` to decode it again).

    ``max_pixels`` bounds a frame's size (``Config.max_megapixels``): a tiny
    file can declare frames of any size, and every frame is decoded, turned to
    RGB and copied by the pipeline, so the declared size is checked on open
    and each decoded frame's before it is converted.

    Raises (on open or while decoding):
        CorruptInput: not decodable, no video stream, or damaged mid-way.
        TooLarge: frames larger than ``max_pixels``.
    """

    def __init__(self, path: str | Path, *, audio: bool = False, max_pixels: int | None = None) -> None:
        import av

        self.path = Path(path)
        self.max_pixels = max_pixels
        try:
            self._container = av.open(str(self.path), metadata_errors="ignore")
        except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
            raise CorruptInput(f"{self.path.name} cannot be opened as a video ({_reason(exc)})") from exc
        try:
            self.info = SourceInfo(container=self._container.format.name)
            self._video = self._pick_video()
            self._audio = self._container.streams.audio[0] if audio and self._container.streams.audio else None
            self._describe()
            self._check_size(*self.info.stored_size)
        except BaseException:
            self._container.close()
            raise

    def _pick_video(self):
        # An MP4/MKV cover picture is a one-frame "video" stream marked attached_pic.
        candidates = [s for s in self._container.streams.video if not _is_attached_picture(s)]
        if not candidates:
            raise CorruptInput(
                f"{self.path.name} has no video stream",
                hint="The file may be audio only or damaged; re-export it as MP4 and try again.",
            )
        stream = candidates[0]
        stream.thread_type = "AUTO"
        return stream

    def _describe(self) -> None:
        v = self._video
        self.info.video_codec = v.codec_context.name
        self.info.stored_size = (v.codec_context.width, v.codec_context.height)
        rate = v.average_rate or v.guessed_rate or v.base_rate
        self.info.rate = Fraction(rate) if rate else Fraction(30)
        self.info.time_base = Fraction(v.time_base) if v.time_base else 1 / self.info.rate
        self.info.frames_declared = v.frames or None
        if v.duration is not None and v.time_base:
            self.info.duration_s = float(v.duration * v.time_base)
        elif self._container.duration:
            self.info.duration_s = self._container.duration / 1_000_000
        if self.info.frames_declared is None and self.info.duration_s:
            self.info.frames_declared = max(1, round(self.info.duration_s * float(self.info.rate)))
        if self._container.streams.audio:  # named even when not decoded: the report says it was dropped
            self.info.audio_codec = self._container.streams.audio[0].codec_context.name
        used = {v.index} | ({self._audio.index} if self._audio is not None else set())
        for s in self._container.streams:
            if s.index not in used:
                kind = "cover art" if _is_attached_picture(s) else s.type
                self.info.ignored_streams.append(kind)

    def _check_size(self, width: int, height: int) -> None:
        if self.max_pixels is not None and width * height > self.max_pixels:
            raise TooLarge(
                f"{self.path.name} has frames of {width}×{height} = {width * height / 1e6:.0f} megapixels, "
                f"above the limit of {self.max_pixels / 1e6:.0f}"
            )

    @property
    def audio_stream(self):
        return self._audio

    def items(self, pixels_for: Callable[[int], bool] | None = None) -> Iterator[VideoFrame | object]:
        """Decoded ``VideoFrame``s and (when audio was asked for) PyAV ``AudioFrame``s, in demux order.

        The first item is always a video frame (audio decoded before it is
        held back), so a writer can be sized from it before audio arrives.
        Audio ``pts`` are rebased like the video's: relative to the first
        video frame, so negative for sound recorded before it.
        ``pixels_for(index)`` false leaves that frame's ``rgb`` ``None``:
        a verifier that re-detects every third frame still decodes them all
        (H.264 frames refer to each other) but skips converting the rest.
        """
        import av

        streams = [self._video] + ([self._audio] if self._audio is not None else [])
        orientation: str | None = None
        first_pts: int | None = None
        origin_s = 0.0  # the first video frame's time: 0 in the output, for video and audio alike
        index = 0
        early_audio: list = []
        try:
            for packet in self._container.demux(streams):
                for decoded in packet.decode():
                    if packet.stream is not self._video:
                        if index == 0:
                            early_audio.append(decoded)
                        else:
                            yield _rebase(decoded, origin_s)
                        continue
                    frame = cast("av.VideoFrame", decoded)  # a packet of the video stream decodes to video frames
                    self._check_size(frame.width, frame.height)  # a stream may declare one size and hold another
                    if orientation is None:
                        orientation = orientation_from_matrix(_display_matrix(frame))
                    if pixels_for is None or pixels_for(index):
                        rgb = upright(to_rgb(frame), orientation)
                        size = (rgb.shape[1], rgb.shape[0])
                    else:
                        rgb, size = None, upright_size(frame.width, frame.height, orientation)
                    pts = frame.pts
                    if pts is None:  # some AVI/raw streams carry no timestamps
                        pts = round(index / self.info.rate / self.info.time_base)
                    if first_pts is None:
                        first_pts = pts
                        origin_s = float(pts * self.info.time_base)
                    yield VideoFrame(index, rgb, pts - first_pts, size)
                    index += 1
                    for early in early_audio:
                        yield _rebase(early, origin_s)
                    early_audio.clear()
        except av.error.FFmpegError as exc:
            raise CorruptInput(
                f"{self.path.name} is damaged: decoding stopped after {index} frame(s) ({_reason(exc)})"
            ) from exc
        if index == 0:
            raise CorruptInput(f"{self.path.name} holds no decodable video frame")

    def frames(self, pixels_for: Callable[[int], bool] | None = None) -> Iterator[VideoFrame]:
        """Only the video frames (``pixels_for`` as for ``items``)."""
        for item in self.items(pixels_for):
            if isinstance(item, VideoFrame):
                yield item

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _is_attached_picture(stream) -> bool:
    try:
        import av

        return bool(stream.disposition & av.stream.Disposition.attached_pic)
    except (AttributeError, TypeError):  # pragma: no cover - older PyAV
        return False


def _rebase(audio_frame, origin_s: float):
    """``audio_frame`` with its ``pts`` made relative to ``origin_s`` (seconds)."""
    if audio_frame.pts is not None and audio_frame.time_base:
        audio_frame.pts -= round(origin_s / audio_frame.time_base)
    return audio_frame


def _display_matrix(frame) -> bytes | None:
    for side_data in frame.side_data:
        if str(getattr(side_data, "type", "")).endswith("DISPLAYMATRIX"):
            return bytes(side_data)
    return None


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '", 1)[0].strip() or type(exc).__name__


# -- writing -------------------------------------------------------------------------------------


class CleanMp4Writer:
    """An H.264 (+ AAC) MP4 written from pixels and samples only.

    Args:
        path: file to write (a ``PendingOutput`` temp path).
        width, height: frame size; must be even (4:2:0 chroma).
        rate: nominal frame rate.
        time_base: unit of the frames' ``pts`` (the source's, so timing is kept).
        audio: the source audio stream to re-encode as AAC, or ``None``.
        settings: x264 preset and CRF.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        width: int,
        height: int,
        rate: Fraction,
        time_base: Fraction,
        audio=None,
        settings: EncoderSettings = EncoderSettings(),
    ) -> None:
        import av
        import av.bitstream

        if width % 2 or height % 2:
            raise ValueError("H.264 4:2:0 needs an even width and height")
        self._container = av.open(str(path), "w", format="mp4", container_options=dict(MP4_OPTIONS))
        self._video = self._container.add_stream("libx264", rate=rate, options=settings.options())
        cc = self._video.codec_context
        cc.width, cc.height, cc.pix_fmt = width, height, "yuv420p"
        settings.configure(cc, rate, time_base)
        self._video.time_base = time_base
        self._strip_sei = av.bitstream.BitStreamFilterContext(STRIP_SEI, in_stream=self._video)
        self._audio = None
        if audio is not None:
            layout = audio.codec_context.layout.name if audio.codec_context.layout else "stereo"
            rate_hz = audio.codec_context.sample_rate or 48000
            self._audio = self._container.add_stream("aac", rate=rate_hz, layout=layout)
            self._audio.bit_rate = AAC_BIT_RATE
            self._audio.codec_context.flags |= av.codec.context.Flags.bitexact
        self._last_pts: int | None = None
        self._audio_next: int | None = None  # pts (in samples) of the next audio frame

    def write_video(self, rgb: np.ndarray, pts: int) -> int:
        """Encode one frame at ``pts``; returns the ``pts`` it got (later than the last one's, always)."""
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # broken source timestamps: keep order, never drop a frame
        self._last_pts = pts
        frame = to_i420_frame(rgb)
        frame.pts = pts
        frame.time_base = self._video.codec_context.time_base
        self._mux_video(self._video.encode(frame))
        return pts

    def write_audio(self, frame) -> None:
        """Re-encode one decoded audio frame whose ``pts`` is relative to the first video frame.

        The first frame fixes where the sound starts, so it stays in sync
        with the picture: later than the video, the MP4's edit list holds
        the lead-in; earlier, the samples before the first picture are cut.
        After it, frames follow each other without gaps, as the AAC encoder
        counts them.
        """
        if self._audio is None:
            return
        rate = frame.sample_rate
        if self._audio_next is None:
            start = round(float(frame.pts * frame.time_base) * rate) if frame.pts is not None and frame.time_base else 0
            if start < 0:
                frame = _drop_leading_samples(frame, -start)
                if frame is None:
                    return
                start = 0
            self._audio_next = start
        frame.pts, frame.time_base = self._audio_next, Fraction(1, rate)
        self._audio_next += frame.samples
        self._container.mux(self._audio.encode(frame))

    def _mux_video(self, packets) -> None:
        for packet in packets:
            for clean in self._strip_sei.filter(packet):
                clean.stream = self._video
                self._container.mux(clean)

    def close(self) -> None:
        """Flush both encoders and finish the file."""
        self._mux_video(self._video.encode(None))
        self._mux_video(self._strip_sei.filter(None))
        if self._audio is not None:
            self._container.mux(self._audio.encode(None))
        self._container.close()

    def abort(self) -> None:
        """Close without flushing (the caller deletes the file)."""
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - the file is discarded anyway
            pass


def _drop_leading_samples(frame, count: int):
    """``frame`` without its first ``count`` samples (``None`` when nothing is left)."""
    import av

    if count >= frame.samples:
        return None
    data = frame.to_ndarray()
    # Planar formats hold one row per channel; packed ones interleave the channels in one row.
    cut = count if frame.format.is_planar else count * len(frame.layout.channels)
    rest = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, cut:]), format=frame.format.name, layout=frame.layout.name)
    rest.sample_rate = frame.sample_rate
    return rest


# -- repairing a few GOPs ------------------------------------------------------------------------


class GopSplicer:
    """Rewrite a ``CleanMp4Writer`` file with some GOPs encoded again from new pixels, the rest copied.

    The writer's GOPs are closed (``EncoderSettings.configure``): each starts
    with an IDR frame and no frame refers across it, so a copied GOP decodes to exactly the pixels
    it did before, and a GOP encoded again by a fresh encoder with the same
    settings (same SPS/PPS, checked) slots in between. A repair after
    verification then costs the GOPs around its finds, not a whole encode.

    Args:
        previous: the file to rewrite (not modified).
        width, height, rate, time_base, settings: as given to its ``CleanMp4Writer``.

    Raises:
        SpliceImpossible: from ``write`` when the result would not be one
            consistent stream; nothing usable is left at ``path`` then.
    """

    def __init__(self, previous: str | Path, *, width: int, height: int, rate: Fraction, time_base: Fraction,
                 settings: EncoderSettings = EncoderSettings()) -> None:
        import av

        self.previous = Path(previous)
        self._size, self._rate, self._time_base, self._settings = (width, height), rate, time_base, settings
        self.gop_starts: list[float] = []  # presentation time (s) of each GOP's IDR frame
        self.gop_frames: list[int] = []
        with av.open(str(self.previous)) as inp:
            for packet in inp.demux(inp.streams.video[0]):
                if packet.pts is None:  # the demuxer's final empty packet
                    continue
                if packet.is_keyframe or not self.gop_starts:
                    self.gop_starts.append(float(packet.pts * packet.time_base))
                    self.gop_frames.append(0)
                self.gop_frames[-1] += 1
        self._tolerance = 0.25 / float(rate)

    def gop_of(self, seconds: float) -> int:
        """The GOP that shows the frame presented at ``seconds``."""
        return max(0, bisect.bisect_right(self.gop_starts, seconds + self._tolerance) - 1)

    def write(self, path: str | Path, redo: set[int], frames: Iterator[tuple[int, np.ndarray]]) -> None:
        """Write ``path``: GOPs in ``redo`` encoded from ``frames``, every other packet copied.

        ``frames`` yields ``(pts, rgb)`` for every frame of the GOPs in
        ``redo``, in order, in the writer's ``time_base``.
        """
        import av

        frames = iter(frames)
        with av.open(str(self.previous)) as inp, \
                av.open(str(path), "w", format="mp4", container_options=dict(MP4_OPTIONS)) as out:
            vin = inp.streams.video[0]
            vout = out.add_stream_from_template(vin)
            streams: dict[int, Any] = {vin.index: vout}
            for s in inp.streams.audio:
                streams[s.index] = out.add_stream_from_template(s)
            length_size, parameter_sets = _avcc(bytes(vin.codec_context.extradata or b""))
            gop, last_dts = -1, None
            for packet in inp.demux(list(inp.streams)):
                if packet.pts is None or packet.stream.index not in streams:
                    continue
                if packet.stream.index != vin.index:
                    packet.stream = streams[packet.stream.index]
                    out.mux(packet)
                    continue
                if packet.is_keyframe or gop < 0:
                    gop += 1
                    if gop in redo:
                        last_dts = self._encode_gop(gop, frames, (length_size, parameter_sets), vout, out, last_dts)
                if gop in redo:
                    continue
                last_dts = self._check_dts(packet, last_dts)
                packet.stream = vout
                out.mux(packet)

    def _encode_gop(self, gop, frames, avcc, vout, out, last_dts):
        import av

        length_size, parameter_sets = avcc
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height = self._size
        encoder.pix_fmt = "yuv420p"
        encoder.options = self._settings.options()
        self._settings.configure(encoder, self._rate, self._time_base)
        encoder.flags |= av.codec.context.Flags.global_header  # SPS/PPS out of band, as in the MP4
        start = self.gop_starts[gop]
        end = self.gop_starts[gop + 1] if gop + 1 < len(self.gop_starts) else float("inf")
        packets = []
        for _ in range(self.gop_frames[gop]):
            pts, rgb = next(frames, (None, None))
            if pts is None or not start - self._tolerance <= float(pts * self._time_base) < end - self._tolerance:
                raise SpliceImpossible(f"GOP {gop}: the frames given do not match the GOP's")
            frame = to_i420_frame(rgb)
            frame.pts, frame.time_base = pts, self._time_base
            packets += encoder.encode(frame)
        packets += encoder.encode(None)
        if _annexb_units(bytes(encoder.extradata or b"")) != parameter_sets:
            raise SpliceImpossible("the new encoder's SPS/PPS differ from the file's")
        if len(packets) != self.gop_frames[gop]:
            raise SpliceImpossible(f"GOP {gop}: {len(packets)} packets for {self.gop_frames[gop]} frames")
        for packet in packets:
            # The encoder speaks Annex B; the MP4 holds length-prefixed units. Its SEI
            # (x264's version and settings) is dropped, as STRIP_SEI does for the writer.
            units = [u for u in _annexb_units(bytes(packet)) if u[0] & 0x1F not in _NOT_IN_SAMPLES]
            clean = av.Packet(b"".join(len(u).to_bytes(length_size, "big") + u for u in units))
            clean.pts, clean.dts, clean.time_base = packet.pts, packet.dts, packet.time_base
            clean.is_keyframe = packet.is_keyframe
            last_dts = self._check_dts(clean, last_dts)
            clean.stream = vout
            out.mux(clean)
        return last_dts

    @staticmethod
    def _check_dts(packet, last_dts):
        # Decode times must keep rising across a seam (B-frame reordering could break that
        # with variable frame rates): then only a whole new encode gives a valid file.
        dts = packet.dts if packet.dts is not None else packet.pts
        now = Fraction(dts) * Fraction(packet.time_base)
        if last_dts is not None and now <= last_dts:
            raise SpliceImpossible("decode times would go backwards at a GOP seam")
        return now


# NAL unit types kept out of MP4 samples: SEI (x264's settings string), SPS, PPS, access unit delimiter.
_NOT_IN_SAMPLES = {6, 7, 8, 9}


def _annexb_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (start codes removed)."""
    units = []
    for chunk in data.split(b"\x00\x00\x01"):
        chunk = chunk.rstrip(b"\x00")  # a 4-byte start code's leading zero, or trailing padding
        if chunk:
            units.append(chunk)
    return units


def _avcc(extradata: bytes) -> tuple[int, list[bytes]]:
    """(NAL length size, [SPS…, PPS…]) from an MP4's avcC record (ISO/IEC 14496-15)."""
    if len(extradata) < 7 or extradata[0] != 1:
        raise SpliceImpossible("the file's H.264 header is not an avcC record")
    length_size = (extradata[4] & 3) + 1
    units, at = [], 5
    for count_mask in (0x1F, 0xFF):  # SPS count in the low 5 bits, then a full byte of PPS count
        count = extradata[at] & count_mask
        at += 1
        for _ in range(count):
            size = int.from_bytes(extradata[at : at + 2], "big")
            units.append(extradata[at + 2 : at + 2 + size])
            at += 2 + size
    return length_size, units
