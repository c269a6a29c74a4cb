"""``crowdveil bench cluster``: what the Ray engine adds to the pipeline, and what the driver can take.

One run on this machine measures:

* the local runner's files/s on the photos (``run_batch``, models loaded first);
* the Ray engine with 1 and with 2 workers on the same photos, with the same
  batch size (one photo per task: the worst case for overhead, and the one
  that keeps two workers evenly loaded on a short list), each into a fresh
  output folder, and E₂ = X₂ / 2X₁;
* Ray's per-file overhead: 1/X₁ less the pipeline's own service time
  (``Report.timings_ms["total"]``, measured inside the worker);
* the control plane's ceiling, with the no-op stages (``ray_engine.Stage``)
  on many logical CPUs: every question to the driver and every manifest
  line of a real file, no pixels, no file read. ``noop-driver`` sends a
  task's questions in one gate call, so what it measures is the driver and
  the resume manifest (the part of the control plane that is one process by
  design); ``noop`` sends them one call per file as a real worker does, which
  adds the gates' cost per call (more gates share it out).

Every rate is steady-state, the same way for every run: files finished from
the moment as many files as workers have finished (models warm, every
worker busy) to the moment the last file was handed out (after that a
worker idles: the drain of a short list, not the engine). The wall clocks,
with Ray's and the actors' start, are shown beside them, and the load
average before and after each run is recorded: on a machine with two cores
the driver and Ray's own processes share the cores with the workers, so E₂
measured here is a lower bound, and a busy machine lowers it further
(``E2_service_corrected`` divides out the slower service time).
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
# The photo runs' batch size, the same for 1 and 2 workers.
PHOTOS_PER_TASK = 1


def photo_set(data_dir: Path, limit: int) -> list[Path]:
    """``limit`` photos spread evenly over the sorted photos under ``data_dir``."""
    found = sorted(p for p in data_dir.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    if len(found) <= limit:
        return found
    step = len(found) / limit
    return [found[int(i * step)] for i in range(limit)]


class _Clock:
    """``on_done`` that notes when each file finished."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self.times: list[float] = []
        self.service_ms: list[float | None] = []  # the pipeline's own time of each, in the same order

    def __call__(self, report, outcome=None) -> None:
        self.times.append(time.perf_counter())
        self.service_ms.append(report.timings_ms.get("total") if report.passed else None)

    def _window(self) -> tuple[int, int]:
        return self.workers - 1, len(self.times) - self.workers

    def steady_service_ms(self) -> float | None:
        """The mean service time of the files the steady rate counts (the same files, so 1/X − s is overhead)."""
        first, last = self._window()
        order = sorted(range(len(self.times)), key=self.times.__getitem__)
        values = [v for v in (self.service_ms[i] for i in order[first + 1 : last + 1]) if v is not None]
        return round(statistics.fmean(values), 1) if values else None

    def steady_rate(self) -> float | None:
        """Files per second between the ``workers``-th finished file and the ``workers``-th from the end.

        Before the first: workers still start or run their first file (a cold
        session's first inference at a new size is slower). After the
        second: the list is handed out, a worker idles. In between, every
        worker is busy and warm: the rate a long run would keep.
        """
        times = sorted(self.times)
        first, last = self._window()
        if last <= first or times[last] <= times[first]:
            return None
        return (last - first) / (times[last] - times[first])


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _jobs(photos: list[Path], out: Path):
    from ..runner.batch import Job

    return [Job(p, out, out) for p in photos]


def _service(reports) -> float | None:
    service = [r.timings_ms.get("total", 0.0) for r in reports if r.passed]
    return round(statistics.fmean(service), 1) if service else None


def _warm_models(config: Config) -> None:
    """Load the models in this process first, as each Ray worker does before it is ready."""
    import numpy as np

    from ..detect.registry import build_detector, build_verifier

    pixels = np.zeros((64, 64, 3), np.uint8)
    build_detector(config.preset, config.threshold).detect(pixels)
    build_verifier(config.preset, config.threshold).detect(pixels)


