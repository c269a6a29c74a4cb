"""Exposure and collateral of a redaction mask against ground-truth faces.

* A face is **exposed** when less than ``COVERED`` of its ground-truth box
  is redacted: enough of it shows to be recognised.
* **Collateral** is the share of the image redacted outside every
  ground-truth box grown by ``ALLOWANCE`` around its centre (hair, ears and
  a margin are fair game; the rest is lost picture).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

COVERED = 0.8
ALLOWANCE = 1.5
# Face-height bins (px, inclusive) the report breaks exposure down by.
HEIGHT_BINS: dict[str, tuple[int, int]] = {"10-15": (10, 15), "16-31": (16, 31), "32-95": (32, 95), ">=96": (96, 1 << 30)}


def box_cover(mask: np.ndarray, xywh: np.ndarray) -> np.ndarray:
    """Share of each integer ``x y w h`` box (clipped to the image) that ``mask`` covers.

    A box with no pixels inside the image counts as covered (nothing to show).
    """
    xywh = np.asarray(xywh, np.int64).reshape(-1, 4)
    h, w = mask.shape
    integral = cv2.integral(mask.astype(np.uint8), sdepth=cv2.CV_64F)
    x1 = xywh[:, 0].clip(0, w)
    y1 = xywh[:, 1].clip(0, h)
    x2 = (xywh[:, 0] + xywh[:, 2]).clip(0, w)
    y2 = (xywh[:, 1] + xywh[:, 3]).clip(0, h)
    area = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    inside = integral[y2, x2] - integral[y1, x2] - integral[y2, x1] + integral[y1, x1]
    return np.where(area > 0, inside / np.maximum(area, 1), 1.0)


def allowed_mask(height: int, width: int, xywh: np.ndarray, grow: float = ALLOWANCE) -> np.ndarray:
    """Pixels inside some box grown ``grow``× around its centre (boxes with no area are skipped)."""
    allowed = np.zeros((height, width), bool)
    for x, y, w, h in np.asarray(xywh, np.float64).reshape(-1, 4):
        if w <= 0 or h <= 0:
            continue
        cx, cy = x + w / 2, y + h / 2
        gx1, gy1 = int(np.floor(cx - w * grow / 2)), int(np.floor(cy - h * grow / 2))
        gx2, gy2 = int(np.ceil(cx + w * grow / 2)), int(np.ceil(cy + h * grow / 2))
        allowed[max(0, gy1) : max(0, gy2), max(0, gx1) : max(0, gx2)] = True
    return allowed


def collateral_share(mask: np.ndarray, xywh: np.ndarray) -> float:
    """Redacted pixels outside every grown ground-truth box, as a share of the image."""
    height, width = mask.shape[:2]
    outside = mask & ~allowed_mask(height, width, xywh)
    return float(outside.sum()) / mask.size


@dataclass
class ImageScore:
    """One image: the scored faces' heights, which were exposed, and collateral."""

    event: str
    heights: np.ndarray
    exposed: np.ndarray
    collateral: float
    ms: float = 0.0
    failed: bool = False


def score_image(event: str, xywh: np.ndarray, scored: np.ndarray, mask: np.ndarray, ms: float = 0.0,
                failed: bool = False) -> ImageScore:
    """Score the redaction ``mask`` of one image.

    Args:
        xywh: every ground-truth box (invalid and zero-size ones too: they
            still count as allowed area for collateral).
        scored: which boxes count for exposure (valid, positive size).
    """
    xywh = np.asarray(xywh, np.int64).reshape(-1, 4)
    faces = xywh[scored]
    exposed = box_cover(mask, faces) < COVERED
    return ImageScore(event, faces[:, 3].copy(), exposed, collateral_share(mask, xywh), ms, failed)


@dataclass
class Summary:
    """Totals over images; rates are fractions."""

    images: int
    faces: dict[str, int] = field(default_factory=dict)
    exposed: dict[str, float] = field(default_factory=dict)
    per_event: dict[str, dict[str, float]] = field(default_factory=dict)
    collateral_pct: float = 0.0
    median_ms: float = 0.0
    images_per_s: float = 0.0
    failed: int = 0

    def to_dict(self) -> dict:
        return {
            "exposed_ge16": self.exposed["ge16"],
            "exposed_ge32": self.exposed["ge32"],
            "collateral_pct": self.collateral_pct,
            "images_per_s": self.images_per_s,
            "median_ms": self.median_ms,
            "images": self.images,
            "failed_files": self.failed,
            "exposed_by_height": {k: self.exposed[k] for k in HEIGHT_BINS},
            "faces": dict(self.faces),
            "exposed_by_event_ge16": self.per_event,
        }


