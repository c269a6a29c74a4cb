"""The cluster engine on a real Ray cluster: a head and a worker node as separate processes on this machine.

One cluster for the whole module (starting one takes tens of seconds on a
small machine), each node one CPU and a small object store. The inputs are
made here: demo crowds with a phone's EXIF, and a clip with a phone's tags.
No network beyond the loopback: the cluster is local.
"""

from __future__ import annotations

import json
import time
import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the cluster extra is not installed (pip install 'crowdveil[cluster]')")

from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from crowdveil.cli import EXIT, main  # noqa: E402
from crowdveil.config import Config  # noqa: E402
from crowdveil.demo import make_crowd, phone_exif  # noqa: E402
from crowdveil.runner.batch import plan_jobs  # noqa: E402
from crowdveil.runner.manifest import manifest_path, source_key  # noqa: E402
from crowdveil.runner.ray_engine import ClusterSettings, run_on_ray  # noqa: E402

from helpers import exiftool_tags, no_temp_files, sha256  # noqa: E402
from exiftool_allowlist import non_structural  # noqa: E402
from test_video import PHONE_TAGS, make_clip, mp4_leaks  # noqa: E402

# The hooks below run inside the workers, which cannot import this test module: ship its code by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

FAST = Config(preset="fast")
SMALL_STORE = 80 * 1024 * 1024


@pytest.fixture(scope="module")
def cluster():
    # Ray's sockets live under its temp dir: AF_UNIX paths must stay under 108 bytes.
    temp = tempfile.mkdtemp(prefix="cvr", dir="/tmp")
    # Ray's Cluster writes the head's address into its *default* temp dir whatever temp_dir says,
    # and fails where nothing has made that folder yet (a fresh machine).
    os.makedirs(os.path.join(os.environ.get("RAY_TMPDIR", tempfile.gettempdir()), "ray"), exist_ok=True)
    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": SMALL_STORE, "include_dashboard": False, "temp_dir": temp})
    c.worker = c.add_node(num_cpus=1, object_store_memory=SMALL_STORE)
    ray.init(address=c.address, log_to_driver=False)
    c.wait_for_nodes()
    yield c
    ray.shutdown()
    c.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def two_nodes(cluster):
    """The cluster with its second node back, should an earlier test have killed it."""
    if len(cluster.list_all_nodes()) < 2:
        cluster.worker = cluster.add_node(num_cpus=1, object_store_memory=SMALL_STORE)
        cluster.wait_for_nodes()
    return cluster