def measure(photos: list[Path], config: Config, work: Path, *, noop_files: int, noop_workers: int,
            noop_gates: int) -> dict:
    from ..runner.batch import run_batch
    from ..runner.ray_engine import ClusterSettings, import_ray, run_on_ray

    ray = import_ray()
    n = len(photos)
    result: dict = {"photos": n, "preset": config.preset, "cpus": os.cpu_count(), "photos_per_task": PHOTOS_PER_TASK,
                    "rate": "steady: from the w-th finished file to the w-th from the end (w workers)"}

    _warm_models(config)
    clock = _Clock()
    load = _load()
    t = time.perf_counter()
    local = run_batch(_jobs(photos, work / "local"), config, on_done=clock)
    wall = time.perf_counter() - t
    rate = clock.steady_rate()
    result["local"] = {"files_per_s": round(rate, 3) if rate else None, "wall_s": round(wall, 2),
                       "passed": sum(r.passed for r in local.reports), "service_ms_mean": _service(local.reports),
                       "service_ms_steady": clock.steady_service_ms(), "load": [load, _load()]}

    t = time.perf_counter()
    # Logical CPUs beyond the cores: the no-op stage's many workers; the photo runs ask for 1 and 2.
    # "local": a Ray of its own, never a cluster some other job left running on this machine.
    ray.init(address="local", num_cpus=max(noop_workers, 2), include_dashboard=False, object_store_memory=100 * 1024 * 1024,
             log_to_driver=False, logging_level="WARNING")
    result["ray_start_s"] = round(time.perf_counter() - t, 2)
    try:
        for workers in (1, 2):
            clock = _Clock(workers)
            load = _load()
            t = time.perf_counter()
            ran = run_on_ray(_jobs(photos, work / f"ray{workers}"), config,
                             ClusterSettings(workers=workers, photos_per_task=PHOTOS_PER_TASK), on_done=clock)
            wall = time.perf_counter() - t
            rate = clock.steady_rate()
            result[f"ray_{workers}"] = {
                "files_per_s": round(rate, 3) if rate else None, "wall_s": round(wall, 2),
                "wall_files_per_s": round(n / wall, 3), "passed": sum(r.passed for r in ran.reports),
                "service_ms_mean": _service(ran.reports), "service_ms_steady": clock.steady_service_ms(),
                "load": [load, _load()],
            }
        x1, x2 = result["ray_1"]["files_per_s"], result["ray_2"]["files_per_s"]
        # Service times of the files each steady rate counts: rate and time of the same files.
        s1, s2 = result["ray_1"]["service_ms_steady"], result["ray_2"]["service_ms_steady"]
        result["E2"] = round(x2 / (2 * x1), 3) if x1 and x2 else None
        # What E₂ would be had the two workers' photos taken as long as the lone worker's: the share of
        # the loss that is the machine's (two workers on two shared cores), not the engine's.
        result["E2_service_corrected"] = round(x2 * s2 / (2 * x1 * s1), 3) if x1 and x2 and s1 and s2 else None
        if x1 and s1:
            overhead = 1000 / x1 - s1
            result["ray_overhead_ms_per_file"] = round(overhead, 1)
            result["ray_overhead_share"] = round(overhead / s1, 4)
        result["control_plane"] = _control_plane(ray, run_on_ray, ClusterSettings, config, work / "noop-driver",
                                                 "noop-driver", noop_files, noop_workers, noop_gates)
        result["control_plane_per_file_calls"] = _control_plane(ray, run_on_ray, ClusterSettings, config,
                                                                work / "noop", "noop", noop_files, noop_workers,
                                                                noop_gates)
    finally:
        ray.shutdown()
    return result


