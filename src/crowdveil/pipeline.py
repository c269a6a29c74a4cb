"""decode → detect → redact → encode clean → verify → report, for one file.

``anonymize`` is the only entry point: the CLI, the studio and batch runs
all call it. Videos take the same steps frame by frame in ``pipeline_video``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .version import __version__
from .config import Config
from .detect.base import Detector
from .detect.cover import with_covers
from .detect.onnx_session import providers_used
from .detect.registry import build_detector, build_verifier
from .errors import DetectionFailed, VerificationFailed
from .io.decoded import PixelSource
from .io.image import clean_image, decode_image, encode_clean, format_for_suffix, output_format
from .io.output import PendingOutput, check_destination
from .io.sniff import ANIMATABLE_FORMATS, SNIFF_BYTES, media_kind, sniff
from .redact import paint, redaction_regions, region_mask
from .types import Detections, Report
from .verify.audit import audit_bytes
from .verify.checks import metadata_check, residual_faces

# Rounds in which faces the verifier finds in the output are added and the
# image repainted; a face still found after that fails the file.
REPAIR_ROUNDS = 2
REPAIR_TEXT_GROWTH = 1.0


def anonymize(
    src: str | Path,
    dst: str | Path | None = None,
    config: Config | None = None,
    *,
    regions: Detections | None = None,
    keep_visible: Detections | None = None,
    detector: Detector | None = None,
    verifier: Detector | None = None,
    out_dir: str | Path | None = None,
    progress=None,
    on_commit: Callable[[Path, str], None] | None = None,
    neutral_stem: str | None = None,
) -> Report:
    """Write an anonymized, verified copy of ``src`` to ``dst``.

    Args:
        src: photo or video to anonymize; never modified.
        dst: output path; default ``<name>.veiled.<ext>`` beside ``src``.
        config: settings; ``Config()`` is the safe default.
        regions: faces to redact instead of running the detector (reviewed
            in the studio); manual additions are simply part of it.
        keep_visible: regions a person chose to leave visible; the
            verifier does not count faces found there.
        detector, verifier: override the preset's detectors (tests, benchmarks).
        out_dir: with no ``dst``, write ``<name>.veiled.<ext>`` into this folder.
        progress: videos only: ``progress(frames_done, frames_total_or_None)``
            after each frame (see ``pipeline_video.ProgressCallback``).
        on_commit: ``on_commit(dst, sha256)`` with the verified output's
            digest, just before it is renamed into place; if it raises,
            nothing is renamed (the resume manifest records it here).
        neutral_stem: with no ``dst``, name the output ``<neutral_stem>.<ext>``
            instead of after the original (``io.naming``).

    Returns:
        The ``Report``; ``report.passed`` is True, otherwise an error is raised.

    Raises:
        InputError, OutputError, ModelError, DetectionFailed: see ``errors``.
        VerificationFailed: a check failed; nothing was written.
    """
    config = config or Config()
    src = Path(src)
    started = time.perf_counter()
    data = _read(src)
    fmt = sniff(data[:SNIFF_BYTES], src.name)
    animation = _animation_output(data, fmt, config, None if dst is None else Path(dst).suffix)
    if media_kind(fmt) == "video" or animation is not None:
        from .pipeline_video import anonymize_video

        dst = Path(dst) if dst is not None else default_destination(src, animation or "mp4", out_dir, neutral_stem)
        report = anonymize_video(src, dst, config, fmt=fmt, detector=detector, verifier=verifier, progress=progress,
                                 on_commit=on_commit, animation=animation)
        report.providers = providers_used()
        return report
    decoded = decode_image(data, fmt, max_pixels=int(config.max_megapixels * 1e6), name=src.name)
    out_fmt = output_format(fmt, decoded.has_alpha)
    dst = Path(dst) if dst is not None else default_destination(src, out_fmt, out_dir, neutral_stem)
    out_fmt = format_for_suffix(dst.suffix) or out_fmt
    if out_fmt == "jpeg" and decoded.has_alpha:
        out_fmt = "png"
        dst = dst.with_suffix(".png")
    check_destination(src, dst, overwrite=config.overwrite)
    report = Report(source=str(src), destination=str(dst), version=__version__, notes=list(decoded.notes))
    report.source_sha256 = hashlib.sha256(data).hexdigest()
    report.width, report.height = decoded.width, decoded.height
    report.metadata_removed = audit_bytes(data).kinds
    report.timings_ms["decode"] = _ms(started)

    detector = with_covers(detector or build_detector(config.preset, config.threshold), config)
    verifier = with_covers(verifier or build_verifier(config.preset, config.threshold), config, "verifier")
    report.models = {**detector.models, **verifier.models}
    t = time.perf_counter()
    faces = detect(detector, decoded.pixels) if regions is None else regions
    report.timings_ms["detect"] = _ms(t)
    shape = decoded.pixels.shape[:2]
    # From here the source holds the only reference to the pixels: painted in place and freed
    # before the output is re-read; a repair round decodes the original again.
    pixels = PixelSource(decoded.pixels, lambda: decode_image(data, fmt, max_pixels=int(config.max_megapixels * 1e6),
                                                              name=src.name).pixels)
    del decoded

    with PendingOutput(dst) as pending:

        def store(encoded: bytes) -> bytes:
            pending.write(encoded)
            return pending.read()  # verify what is on disk, not what we meant to write

        result = redact_verified(pixels, faces, config, out_fmt, verifier, keep_visible=keep_visible,
                                 store=store, name=dst.name)
        faces, written, leftover = result.faces, result.written, result.leftover
        report.notes += [f"verification found {n} more face(s); redacted them too" for n in result.repaired]
        if "bodies" in config.cover:
            bodies = int((result.regions.kind.astype(str) == "body").sum())
            report.notes.append(f"{bodies} body region(s) covered, derived from the faces found")
        for key, ms in result.timings_ms.items():
            report.timings_ms[key] = report.timings_ms.get(key, 0) + ms
        report.checks = [metadata_check(written)]
        report.check("decodes at the same size", result.reread_shape == shape,
                     f"{result.reread_shape[1]}×{result.reread_shape[0]}")
        text_left = leftover.kind.astype(str) == "text"
        report.check(
            "no face left outside the redacted regions",
            not (~text_left).any(),
            f"re-detected by {getattr(verifier, 'name', 'the verifier')}: {int((~text_left).sum())} left",
        )
        if "text" in config.cover:
            report.check("no text left outside the redacted regions", not text_left.any(),
                         f"re-detected by {getattr(verifier, 'name', 'the verifier')}: {int(text_left.sum())} left")
        report.faces = faces.to_list()
        report.painted_pct = round(100 * result.painted_share, 1)
        report.output_sha256 = hashlib.sha256(written).hexdigest()
        report.passed = all(c.passed for c in report.checks)
        if not report.passed:
            failed = "; ".join(f"{c.name}: {c.detail}" for c in report.checks if not c.passed)
            report.error = f"verification failed ({failed})"
            raise VerificationFailed(f"{src.name}: {report.error}; nothing was written", report=report)
        if on_commit is not None:
            on_commit(dst, report.output_sha256)
        pending.commit(overwrite=config.overwrite)
    report.timings_ms["total"] = _ms(started)
    report.providers = providers_used()
    return report


@dataclass
class Redaction:
    """What ``redact_verified`` painted and what the verifier saw in the result."""

    faces: Detections  # detections plus the verifier's repairs
    regions: Detections  # the padded regions actually painted
    written: bytes  # the encoded output as re-read
    reread_shape: tuple[int, int]
    leftover: Detections  # faces still found outside the painted regions (empty when it passed)
    repaired: list[int] = field(default_factory=list)  # faces added per repair round
    timings_ms: dict[str, float] = field(default_factory=dict)
    painted_share: float = 0.0  # share of the image's pixels painted, 0..1


def redact_verified(
    pixels: np.ndarray | PixelSource,
    faces: Detections,
    config: Config,
    out_fmt: str,
    verifier: Detector,
    *,
    keep_visible: Detections | None = None,
    store: Callable[[bytes], bytes] = lambda encoded: encoded,
    name: str = "output",
) -> Redaction:
    """Paint ``faces``, encode, re-read through ``store`` and re-detect; repair and repeat.

    Faces the verifier finds in the re-read output outside the painted regions
    are added and the image repainted, up to ``REPAIR_ROUNDS`` times; what is
    still found after that is returned in ``leftover`` (the caller fails the
    file). ``store`` writes the bytes and returns them as read back; the
    benchmark passes the identity to get the same regions without a file.
    ``pixels`` is painted on a copy; a ``PixelSource`` that owns its pixels
    is painted in place, each copy let go as soon as the next one exists.
    """
    source = pixels if isinstance(pixels, PixelSource) else PixelSource(pixels)
    height, width = source.shape[:2]
    timings = {"redact+encode": 0.0, "verify": 0.0}
    repaired: list[int] = []
    for round_ in range(REPAIR_ROUNDS + 1):
        t = time.perf_counter()
        painted_regions = redaction_regions(faces, config.padding, width, height, bodies="bodies" in config.cover)
        # The painted array lives until Pillow holds its own copy for the encoder, no longer.
        image = clean_image(paint(source.take(), painted_regions, config, in_place=source.owned))
        written = store(encode_clean(image, out_fmt, jpeg_quality=config.jpeg_quality))
        del image
        timings["redact+encode"] += _ms(t)
        t = time.perf_counter()
        reread = decode_image(written, out_fmt, max_pixels=width * height, name=name)
        reread_shape = reread.pixels.shape[:2]
        mask = region_mask(height, width, painted_regions, config.shape)
        leftover = residual_faces(verifier, reread.pixels, mask, keep_visible)
        del reread
        painted_share = float(mask.mean()) if mask.size else 0.0
        del mask
        timings["verify"] += _ms(t)
        if not len(leftover) or round_ == REPAIR_ROUNDS:
            break
        repaired.append(len(leftover))
        # Text the verifier still reads is repainted as text, grown by its height on every side: what
        # it finds next to a painted box is most often the rest of a line (a faint watermark across
        # the photo is found piece by piece). Anything else is repainted as a face.
        is_text = leftover.kind.astype(str) == "text"
        grow = np.where(is_text, leftover.height * REPAIR_TEXT_GROWTH, 0)[:, None] * np.array([-1, -1, 1, 1], np.float32)
        leftover = leftover.replace(xyxy=(leftover.xyxy + grow).astype(np.float32),
                                    kind=np.where(is_text, "text", "face").astype(object))
        faces = Detections.merge([faces, leftover])
    return Redaction(faces, painted_regions, written, reread_shape, leftover, repaired, timings,
                     painted_share=painted_share)


def detect(detector: Detector, pixels: np.ndarray) -> Detections:
    """Run ``detector`` on the colour channels; a crash is a typed failure."""
    try:
        return detector.detect(np.ascontiguousarray(pixels[:, :, :3]))
    except Exception as exc:  # onnxruntime / OpenCV errors are untyped
        raise DetectionFailed(f"face detection failed: {type(exc).__name__}: {exc}") from exc


# A destination's suffix picks what an animation is written as (GIF in, ``out.webp`` out: WebP).
_ANIMATION_SUFFIXES = {".mp4": "mp4", ".gif": "gif", ".webp": "webp", ".png": "apng", ".apng": "apng"}


def _animation_output(data: bytes, fmt: str, config: Config, suffix: str | None = None) -> str | None:
    """What an animated GIF, WebP or PNG is written as (``gif``, ``webp``, ``apng`` or ``mp4``); ``None`` for a still."""
    if fmt not in ANIMATABLE_FORMATS:
        return None
    from .io.animation import animation_frames, output_kind

    if animation_frames(data, fmt) < 2:
        return None
    chosen = _ANIMATION_SUFFIXES.get((suffix or "").lower())
    return chosen or ("mp4" if config.animation == "mp4" else output_kind(fmt))


def default_destination(src: Path, out_fmt: str, out_dir: str | Path | None = None,
                        neutral_stem: str | None = None) -> Path:
    """``<stem>.veiled.<ext>`` (or ``<neutral_stem>.<ext>``) beside the source, or in ``out_dir``."""
    from .io.animation import ANIMATION_OUTPUTS
    from .io.image import OUTPUT_FORMATS
    from .io.naming import output_stem

    folder = src.parent if out_dir is None else Path(out_dir)
    suffix = OUTPUT_FORMATS.get(out_fmt) or ANIMATION_OUTPUTS.get(out_fmt, (None, ".mp4"))[1]
    return folder / f"{output_stem(src, neutral_stem)}{suffix}"


def _read(src: Path) -> bytes:
    from .io.source import read_regular_file

    return read_regular_file(src)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
