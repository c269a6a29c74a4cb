"""``crowdveil bench photos``: exposed faces, collateral and speed on a WIDER FACE root, beside deface.

The crowdveil side runs the pipeline's own steps on decoded pixels
(``pipeline.detect`` → ``pipeline.redact_verified``: padding, painting,
encoding, re-reading, verification and its repairs) and scores the regions
that were really painted. Each side runs in its own process so that its
peak memory is its own. Times cover detection through the encoded output
(file reading and decoding of the source excluded, on both sides).
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import click
import numpy as np

from .metrics import HEIGHT_BINS, ImageScore, Summary, score_image, summarize
from .wider import WiderImage, load_wider

DEFAULT_DATA = Path("..") / "shared" / "data" / "wider_protest"
DEFACE_THRESHOLD = 0.2  # deface's defaults: --thresh 0.2, --mask-scale 1.3, ellipse masks
DEFACE_MASK_SCALE = 1.3


def subset(items: list, limit: int | None) -> list:
    """``limit`` items spread evenly over the list (every event class, not just the first)."""
    if not limit or limit >= len(items):
        return items
    picks = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _progress(label: str, done: int, total: int) -> None:
    if done == total or done % 25 == 0:
        print(f"  {label}: {done}/{total}", file=sys.stderr, flush=True)


def run_crowdveil(items: list[tuple[Path, WiderImage]], preset: str) -> tuple[list[ImageScore], float]:
    """Score the pipeline at ``preset`` on each image; returns scores and peak RSS (MB)."""
    from ..config import Config
    from ..detect.registry import build_detector, build_verifier
    from ..io.image import decode_image
    from ..io.sniff import sniff
    from ..pipeline import detect, redact_verified
    from ..redact import region_mask

    config = Config(preset=preset)
    detector = build_detector(config.preset, config.threshold)
    verifier = build_verifier(config.preset, config.threshold)
    scores = []
    for n, (path, image) in enumerate(items, 1):
        data = path.read_bytes()
        decoded = decode_image(data, sniff(data[:64], path.name), max_pixels=int(config.max_megapixels * 1e6), name=path.name)
        started = time.perf_counter()
        faces = detect(detector, decoded.pixels)
        result = redact_verified(decoded.pixels, faces, config, "jpeg", verifier, name=path.name)
        ms = (time.perf_counter() - started) * 1000
        mask = region_mask(decoded.height, decoded.width, result.regions, config.shape)
        scores.append(score_image(image.event, image.boxes, image.scored, mask, ms, failed=bool(len(result.leftover))))
        _progress(f"crowdveil {preset}", n, len(items))
    return scores, _peak_rss_mb()


def deface_mask(dets: np.ndarray, height: int, width: int) -> np.ndarray:
    """The pixels deface paints for ``dets``, drawn with its own box scaling and ellipse."""
    import skimage.draw
    from deface.deface import scale_bb

    mask = np.zeros((height, width), bool)
    for det in dets:
        x1, y1, x2, y2 = scale_bb(*det[:4].astype(int), mask_scale=DEFACE_MASK_SCALE)
        y1, y2 = max(0, y1), min(height - 1, y2)  # deface clips to the last row/column, as here
        x1, x2 = max(0, x1), min(width - 1, x2)
        if y2 <= y1 or x2 <= x1:
            continue
        ey, ex = skimage.draw.ellipse((y2 - y1) // 2, (x2 - x1) // 2, (y2 - y1) // 2, (x2 - x1) // 2)
        mask[y1:y2, x1:x2][ey, ex] = True
    return mask


def run_deface(items: list[tuple[Path, WiderImage]]) -> tuple[list[ImageScore], float]:
    """deface's CenterFace at its defaults (own resolution handling, threshold 0.2, blurred ellipses ×1.3)."""
    from deface.centerface import CenterFace as DefaceCenterFace
    from deface.deface import anonymize_frame
    from PIL import Image

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the execution provider
        centerface = DefaceCenterFace(in_shape=None, backend="auto")
    scores = []
    for n, (path, image) in enumerate(items, 1):
        frame = np.asarray(Image.open(path).convert("RGB"))
        started = time.perf_counter()
        dets, _ = centerface(frame, threshold=DEFACE_THRESHOLD)
        out = frame.copy()
        anonymize_frame(dets, out, mask_scale=DEFACE_MASK_SCALE, replacewith="blur", ellipse=True,
                        draw_scores=False, replaceimg=None, mosaicsize=20)
        Image.fromarray(out).save(io.BytesIO(), "JPEG", quality=92)
        ms = (time.perf_counter() - started) * 1000
        mask = deface_mask(dets, *frame.shape[:2])
        scores.append(score_image(image.event, image.boxes, image.scored, mask, ms))
        _progress("deface", n, len(items))
    return scores, _peak_rss_mb()


def deface_available() -> bool:
    try:
        import deface.centerface  # noqa: F401
        import deface.deface  # noqa: F401
    except Exception:  # its imports (imageio, skimage, cv2) may be missing too
        return False
    return True


