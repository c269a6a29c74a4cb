"""Detection on video frames: the detector's (and verifier's) views per worker thread, and the filters.

``FrameDetector`` runs in ``Ahead``'s worker threads: onnxruntime, OpenCV
and PyAV release the GIL, so the detectors work on the next frames while
the main thread paints and encodes the ones before. ``sure_for_their_size``
and ``without_outsized`` drop what the video presets say is not a face
(``detect.registry``) before the tracker sees it.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Generic, TypeVar

import numpy as np

from ...config import Config
from ...detect import registry
from ...detect.base import Detector
from ...detect.registry import (
    CONFIDENT_FACE,
    NEIGHBOURHOOD,
    OUTSIZED,
    PAINTED_OUTSIZED,
    PAINTED_OUTSIZED_SURE,
    VIDEO_SIZE_LADDER,
)
from ...io.video import VideoFrame
from ...types import Detections

__all__ = ["Views", "FrameDetector", "Ahead", "sure_for_their_size", "without_outsized", "WORKERS", "DETECT_AHEAD"]

# Frames decoded and handed to the detection threads ahead of the one being painted, per thread.
DETECT_AHEAD = 2
# Detection (and verification) worker threads: one per core, up to four.
WORKERS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)))


class Views:
    """The detectors one role (``detector`` or ``verifier``) reads frames with: frame ``i`` by ``here()[i % n]``.

    A detector handed in is used alone, on one thread (it may not be
    thread-safe). Otherwise each worker thread builds its own pair of views
    (``registry.views``): cheap, the onnxruntime session behind them is
    shared, and a detector with state of its own would still be safe.
    """

    def __init__(self, role: str, config: Config, given: Detector | None) -> None:
        if role not in ("detector", "verifier"):
            raise ValueError(f"unknown role {role!r}")
        self.role, self.config, self.given = role, config, given
        self.size = (0, 0)
        self._local = threading.local()
        self._built_name: str | None = None

    def start(self, size: tuple[int, int]) -> None:
        """The frames' (width, height) as written: views are built for it."""
        self.size = size

    @property
    def workers(self) -> int:
        return 1 if self.given is not None else WORKERS

    def _pair(self) -> list[Detector]:
        # Looked up at call time: tests replace the builders in ``detect.registry``.
        build = registry.build_video_detector if self.role == "detector" else registry.build_video_verifier
        return registry.views(build, self.config, *self.size, verifier=self.role == "verifier")

    def described(self) -> tuple[str, dict[str, str]] | None:
        """How the built views are named in the report, and their models; ``None`` for one handed in."""
        if self.given is not None:
            return None
        pair = self._pair()
        self._built_name = _described(pair)
        return self._built_name, dict(pair[0].models)

    @property
    def name(self) -> str:
        """The name of the detector handed in, or of the built pair (for a check's detail)."""
        if self.given is not None:
            return getattr(self.given, "name", f"the {self.role}")
        return self._built_name or _described(self._pair())

    def here(self) -> list[Detector]:
        """This thread's views."""
        if self.given is not None:
            return [self.given]
        mine = getattr(self._local, "views", None)
        if mine is None:
            mine = self._pair()
            self._local.views = mine
        return mine

    def for_frame(self, index: int) -> Detector:
        mine = self.here()
        return mine[index % len(mine)]


class FrameDetector:
    """Faces in one frame, filtered; the whole frame when the detector fails (fail secure).

    ``failed`` lists the frames the detector crashed on; each was painted over entirely.
    """

    def __init__(self, views: Views) -> None:
        self.views = views
        self.failed: list[int] = []

    def __call__(self, frame: VideoFrame) -> Detections:
        assert frame.rgb is not None
        try:
            return self.views.for_frame(frame.index).detect(frame.rgb)
        except Exception:  # noqa: BLE001 - any detector crash: fail secure, never pass the frame through
            self.failed.append(frame.index)
            h, w = frame.rgb.shape[:2]
            return Detections.from_boxes([[0, 0, w, h]], kind="frame", source="detection failed: whole frame")

    @staticmethod
    def kept(found: Detections, scale: float) -> Detections:
        """``found`` less what the video presets say is not a face (big and unsure, or outsized).

        ``scale``: how the detector resized the frame (``registry.fit_scale``).
        """
        return without_outsized(sure_for_their_size(found, scale) if len(found) else found)


