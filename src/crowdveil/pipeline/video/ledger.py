"""What was painted where: per frame, the padded regions the written file shows.

The first pass records each frame's regions as the tracker releases them;
a repair or a region drawn in review adds to the frames it touches and says
which frames changed (the only ones encoded again). ``TrackLog`` keeps the
per-track summary the report lists as the video's faces.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ...redact import redaction_regions
from ...redact.regions import painted_share
from ...types import Detections, VideoTrack
from .detection import sure_faces

__all__ = ["RegionLedger", "TrackLog", "touched_track", "moved_with_tracks", "tracked"]


class RegionLedger:
    """Per frame, the padded regions painted on it: exactly what the written file shows.

    Args:
        size: (width, height) of the frames as written.
        padding: ``Config.padding``, for regions added later.
        bodies: ``"bodies" in Config.cover``: a repair's finds get their body too.
    """

    def __init__(self, size: tuple[int, int], padding: float, bodies: bool) -> None:
        self.size, self.padding, self.bodies = size, padding, bodies
        self._frames: list[Detections] = []
        self._sure: list[Detections] = []  # per frame, the detector's sure faces, unpadded

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, index: int) -> Detections:
        return self._frames[index]

    def __iter__(self) -> Iterator[Detections]:
        return iter(self._frames)

    def record(self, index: int, found: Detections) -> Detections:
        """Pad the tracker's regions for frame ``index`` (the next one) and keep them; returns them."""
        if index != len(self._frames):
            raise ValueError(f"frame {index} recorded after {len(self._frames)} frame(s)")
        w, h = self.size
        regions = redaction_regions(found, self.padding, w, h, bodies=self.bodies)
        self._frames.append(regions)
        self._sure.append(sure_faces(found))
        return regions

    def sure_faces(self, index: int) -> Detections:
        """The faces the detector was sure of on frame ``index``, as found (unpadded)."""
        return self._sure[index]

    def add_repairs(self, leftover: dict[int, Detections], reach: int) -> set[int]:
        """Add the verifier's finds to the regions of their frame and ``reach`` frames either side; returns the frames changed."""
        w, h = self.size
        changed: set[int] = set()
        for index, found in leftover.items():
            extra = redaction_regions(found.replace(source=np.full(len(found), "verifier", object)), self.padding, w, h,
                                      bodies=self.bodies)
            # Most finds are the rest of a head beside its painted face (an ear, the back of a
            # head in profile): such a find moves with that face's track on the frames around it.
            extra = extra.replace(track_id=np.array([touched_track(box, self._frames[index]) for box in extra.xyxy],
                                                     np.int64).reshape(-1))
            for i in range(max(0, index - reach), min(len(self._frames), index + reach + 1)):
                self._add(i, moved_with_tracks(extra, self._frames[index], self._frames[i]).clip(w, h))
                changed.add(i)
        return changed

    def add_reviewed(self, added: dict[int, Detections], reach: int) -> set[int]:
        """Paint the regions a person drew on given frames; returns the frames changed.

        Each is padded like any region. One that touches a tracked region on
        its frame (``touched_track``) follows that track: it is painted on
        every frame the track covers, shifted as the track moved; one that
        touches none is painted on its frame and ``reach`` either side.
        """
        w, h = self.size
        changed: set[int] = set()
        for index, boxes in sorted(added.items()):
            if not 0 <= index < len(self._frames) or not len(boxes):
                continue
            extra = redaction_regions(boxes.replace(source=np.full(len(boxes), "studio", object),
                                                    kind=np.full(len(boxes), "manual", object)), self.padding, w, h)
            tracks = np.array([touched_track(box, self._frames[index]) for box in extra.xyxy], np.int64).reshape(-1)
            extra = extra.replace(track_id=tracks)
            for k, tid in enumerate(tracks):
                one = extra[np.array([k])]
                frames: range | list[int]
                if tid >= 0:
                    frames = [i for i, regions in enumerate(self._frames)
                              if (tracked(regions) & (regions.track_id == tid)).any()]
                else:
                    frames = range(max(0, index - reach), min(len(self._frames), index + reach + 1))
                for i in frames:
                    self._add(i, moved_with_tracks(one, self._frames[index], self._frames[i]).clip(w, h))
                    changed.add(i)
        return changed

    def _add(self, index: int, regions: Detections) -> None:
        self._frames[index] = Detections.merge([self._frames[index], regions])

    def region_counts(self) -> np.ndarray:
        """Regions per frame (one 0 for a video with no frame)."""
        return np.array([len(r) for r in self._frames] or [0])

    def painted_shares(self, shape: str) -> list[float]:
        """Each frame's painted share of its pixels, 0..1, for ``Config.shape``."""
        return [painted_share(r, *self.size, shape) for r in self._frames]

    def frames(self) -> list[Detections]:
        """Every frame's regions, in order (a copy of the list)."""
        return list(self._frames)