def crowd_photos(folder: Path, count: int, *, names=None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        pixels, _ = make_crowd(seed=i)
        # Half size keeps each file near a second of work; the demo's larger faces stay faces.
        im = Image.fromarray(pixels).resize((900, 600))
        path = folder / (names[i] if names else f"crowd{i:02d}.jpg")
        im.save(path, "JPEG", quality=90, exif=phone_exif())
        paths.append(path)
    return paths


def done_lines(out: Path) -> Counter:
    lines = [json.loads(line) for line in manifest_path(out).read_text().splitlines() if line.strip()]
    return Counter(entry["source_key"] for entry in lines if entry.get("event") == "done")


def assert_verified_and_clean(reports, out: Path) -> None:
    for r in reports:
        assert r.passed, (r.source, r.error)
        dst = Path(r.destination)
        assert dst.parent == out and dst.is_file()
        assert sha256(dst) == r.output_sha256  # the bytes the pipeline verified are the bytes kept
        tags = exiftool_tags(dst)
        leaks = mp4_leaks(tags) if dst.suffix == ".mp4" else non_structural(tags)
        assert leaks == {}, (dst.name, leaks)


def test_photos_and_a_video_on_two_nodes_through_the_cli(two_nodes, tmp_path):
    src = tmp_path / "in"
    photos = crowd_photos(src, 5)
    make_clip(src / "rally.mov", metadata=PHONE_TAGS)
    out, report_path = tmp_path / "out", tmp_path / "report.json"

    result = CliRunner().invoke(main, [str(src), "--out", str(out), "--engine", "ray", "--address", two_nodes.address,
                                       "--workers", "2", "--fast", "-q", "--report", str(report_path)])
    assert result.exit_code == EXIT["ok"], result.output

    files = json.loads(report_path.read_text())["files"]
    assert Counter(f["source"] for f in files) == Counter([p.name for p in photos] + ["rally.mov"])
    assert all(f["passed"] and f["providers"] == ["CPUExecutionProvider"] for f in files)
    outputs = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert outputs == sorted([p.stem + ".veiled.jpg" for p in photos] + ["rally.veiled.mp4"])
    for f in files:
        dst = out / f["destination"]
        assert sha256(dst) == f["output_sha256"]
        tags = exiftool_tags(dst)
        assert (mp4_leaks(tags) if dst.suffix == ".mp4" else non_structural(tags)) == {}, (dst.name, tags)
    assert no_temp_files(out)
    assert set(done_lines(out).values()) == {1}


class KillNodeMidRun:
    """``on_done`` on the driver: once the worker node has begun a file still unfinished, kill that node."""

    def __init__(self, cluster, marks: Path) -> None:
        self.cluster, self.marks, self.killed = cluster, marks, False
        self.node_id = cluster.worker.node_id
        self.finished: list[str] = []

    def __call__(self, report, outcome) -> None:
        begun = {p.name.split("@", 1)[1] for p in self.marks.glob(self.node_id + "@*")}
        if not self.killed and begun - set(self.finished):
            self.cluster.remove_node(self.cluster.worker, allow_graceful=False)
            self.killed = True
        self.finished.append(Path(report.source).name)


class MarkNode:
    """``before_file`` in the workers: which node begins which file.

    On the node to be killed a file then takes ``linger`` seconds longer, so the kill
    (on the driver, when another file finishes) lands while that node is on a file: a
    loaded machine otherwise let the node finish and report before the kill.
    """

    def __init__(self, marks: Path, slow_node: str | None = None, linger: float = 3.0) -> None:
        self.marks, self.slow_node, self.linger = marks, slow_node, linger

    def __call__(self, src: Path) -> None:
        node = ray.get_runtime_context().get_node_id()
        (self.marks / f"{node}@{src.name}").touch()
        if node == self.slow_node:
            time.sleep(self.linger)


def test_worker_node_killed_mid_run_then_rerun(two_nodes, tmp_path):
    src, out, marks = tmp_path / "in", tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    photos = crowd_photos(src, 8)
    jobs = plan_jobs([src], out)
    kill = KillNodeMidRun(two_nodes, marks)

    first = run_on_ray(jobs, FAST, ClusterSettings(workers=2, before_file=MarkNode(marks, kill.node_id)), on_done=kill)

    assert kill.killed, "the worker node never began a file before the others finished"
    assert first.retried, "the killed node was on a file: it must have been retried elsewhere"
    assert [Path(r.source) for r in first.reports] == photos  # each file once, in order
    assert_verified_and_clean(first.reports, out)
    assert no_temp_files(out)
    assert set(done_lines(out).values()) == {1}
    assert set(done_lines(out)) == {source_key(p) for p in photos}

    again = run_on_ray(jobs, FAST, ClusterSettings(workers=2))
    assert [Path(r.source) for r in again.reports] == photos
    assert all(any(c.name == "already done" for c in r.checks) for r in again.reports)
    assert_verified_and_clean(again.reports, out)
    assert set(done_lines(out).values()) == {1}  # the rerun adds no second done
    # Only the outputs: the resume state lives in the state directory (issue 12).
    assert sorted(p.name for p in out.iterdir()) == sorted(p.stem + ".veiled.jpg" for p in photos)


class CrashOn:
    """``before_file`` in the workers: the process dies on this file, every time (as a decoder segfault would)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, src: Path) -> None:
        if src.name == self.name:
            os._exit(139)


def test_a_file_that_kills_its_worker_every_time_is_quarantined(two_nodes, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    photos = crowd_photos(src, 5, names=["a.jpg", "b.jpg", "crash.jpg", "d.jpg", "e.jpg"])
    jobs = plan_jobs([src], out)

    result = run_on_ray(jobs, FAST, ClusterSettings(workers=2, attempts=2, before_file=CrashOn("crash.jpg")))

    by_name = {Path(r.source).name: r for r in result.reports}
    assert sorted(by_name) == sorted(p.name for p in photos)
    crashed = by_name.pop("crash.jpg")
    assert not crashed.passed and crashed.destination is None
    assert "quarantined after 2 attempts" in crashed.error and "died 2 time(s)" in crashed.error, crashed.error
    assert crashed.hint and crashed.checks[0].name == "quarantined"
    assert len(result.retried[str(src / "crash.jpg")]) == 2
    assert_verified_and_clean(by_name.values(), out)
    assert not list(out.glob("crash.veiled.*")) and no_temp_files(out)


def test_a_video_past_its_deadline_fails_alone_and_leaves_nothing(two_nodes, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    crowd_photos(src, 1)
    make_clip(src / "long.mp4", frames=48)
    result = run_on_ray(plan_jobs([src], out), FAST, ClusterSettings(workers=2, video_deadline_s=0.01))
    by_name = {Path(r.source).name: r for r in result.reports}
    video = by_name["long.mp4"]
    assert not video.passed and "deadline" in video.error and video.hint
    assert by_name["crowd00.jpg"].passed
    assert not list(out.glob("long.veiled.*")) and no_temp_files(out)


class CrashOnceOn:
    """``before_file`` in the workers: the process dies on this file the first time only."""

    def __init__(self, name: str, marker: Path) -> None:
        self.name, self.marker = name, marker

    def __call__(self, src: Path) -> None:
        if src.name == self.name and not self.marker.exists():
            self.marker.touch()
            os._exit(139)


def test_a_committed_file_whose_report_was_lost_is_adopted_not_redone(two_nodes, tmp_path):
    """At-least-once: crowd00 is renamed into place, then its worker dies on crowd01 before the task returns."""
    src, out = tmp_path / "in", tmp_path / "out"
    photos = crowd_photos(src, 8)  # one worker, 8 photos: tasks of 2 (crowd00 + crowd01 first)
    jobs = plan_jobs([src], out)

    result = run_on_ray(jobs, FAST, ClusterSettings(workers=1, photos_per_task=2,
                                                    before_file=CrashOnceOn("crowd01.jpg", tmp_path / "crashed")))

    assert [Path(r.source) for r in result.reports] == photos
    first = result.reports[0]
    assert all(r.passed for r in result.reports)
    assert any(c.name == "already done" for c in first.checks)  # adopted: the verified output, not a second run
    assert list(result.retried) == [str(src / "crowd01.jpg")]
    lines = [json.loads(x) for x in manifest_path(out).read_text().splitlines()]
    adopted = [e for e in lines if e.get("event") == "done" and e.get("adopted")]
    assert [e["output"] for e in adopted] == ["crowd00.veiled.jpg"]
    assert set(done_lines(out).values()) == {1}
    assert_verified_and_clean(result.reports, out)
    assert no_temp_files(out)


@pytest.mark.skipif("CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers(),
                    reason="onnxruntime-gpu with CUDA is installed: the no-GPU error does not apply")
def test_device_cuda_without_a_gpu_on_the_workers_stops_the_run_with_the_typed_error(two_nodes, tmp_path):
    from crowdveil.errors import DeviceUnavailable

    src, out = tmp_path / "in", tmp_path / "out"
    crowd_photos(src, 1)
    with pytest.raises(DeviceUnavailable, match="has no GPU"):  # no GPU actor could ever be placed
        run_on_ray(plan_jobs([src], out), FAST, ClusterSettings(workers=1, device="cuda"))
    # Workers placed without a GPU share: each finds its onnxruntime has no CUDA provider.
    with pytest.raises(DeviceUnavailable, match="no CUDA provider"):
        run_on_ray(plan_jobs([src], out), FAST, ClusterSettings(workers=1, device="cuda", gpus_per_worker=0))
    assert not list(out.glob("*.veiled.*"))