T = TypeVar("T")


class Ahead(Generic[T]):
    """Per-frame work (detection) in worker threads while the caller decodes, paints and encodes.

    onnxruntime, OpenCV and PyAV release the GIL while they compute, so the
    detectors work on the next frames while this one is painted, converted
    and encoded and the one after is decoded. With one worker per core a
    frame's inference starts while another's is still in its serial parts
    (a 720p pass of 210 frames on 2 cores: 10.7 s with two workers, 12.1 s
    with one). Results come back in frame order, each with its frame;
    every frame put in comes out exactly once.
    """

    def __init__(self, work: Callable[[VideoFrame], T], workers: int = 1) -> None:
        self._work, self._depth = work, DETECT_AHEAD * max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="crowdveil-detect")
        self._queued: deque[tuple[VideoFrame, Future[T]]] = deque()

    def put(self, frame: VideoFrame) -> list[tuple[VideoFrame, T]]:
        """Queue ``frame``; return the frames (oldest first) whose turn has come, with ``work``'s result."""
        self._queued.append((frame, self._pool.submit(self._work, frame)))
        ready = []
        while len(self._queued) > self._depth:
            done, future = self._queued.popleft()
            ready.append((done, future.result()))
        return ready

    def finish(self) -> list[tuple[VideoFrame, T]]:
        """Every frame still queued, with ``work``'s result."""
        ready = [(frame, future.result()) for frame, future in self._queued]
        self._queued.clear()
        return ready

    def __enter__(self) -> "Ahead[T]":
        return self

    def __exit__(self, *exc_info: object) -> None:
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


def sure_faces(found: Detections) -> Detections:
    """The faces of ``found`` the detector is sure of (``CONFIDENT_FACE``): what size a face is there."""
    return found[(found.score >= CONFIDENT_FACE) & (found.kind == "face")]


def without_outsized(found: Detections, beside: Detections | None = None) -> Detections:
    """``found`` less the unsure boxes far bigger than every sure face around them (``OUTSIZED``).

    The sure faces are ``found``'s own, or ``beside``'s: the verifier's finds on a
    written frame are measured against the faces the detector was sure of there
    (painted over, the verifier cannot see them); there a box more than
    ``PAINTED_OUTSIZED`` times such a face also needs ``PAINTED_OUTSIZED_SURE``. A
    box with no sure face near it is kept whatever its size: recall first, the
    rule needs a face the detector is sure of to say what size a face is there.
    """
    reference = sure_faces(found if beside is None else beside)
    if not len(found) or not len(reference):
        return found

    def sides_and_centres(d: Detections) -> tuple[np.ndarray, np.ndarray]:
        xyxy = d.xyxy
        side = np.sqrt(np.maximum(xyxy[:, 2] - xyxy[:, 0], 0) * np.maximum(xyxy[:, 3] - xyxy[:, 1], 0))
        return side, (xyxy[:, :2] + xyxy[:, 2:]) / 2

    side, centre = sides_and_centres(found)
    sure_side, sure_centre = sides_and_centres(reference)
    keep = np.ones(len(found), bool)
    painted = beside is not None
    unsure = found.score < (PAINTED_OUTSIZED_SURE if painted else CONFIDENT_FACE)
    for i in np.flatnonzero(unsure & (found.kind == "face")):
        near = np.hypot(*(sure_centre - centre[i]).T) <= NEIGHBOURHOOD * side[i]
        if not near.any():
            continue
        ratio = side[i] / max(float(sure_side[near].max()), 1e-6)
        if (ratio > OUTSIZED and found.score[i] < CONFIDENT_FACE) or (painted and ratio > PAINTED_OUTSIZED):
            keep[i] = False
    return found if keep.all() else found[keep]


def _described(pair: list[Detector]) -> str:
    if len(pair) == 1:
        return pair[0].name
    return f"{pair[0].name} on even frames, {pair[1].name} on odd frames"
