"""decode → detect → redact → encode clean → verify → report, for one file.

``anonymize`` is the only entry point: the CLI, the studio and batch runs
all call it. It reads the file's first bytes, tells a photo from a video or
an animation, and hands it to ``photo.anonymize_photo`` or
``video.anonymize_video``; the edges they share (the report they start,
"fail or commit", stage timing) are in ``common``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..config import Config
from ..detect.base import Detector
from ..detect.onnx_session import providers_used
from ..errors import UnsupportedFormat
from ..io.formats import ANIMATION_SUFFIXES
from ..io.sniff import ANIMATABLE_FORMATS, SNIFF_BYTES, media_kind, sniff
from ..io.source import read_regular_file
from ..types import Detections, Report
from .common import default_destination
from .photo import anonymize_photo, detect, judge, redact_verified

__all__ = ["anonymize", "default_destination", "detect", "judge", "redact_verified"]


def anonymize(
    src: str | Path,
    dst: str | Path | None = None,
    config: Config | None = None,
    *,
    regions: Detections | None = None,
    keep_visible: Detections | None = None,
    rejected: Detections | None = None,
    detector: Detector | None = None,
    verifier: Detector | None = None,
    out_dir: str | Path | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    on_commit: Callable[[Path, str], None] | None = None,
    neutral_stem: str | None = None,
) -> Report:
    """Write an anonymized, verified copy of ``src`` to ``dst``.

    Args:
        src: photo or video to anonymize; never modified.
        dst: output path; default ``<name>.veiled.<ext>`` beside ``src``.
        config: settings; ``Config()`` is the safe default.
        regions: photos only: faces to redact instead of running the detector
            (reviewed in the studio); manual additions are simply part of it.
        keep_visible: photos only: regions a person chose to leave visible;
            the verifier does not count faces found there.
        rejected: photos only, with ``regions``: the candidates the detector turned
            down where the regions came from (``Judgement.rejected``), so that the
            verifier weighs its finds as it does when the detector runs here.
        detector, verifier: override the preset's detectors (tests, benchmarks).
        out_dir: with no ``dst``, write ``<name>.veiled.<ext>`` into this folder.
        progress: videos only: ``progress(frames_done, frames_total_or_None)``
            after each frame (see ``pipeline.video.ProgressCallback``).
        on_commit: ``on_commit(dst, sha256)`` with the verified output's
            digest, just before it is renamed into place; if it raises,
            nothing is renamed (the resume manifest records it here).
        neutral_stem: with no ``dst``, name the output ``<neutral_stem>.<ext>``
            instead of after the original (``io.naming``).

    Returns:
        The ``Report``; ``report.passed`` is True, otherwise an error is raised.

    Raises:
        InputError, OutputError, ModelError, DetectionFailed: see ``errors``.
        UnsupportedFormat: also when ``regions``, ``keep_visible`` or ``rejected`` is given for a
            video or an animation (a video's reviewed regions go through the studio's
            per-frame review, ``video.anonymize_video(added=...)``).
        VerificationFailed: a check failed; nothing was written.
    """
    config = config or Config()
    src = Path(src)
    started = time.perf_counter()
    head = read_regular_file(src, limit=SNIFF_BYTES)  # a video is never read whole here
    fmt = sniff(head, src.name)
    data = None if media_kind(fmt) == "video" else read_regular_file(src)
    animation = None if data is None else _animation_output(data, fmt, config, None if dst is None else Path(dst).suffix)
    if data is None or animation is not None:
        if regions is not None or keep_visible is not None or rejected is not None:
            raise UnsupportedFormat(
                f"{src.name}: reviewed regions (regions, keep_visible, rejected) are for photos; this is a video or an animation",
                hint="Review a video in the studio, which paints regions on its frames, or leave regions out.",
            )
        from .video import anonymize_video

        dst = Path(dst) if dst is not None else default_destination(src, animation or "mp4", out_dir, neutral_stem)
        report = anonymize_video(src, dst, config, fmt=fmt, detector=detector, verifier=verifier, progress=progress,
                                 on_commit=on_commit, animation=animation)
    else:
        report = anonymize_photo(src, data, fmt, None if dst is None else Path(dst), config, started=started,
                                 regions=regions, keep_visible=keep_visible, rejected=rejected, detector=detector,
                                 verifier=verifier,
                                 out_dir=out_dir, on_commit=on_commit, neutral_stem=neutral_stem)
    report.providers = providers_used()
    return report




def _animation_output(data: bytes, fmt: str, config: Config, suffix: str | None = None) -> str | None:
    """What an animated GIF, WebP or PNG is written as (``gif``, ``webp``, ``apng`` or ``mp4``); ``None`` for a still."""
    if fmt not in ANIMATABLE_FORMATS:
        return None
    from ..io.animation import animation_frames, output_kind

    if animation_frames(data, fmt) < 2:
        return None
    chosen = ANIMATION_SUFFIXES.get((suffix or "").lower())
    return chosen or ("mp4" if config.animation == "mp4" else output_kind(fmt))