def _control_plane(ray, run_on_ray, ClusterSettings, config: Config, out: Path, stage: str, files: int,
                   workers: int, gates: int) -> dict:
    """One no-op run: files/s (steady), CPU per file of the driver and of the gates, manifest lines."""
    from ..runner.batch import Job
    from ..runner.manifest import manifest_path

    fake = [Job(Path(f"/nonexistent/noop/{i:07d}.jpg"), out, out) for i in range(files)]
    clock = _Clock(workers)
    load = _load()
    t = time.perf_counter()
    ran = run_on_ray(fake, config, ClusterSettings(workers=workers, photos_per_task=256, stage=stage, gates=gates),
                     on_done=clock)
    wall = time.perf_counter() - t
    rate = clock.steady_rate()
    with manifest_path(out).open(encoding="utf-8") as fh:
        lines = sum(1 for _ in fh)
    driver_cpu, gate_cpu = ran.stats.get("driver_cpu_s"), ran.stats.get("gate_cpu_s")
    row = {
        "stage": stage, "files": files, "workers": workers, "files_per_s": round(rate or 0, 1),
        "wall_s": round(wall, 2), "manifest_lines": lines, "passed": sum(r.passed for r in ran.reports),
        "load": [load, _load()],
        # The driver and each gate are one process: their CPU time per file bounds the rate
        # on a head node where each gets a core, whatever else this machine runs.
        "gates": gates,
        "driver_cpu_ms_per_file": round(1000 * driver_cpu / files, 3) if driver_cpu else None,
        "gate_cpu_ms_per_file": round(1000 * gate_cpu / files, 3) if gate_cpu else None,
    }
    bound = max(driver_cpu or 0, (gate_cpu or 0) / gates)
    row["cpu_bound_files_per_s"] = round(files / bound, 1) if bound else None
    return row


def markdown_table(r: dict) -> str:
    def load(x: dict) -> str:
        return f"{x['load'][0]} → {x['load'][1]}"

    rows = [
        "| run | files/s (steady) | wall s (with start) | mean service ms (steady files) | load average (1 min) |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| local runner | {r['local']['files_per_s']} | {r['local']['wall_s']} | {r['local']['service_ms_steady']} | "
        f"{load(r['local'])} |",
    ]
    for w in (1, 2):
        x = r[f"ray_{w}"]
        rows.append(f"| Ray, {w} worker{'s' if w > 1 else ''} | {x['files_per_s']} | {x['wall_s']} | "
                    f"{x['service_ms_steady']} | {load(x)} |")
    for key, what in (("control_plane", "driver + manifest"), ("control_plane_per_file_calls", "one gate call per file")):
        cp = r[key]
        rows.append(f"| control plane, {what} ({cp['stage']}, {cp['workers']} workers, {cp['files']} files, "
                    f"{cp['gates']} gates) | {cp['files_per_s']} | {cp['wall_s']} | – | {load(cp)} |")
    rows.append("")
    for key in ("control_plane", "control_plane_per_file_calls"):
        cp = r[key]
        rows.append(f"{cp['stage']}: CPU per file: driver {cp['driver_cpu_ms_per_file']} ms, gates "
                    f"{cp['gate_cpu_ms_per_file']} ms in all → {cp['cpu_bound_files_per_s']} files/s with a core for "
                    f"the driver and each gate; {cp['manifest_lines']} manifest lines.")
    rows.append(f"E₂ = X₂ / 2X₁ = {r['E2']} (service-time corrected {r.get('E2_service_corrected')}); Ray overhead per "
                f"file = {r.get('ray_overhead_ms_per_file')} ms ({100 * (r.get('ray_overhead_share') or 0):.1f} % of the "
                f"service time); {r['photos_per_task']} photo(s) per task; Ray start {r['ray_start_s']} s.")
    return "\n".join(rows)


@click.command("cluster")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A folder of photos (searched recursively). Default: ../shared/data/wider_protest.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the numbers as JSON to this file.")
@click.option("--limit", type=click.IntRange(min=6), default=20, show_default=True,
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
    if len(photos) < 6:
        raise click.UsageError(f"fewer than 6 photos under {data_dir} (the steady rate of 2 workers needs them)")
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
