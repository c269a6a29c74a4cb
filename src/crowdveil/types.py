"""The data that flows between stages: ``Detections`` in, ``Report`` out.

``Detections`` is the one currency of detect → track → redact → verify: a
structure of arrays (boxes, scores, kinds, track ids, sources) in image pixel
coordinates, ``xyxy`` with x2/y2 exclusive.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, NotRequired, Sequence, TypedDict

import numpy as np

from .version import __version__

__all__ = ["Detections", "Check", "Report", "PhotoFace", "VideoTrack", "box_iou", "box_coverage"]


class PhotoFace(TypedDict):
    """One region painted on a photo: ``Report.faces`` of a photo (``Detections.to_list``)."""

    box: list[float]  # x1 y1 x2 y2, pixels, before padding
    score: float
    kind: str  # "face", "text", "manual", …
    source: str  # the detector or pass that found it
    track_id: NotRequired[int]  # only where the region belongs to a track


class VideoTrack(TypedDict):
    """One face track of a video: ``Report.faces`` of a video (the tracker's, one entry per track)."""

    track_id: int
    first_frame: int
    frames_detected: int  # frames on which the detector found it (not those the tracker carried it over)
    box: list[float]  # where it was first detected, x1 y1 x2 y2, pixels
    score: float  # its best detection's score
    last_frame: int


def _as_boxes(xyxy: Any) -> np.ndarray:
    arr = np.asarray(xyxy, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float32)
    return arr.reshape(-1, 4)


@dataclass(frozen=True, eq=False)
class Detections:
    """Face (or other) regions of one image or frame.

    Args:
        xyxy: (N, 4) float32 boxes, pixels, ``x1 y1 x2 y2``.
        score: (N,) float32 confidence in [0, 1]; manual regions score 1.
        kind: (N,) str, what the region covers: ``"face"``, ``"manual"``, …
        track_id: (N,) int64, -1 where the region belongs to no track.
        source: (N,) str, which detector or pass produced it.

    Example:
        >>> d = Detections.from_boxes([[10, 10, 20, 20]], score=[0.9])
        >>> len(d.expand(0.25)), d.expand(0.25).xyxy[0].tolist()
        (1, [7.5, 7.5, 22.5, 22.5])
    """

    xyxy: np.ndarray
    score: np.ndarray
    kind: np.ndarray
    track_id: np.ndarray
    source: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must be (N, 4), got {self.xyxy.shape}")
        for name in ("score", "kind", "track_id", "source"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n} boxes")

    # -- construction -------------------------------------------------
    @classmethod
    def from_boxes(
        cls,
        xyxy: Any,
        score: Any = None,
        kind: str | Sequence[str] = "face",
        source: str | Sequence[str] = "",
        track_id: Any = None,
    ) -> "Detections":
        boxes = _as_boxes(xyxy)
        n = len(boxes)
        sc = np.ones(n, np.float32) if score is None else np.asarray(score, np.float32).reshape(n)
        kd = np.array([kind] * n if isinstance(kind, str) else list(kind), dtype=object).reshape(n)
        src = np.array([source] * n if isinstance(source, str) else list(source), dtype=object).reshape(n)
        tid = np.full(n, -1, np.int64) if track_id is None else np.asarray(track_id, np.int64).reshape(n)
        return cls(boxes, sc, kd, tid, src)

    @classmethod
    def empty(cls) -> "Detections":
        return cls.from_boxes(np.zeros((0, 4), np.float32))

    @classmethod
    def merge(cls, parts: Iterable["Detections"]) -> "Detections":
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]).astype(np.float32),
            np.concatenate([p.score for p in parts]).astype(np.float32),
            np.concatenate([p.kind for p in parts]),
            np.concatenate([p.track_id for p in parts]),
            np.concatenate([p.source for p in parts]),
        )

    # -- container protocol --------------------------------------------
    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> "Detections":
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Detections(
            self.xyxy[index].reshape(-1, 4),
            np.atleast_1d(self.score[index]),
            np.atleast_1d(self.kind[index]),
            np.atleast_1d(self.track_id[index]),
            np.atleast_1d(self.source[index]),
        )

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def replace(self, **changes: Any) -> "Detections":
        return dataclasses.replace(self, **changes)

    # -- geometry ------------------------------------------------------
    @property
    def width(self) -> np.ndarray:
        return self.xyxy[:, 2] - self.xyxy[:, 0]

    @property
    def height(self) -> np.ndarray:
        return self.xyxy[:, 3] - self.xyxy[:, 1]

    @property
    def area(self) -> np.ndarray:
        return np.clip(self.width, 0, None) * np.clip(self.height, 0, None)

    def expand(self, fraction: float | tuple[float, float, float, float]) -> "Detections":
        """Grow each box by ``fraction`` of its width/height on each side.

        A 4-tuple gives (left, top, right, bottom) fractions separately.
        """
        if isinstance(fraction, tuple):
            left, top, right, bottom = fraction
        else:
            left = top = right = bottom = float(fraction)
        w, h = self.width, self.height
        grown = self.xyxy.copy()
        grown[:, 0] -= w * left
        grown[:, 1] -= h * top
        grown[:, 2] += w * right
        grown[:, 3] += h * bottom
        return self.replace(xyxy=grown)

    def scale(self, sx: float, sy: float | None = None) -> "Detections":
        sy = sx if sy is None else sy
        return self.replace(xyxy=self.xyxy * np.array([sx, sy, sx, sy], np.float32))

    def shift(self, dx: float, dy: float) -> "Detections":
        return self.replace(xyxy=self.xyxy + np.array([dx, dy, dx, dy], np.float32))

    def clip(self, width: int, height: int) -> "Detections":
        """Clip to the image and drop boxes left with no area."""
        clipped = self.xyxy.copy()
        clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, width)
        clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, height)
        out = self.replace(xyxy=clipped)
        return out[out.area > 0]

    def nms(self, iou_threshold: float = 0.4, *, enclose: bool = False,
            max_growth: float | None = None) -> "Detections":
        """Greedy non-maximum suppression, highest score first.

        Args:
            enclose: grow each kept box to enclose the boxes it suppressed, so
                the result covers every pixel the input did (one region per
                face, nothing uncovered that some box covered).
            max_growth: with ``enclose``, a kept box grows by at most this share
                of its width (height) on each side; an overlapping box that
                reaches further is not suppressed but kept on its own, so the
                result still covers every input pixel and no box balloons over
                its neighbours.
        """
        if len(self) <= 1:
            return self
        order = np.argsort(-self.score, kind="stable")
        suppressed = np.zeros(len(self), bool)
        keep = []
        boxes = self.xyxy.copy()
        bounded = enclose and max_growth is not None
        if bounded:
            size = np.tile(self.xyxy[:, 2:] - self.xyxy[:, :2], 2) * np.array([-1, -1, 1, 1], np.float32)
            limits = self.xyxy + size * np.float32(max_growth)
        # A box's candidates for suppression: those overlapping it over the threshold (and, bounded,
        # lying within its growth limit). Up to _NMS_MATRIX boxes all rows at once, 256 at a time;
        # beyond, one row when needed: a low-threshold pass over a 200 MP photo gives tens of
        # thousands of boxes, whose full matrix would take gigabytes.
        def rows(chunk: slice) -> np.ndarray:
            group = box_iou(self.xyxy[chunk], self.xyxy) > iou_threshold
            if bounded:
                low, high = limits[chunk, None, :2] - 1e-4, limits[chunk, None, 2:] + 1e-4
                group &= self.xyxy[None, :, 0] >= low[..., 0]
                group &= self.xyxy[None, :, 1] >= low[..., 1]
                group &= self.xyxy[None, :, 2] <= high[..., 0]
                group &= self.xyxy[None, :, 3] <= high[..., 1]
            return group

        matrix = None
        if len(self) <= _NMS_MATRIX:
            matrix = np.concatenate([rows(slice(start, start + 256)) for start in range(0, len(self), 256)])
        for i in order:
            if suppressed[i]:
                continue
            keep.append(i)
            group = (matrix[i] if matrix is not None else rows(slice(i, i + 1))[0]) & ~suppressed
            group[i] = True
            if enclose:
                members = self.xyxy[group]
                boxes[i] = [*members[:, :2].min(0), *members[:, 2:].max(0)]
            suppressed |= group
        kept = np.array(sorted(keep), dtype=np.int64)
        return self[kept].replace(xyxy=boxes[kept]) if enclose else self[kept]

    def to_list(self) -> list[PhotoFace]:
        faces: list[PhotoFace] = []
        for i in range(len(self)):
            face: PhotoFace = {
                "box": [round(float(v), 1) for v in self.xyxy[i]],
                "score": round(float(self.score[i]), 4),
                "kind": str(self.kind[i]),
                "source": str(self.source[i]),
            }
            if self.track_id[i] >= 0:
                face["track_id"] = int(self.track_id[i])
            faces.append(face)
        return faces


