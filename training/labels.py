"""Which cached candidates are faces: labels from WIDER ground truth, with room for the heads it left out.

WIDER annotates faces, not heads, and leaves many crowd heads seen from
behind unannotated. A candidate over such a head is not a false positive to
train away, so labels have three values:

* **face** (1): the candidate matches an annotated face (IoU ≥ ``MATCH_IOU``,
  ``invalid`` ones included: they are still faces), or covers most of one
  without being much larger (a head box around a face), or lies inside one
  (part of a face: painting it is right).
* **ignored** (weight 0): near misses of a face (duplicates at lower IoU),
  and candidates that both networks (a CenterFace view and a YuNet view)
  see, at the size of the annotated faces around them, where WIDER has
  nothing: most are unannotated heads.
* **not a face** (0): everything else.
"""

from __future__ import annotations

import numpy as np

from crowdveil.types import box_coverage, box_iou

MATCH_IOU = 0.4
NEAR_IOU = 0.2
HEAD_COVERS_FACE = 0.6  # a head box covers this much of the face box …
HEAD_MAX_AREA = 5.0  # … and is at most this many times its area
PART_INSIDE = 0.7  # a part of a face: this much of the candidate lies inside the face box …
PART_MIN_AREA = 0.2  # … and it is at least this share of the face's area
HEAD_SIZE_RATIO = 2.0  # an unannotated head is within this factor of the height of a face nearby …
HEAD_NEAR = 4.0  # … whose centre is at most this many of its heights away

FACE, NOT_FACE, IGNORED = 1, 0, -1


def label_candidates(xyxy: np.ndarray, both_networks: np.ndarray, gt_xyxy: np.ndarray) -> np.ndarray:
    """(N,) int8 labels (``FACE``, ``NOT_FACE``, ``IGNORED``) for candidate boxes against ground truth.

    ``both_networks``: (N,) bool, a CenterFace view and a YuNet view both have a box there.
    """
    n = len(xyxy)
    labels = np.full(n, NOT_FACE, np.int8)
    gt = gt_xyxy[(gt_xyxy[:, 2] > gt_xyxy[:, 0]) & (gt_xyxy[:, 3] > gt_xyxy[:, 1])]
    if not n or not len(gt):
        return labels
    iou = box_iou(xyxy, gt)
    best = iou.argmax(axis=1)
    best_iou = iou[np.arange(n), best]
    gt_covered = box_coverage(gt, xyxy).T  # (N, G): share of each face box the candidate covers
    inside = box_coverage(xyxy, gt)  # (N, G): share of the candidate inside each face box
    area = np.maximum((xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1]), 1e-6)
    gt_area = np.maximum((gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1]), 1e-6)
    ratio = area[:, None] / gt_area[None, :]
    head = ((gt_covered >= HEAD_COVERS_FACE) & (ratio <= HEAD_MAX_AREA)).any(axis=1)
    part = ((inside >= PART_INSIDE) & (ratio >= PART_MIN_AREA)).any(axis=1)
    face = (best_iou >= MATCH_IOU) | head | part
    near = ~face & (best_iou >= NEAR_IOU)
    h = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1e-6)
    gh = gt[:, 3] - gt[:, 1]
    centres = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    gc = (gt[:, :2] + gt[:, 2:]) / 2
    dist = np.sqrt(((centres[:, None, :] - gc[None, :, :]) ** 2).sum(-1)) / np.maximum(gh[None, :], 1e-6)
    size = h[:, None] / np.maximum(gh[None, :], 1e-6)
    crowd_head = ((dist <= HEAD_NEAR) & (size <= HEAD_SIZE_RATIO) & (size >= 1 / HEAD_SIZE_RATIO)).any(axis=1)
    unannotated_head = ~face & both_networks & crowd_head
    labels[face] = FACE
    labels[near | unannotated_head] = IGNORED
    return labels