class TrackLog:
    """Per track the tracker started: where it was first seen, on how many frames it was detected."""

    def __init__(self) -> None:
        self._tracks: dict[int, VideoTrack] = {}

    def observe(self, index: int, found: Detections) -> None:
        """Count the detections (not the tracker's carried-over boxes) of frame ``index``."""
        for i, tid in enumerate(found.track_id):
            if tid >= 0 and not str(found.source[i]).startswith("track:"):
                t = self._tracks.setdefault(int(tid), {"track_id": int(tid), "first_frame": index, "frames_detected": 0,
                                                       "box": [round(float(v), 1) for v in found.xyxy[i]],
                                                       "score": 0.0, "last_frame": index})
                t["last_frame"] = index
                t["frames_detected"] += 1
                t["score"] = round(max(t["score"], float(found.score[i])), 4)

    def tracks(self) -> list[VideoTrack]:
        return list(self._tracks.values())


def tracked(regions: Detections) -> np.ndarray:
    """Which regions are the tracker's own (not added by a repair or drawn in review)."""
    return (regions.track_id >= 0) & np.array([not str(src).startswith(("verifier", "studio")) for src in regions.source],
                                               bool)


def touched_track(box: np.ndarray, regions: Detections) -> int:
    """The track of the tracked region ``box`` touches or nearly touches (within half its size), or -1."""
    if not len(regions):
        return -1
    bw, bh = box[2] - box[0], box[3] - box[1]
    r = regions.xyxy
    gap_x = np.maximum(0, np.maximum(r[:, 0] - box[2], box[0] - r[:, 2]))
    gap_y = np.maximum(0, np.maximum(r[:, 1] - box[3], box[1] - r[:, 3]))
    near = tracked(regions) & (gap_x <= bw / 2) & (gap_y <= bh / 2)
    if not near.any():
        return -1
    centre = (box[:2] + box[2:]) / 2
    distance = np.hypot(*((r[:, :2] + r[:, 2:]) / 2 - centre).T)
    return int(regions.track_id[np.flatnonzero(near)[np.argmin(distance[near])]])


def moved_with_tracks(extra: Detections, found_on: Detections, frame: Detections) -> Detections:
    """``extra`` (found beside ``found_on``'s tracked regions) shifted as each one's track moved to ``frame``."""
    boxes = extra.xyxy.copy()
    for k, tid in enumerate(extra.track_id):
        if tid < 0:
            continue
        then = found_on.xyxy[tracked(found_on) & (found_on.track_id == tid)]
        now = frame.xyxy[tracked(frame) & (frame.track_id == tid)]
        if len(then) and len(now):
            shift = (now[0, :2] + now[0, 2:]) / 2 - (then[0, :2] + then[0, 2:]) / 2
            boxes[k] += np.concatenate([shift, shift])
    return extra.replace(xyxy=boxes)
