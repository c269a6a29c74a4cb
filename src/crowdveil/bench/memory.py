"""``crowdveil bench memory``: peak resident memory of the real command on big photos.

Each case writes its own photo (``big_photo``: a gradient with four planted
faces), runs ``crowdveil PHOTO --out DIR`` in a fresh process under GNU
``/usr/bin/time -v`` and reads its "Maximum resident set size": the whole
command, from interpreter start to the verified file, at the default
settings. It then checks, on the written file's own pixels, that every
planted face is covered. The targets (issue 15): a 200 MP HEIC in 2 GiB, a
48 MP phone photo in 1 GiB.

Memory is measured here, never in a timed test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import numpy as np

from .big_photo import BIG_HEIGHT, BIG_WIDTH, planted_faces, write_big_photo

GIB = 1 << 30
# name: (width, height, suffix, peak RSS target in bytes)
CASES = {
    "200mp-heic": (BIG_WIDTH, BIG_HEIGHT, ".heic", 2 * GIB),
    "48mp-heic": (8000, 6000, ".heic", GIB),
    "48mp-jpeg": (8000, 6000, ".jpg", GIB),
}
TIME = "/usr/bin/time"
# A planted face counts as covered when this share of its pixels is the fill colour, give or
# take JPEG's rounding.
COVERED_SHARE = 0.99
FILL_TOLERANCE = 16


@dataclass
class MemoryResult:
    case: str
    width: int
    height: int
    format: str
    input_bytes: int
    exit_code: int
    peak_rss_mb: float
    target_mb: float | None
    within_target: bool | None
    wall_s: float
    faces_planted: int
    faces_covered: int
    output: str | None


def max_rss_bytes(time_output: str) -> int:
    """The "Maximum resident set size (kbytes)" of GNU time's ``-v`` report, in bytes."""
    found = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", time_output)
    if not found:
        raise ValueError("no 'Maximum resident set size' in the time -v output")
    return int(found.group(1)) * 1024


def covered_faces(output: Path, faces: list[tuple[int, int, int, int]], fill: tuple[int, int, int]) -> int:
    """How many of ``faces`` (x1, y1, x2, y2) are painted with ``fill`` in the written file."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # our own 200 MP output
    with Image.open(output) as im:
        covered = 0
        for x1, y1, x2, y2 in faces:
            patch = np.asarray(im.crop((x1, y1, x2, y2)).convert("RGB"), np.int16)
            close = (np.abs(patch - np.array(fill, np.int16)) <= FILL_TOLERANCE).all(axis=2)
            covered += int(close.mean() >= COVERED_SHARE)
    return covered


def run_case(name: str, width: int, height: int, suffix: str, target: int | None, work: Path,
             extra_args: tuple[str, ...] = ()) -> MemoryResult:
    """Write the case's photo (kept in ``work`` and reused), run the command on it, measure and check."""
    from ..config import Config

    src = work / f"{name}{suffix}"
    faces = planted_faces(width, height)
    if not src.exists():
        click.echo(f"  writing {src.name} ({width}×{height}) ...", err=True)
        write_big_photo(src, width, height)
    boxes = _boxes(faces)
    out_dir = work / f"{name}-out"
    for old in out_dir.glob("*") if out_dir.is_dir() else []:
        old.unlink()
    env = dict(os.environ)
    # The child imports this same crowdveil (a source checkout as well as an installed one).
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [env.get("PYTHONPATH")])])
    command = [TIME, "-v", sys.executable, "-c", "from crowdveil.cli import main; main()", str(src),
               "--out", str(out_dir), *extra_args]
    click.echo(f"  running crowdveil on {src.name} ...", err=True)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    peak = max_rss_bytes(done.stderr)
    written = sorted(out_dir.glob("*")) if out_dir.is_dir() else []
    output = written[0] if len(written) == 1 and done.returncode == 0 else None
    covered = covered_faces(output, boxes, Config().fill_color) if output is not None else 0
    if done.returncode != 0:
        tail = "\n".join(done.stdout.strip().splitlines()[-3:])
        click.echo(f"  crowdveil exited {done.returncode}: {tail}", err=True)
    return MemoryResult(
        case=name, width=width, height=height, format=suffix.lstrip("."), input_bytes=src.stat().st_size,
        exit_code=done.returncode, peak_rss_mb=round(peak / 2**20, 1),
        target_mb=None if target is None else round(target / 2**20), within_target=None if target is None else peak <= target,
        wall_s=round(wall, 1), faces_planted=len(boxes), faces_covered=covered,
        output=None if output is None else str(output),
    )