# ``Detections.nms`` computes the whole IoU matrix of up to this many boxes (16 MB of booleans,
# 256 rows at a time).
_NMS_MATRIX = 4096


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N,4) and (M,4) xyxy boxes -> (N, M)."""
    a = _as_boxes(a)
    b = _as_boxes(b)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)), np.float32)
    inter = _intersection(a, b)
    area_a = ((a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0))[:, None]
    area_b = ((b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0))[None, :]
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0).astype(np.float32)


def box_coverage(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of each box in ``a`` covered by each box in ``b`` -> (N, M)."""
    a = _as_boxes(a)
    b = _as_boxes(b)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)), np.float32)
    area_a = ((a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0))[:, None]
    return np.where(area_a > 0, _intersection(a, b) / np.maximum(area_a, 1e-9), 0).astype(np.float32)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    return (x2 - x1).clip(0) * (y2 - y1).clip(0)


@dataclass
class Check:
    """One verification step and its outcome."""

    name: str
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass
class Report:
    """What happened to one file. Never holds metadata *values*, only kinds."""

    source: str
    destination: str | None = None
    media: str = "photo"  # "photo" | "video"
    passed: bool = False
    error: str | None = None
    hint: str | None = None
    width: int = 0
    height: int = 0
    # What was found: on a photo one ``PhotoFace`` per region painted, on a video one ``VideoTrack``
    # per face track (``media`` says which); ``face_count`` counts them either way.
    faces: list[PhotoFace] | list[VideoTrack] = field(default_factory=list)
    metadata_removed: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    video: dict[str, Any] = field(default_factory=dict)
    source_sha256: str | None = None
    output_sha256: str | None = None
    version: str = __version__  # of the crowdveil that made the report (never written into the output)
    # Share of the picture painted, in percent: of the photo, or of the video's most painted
    # frame (``video["painted_max_frame"]`` says which); None when not measured.
    painted_pct: float | None = None
    error_type: str | None = None  # the class name of the error that failed the file (``errors``)
    providers: list[str] = field(default_factory=list)  # onnxruntime execution providers that ran inference

    @property
    def face_count(self) -> int:
        return len(self.faces)

    def check(self, name: str, passed: bool, detail: str = "") -> Check:
        c = Check(name, bool(passed), detail)
        self.checks.append(c)
        return c

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["checks"] = [c.to_dict() for c in self.checks]
        d["face_count"] = self.face_count
        return d
