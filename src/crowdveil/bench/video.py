"""``crowdveil bench video FILE…``: frames per second, beside the ceiling and deface, and a leak test.

For each FILE, on the same machine in the same run:

* **crowdveil**: ``anonymize`` end to end (decode, detect every frame,
  track, redact, encode, re-decode and verify, metadata audit);
* **ceiling**: a pure decode → encode of the same file with crowdveil's
  x264 settings, no detection: no anonymizer on this codec path can be faster;
* **deface** (when importable): its own video loop ``deface.deface.video_detect``
  at its defaults (CenterFace at full resolution, threshold 0.2, blurred
  ellipses, imageio-ffmpeg writing libx264).

Per clip, the **painted share** of each frame (painted pixels / frame
pixels): crowdveil's from the regions the written file really shows
painted (repairs included, handed out by ``anonymize_video``'s
``painted`` callback), deface's from the detections its own loop made on
each frame, drawn as it draws them. Median, 90th percentile and maximum.

Then the **leak test**: a generated clip in which a real face (scikit-image's
astronaut) crosses the frame while the detector is forced to miss every
k-th frame. A frame is *exposed* when less than ``LEAK_COVERED`` of the
face's true box is painted in the written output. The number of frames
the verifier had to repair is reported too: 0 means the tracker alone
bridged every miss.

Wall-clock numbers: on a shared or busy CPU they move; compare columns of
the same run, not runs.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import click
import numpy as np

from ..config import Config
from ..detect.base import Detector
from ..types import Detections
from .metrics import frame_share_stats

__all__ = [
    "video_command", "MissEveryK", "write_moving_face_clip", "exposed_frames", "leak_test",
    "measure_crowdveil", "measure_ceiling", "measure_deface", "painted_shares",
]

LEAK_COVERED = 0.95
FILL_TOLERANCE = 16


class MissEveryK(Detector):
    """Wraps a detector and returns nothing on every k-th frame (1-based: frames k, 2k, …)."""

    def __init__(self, inner: Detector, k: int) -> None:
        if k < 2:
            raise ValueError("k must be at least 2 (k=1 would hide every frame)")
        self.inner, self.k = inner, k
        self.name = f"{inner.name} missing every {k}th frame"
        self.threshold = getattr(inner, "threshold", None)
        self.calls = 0

    @property
    def models(self) -> dict[str, str]:
        return self.inner.models

    def detect(self, rgb: np.ndarray) -> Detections:
        self.calls += 1
        if self.calls % self.k == 0:
            return Detections.empty()
        return self.inner.detect(rgb)


def write_moving_face_clip(
    path: Path,
    *,
    width: int = 854,
    height: int = 480,
    frames: int = 90,
    face_height: int = 120,
    rate: int = 30,
    seed: int = 3,
) -> list[tuple[int, int, int, int]]:
    """Write an H.264 clip of the astronaut's face crossing a textured background.

    The face moves left to right along a gentle wave. Returns the face's
    true box (x1, y1, x2, y2) in every frame.
    """
    import av
    from PIL import Image

    from ..demo import astronaut_face

    rng = np.random.default_rng(seed)
    small = rng.integers(50, 210, size=(height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    background = np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR))
    head = Image.fromarray(astronaut_face())
    face_w = round(face_height * head.width / head.height)
    face = np.asarray(head.resize((face_w, face_height), Image.Resampling.LANCZOS))
    boxes = []
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate, options={"preset": "veryfast", "crf": "16"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            t = i / max(1, frames - 1)
            x = int(10 + t * (width - face_w - 20))
            y = int((height - face_height) / 2 + np.sin(t * 2 * np.pi) * (height - face_height) / 4)
            canvas = background.copy()
            canvas[y : y + face_height, x : x + face_w] = face
            boxes.append((x, y, x + face_w, y + face_height))
            out.mux(stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")))
        out.mux(stream.encode(None))
    return boxes


def exposed_frames(path: Path, boxes: list, *, fill=(128, 128, 128), covered: float = LEAK_COVERED) -> list[int]:
    """Frames of the written video where less than ``covered`` of the true face box is the fill colour."""
    import av

    exposed = []
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            x1, y1, x2, y2 = boxes[i]
            patch = frame.to_ndarray(format="rgb24")[y1:y2, x1:x2].astype(int)
            filled = (np.abs(patch - np.array(fill)).max(axis=2) <= FILL_TOLERANCE).mean()
            if filled < covered:
                exposed.append(i)
    return exposed


@dataclass
class LeakResult:
    k: int
    frames: int
    missed_by_detector: int
    exposed: list[int]
    repaired_by_verifier: int
    passed_verification: bool

    def to_dict(self) -> dict:
        return {"k": self.k, "frames": self.frames, "missed_by_detector": self.missed_by_detector,
                "exposed_frames": len(self.exposed), "exposed": self.exposed,
                "repaired_by_verifier": self.repaired_by_verifier, "passed_verification": self.passed_verification}


def leak_test(k: int, folder: Path, *, config: Config = Config(), detector: Detector | None = None,
              verifier: Detector | None = None, **clip) -> LeakResult:
    """Run the leak test once for ``k``; ``detector`` defaults to the video detector for the clip size."""
    from ..detect.registry import build_video_detector
    from ..pipeline.video import anonymize_video

    src = folder / f"leak_k{k}.mp4"
    boxes = write_moving_face_clip(src, **clip)
    width, height = clip.get("width", 854), clip.get("height", 480)
    inner = detector or build_video_detector(config, width, height)
    forced = MissEveryK(inner, k)
    dst = folder / f"leak_k{k}.veiled.mp4"
    report = anonymize_video(src, dst, config.replace(overwrite=True), detector=forced, verifier=verifier)
    return LeakResult(
        k=k, frames=len(boxes), missed_by_detector=len(boxes) // k, exposed=exposed_frames(dst, boxes, fill=config.fill_color),
        repaired_by_verifier=len(report.video.get("repaired_frames", [])), passed_verification=report.passed,
    )


# -- speed -----------------------------------------------------------------------------------


def _frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def painted_shares(regions: list[Detections], width: int, height: int, shape: str) -> list[float]:
    """Per frame, the percentage of its pixels inside ``regions`` (drawn as ``paint`` draws them)."""
    from ..redact import region_mask
    from .metrics import painted_pct

    return [painted_pct(region_mask(height, width, r, shape)) for r in regions]


def measure_crowdveil(src: Path, folder: Path, config: Config, *, shares: list | None = None) -> tuple[float, dict]:
    """Frames per second of the video pipeline end to end (verification included), and its report.

    ``shares``: filled with each frame's painted share (percent) of the
    written file, measured after the clock stopped. It is filled even when
    verification then refuses the file (``VerificationFailed`` is raised).
    """
    from ..pipeline.video import anonymize_video

    dst = folder / f"{src.stem}.veiled.mp4"
    seen: list = []
    # anonymize() hands a video to anonymize_video and nothing more; called directly for its callback.
    started = time.perf_counter()
    try:
        report = anonymize_video(src, dst, config.replace(overwrite=True),
                                 painted=lambda regions, size: seen.append((regions, size)))
        seconds = time.perf_counter() - started
    finally:
        if shares is not None and seen:
            regions, (width, height) = seen[-1]
            shares.extend(painted_shares(regions, width, height, config.shape))
    return report.video["frames"] / seconds, report.to_dict()


def measure_ceiling(src: Path, folder: Path) -> float:
    """Frames per second of decode → encode with crowdveil's x264 settings and nothing else."""
    import av

    from ..io.video import EncoderSettings

    frames = 0
    started = time.perf_counter()
    with av.open(str(src)) as inp, av.open(str(folder / "ceiling.mp4"), "w") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        rate = Fraction(vin.average_rate or 30)
        settings = EncoderSettings()
        vout = out.add_stream("libx264", rate=rate, options=settings.options())
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width // 2 * 2, vin.codec_context.height // 2 * 2, "yuv420p"
        settings.configure(vout.codec_context, rate, 1 / rate)
        for frame in inp.decode(vin):
            frame = frame.reformat(width=vout.width, height=vout.height, format="yuv420p")
            # Numbered in the encoder's time base: a source in another one (MKV's 1/1000) left
            # packets without a usable timestamp, and the muxer refused them.
            frame.pts, frame.time_base = frames, 1 / rate
            out.mux(vout.encode(frame))
            frames += 1
        out.mux(vout.encode(None))
    return frames / (time.perf_counter() - started)


