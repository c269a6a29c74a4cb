"""``crowdveil bench cluster``: what the Ray engine adds to the pipeline, and what the driver can take.

One run on this machine measures:

* the local runner's files/s on the photos (``run_batch``);
* the Ray engine with 1 and with 2 workers on the same photos (one photo per
  task, the worst case for overhead), each into a fresh output folder, and
  E₂ = X₂ / 2X₁; the rates are steady-state (first to last file finished),
  the wall clocks with Ray's and the actors' start are shown beside them;
* Ray's per-file overhead: 1/X₁ less the pipeline's own service time
  (``Report.timings_ms["total"]``, measured inside the worker);
* the control plane's ceiling: the no-op stage (``ClusterSettings.stage``)
  on many logical CPUs: every question to the driver and every manifest
  line of a real file, no pixels, no file read: files/s the driver, the gate
  and the resume manifest can take.

On a machine with two cores the driver and Ray's own processes share the
cores with the workers: E₂ measured here is a lower bound.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import click

from ..config import Config
from ..io.formats import suffixes_of

DEFAULT_DATA = Path("..") / "shared" / "data" / "wider_protest"
PHOTO_SUFFIXES = suffixes_of("jpeg", "png")  # the data sets hold JPEGs (and PNGs)


def photo_set(data_dir: Path, limit: int) -> list[Path]:
    """``limit`` photos spread evenly over the sorted photos under ``data_dir``."""
    found = sorted(p for p in data_dir.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    if len(found) <= limit:
        return found
    step = len(found) / limit
    return [found[int(i * step)] for i in range(limit)]


class _Clock:
    """``on_done`` that notes when each file finished, and when the pool was complete."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self.times: list[float] = []
        self.all_ready: float | None = None

    def __call__(self, report, outcome=None) -> None:
        self.times.append(time.perf_counter())

    def ready(self, count: int) -> None:
        if count == self.workers and self.all_ready is None:
            self.all_ready = time.perf_counter()

    def steady_rate(self) -> float | None:
        """Files finished once every worker was ready, per second from then to the last one."""
        start = self.all_ready if self.all_ready is not None else (self.times[0] if self.times else None)
        after = [t for t in self.times if start is not None and t > start]
        if not after or after[-1] <= start:
            return None
        return len(after) / (after[-1] - start)


def _jobs(photos: list[Path], out: Path):
    from ..runner.batch import Job

    return [Job(p, out, out) for p in photos]


def measure(photos: list[Path], config: Config, work: Path, *, noop_files: int, noop_workers: int,
            noop_gates: int) -> dict:
    from ..runner.batch import Job, run_batch
    from ..runner.ray_engine import ClusterSettings, import_ray, run_on_ray

    ray = import_ray()
    n = len(photos)
    result: dict = {"photos": n, "preset": config.preset, "cpus": os.cpu_count()}

    clock = _Clock()
    t = time.perf_counter()
    local = run_batch(_jobs(photos, work / "local"), config, on_done=clock)
    wall = time.perf_counter() - t
    service = [r.timings_ms.get("total", 0.0) for r in local.reports if r.passed]
    result["local"] = {"files_per_s": round(n / wall, 3), "wall_s": round(wall, 2), "passed": len(service),
                       "service_ms_mean": round(statistics.fmean(service), 1) if service else None}

    t = time.perf_counter()
    # Logical CPUs beyond the cores: the no-op stage's many workers; the photo runs ask for 1 and 2.
    ray.init(num_cpus=max(noop_workers, 2), include_dashboard=False, object_store_memory=100 * 1024 * 1024,
             log_to_driver=False, logging_level="WARNING")
    result["ray_start_s"] = round(time.perf_counter() - t, 2)
    try:
        for workers in (1, 2):
            clock = _Clock(workers)
            t = time.perf_counter()
            ran = run_on_ray(_jobs(photos, work / f"ray{workers}"), config,
                             ClusterSettings(workers=workers, photos_per_task=1, on_worker_ready=clock.ready),
                             on_done=clock)
            wall = time.perf_counter() - t
            service = [r.timings_ms.get("total", 0.0) for r in ran.reports if r.passed]
            rate = clock.steady_rate()
            result[f"ray_{workers}"] = {
                "files_per_s": round(rate, 3) if rate else None, "wall_s": round(wall, 2),
                "wall_files_per_s": round(n / wall, 3), "passed": len(service),
                "service_ms_mean": round(statistics.fmean(service), 1) if service else None,
            }
        x1, x2 = result["ray_1"]["files_per_s"], result["ray_2"]["files_per_s"]
        result["E2"] = round(x2 / (2 * x1), 3) if x1 and x2 else None
        s1 = result["ray_1"]["service_ms_mean"]
        if x1 and s1:
            overhead = 1000 / x1 - s1
            result["ray_overhead_ms_per_file"] = round(overhead, 1)
            result["ray_overhead_share"] = round(overhead / s1, 4)

        out = work / "noop"
        fake = [Job(Path(f"/nonexistent/noop/{i:07d}.jpg"), out, out) for i in range(noop_files)]
        clock = _Clock(noop_workers)
        t = time.perf_counter()
        ran = run_on_ray(fake, config, ClusterSettings(workers=noop_workers, photos_per_task=256, stage="noop", gates=noop_gates,
                                                 on_worker_ready=clock.ready), on_done=clock)
        wall = time.perf_counter() - t
        rate = clock.steady_rate()
        lines = sum(1 for _ in (out / ".crowdveil-manifest.jsonl").open())
        driver_cpu, gate_cpu = ran.stats.get("driver_cpu_s"), ran.stats.get("gate_cpu_s")
        result["control_plane"] = {
            "files": noop_files, "workers": noop_workers, "files_per_s": round(rate or 0, 1),
            "wall_s": round(wall, 2), "manifest_lines": lines,
            # The driver and the gate are one process each: their CPU time per file bounds the rate
            # on a head node where they get a core each, whatever else this machine runs.
            "gates": noop_gates,
            "driver_cpu_ms_per_file": round(1000 * driver_cpu / noop_files, 3) if driver_cpu else None,
            "gate_cpu_ms_per_file": round(1000 * gate_cpu / noop_files, 3) if gate_cpu else None,
        }
        # Each gate is its own process: with a core each they share the load; the driver is one.
        bound = max(driver_cpu or 0, (gate_cpu or 0) / noop_gates)
        result["control_plane"]["cpu_bound_files_per_s"] = round(noop_files / bound, 1) if bound else None
    finally:
        ray.shutdown()
    return result


