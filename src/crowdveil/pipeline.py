"""decode → detect → redact → encode clean → verify → report, for one file.

``anonymize`` is the only entry point: the CLI, the studio and batch runs
all call it. Videos take the same steps frame by frame in ``pipeline_video``.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from . import __version__
from .config import Config
from .detect.base import Detector
from .detect.registry import build_detector, build_verifier
from .errors import DetectionFailed, VerificationFailed
from .io.image import decode_image, encode_image, format_for_suffix, output_format
from .io.output import PendingOutput, check_destination
from .io.sniff import media_kind, sniff
from .redact import paint, redaction_regions, region_mask
from .types import Detections, Report
from .verify.audit import audit_bytes
from .verify.checks import metadata_check, residual_faces

# Rounds in which faces the verifier finds in the output are added and the
# image repainted; a face still found after that fails the file.
REPAIR_ROUNDS = 2


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
    fmt = sniff(data[:64], src.name)
    if media_kind(fmt) == "video":
        from .pipeline_video import anonymize_video

        dst = Path(dst) if dst is not None else default_destination(src, "mp4", out_dir)
        return anonymize_video(src, dst, config, fmt=fmt, detector=detector, verifier=verifier)
    decoded = decode_image(data, fmt, max_pixels=int(config.max_megapixels * 1e6), name=src.name)
    out_fmt = output_format(fmt, decoded.has_alpha)
    dst = Path(dst) if dst is not None else default_destination(src, out_fmt, out_dir)
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

    detector = detector or build_detector(config.preset, config.threshold)
    verifier = verifier or build_verifier(config.preset, config.threshold)
    report.models = {**detector.models, **verifier.models}
    t = time.perf_counter()
    faces = detect(detector, decoded.pixels) if regions is None else regions
    report.timings_ms["detect"] = _ms(t)

    with PendingOutput(dst) as pending:
        for round_ in range(REPAIR_ROUNDS + 1):
            t = time.perf_counter()
            painted_regions = redaction_regions(faces, config.padding, decoded.width, decoded.height)
            pixels = paint(decoded.pixels, painted_regions, config)
            pending.write(encode_image(pixels, out_fmt, jpeg_quality=config.jpeg_quality))
            report.timings_ms["redact+encode"] = report.timings_ms.get("redact+encode", 0) + _ms(t)
            t = time.perf_counter()
            written = pending.read()
            report.checks = [metadata_check(written)]
            reread = decode_image(written, out_fmt, max_pixels=decoded.width * decoded.height, name=dst.name)
            report.check(
                "decodes at the same size",
                reread.pixels.shape[:2] == decoded.pixels.shape[:2],
                f"{reread.width}×{reread.height}",
            )
            mask = region_mask(decoded.height, decoded.width, painted_regions, config.shape)
            leftover = residual_faces(verifier, reread.pixels, mask, keep_visible)
            report.timings_ms["verify"] = report.timings_ms.get("verify", 0) + _ms(t)
            if not len(leftover) or round_ == REPAIR_ROUNDS:
                break
            report.notes.append(f"verification found {len(leftover)} more face(s); redacted them too")
            faces = Detections.merge([faces, leftover.replace(kind=np.full(len(leftover), "face", object))])
        report.check(
            "no face left outside the redacted regions",
            not len(leftover),
            f"re-detected at threshold {getattr(verifier, 'name', '')}: {len(leftover)} left",
        )
        report.faces = faces.to_list()
        report.output_sha256 = hashlib.sha256(written).hexdigest()
        report.passed = all(c.passed for c in report.checks)
        if not report.passed:
            failed = "; ".join(f"{c.name}: {c.detail}" for c in report.checks if not c.passed)
            report.error = f"verification failed ({failed})"
            raise VerificationFailed(f"{src.name}: {report.error}; nothing was written", report=report)
        pending.commit(overwrite=config.overwrite)
    report.timings_ms["total"] = _ms(started)
    return report


def detect(detector: Detector, pixels: np.ndarray) -> Detections:
    """Run ``detector`` on the colour channels; a crash is a typed failure."""
    try:
        return detector.detect(np.ascontiguousarray(pixels[:, :, :3]))
    except Exception as exc:  # onnxruntime / OpenCV errors are untyped
        raise DetectionFailed(f"face detection failed: {type(exc).__name__}: {exc}") from exc


def default_destination(src: Path, out_fmt: str, out_dir: str | Path | None = None) -> Path:
    """``<stem>.veiled.<ext>`` beside the source, or in ``out_dir``."""
    from .io.image import OUTPUT_FORMATS

    folder = src.parent if out_dir is None else Path(out_dir)
    return folder / f"{src.stem}.veiled{OUTPUT_FORMATS.get(out_fmt, '.mp4')}"


def _read(src: Path) -> bytes:
    from .errors import CorruptInput, InputError

    try:
        return src.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{src} does not exist", hint="Check the path.") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{src} is a folder", hint="Pass files, or a folder to the CLI (it walks folders).") from exc
    except OSError as exc:
        raise CorruptInput(f"cannot read {src}: {exc.strerror}") from exc


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
