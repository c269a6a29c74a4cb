"""Whole bodies from the faces found: no person detector ships its weights on PyPI.

A face box sets the scale of the person under it: an adult is about 7.5
heads tall (chin to feet about 9 heights of a detector's box, which hugs the inner face)
and, arms at the side,
about four face widths wide. Each face
gets one region from the top of its hair down to where its feet would be,
clipped by the frame; regions of people that overlap are merged into the box
enclosing them, so a dense crowd becomes one covered band rather than
hundreds of boxes.

Where it fails (README): a body whose head is out of frame or hidden (no
face, no body); a person lying, bending or sitting sideways (the body is not
below the head); a face the detector missed. Cover those by hand in the studio.
"""

from __future__ import annotations

import numpy as np

from ..types import Detections, box_coverage

KIND = "body"
# In face heights above the face box (hair), below it (chin to feet), and face widths to each side of its centre.
ABOVE = 0.6
BELOW = 9.0
HALF_WIDTH = 2.0
# Two bodies merge when their overlap is at least this share of the smaller one.
MERGE_OVERLAP = 0.1
_FROM_KINDS = ("face",)


def body_regions(faces: Detections, width: int, height: int) -> Detections:
    """One ``body`` region per face (regions of other kinds are ignored), overlapping ones merged, clipped."""
    faces = faces[np.isin(faces.kind.astype(str), _FROM_KINDS)] if len(faces) else faces
    if not len(faces):
        return Detections.from_boxes(np.zeros((0, 4), np.float32), kind=KIND, source="bodies")
    w, h = faces.width, faces.height
    cx = (faces.xyxy[:, 0] + faces.xyxy[:, 2]) / 2
    boxes = np.stack([cx - HALF_WIDTH * w, faces.xyxy[:, 1] - ABOVE * h, cx + HALF_WIDTH * w,
                      faces.xyxy[:, 3] + BELOW * h], axis=1)
    merged, members = merge_overlapping(boxes)
    score = np.array([faces.score[m].max() for m in members], np.float32)
    # No track id of its own: in a video the body is derived again on every frame from its
    # face's tracked region, so it follows that track without being one.
    return Detections.from_boxes(merged, score, kind=KIND, source="bodies").clip(width, height)


def merge_overlapping(boxes: np.ndarray, share: float = MERGE_OVERLAP) -> tuple[np.ndarray, list[np.ndarray]]:
    """Boxes that overlap by ``share`` of the smaller one, transitively, replaced by their enclosing box.

    Repeated until no two boxes overlap so: an enclosing box can reach a box
    none of its members did. Returns the boxes and, for each, the indices of
    the input boxes it encloses.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    members = [np.array([i]) for i in range(len(boxes))]
    while len(boxes) > 1:
        cover = box_coverage(boxes, boxes)
        linked = (np.maximum(cover, cover.T) >= share)
        labels = _components(linked)
        if labels.max() + 1 == len(boxes):
            break
        groups = [np.flatnonzero(labels == g) for g in range(labels.max() + 1)]
        boxes = np.array([[*boxes[g, :2].min(0), *boxes[g, 2:].max(0)] for g in groups], np.float32)
        members = [np.concatenate([members[i] for i in g]) for g in groups]
    return boxes, members


def _components(linked: np.ndarray) -> np.ndarray:
    """Connected-component label of each node of a symmetric boolean adjacency matrix."""
    labels = np.full(len(linked), -1, np.int64)
    current = 0
    for start in range(len(linked)):
        if labels[start] >= 0:
            continue
        stack = [start]
        labels[start] = current
        while stack:
            node = stack.pop()
            for nxt in np.flatnonzero(linked[node] & (labels < 0)):
                labels[nxt] = current
                stack.append(int(nxt))
        current += 1
    return labels
