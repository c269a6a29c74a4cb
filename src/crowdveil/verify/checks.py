"""Checks run on the bytes actually written, before they are kept."""

from __future__ import annotations

import numpy as np

from ..detect.base import Detector
from ..errors import DetectionFailed
from ..types import Check, Detections, box_coverage, box_iou
from .audit import audit_bytes

# A verifier detection counts as covered when this share of its box is
# already painted: the detector finding "a face" in a grey patch is no leak.
COVERED_SHARE = 0.5
# A verifier find repeats a candidate when their boxes overlap this much (``repeats_rejected``).
REPEAT_IOU = 0.5


def metadata_check(data: bytes) -> Check:
    """The output carries no metadata container beyond the structural allowlist."""
    audit = audit_bytes(data)
    if audit.clean:
        return Check("no metadata", True, f"{audit.format}: only structural data ({', '.join(audit.structural) or 'none'})")
    return Check("no metadata", False, f"{audit.format} output still carries: {', '.join(audit.kinds)}")


def residual_faces(
    verifier: Detector,
    pixels: np.ndarray,
    painted: np.ndarray,
    keep_visible: Detections | None = None,
) -> Detections:
    """Faces the verifier finds in the output outside every painted area.

    ``painted`` is the boolean redaction mask; ``keep_visible`` are regions a
    person reviewed and chose to leave visible (studio), not counted.
    """
    try:
        found = verifier.detect(np.ascontiguousarray(pixels[:, :, :3]))
    except Exception as exc:  # onnxruntime / OpenCV errors are untyped; an unverified file is a failed one
        raise DetectionFailed(f"re-detection on the output failed: {type(exc).__name__}: {exc}") from exc
    if not len(found):
        return found
    painted_share = np.array([_mask_share(painted, box) for box in found.xyxy])
    leftover = found[painted_share < COVERED_SHARE]
    if keep_visible is not None and len(keep_visible) and len(leftover):
        reviewed = box_coverage(leftover.xyxy, keep_visible.xyxy).max(axis=1) >= 0.5
        leftover = leftover[~reviewed]
    return leftover


def _mask_share(mask: np.ndarray, box: np.ndarray) -> float:
    h, w = mask.shape
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x2 <= x1 or y2 <= y1:
        return 1.0
    return float(mask[y1:y2, x1:x2].mean())


def repeats_rejected(found: Detections, rejected: Detections, *, below: float) -> np.ndarray:
    """(N,) bool: the face finds scoring under ``below`` whose box repeats one of ``rejected``.

    ``rejected`` are candidates the detector's classifier turned down on the
    original, found by the same network in the same view as the verifier
    (``detect.registry.VERIFIER_VIEW``). Where the output is unpainted it is
    the original re-encoded, so the verifier finds those candidates again; a
    find that only repeats one, at a score where that network is often wrong,
    brings no evidence the classifier did not weigh. A find over a region
    painting changed, or scoring ``below`` or more, is never one of them.
    """
    out = np.zeros(len(found), bool)
    if not len(found) or not len(rejected):
        return out
    faces = (found.kind.astype(str) == "face") & (found.score < below)
    if faces.any():
        iou = box_iou(found.xyxy[faces], rejected.xyxy)
        out[np.flatnonzero(faces)] = (iou >= REPEAT_IOU).any(axis=1)
    return out