def _boxes(faces: list[tuple[int, int, int]]) -> list[tuple[int, int, int, int]]:
    from .big_photo import face_width

    return [(x, y, x + face_width(h), y + h) for x, y, h in faces]


def parse_custom(value: str) -> tuple[str, int, int, str]:
    """``WIDTHxHEIGHT.ext`` (``640x480.jpg``, ``4000x3000.heic``) as a case without a target."""
    found = re.fullmatch(r"(\d+)x(\d+)\.(jpg|jpeg|heic)", value.strip().lower())
    if not found:
        raise click.BadParameter(f"{value!r}: write WIDTHxHEIGHT.jpg or WIDTHxHEIGHT.heic")
    width, height, ext = int(found.group(1)), int(found.group(2)), found.group(3)
    return f"custom-{width}x{height}-{ext}", width, height, f".{ext}"


def markdown_table(results: list[MemoryResult]) -> str:
    lines = ["| case | size | peak RSS | target | within | wall | faces covered |",
             "|---|---|---:|---:|---|---:|---:|"]
    for r in results:
        target = "–" if r.target_mb is None else f"{r.target_mb:.0f} MiB"
        within = "–" if r.within_target is None else ("yes" if r.within_target else "**no**")
        lines.append(f"| {r.case} | {r.width}×{r.height} {r.format} | {r.peak_rss_mb:.0f} MiB | {target} | {within} "
                     f"| {r.wall_s:.0f} s | {r.faces_covered}/{r.faces_planted} |")
    return "\n".join(lines)


@click.command("memory")
@click.option("--case", "cases", type=click.Choice(sorted(CASES)), multiple=True,
              help="Case(s) to run (repeatable). Default: all three.")
@click.option("--custom", "customs", multiple=True, metavar="WxH.EXT",
              help="Also run a photo of this size and format (e.g. 640x480.jpg), with no target.")
@click.option("--work", "work_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the photos (kept and reused) and outputs. Default: a temporary folder.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the numbers as JSON to this file.")
@click.option("--fast", is_flag=True, help="Run the command with --fast (default: the default settings).")
def memory_command(cases: tuple[str, ...], customs: tuple[str, ...], work_dir: Path | None, json_path: Path | None,
                   fast: bool) -> None:
    """Peak memory of `crowdveil PHOTO` on a 200 MP HEIC and 48 MP photos, every planted face checked."""
    if not Path(TIME).exists():
        raise click.UsageError(f"{TIME} (GNU time) is needed to measure peak memory: install it (Debian: apt install time)")
    runs: list[tuple[str, int, int, str, int | None]] = [(name, *CASES[name]) for name in (cases or (() if customs else tuple(CASES)))]
    runs += [(*parse_custom(value), None) for value in customs]
    with tempfile.TemporaryDirectory(prefix="crowdveil-bench-memory-") as tmp:
        work = work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = [run_case(name, w, h, suffix, target, work, ("--fast",) if fast else ())
                   for name, w, h, suffix, target in runs]
        click.echo("")
        click.echo(markdown_table(results))
        if json_path is not None:
            json_path.write_text(json.dumps({"settings": "fast" if fast else "default",
                                             "cases": [asdict(r) for r in results]}, indent=2) + "\n")
            click.echo(f"\nwrote {json_path}")
