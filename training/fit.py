"""Fit the candidate classifier on cached candidates and export it to ONNX.

The network reads a candidate's crop and features, computed by the product's
own ``second_stage.classifier_inputs``, and answers one logit: face or head
there, or not.
Feature normalisation is baked into the exported graph, so the product feeds
raw features. Fixed seeds; PyTorch's CPU build (``torch==2.13.0``).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crowdveil.bench.wider import load_wider
from crowdveil.detect.registry import CANDIDATE_VIEWS
from crowdveil.detect.second_stage import (CLOSER_CROP_PX, CROP_PX, LOG_HEIGHT_COLUMN, both_networks, build_reader,
                                           candidate_features, classifier_inputs, closer_inputs, closer_rows)
from crowdveil.types import Detections
from .candidates import BACKGROUND_SCALES, background_cut, background_name, cache_name, read_rgb
from .labels import FACE, IGNORED, label_candidates


NEGATIVE_SHARE = 1.0
FEATURE_CLAMP = 4.0
BIG_NEGATIVE_PX = 32.0  # non-faces taller than this weigh height / BIG_NEGATIVE_PX …
MAX_NEGATIVE_WEIGHT = 6.0  # … up to this


@dataclass
class Samples:
    crops: np.ndarray  # (N, 3, CROP_PX, CROP_PX) uint8
    features: np.ndarray  # (N, F) float32
    labels: np.ndarray  # (N,) int8
    image: np.ndarray  # (N,) int32, which image each came from


def load_samples(root: Path, cache: Path, background: Path | None = None, *, closer: bool = False) -> Samples:
    """Crops, features and labels of every cached candidate of ``root``'s images.

    With ``background`` (``candidates.extract_background``'s cache), each
    image's people-free cut, at each of ``BACKGROUND_SCALES``, adds its
    candidates, all labelled not a face, counted as the same image (held out
    with it). With ``closer``, only the candidates the closer look reads
    (``second_stage.closer_rows``), with its crops (``closer_crops``).
    """
    crops, feats, labels, image = [], [], [], []
    items = load_wider(root)
    reader = None if closer else build_reader()  # the closer look reads no second look
    for n, (path, wider) in enumerate(items):
        cached = cache / cache_name(wider.relpath)
        if not cached.exists():
            continue
        z = np.load(cached)
        rgb = read_rgb(path)
        scenes = [(rgb, z, wider.xyxy)]
        for scale in BACKGROUND_SCALES if background is not None else ():
            cut = background / background_name(wider.relpath, scale)
            if cut.exists():
                zb = np.load(cut)
                if len(zb["region"]):
                    scenes.append((background_cut(rgb, zb["region"], scale), zb, np.zeros((0, 4), np.float32)))
        for pixels, found, faces in scenes:
            if not len(found["xyxy"]):
                continue
            cands = Detections.from_boxes(found["xyxy"], found["score"], source=[CANDIDATE_VIEWS[v] for v in found["view"]])
            f = candidate_features(cands, CANDIDATE_VIEWS)
            label = label_candidates(cands.xyxy, both_networks(f, CANDIDATE_VIEWS), faces)
            if closer:
                rows = closer_rows(cands, every_size=True)
                c, f = closer_inputs(pixels, cands[rows], f[rows])
                label = label[rows]
            else:
                c, f = classifier_inputs(pixels, cands, f, reader)
            crops.append(c)
            feats.append(f)
            labels.append(label)
            image.append(np.full(len(f), n, np.int32))
    return Samples(np.concatenate(crops), np.concatenate(feats), np.concatenate(labels), np.concatenate(image))


def build_model(n_features: int, mean: np.ndarray, std: np.ndarray, crop_px: int = CROP_PX):
    """The classifier for ``crop_px`` crops: the closer look's (``CLOSER_CROP_PX``) has one
    pooling more, so both end on the same 4 × 4 grid before the average."""
    import torch
    from torch import nn

    class CandidateClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()

            def block(cin, cout):
                return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

            extra = [nn.MaxPool2d(2)] * int(np.log2(crop_px // CROP_PX))
            self.crop = nn.Sequential(block(3, 24), nn.MaxPool2d(2), block(24, 48), nn.MaxPool2d(2), block(48, 64),
                                      nn.MaxPool2d(2), block(64, 96), *extra, block(96, 96), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten())
            self.features = nn.Sequential(nn.Linear(n_features, 32), nn.ReLU())
            self.head = nn.Sequential(nn.Linear(96 + 32, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 1))
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

        def forward(self, crops, features):
            x = self.crop(crops / 127.5 - 1.0)
            # Clamped: a feature far outside what training saw (no confident face at all in a
            # people-free photo) must not saturate the network into "face".
            f = self.features(((features - self.mean) / self.std).clamp(-FEATURE_CLAMP, FEATURE_CLAMP))
            return self.head(torch.cat([x, f], dim=1))[:, 0]

    return CandidateClassifier()


def _with_probabilities(model):
    """``model`` wrapped for export: crops and raw features in, P(face) out."""
    import torch

    class Exported(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, crops, features):
            return torch.sigmoid(self.inner(crops, features))

    return Exported(model)


def fit(samples: Samples, *, epochs: int = 6, seed: int = 0, log=print):
    """Train on ``samples`` (ignored labels weigh nothing); returns the model and the held-out images' scores."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    images = np.unique(samples.image)
    held_out = set(rng.choice(images, size=max(1, len(images) // 10), replace=False).tolist())
    val = np.isin(samples.image, list(held_out))
    train = ~val & (samples.labels != IGNORED)
    mean = samples.features[train].mean(axis=0)
    std = np.maximum(samples.features[train].std(axis=0), 0.1)  # a near-constant feature is not magnified
    model = build_model(samples.features.shape[1], mean, std, samples.crops.shape[-1])
    crops = torch.from_numpy(samples.crops)
    feats = torch.from_numpy(samples.features)
    target = torch.from_numpy((samples.labels == FACE).astype(np.float32))
    # NEGATIVE_SHARE < 1 trains on a sample of the non-faces (quicker trials).
    train &= (samples.labels == FACE) | (rng.random(len(samples.labels)) < NEGATIVE_SHARE)
    idx = np.nonzero(train)[0]
    positives = float((samples.labels[idx] == FACE).mean())
    # Recall first: a missed face costs more than a grey patch, so faces weigh more.
    pos_weight = torch.tensor(2.0 * (1 - positives) / max(positives, 1e-6))
    # A non-face paints pixels in proportion to its size: a big one that is let through costs
    # as much picture as dozens of small ones, so big non-faces weigh more.
    height = 2.0 ** samples.features[:, LOG_HEIGHT_COLUMN]
    weight = np.where(samples.labels == FACE, 1.0, np.clip(height / BIG_NEGATIVE_PX, 1.0, MAX_NEGATIVE_WEIGHT))
    weights = torch.from_numpy(weight.astype(np.float32))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    batch = 512
    steps = epochs * (len(idx) // batch + 1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    log(f"{len(idx)} training candidates ({positives:.1%} faces), {int(val.sum())} held out, {steps} steps")
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(idx)
        started, total = time.perf_counter(), 0.0
        for start in range(0, len(order), batch):
            b = torch.from_numpy(order[start : start + batch])
            x = crops[b].float()
            flip = torch.rand(len(b)) < 0.5  # a face mirrored is a face
            x[flip] = x[flip].flip(-1)
            x = x * (0.8 + 0.4 * torch.rand(len(b), 1, 1, 1)) + 20 * torch.randn(len(b), 1, 1, 1)
            loss = (loss_fn(model(x.clamp(0, 255), feats[b]), target[b]) * weights[b]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(b)
        log(f"epoch {epoch + 1}: loss {total / len(order):.4f} ({time.perf_counter() - started:.0f} s)")
    model.eval()
    with torch.no_grad():
        vi = np.nonzero(val)[0]
        p = np.concatenate([torch.sigmoid(model(crops[vi[s:s + 4096]].float(), feats[vi[s:s + 4096]])).numpy()
                            for s in range(0, len(vi), 4096)]) if len(vi) else np.zeros(0)
    return model, (p, samples.labels[val])


def held_out_table(p: np.ndarray, labels: np.ndarray) -> str:
    faces, others = p[labels == FACE], p[labels == 0]
    lines = ["| threshold | faces kept | non-faces rejected |", "|---:|---:|---:|"]
    for t in (0.02, 0.05, 0.1, 0.2, 0.3, 0.5):
        lines.append(f"| {t:g} | {(faces >= t).mean():.1%} | {(others < t).mean():.1%} |")
    return "\n".join(lines)


def export(model, path: Path, n_features: int, crop_px: int = CROP_PX) -> str:
    """Write the ONNX file; returns its sha256."""
    import torch

    wrapped = _with_probabilities(model).eval()
    crops = torch.zeros(2, 3, crop_px, crop_px)
    feats = torch.zeros(2, n_features)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(wrapped, (crops, feats), str(path), input_names=["crops", "features"], output_names=["face"],
                      dynamic_axes={"crops": {0: "n"}, "features": {0: "n"}, "face": {0: "n"}}, opset_version=17,
                      dynamo=False)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/wider_other"),
                        help="WIDER FACE root to train on (never the benchmark's)")
    parser.add_argument("--cache", type=Path, default=Path("build/candidates"), help="candidate cache folder")
    parser.add_argument("--background-cache", type=Path, default=Path("build/background"),
                        help="cache of the candidates in each image's people-free cut")
    parser.add_argument("--out", type=Path, default=None,
                        help="ONNX file to write (default: the shipped one, models/candidate_classifier.onnx, "
                             "or with --closer models/closer_look.onnx)")
    parser.add_argument("--closer", action="store_true",
                        help="train the closer look (big candidates, 64-px crops) instead of the classifier")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from .candidates import extract, extract_background

    if "wider_protest" in str(args.data.resolve()):
        parser.error("wider_protest is the benchmark: train on other images (wider_other)")
    extract(args.data, args.cache)
    extract_background(args.data, args.background_cache)
    out = args.out or Path("src/crowdveil/detect/models") / ("closer_look.onnx" if args.closer else
                                                              "candidate_classifier.onnx")
    samples = load_samples(args.data, args.cache, args.background_cache, closer=args.closer)
    model, (p, labels) = fit(samples, epochs=args.epochs, seed=args.seed, log=lambda m: print(m, file=sys.stderr))
    digest = export(model, out, samples.features.shape[1], CLOSER_CROP_PX if args.closer else CROP_PX)
    print(held_out_table(p, labels))
    print(json.dumps({"onnx": str(out), "sha256": digest, "bytes": out.stat().st_size}))


if __name__ == "__main__":
    main()