def deface_available() -> str | None:
    """``None`` when deface's video loop can run here, else why not."""
    try:
        import deface.centerface  # noqa: F401
        import deface.deface  # noqa: F401 - needs imageio and imageio-ffmpeg
    except Exception as exc:  # noqa: BLE001 - any missing piece of its stack
        return f"{type(exc).__name__}: {exc}"
    return None


def measure_deface(src: Path, folder: Path, *, shares: list | None = None) -> float:
    """Frames per second of deface's own ``video_detect`` at its CLI defaults (model load excluded).

    ``shares``: filled with each frame's painted share (percent): its
    detections drawn with deface's box scaling and ellipse (``photos.deface_mask``).
    """
    from .deface_video import run_deface_video
    from .metrics import painted_pct
    from .photos import deface_mask

    frames = _frame_count(src)
    seconds, found = run_deface_video(src, folder / f"{src.stem}_anonymized.mp4")
    if shares is not None:
        shares.extend(painted_pct(deface_mask(dets, *shape)) for dets, shape in found)
    return frames / seconds


# -- command -----------------------------------------------------------------------------------


@click.command("video")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--fast", is_flag=True, help="Measure the fast preset instead of the default.")
@click.option("--deface/--no-deface", "with_deface", default=True, show_default=True, help="Also run deface when importable.")
@click.option("--leak-k", "leak_ks", type=click.IntRange(min=2), multiple=True, default=(2, 3, 5), show_default=True,
              help="Leak test: the detector misses every k-th frame (repeatable).")