def _in_child(fn, *args):
    """Run one side in a fresh process: its peak RSS is its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _pct(rate: float) -> str:
    return f"{100 * rate:.1f} %"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "–"


def markdown_table(results: dict[str, tuple[Summary, float]]) -> str:
    """Rows: metrics; columns: each side, then crowdveil/deface ratios."""
    names = list(results)
    ratio_cols = [n for n in names if n != "deface"] if "deface" in results else []
    header = "| metric | " + " | ".join(names) + "".join(f" | {n}/deface" for n in ratio_cols) + " |"
    lines = [header, "|---|" + "---:|" * (len(names) + len(ratio_cols))]

    def row(label: str, values: list, fmt, ratio=True):
        cells = [fmt(v) for v in values]
        base = values[names.index("deface")] if "deface" in results else None
        ratios = [_ratio(values[names.index(n)], base) if ratio else "" for n in ratio_cols]
        lines.append(f"| {label} | " + " | ".join(cells + ratios) + " |")

    sums = [results[n][0] for n in names]
    for key in HEIGHT_BINS:
        row(f"exposed, faces {key} px (n={sums[0].faces[key]})", [s.exposed[key] for s in sums], _pct)
    row(f"**exposed, faces ≥ 16 px** (n={sums[0].faces['ge16']})", [s.exposed["ge16"] for s in sums], _pct)
    row(f"**exposed, faces ≥ 32 px** (n={sums[0].faces['ge32']})", [s.exposed["ge32"] for s in sums], _pct)
    row("**collateral** (% of image)", [s.collateral_pct for s in sums], lambda v: f"{v:.2f} %")
    row("**images / s**", [s.images_per_s for s in sums], lambda v: f"{v:.2f}")
    row("median ms / image", [s.median_ms for s in sums], lambda v: f"{v:.0f}")
    row("peak RSS (MB)", [results[n][1] for n in names], lambda v: f"{v:.0f}")
    row("files that would fail verification", [s.failed for s in sums], str, ratio=False)
    events = sorted(sums[0].per_event)
    lines += ["", "| event class (exposed ≥ 16 px) | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for event in events:
        cells = [_pct(s.per_event[event]["exposed_ge16"]) for s in sums]
        lines.append(f"| {event} (n={sums[0].per_event[event]['faces_ge16']}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def json_report(results: dict[str, tuple[Summary, float]]) -> dict:
    """``{"crowdveil": {...}, "deface": {...}}`` (rates as fractions), plus any extra preset."""
    out = {}
    for name, (summary, rss) in results.items():
        key = "crowdveil" if name == "crowdveil" else name.replace(" ", "_").replace("--", "")
        out[key] = {**summary.to_dict(), "peak_rss_mb": rss}
    return out


@click.command("photos")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="WIDER FACE root (WIDER_val/images, wider_face_split). Default: ../shared/data/wider_protest.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the numbers as JSON to this file.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Use only N images, spread evenly over the set (quick runs).")
@click.option("--preset", "presets", type=click.Choice(["default", "fast"]), multiple=True,
              help="crowdveil preset(s) to measure (repeatable). Default: default and fast.")
@click.option("--deface/--no-deface", "with_deface", default=True,
              help="Measure deface beside crowdveil when it is importable (the 'bench' extra).")
def photos_command(data_dir: Path | None, json_path: Path | None, limit: int | None, presets: tuple[str, ...],
                   with_deface: bool) -> None:
    """Exposed faces, collateral and speed on WIDER FACE-format photos."""
    if data_dir is None:
        data_dir = DEFAULT_DATA
        if not data_dir.is_dir():
            raise click.UsageError(f"{data_dir} does not exist; pass --data DIR (a WIDER FACE root)")
    try:
        items = subset(load_wider(data_dir), limit)
    except (FileNotFoundError, ValueError) as exc:
        raise click.UsageError(f"cannot read the ground truth: {exc}") from exc
    presets = presets or ("default", "fast")
    results: dict[str, tuple[Summary, float]] = {}
    for preset in presets:
        name = "crowdveil" if preset == "default" else f"crowdveil --{preset}"
        scores, rss = _in_child(run_crowdveil, items, preset)
        results[name] = (summarize(scores), rss)
    if with_deface:
        if deface_available():
            scores, rss = _in_child(run_deface, items)
            results["deface"] = (summarize(scores), rss)
        else:
            click.echo("deface is not importable: measuring crowdveil only (pip install 'crowdveil[bench]' "
                       "and pip install --no-deps deface).", err=True)
    click.echo(f"\n{len(items)} images from {data_dir} (wall clock on this machine; a shared or busy CPU "
               "slows both sides)\n")
    click.echo(markdown_table(results))
    if json_path is not None:
        json_path.write_text(json.dumps(json_report(results), indent=2) + "\n")
        click.echo(f"\nwrote {json_path}")
