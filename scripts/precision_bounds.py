"""What the default's second stage could reach with a classifier that is never wrong.

``python scripts/precision_bounds.py [--data ../shared/data/wider_protest] [--limit N]``

For every benchmark image the default's views propose their candidates and the shipped networks
answer (``SecondStage.probabilities``). The candidates are then labelled against the benchmark's
own faces with the training labels (``training/labels.py``: face, ignored, not a face), and the
regions are painted three ways, on the detections alone (no verifier repairs):

* **default**: what the networks accept, as the product paints it;
* **never wrong, faces**: the accepted candidates labelled face;
* **never wrong, faces + ignored**: the same, and the ones labelled ignored as well. These
  are the heads WIDER left unannotated beside its faces, and near duplicates. Painting them is
  right, and the benchmark counts them as collateral.

Exposure is held at the default's in both "never wrong" rows. A face that the default covers
and the kept candidates leave exposed gets back the smallest of the default's accepted boxes
over it until it is covered. This is the least a perfect classifier of these candidates
could paint at the same safety. The benchmark is only measured here, never learnt from.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # ``training`` sits beside ``src``

from crowdveil.bench.metrics import box_cover, score_image, summarize  # noqa: E402
from crowdveil.bench.wider import load_wider  # noqa: E402
from crowdveil.config import Config  # noqa: E402
from crowdveil.detect.registry import build_detector  # noqa: E402
from crowdveil.detect.second_stage import both_networks, merged_regions  # noqa: E402
from crowdveil.redact.regions import redaction_regions, region_mask  # noqa: E402
from crowdveil.types import Detections, box_coverage  # noqa: E402
from training.candidates import read_rgb  # noqa: E402
from training.labels import FACE, IGNORED, label_candidates  # noqa: E402


def painted(candidates: Detections, p: np.ndarray, keep: np.ndarray, shape: tuple[int, int],
            padding: float) -> np.ndarray:
    """The mask the product paints for the ``keep`` candidates."""
    h, w = shape
    if not keep.any():
        return np.zeros((h, w), bool)
    return region_mask(h, w, redaction_regions(merged_regions(candidates, p, keep), padding, w, h))


def never_wrong(candidates: Detections, p: np.ndarray, accepted: np.ndarray, labels: np.ndarray, kept_labels,
                gt_xyxy: np.ndarray, scored: np.ndarray, default_mask: np.ndarray, shape, padding: float) -> np.ndarray:
    """The mask of the accepted candidates with ``kept_labels``, plus the fewest, smallest of the other
    accepted ones that cover again each scored face the default covers."""
    keep = accepted & np.isin(labels, kept_labels)
    mask = painted(candidates, p, keep, shape, padding)
    xywh = np.column_stack([gt_xyxy[:, :2], gt_xyxy[:, 2:] - gt_xyxy[:, :2]])
    lost = np.flatnonzero(scored & (box_cover(default_mask, xywh) >= 0.8) & (box_cover(mask, xywh) < 0.8))
    area = candidates.width * candidates.height
    for face in lost:
        over = box_coverage(gt_xyxy[face : face + 1], candidates.xyxy).ravel() > 0.05
        others = np.flatnonzero(accepted & ~keep & over)
        for i in others[np.argsort(area[others], kind="stable")]:
            keep[i] = True
            mask = painted(candidates, p, keep, shape, padding)
            if box_cover(mask, xywh[face : face + 1])[0] >= 0.8:
                break
    return mask


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/wider_protest"), help="WIDER FACE root")
    parser.add_argument("--limit", type=int, default=None, help="the first N images only")
    args = parser.parse_args(argv)
    detector = build_detector("default")
    padding = Config().padding
    rows: dict[str, list] = {"default": [], "never wrong, faces": [], "never wrong, faces + ignored": []}
    items = load_wider(args.data)[: args.limit]
    started = time.perf_counter()
    for n, (path, image) in enumerate(items, 1):
        rgb = np.ascontiguousarray(read_rgb(path))
        shape = rgb.shape[:2]
        candidates = detector.candidates.detect(rgb)
        p, features = detector.probabilities(rgb, candidates)
        accepted = p >= detector.needed(candidates, features)
        labels = label_candidates(candidates.xyxy, both_networks(features, detector.candidates.names), image.xyxy)
        default_mask = painted(candidates, p, accepted, shape, padding)
        masks = {
            "default": default_mask,
            "never wrong, faces": never_wrong(candidates, p, accepted, labels, [FACE], image.xyxy, image.scored,
                                              default_mask, shape, padding),
            "never wrong, faces + ignored": never_wrong(candidates, p, accepted, labels, [FACE, IGNORED], image.xyxy,
                                                        image.scored, default_mask, shape, padding),
        }
        for name, mask in masks.items():
            rows[name].append(score_image(image.event, image.boxes, image.scored, mask))
        if n % 50 == 0:
            print(f"{n}/{len(items)} {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print("| painted | exposed ≥ 16 px | exposed ≥ 32 px | collateral |")
    print("|---|---:|---:|---:|")
    for name, scores in rows.items():
        s = summarize(scores)
        print(f"| {name} | {100 * s.exposed['ge16']:.2f} % | {100 * s.exposed['ge32']:.2f} % | {s.collateral_pct:.2f} % |")


if __name__ == "__main__":
    main()