def markdown_table(r: dict) -> str:
    rows = [
        "| run | files/s (steady) | wall s (with start) | mean service ms |",
        "| --- | ---: | ---: | ---: |",
        f"| local runner | {r['local']['files_per_s']} | {r['local']['wall_s']} | {r['local']['service_ms_mean']} |",
    ]
    for w in (1, 2):
        x = r[f"ray_{w}"]
        rows.append(f"| Ray, {w} worker{'s' if w > 1 else ''} | {x['files_per_s']} | {x['wall_s']} | {x['service_ms_mean']} |")
    cp = r["control_plane"]
    rows.append(f"| control plane (no-op, {cp['workers']} workers, {cp['files']} files) | {cp['files_per_s']} | "
                f"{cp['wall_s']} | – |")
    rows.append("")
    rows.append(f"Control plane CPU per file: driver {cp['driver_cpu_ms_per_file']} ms, gates {cp['gate_cpu_ms_per_file']} ms "
                f"in all ({cp['gates']} gates) → {cp['cpu_bound_files_per_s']} files/s with a core for each.")
    rows.append(f"E₂ = X₂ / 2X₁ = {r['E2']}; Ray overhead per file = {r.get('ray_overhead_ms_per_file')} ms "
                f"({100 * (r.get('ray_overhead_share') or 0):.1f} % of the service time); Ray start {r['ray_start_s']} s.")
    return "\n".join(rows)


@click.command("cluster")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A folder of photos (searched recursively). Default: ../shared/data/wider_protest.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the numbers as JSON to this file.")
@click.option("--limit", type=click.IntRange(min=2), default=20, show_default=True,
              help="Photos to use, spread evenly over the folder.")
@click.option("--fast", is_flag=True, help="Measure the fast preset instead of the default one.")
@click.option("--noop-files", type=click.IntRange(min=10), default=5000, show_default=True,
              help="Files (names only) the control-plane run handles.")
@click.option("--noop-workers", type=click.IntRange(min=1), default=8, show_default=True,
              help="Workers (logical CPUs) of the control-plane run.")
@click.option("--noop-gates", type=click.IntRange(min=1), default=4, show_default=True,
              help="Gate actors of the control-plane run.")
def cluster_command(data_dir, json_path, limit, fast, noop_files, noop_workers, noop_gates):
    """Local runner vs. the Ray engine with 1 and 2 workers, per-file overhead, control-plane ceiling."""
    from ..errors import MissingExtra

    data_dir = data_dir or DEFAULT_DATA
    if not data_dir.is_dir():
        raise click.UsageError(f"{data_dir} does not exist; pass --data DIR (a folder of photos)")
    photos = photo_set(data_dir, limit)
    if len(photos) < 2:
        raise click.UsageError(f"fewer than 2 photos under {data_dir}")
    work = Path(tempfile.mkdtemp(prefix="cvbench-"))
    try:
        result = measure(photos, Config(preset="fast" if fast else "default"), work,
                         noop_files=noop_files, noop_workers=noop_workers, noop_gates=noop_gates)
    except MissingExtra as exc:
        raise click.UsageError(f"{exc}: {exc.hint}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    click.echo(f"{len(photos)} photos from {data_dir}, {result['preset']} preset, {result['cpus']} CPU(s) "
               "(wall clock on this machine; a shared or busy CPU slows every row)\n")
    click.echo(markdown_table(result))
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2) + "\n")
        click.echo(f"\nwrote {json_path}")