@click.option("--leak-size", default="854x480", show_default=True, help="Leak-test clip size WxH.")
@click.option("--leak/--no-leak", "with_leak", default=True, show_default=True,
              help="Run the leak test after the files (--no-leak: the files only).")
@click.option("--crowd", "crowd_root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also measure exposed faces and collateral on clips panned across the photos of this WIDER "
                   "FACE-format root (bench/video_crowd.py), e.g. ../shared/data/wider_protest.")
@click.option("--crowd-clips", type=click.IntRange(min=1), default=12, show_default=True,
              help="How many photos of the --crowd root to pan across.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write the results as JSON.")
def video_command(files: tuple[Path, ...], fast: bool, with_deface: bool, leak_ks: tuple[int, ...], leak_size: str,
                  with_leak: bool, crowd_root: Path | None, crowd_clips: int, json_path: Path | None) -> None:
    """Frames per second of crowdveil, of a pure decode+encode (the ceiling) and of deface on FILES;
    then the leak test (exposed frames must be 0); with --crowd, exposure in panned crowd clips."""
    config = Config(preset="fast" if fast else "default")
    why_no_deface = deface_available() if with_deface else "--no-deface"
    results: dict = {"preset": config.preset, "files": {}, "leak_test": []}
    click.echo("wall clock on this machine; a shared or busy CPU moves every column, compare within a run\n")
    if files:
        click.echo("| file | size | frames | crowdveil fps | ceiling fps | crowdveil/ceiling | deface fps | crowdveil/deface "
                   "| regions/frame | tracks | checks | painted % median | p90 | max (frame) "
                   "| deface painted % median | p90 | max (frame) |")
        click.echo("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for src in files:
        with tempfile.TemporaryDirectory(prefix="crowdveil-bench-") as tmp:
            folder = Path(tmp)
            row: dict = {}
            shares: list[float] = []
            deface_shares: list[float] = []
            try:
                fps, report = measure_crowdveil(src, folder, config, shares=shares)
                row.update(crowdveil_fps=fps, report=report)
            except Exception as exc:  # noqa: BLE001 - a bench row records the failure and goes on
                row.update(crowdveil_fps=None, error=f"{type(exc).__name__}: {exc}")
                failed = getattr(exc, "report", None)
                report = failed.to_dict() if failed is not None else {}
            row.update(frame_share_stats(shares), painted_pct_per_frame=[round(v, 3) for v in shares])
            row["ceiling_fps"] = measure_ceiling(src, folder)
            row["deface_fps"] = measure_deface(src, folder, shares=deface_shares) if why_no_deface is None else None
            if why_no_deface is None:
                row["deface"] = {**frame_share_stats(deface_shares),
                                 "painted_pct_per_frame": [round(v, 3) for v in deface_shares]}
        results["files"][str(src)] = row
        click.echo(_row(src, row, report))
    if why_no_deface and with_deface:
        click.echo(f"\ndeface not measured ({why_no_deface}); install it with pip install --no-deps deface imageio imageio-ffmpeg tqdm scikit-image")
    leaks_ok = True
    if with_leak:
        leaks_ok = _leak_tests(results, config, leak_ks, leak_size)
    if crowd_root is not None:
        _crowd_table(results, config, crowd_root, crowd_clips, with_deface=why_no_deface is None)
    if json_path:
        json_path.write_text(json.dumps(results, indent=2, default=str))
        click.echo(f"\nwrote {json_path}")
    sys.exit(0 if leaks_ok else 1)


def _leak_tests(results: dict, config: Config, leak_ks: tuple[int, ...], leak_size: str) -> bool:
    """Run and print the leak test for each k; True when no frame was exposed."""
    width, height = (int(v) for v in leak_size.lower().split("x"))
    click.echo(f"\nleak test: the astronaut's face crosses a {width}×{height} clip; the detector misses every k-th frame")
    click.echo("| k | frames | frames missed by the detector | exposed frames | frames the verifier repaired | verified |")
    click.echo("|---:|---:|---:|---:|---:|---|")
    leaks_ok = True
    for k in leak_ks:
        with tempfile.TemporaryDirectory(prefix="crowdveil-leak-") as tmp:
            result = leak_test(k, Path(tmp), config=config, width=width, height=height)
        results["leak_test"].append(result.to_dict())
        leaks_ok &= not result.exposed
        click.echo(f"| {k} | {result.frames} | {result.missed_by_detector} | **{len(result.exposed)}** | "
                   f"{result.repaired_by_verifier} | {'pass' if result.passed_verification else 'FAIL'} |")
    return leaks_ok


def _crowd_table(results: dict, config: Config, root: Path, clips: int, *, with_deface: bool) -> None:
    from .video_crowd import FRAMES, WINDOW, crowd_video_bench
    from .wider import load_wider

    try:
        load_wider(root)
    except Exception as exc:  # noqa: BLE001 - any unreadable root is a usage error of the option
        raise click.UsageError(f"--crowd {root}: {exc}") from exc
    click.echo(f"\ncrowd video: {clips} clips of {FRAMES} frames panning a {WINDOW:g}× window across photos of {root}")
    scores = crowd_video_bench(root, clips=clips, configs={f"crowdveil {config.preset}": config},
                               with_deface=with_deface, log=lambda line: click.echo(f"  {line}", err=True))
    results["crowd"] = {name: score.to_dict() for name, score in scores.items()}
    click.echo("| system | face-frames ≥ 16 px | exposed ≥ 16 px | exposed ≥ 32 px | collateral | painted % median |")
    click.echo("|---|---:|---:|---:|---:|---:|")
    for name, d in results["crowd"].items():
        def pct(v):
            return "–" if v is None else f"{100 * v:.1f} %"

        click.echo(f"| {name} | {d['face_frames_ge16']} | **{pct(d['exposed_ge16'])}** | {pct(d['exposed_ge32'])} | "
                   f"{d['collateral_pct']:.1f} % | {d['painted_median_pct']:.1f} |")


def _row(src: Path, row: dict, report: dict) -> str:
    video = report.get("video", {})
    cv, ceiling, deface = row.get("crowdveil_fps"), row["ceiling_fps"], row.get("deface_fps")
    checks = report.get("checks", [])
    passed = sum(c["passed"] for c in checks)
    return "| " + " | ".join([
        src.name,
        f"{report.get('width', '?')}×{report.get('height', '?')}",
        str(video.get("frames", "?")),
        f"{cv:.2f}" if cv else f"failed: {row.get('error', '')[:80]}",
        f"{ceiling:.1f}",
        f"{100 * cv / ceiling:.0f} %" if cv else "–",
        f"{deface:.2f}" if deface else "–",
        f"{cv / deface:.2f}×" if cv and deface else "–",
        str(video.get("regions_per_frame", {}).get("mean", "–")),
        str(video.get("tracks", "–")),
        f"{passed}/{len(checks)}" + (f", {len(video['exposed_risk_frames'])} exposed-risk" if video.get("exposed_risk_frames") else ""),
        *_share_cells(row),
        *_share_cells(row.get("deface") or {}),
    ]) + " |"


def _share_cells(stats: dict) -> list[str]:
    if stats.get("painted_median_pct") is None:
        return ["–", "–", "–"]
    return [f"{stats['painted_median_pct']:.1f}", f"{stats['painted_p90_pct']:.1f}",
            f"{stats['painted_max_pct']:.1f} ({stats['painted_max_frame']})"]

