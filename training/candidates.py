"""Run the candidate views over a WIDER FACE root and cache what they propose, one ``.npz`` per image."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

from crowdveil.bench.wider import load_wider
from crowdveil.detect.registry import CANDIDATE_VIEWS, build_candidates
from crowdveil.io.image import decode_image
from crowdveil.io.sniff import sniff


def cache_name(relpath: str) -> str:
    return relpath.replace("/", "__").rsplit(".", 1)[0] + ".npz"


def read_rgb(path: Path) -> np.ndarray:
    """The image as the product decodes it (upright RGB)."""
    data = path.read_bytes()
    return decode_image(data, sniff(data[:64], path.name), max_pixels=250_000_000, name=path.name).pixels[:, :, :3]


def save_candidates(target: Path, found, **extra: np.ndarray) -> None:
    """``found``'s boxes, scores and view indices into ``target``, written whole or not at all."""
    view = np.array([CANDIDATE_VIEWS.index(str(s)) for s in found.source], np.int8)
    partial = target.with_suffix(".tmp.npz")
    np.savez(partial, xyxy=found.xyxy, score=found.score, view=view, **extra)
    partial.rename(target)


# The shipped classifier learnt from the float CenterFace's candidates; the product proposes
# with the quantized one (``registry.CANDIDATE_CENTERFACE_QUANTIZED``), whose candidates it
# judges as well (retrained on those, it did no better: detect/models/README.md).
TRAIN_ON_QUANTIZED = False


def extract(root: Path, cache: Path, order_seed: int = 0) -> None:
    """Candidates of every image of ``root`` into ``cache`` (images already cached are skipped)."""
    cache.mkdir(parents=True, exist_ok=True)
    items = load_wider(root)
    order = np.random.default_rng(order_seed).permutation(len(items))  # a partial cache is still a fair sample
    detector = build_candidates(quantized_centerface=TRAIN_ON_QUANTIZED)
    started = time.perf_counter()
    for n, i in enumerate(order, 1):
        path, image = items[i]
        target = cache / cache_name(image.relpath)
        if target.exists():
            continue
        rgb = read_rgb(path)
        save_candidates(target, detector.detect(np.ascontiguousarray(rgb)), shape=np.array(rgb.shape[:2]))
        if n % 25 == 0:
            print(f"{n}/{len(items)} {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)


# Background scenes: WIDER has no photo without people, and a classifier that never saw one
# learns that a lone weak candidate is a face (people-free photos came out grey). The part
# of each image farthest from every annotated face, cut out and read as a photo of its own,
# is a people-free scene of the same cameras.
BACKGROUND_MIN_PX = 192
BACKGROUND_MARGIN = 2.0  # face boxes grown this many of their sizes on each side stay out of the cut


def background_region(shape: tuple[int, int], gt_xyxy: np.ndarray, rng: np.random.Generator,
                      tries: int = 400) -> tuple[int, int, int, int] | None:
    """The largest of ``tries`` random rectangles that keeps clear of every (grown) face box, or None."""
    h, w = shape
    gt = gt_xyxy[(gt_xyxy[:, 2] > gt_xyxy[:, 0]) & (gt_xyxy[:, 3] > gt_xyxy[:, 1])]
    gw, gh = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    grown = np.stack([gt[:, 0] - BACKGROUND_MARGIN * gw, gt[:, 1] - BACKGROUND_MARGIN * gh,
                      gt[:, 2] + BACKGROUND_MARGIN * gw, gt[:, 3] + BACKGROUND_MARGIN * gh], axis=1)
    best, best_area = None, 0
    for _ in range(tries):
        bw, bh = rng.integers(BACKGROUND_MIN_PX, max(BACKGROUND_MIN_PX + 1, w + 1)), \
            rng.integers(BACKGROUND_MIN_PX, max(BACKGROUND_MIN_PX + 1, h + 1))
        if bw > w or bh > h or bw * bh <= best_area:
            continue
        x, y = rng.integers(0, w - bw + 1), rng.integers(0, h - bh + 1)
        clear = (grown[:, 2] <= x) | (grown[:, 0] >= x + bw) | (grown[:, 3] <= y) | (grown[:, 1] >= y + bh)
        if clear.all():
            best, best_area = (int(x), int(y), int(x + bw), int(y + bh)), bw * bh
    return best


# Each cut is read twice: as it is, and its centre half enlarged 2× to the cut's size. The
# enlarged one is the same background through a longer lens (a flower macro, a wisteria up
# close): petals, leaves and texture at the sizes faces come in, which the crowds' own
# backgrounds, far away behind the people, rarely show.
BACKGROUND_SCALES = (1, 2)


def background_name(relpath: str, scale: int) -> str:
    name = cache_name(relpath)
    return name if scale == 1 else name[: -len(".npz")] + f"@{scale}x.npz"


def background_cut(rgb: np.ndarray, region, scale: int) -> np.ndarray:
    """``region`` of ``rgb``; for ``scale`` > 1, its centre 1/``scale`` enlarged back to the region's size."""
    x1, y1, x2, y2 = (int(v) for v in region)
    w, h = x2 - x1, y2 - y1
    cw, ch = max(1, w // scale), max(1, h // scale)
    cx, cy = x1 + (w - cw) // 2, y1 + (h - ch) // 2
    cut = rgb[cy : cy + ch, cx : cx + cw]
    if scale != 1:
        cut = cv2.resize(cut, (cw * scale, ch * scale), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(cut)


def extract_background(root: Path, cache: Path, seed: int = 0) -> None:
    """Candidates of each image's background region (``background_region``), at each of
    ``BACKGROUND_SCALES``, into ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    detector = build_candidates(quantized_centerface=TRAIN_ON_QUANTIZED)
    started = time.perf_counter()
    for n, (path, image) in enumerate(load_wider(root)):
        targets = {scale: cache / background_name(image.relpath, scale) for scale in BACKGROUND_SCALES}
        if all(t.exists() for t in targets.values()):
            continue
        rgb = read_rgb(path)
        # the region is drawn from the image's index alone, so every scale cuts the same one
        region = background_region(rgb.shape[:2], image.xyxy, np.random.default_rng([seed, n]))
        for scale, target in targets.items():
            if target.exists():
                continue
            if region is None:
                np.savez(target, region=np.zeros(0, np.int64))
                continue
            save_candidates(target, detector.detect(background_cut(rgb, region, scale)), region=np.array(region))
        if (n + 1) % 100 == 0:
            print(f"background {n + 1} {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
