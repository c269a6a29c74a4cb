"""Photos: decode → detect → redact → encode clean → verify (repair and repeat) → report.

``anonymize_photo`` runs one still image; ``pipeline.anonymize`` sends it
here once the file is read and sniffed. ``redact_verified`` is the core the
benchmark shares: paint, encode, re-read, re-detect, and repaint what the
verifier still finds, up to ``PHOTO_REPAIR_ROUNDS`` times.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import Config
from ..detect.base import Detector, Judgement
from ..detect.cover import with_covers
from ..detect.onnx_session import large_photo
from ..detect.registry import VERIFIER_VIEW, VERIFY_SURE_SCORE, build_detector, build_verifier
from ..errors import DetectionFailed
from ..io.decoded import PixelSource
from ..io.image import clean_image, decode_image, encode_clean, format_for_suffix, output_format
from ..io.output import PendingOutput, check_destination
from ..redact import paint, redaction_regions, region_mask
from ..types import Detections, Report
from ..verify.audit import audit_bytes
from ..verify.checks import metadata_check, repeats_rejected, residual_faces
from .common import PHOTO_REPAIR_ROUNDS, CommitCallback, default_destination, fail_or_commit, ms_since, start_report

__all__ = ["anonymize_photo", "redact_verified", "Redaction", "detect", "judge", "REPAIR_TEXT_GROWTH"]

# Text the verifier still reads is repainted grown by this many times its height on every side.
REPAIR_TEXT_GROWTH = 1.0


def anonymize_photo(
    src: Path,
    data: bytes,
    fmt: str,
    dst: Path | None,
    config: Config,
    *,
    started: float,
    regions: Detections | None = None,
    keep_visible: Detections | None = None,
    rejected: Detections | None = None,
    detector: Detector | None = None,
    verifier: Detector | None = None,
    out_dir: str | Path | None = None,
    on_commit: CommitCallback | None = None,
    neutral_stem: str | None = None,
) -> Report:
    """Write an anonymized, verified copy of the photo ``src`` (its bytes ``data``, sniffed as ``fmt``).

    Arguments as for ``pipeline.anonymize``; ``started`` is when the run began
    (``time.perf_counter()``), for the report's timings.
    """
    decoded = decode_image(data, fmt, max_pixels=int(config.max_megapixels * 1e6), name=src.name)
    out_fmt = output_format(fmt, decoded.has_alpha)
    dst = dst if dst is not None else default_destination(src, out_fmt, out_dir, neutral_stem)
    out_fmt = format_for_suffix(dst.suffix) or out_fmt
    if out_fmt == "jpeg" and decoded.has_alpha:
        out_fmt = "png"
        dst = dst.with_suffix(".png")
    check_destination(src, dst, overwrite=config.overwrite)
    report = start_report(src, dst, notes=decoded.notes)
    report.source_sha256 = hashlib.sha256(data).hexdigest()
    report.width, report.height = decoded.width, decoded.height
    report.metadata_removed = audit_bytes(data).kinds
    report.timings_ms["decode"] = ms_since(started)

    detector = with_covers(detector or build_detector(config.preset, config.threshold), config)
    verifier = with_covers(verifier or build_verifier(config.preset, config.threshold), config, "verifier")
    report.models = {**detector.models, **verifier.models}
    # A large photo's networks run without onnxruntime's arena, which would hold their biggest
    # run's memory through the encode and the re-read (``onnx_session.large_photo``).
    with large_photo(decoded.width * decoded.height):
        t = time.perf_counter()
        judged = judge(detector, decoded.pixels) if regions is None else Judgement(
            regions, Detections.empty() if rejected is None else rejected)
        report.timings_ms["detect"] = ms_since(t)
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

            result = redact_verified(pixels, judged.faces, config, out_fmt, verifier, keep_visible=keep_visible,
                                     rejected=judged.rejected, store=store, name=dst.name)
            _write_report(report, result, config, getattr(verifier, "name", "the verifier"), shape)
            fail_or_commit(report, pending, src, dst, overwrite=config.overwrite, on_commit=on_commit)
    report.timings_ms["total"] = ms_since(started)
    return report


def _write_report(report: Report, result: Redaction, config: Config, verifier_name: str,
                  shape: tuple[int, ...]) -> None:
    """What ``redact_verified`` did, and the checks that decide whether the photo is kept."""
    report.notes += [f"verification found {n} more face(s); redacted them too" for n in result.repaired]
    if result.repeated_rejected:
        report.notes.append(f"verification re-found {result.repeated_rejected} candidate(s) the classifier had turned "
                            f"down (score under {VERIFY_SURE_SCORE:g}); left as judged")
    if "bodies" in config.cover:
        bodies = int((result.regions.kind.astype(str) == "body").sum())
        report.notes.append(f"{bodies} body region(s) covered, derived from the faces found")
    for key, ms in result.timings_ms.items():
        report.timings_ms[key] = report.timings_ms.get(key, 0) + ms
    report.checks = [metadata_check(result.written)]
    report.check("decodes at the same size", result.reread_shape == shape,
                 f"{result.reread_shape[1]}×{result.reread_shape[0]}")
    text_left = result.leftover.kind.astype(str) == "text"
    report.check(
        "no face left outside the redacted regions",
        not (~text_left).any(),
        f"re-detected by {verifier_name}: {int((~text_left).sum())} left",
    )
    if "text" in config.cover:
        report.check("no text left outside the redacted regions", not text_left.any(),
                     f"re-detected by {verifier_name}: {int(text_left.sum())} left")
    report.faces = result.faces.to_list()
    report.painted_pct = round(100 * result.painted_share, 1)
    report.output_sha256 = hashlib.sha256(result.written).hexdigest()
    report.passed = all(c.passed for c in report.checks)


@dataclass
class Redaction:
    """What ``redact_verified`` painted and what the verifier saw in the result."""

    faces: Detections  # detections plus the verifier's repairs
    regions: Detections  # the padded regions actually painted
    written: bytes  # the encoded output as re-read
    reread_shape: tuple[int, ...]  # (height, width) of the output as decoded again
    leftover: Detections  # faces still found outside the painted regions (empty when it passed)
    repaired: list[int] = field(default_factory=list)  # faces added per repair round
    timings_ms: dict[str, float] = field(default_factory=dict)
    painted_share: float = 0.0  # share of the image's pixels painted, 0..1
    repeated_rejected: int = 0  # verifier finds, last round, that only repeated rejected candidates


def _identity(encoded: bytes) -> bytes:
    return encoded


def redact_verified(
    pixels: np.ndarray | PixelSource,
    faces: Detections,
    config: Config,
    out_fmt: str,
    verifier: Detector,
    *,
    keep_visible: Detections | None = None,
    rejected: Detections | None = None,
    store: Callable[[bytes], bytes] = _identity,
    name: str = "output",
) -> Redaction:
    """Paint ``faces``, encode, re-read through ``store`` and re-detect; repair and repeat.

    Faces the verifier finds in the re-read output outside the painted regions
    are added and the image repainted, up to ``PHOTO_REPAIR_ROUNDS`` times; what is
    still found after that is returned in ``leftover`` (the caller fails the
    file). A find under ``VERIFY_SURE_SCORE`` that only repeats one of
    ``rejected`` (the detector's ``Judgement``) is not repainted
    (``verify.checks.repeats_rejected``). ``store`` writes the bytes and returns them as read back; the
    benchmark passes the identity to get the same regions without a file.
    ``pixels`` is painted on a copy; a ``PixelSource`` that owns its pixels
    is painted in place, each copy let go as soon as the next one exists.
    """
    source = pixels if isinstance(pixels, PixelSource) else PixelSource(pixels)
    twins = Detections.empty() if rejected is None else rejected[rejected.source.astype(str) == VERIFIER_VIEW]
    height, width = source.shape[:2]
    timings = {"redact+encode": 0.0, "verify": 0.0}
    repaired: list[int] = []
    for round_ in range(PHOTO_REPAIR_ROUNDS + 1):
        t = time.perf_counter()
        painted_regions = redaction_regions(faces, config.padding, width, height, bodies="bodies" in config.cover)
        # The painted array lives until Pillow holds its own copy for the encoder, no longer.
        image = clean_image(paint(source.take(), painted_regions, config, in_place=source.owned))
        written = store(encode_clean(image, out_fmt, jpeg_quality=config.jpeg_quality))
        del image
        timings["redact+encode"] += ms_since(t)
        t = time.perf_counter()
        reread = decode_image(written, out_fmt, max_pixels=width * height, name=name)
        reread_shape = reread.pixels.shape[:2]
        mask = region_mask(height, width, painted_regions, config.shape)
        leftover = residual_faces(verifier, reread.pixels, mask, keep_visible)
        repeated = repeats_rejected(leftover, twins, below=VERIFY_SURE_SCORE)
        leftover = leftover[~repeated]
        del reread
        painted_share = float(mask.mean()) if mask.size else 0.0
        del mask
        timings["verify"] += ms_since(t)
        if not len(leftover) or round_ == PHOTO_REPAIR_ROUNDS:
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
                     painted_share=painted_share, repeated_rejected=int(repeated.sum()))


def detect(detector: Detector, pixels: np.ndarray) -> Detections:
    """Run ``detector`` on the colour channels; a crash is a typed failure."""
    return judge(detector, pixels).faces


def judge(detector: Detector, pixels: np.ndarray) -> Judgement:
    """``detector``'s ``Judgement`` of the colour channels; a crash is a typed failure."""
    try:
        return detector.judge(np.ascontiguousarray(pixels[:, :, :3]))
    except Exception as exc:  # onnxruntime / OpenCV errors are untyped
        raise DetectionFailed(f"face detection failed: {type(exc).__name__}: {exc}") from exc