def _rate(exposed: np.ndarray) -> float:
    return float(exposed.mean()) if len(exposed) else 0.0


def summarize(scores: list[ImageScore]) -> Summary:
    """Exposure per height bin, ≥ 16 and ≥ 32 px, per event (≥ 16 px); mean collateral; speed."""
    heights = np.concatenate([s.heights for s in scores]) if scores else np.zeros(0)
    exposed = np.concatenate([s.exposed for s in scores]) if scores else np.zeros(0, bool)
    summary = Summary(images=len(scores), failed=sum(s.failed for s in scores))
    selections = {name: (heights >= lo) & (heights <= hi) for name, (lo, hi) in HEIGHT_BINS.items()}
    selections["ge16"] = heights >= 16
    selections["ge32"] = heights >= 32
    for name, sel in selections.items():
        summary.faces[name] = int(sel.sum())
        summary.exposed[name] = _rate(exposed[sel])
    for event in sorted({s.event for s in scores}):
        mine = [s for s in scores if s.event == event]
        e = np.concatenate([s.exposed[s.heights >= 16] for s in mine])
        summary.per_event[event] = {"faces_ge16": int(len(e)), "exposed_ge16": _rate(e)}
    if scores:
        summary.collateral_pct = 100.0 * float(np.mean([s.collateral for s in scores]))
        ms = np.array([s.ms for s in scores])
        summary.median_ms = float(np.median(ms))
        summary.images_per_s = float(len(ms) / (ms.sum() / 1000)) if ms.sum() > 0 else 0.0
    return summary


# -- painted share: pictures with no face (people-free photos) and video frames ------------------

OVER_PCT = 5.0  # a people-free photo painted more than this is one a user would not publish


@dataclass
class PaintedPhoto:
    """One people-free photo: the share of its pixels painted (percent), or why it was not measured."""

    file: str
    painted_pct: float | None
    width: int = 0
    height: int = 0
    regions: int = 0
    failed: bool = False  # the verifier still found a face: the real pipeline would refuse the file
    error: str | None = None

    def to_dict(self) -> dict:
        return {"file": self.file, "painted_pct": self.painted_pct, "width": self.width, "height": self.height,
                "regions": self.regions, "failed_verification": self.failed, "error": self.error}


def painted_pct(mask: np.ndarray) -> float:
    """Painted pixels as a percentage of all pixels."""
    return 100.0 * float(np.count_nonzero(mask)) / mask.size if mask.size else 0.0


def summarize_painted(photos: list[PaintedPhoto]) -> dict:
    """Mean, worst (and which file) and count over ``OVER_PCT`` of the photos that were measured.

    Photos that could not be measured (decode refused, too large) are
    listed and counted apart, never averaged in as 0.
    """
    measured = [p for p in photos if p.painted_pct is not None]
    shares = np.array([p.painted_pct for p in measured], float)
    worst = measured[int(np.argmax(shares))] if len(measured) else None
    return {
        "people_free_mean_pct": float(shares.mean()) if len(shares) else None,
        "people_free_worst_pct": worst.painted_pct if worst else None,
        "people_free_worst_file": worst.file if worst else None,
        "people_free_over5": int((shares > OVER_PCT).sum()),
        "people_free_photos": len(measured),
        "people_free_not_measured": len(photos) - len(measured),
        "people_free_failed_verification": sum(p.failed for p in measured),
        "people_free_files": [p.to_dict() for p in photos],
    }


def frame_share_stats(shares_pct) -> dict:
    """Median, 90th percentile and maximum (with its frame index) of per-frame painted shares (percent)."""
    shares = np.asarray(shares_pct, float)
    if not len(shares):
        return {"painted_median_pct": None, "painted_p90_pct": None, "painted_max_pct": None, "painted_max_frame": None}
    return {
        "painted_median_pct": float(np.median(shares)),
        "painted_p90_pct": float(np.percentile(shares, 90)),
        "painted_max_pct": float(shares.max()),
        "painted_max_frame": int(np.argmax(shares)),
    }
