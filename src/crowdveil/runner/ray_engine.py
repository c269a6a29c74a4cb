"""The batch on a Ray cluster (``--engine ray``): the same ``run_one`` per file, on many machines.

What flows through Ray is a listing of paths, never the files' bytes: the
workers read the originals from the shared file system and write with
crowdveil's own atomic, verified output (``io/output.py``), exactly as the
local runner does, because they call the local runner's ``run_one``.

Who does what:

* The **driver** (this process) plans the jobs, holds the ``--out`` folder's
  resume manifest (lock included) and is its only writer. It hands out work
  to an actor pool, counts each file's attempts, quarantines a file whose
  worker died ``attempts`` times, and keeps the progress.
* Each **worker** is a Ray actor (one process): one onnxruntime session per
  detector per actor (``detect/onnx_session.py``), with onnxruntime's own
  thread count set (Ray sets only ``OMP_NUM_THREADS``, which it ignores).
  It calls ``run_one`` with a ``GateManifest``: the manifest's questions and
  records go to the driver through a small ``Gate`` actor and wait for the
  answer, so the manifest's "committing before rename" rule holds across
  machines; the hashing of sources and outputs stays on the worker. A file
  costs one question: its commit carries the next file's lookup.
* Ray Data's own retry rules are not used: it retries crashed tasks and
  restarts actors without limit, so a file that kills its worker would loop
  forever. Here Ray retries nothing (``max_task_retries=0``); the driver
  sees the crash, blames the file the worker had last asked about, and
  retries it alone, up to ``attempts`` times.
* At-least-once: a file retried after its output was renamed into place
  finds the manifest's ``committing`` line and adopts the verified output
  (``manifest.check_prior``) instead of failing with "already exists".
* Stale temporary files are removed when the manifest opens (no worker runs
  yet) and, for files whose worker died, after the run, when every actor of
  it has been killed: never while a worker can still write them.

Videos go one per task, longest first, each with a deadline checked inside
the task (after every frame); photos go in batches. The driver kills a
worker stuck past its unit's deadline (plus a margin) and counts it as a
crash.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from ..config import Config
from ..errors import ClusterFailed, CrowdveilError, DeadlineExceeded, MissingExtra, ModelError, OutputError, Quarantined
from ..io.formats import VIDEO_SUFFIXES
from ..types import Check, Report
from .batch import BatchResult, Job, run_one
from .manifest import Manifest, Prior, check_prior, preexisting_outputs, remove_stale_temp_files, source_digest, source_key

DEFAULT_ATTEMPTS = 2
PHOTOS_PER_TASK = 8
# A photo's share of a unit's deadline; 200 MP photos take minutes on one core.
PHOTO_DEADLINE_S = 900.0
# A video's deadline: this much per second of footage, plus a base.
VIDEO_DEADLINE_BASE_S = 300.0
VIDEO_DEADLINE_PER_SECOND = 30.0
# How long past its deadline the driver waits for a unit before killing its worker.
KILL_MARGIN_S = 120.0
# A gate takes about 1 ms of CPU per question and a file asks two: at a second per photo,
# one gate answers a few hundred workers (``crowdveil bench cluster`` measures it).
WORKERS_PER_GATE = 256
# No worker ready for this long (none could be placed, or all died starting): the run stops.
STALL_LIMIT_S = 600.0
# How long a gate holds the driver's call when no question comes. The driver's loop also wakes on
# any finished task or started actor, and at least every LOOP_WAKE_S for deadlines and stalls: no polling.
GATE_WAIT_S = 2.0
LOOP_WAKE_S = 2.0

Outcome = Literal["done", "failed", "quarantined"]
# ``noop``: each file's questions as a real worker asks them (one gate call each), no pixels, no file read;
# ``noop-driver``: the same questions, a task's in one gate call: what is left is the driver and the manifest.
Stage = Literal["pipeline", "noop", "noop-driver"]


@dataclass
class ClusterSettings:
    """How to run on Ray.

    Args:
        address: ``auto`` (a running cluster if there is one, else a local Ray
            started for the run) or ``HOST:PORT`` of a cluster's head.
        workers: actors in the pool; ``None``: one per ``cpus_per_worker`` of the cluster.
        device: ``auto``, ``cpu`` or ``cuda`` (``detect/onnx_session.use_device``).
        cpus_per_worker: Ray CPUs per actor; also onnxruntime's intra-op threads.
        gpus_per_worker: with ``device="cuda"``, the share of a GPU each actor takes
            (fractions pack several actors on one GPU).
        attempts: a file whose worker died this many times is quarantined.
        photos_per_task: photos per task (videos are always one per task).
        video_deadline_s: a fixed deadline per video; ``None``: from its duration.
        stage: ``noop`` and ``noop-driver`` skip the pipeline (``crowdveil bench
            cluster`` measures the control plane with them, ``Stage``); never for real runs.
        before_file: called in the worker with each source path before it is
            processed (tests use it to crash a worker).
        gates: ``Gate`` actors the workers' questions go through (each a process
            beside the driver); ``None``: one per ``WORKERS_PER_GATE`` workers.
        on_worker_ready: called on the driver with the number of workers ready so
            far, each time one more is (the benchmark times from there).
        init_args: extra ``ray.init`` arguments when a local Ray is started.
    """

    address: str = "auto"
    workers: int | None = None
    device: str = "auto"
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.25
    attempts: int = DEFAULT_ATTEMPTS
    photos_per_task: int = PHOTOS_PER_TASK
    video_deadline_s: float | None = None
    stage: Stage = "pipeline"
    before_file: Callable[[Path], None] | None = None
    on_worker_ready: Callable[[int], None] | None = None
    gates: int | None = None
    init_args: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Item:
    index: int  # position in the job list (= in the result)
    src: str
    out_dir: str
    root: str
    deadline_s: float
    neutral_stem: str | None = None  # ``--names neutral``: the output's stem (``io.naming``)


@dataclass
class _Unit:
    items: list[_Item]
    token: str = ""  # the dispatch it is in flight as
    asked: list[int] = field(default_factory=list)  # indexes the worker asked about, in order
    committed: set[int] = field(default_factory=set)
    started: float = 0.0
    killed: bool = False  # by the driver, past its deadline

    @property
    def deadline_s(self) -> float:
        return sum(item.deadline_s for item in self.items)


def import_ray():
    """``ray``, or ``MissingExtra`` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise MissingExtra(
            "--engine ray needs Ray, which is not installed",
            hint="pip install 'crowdveil[cluster]' (on every machine of the cluster), or use --engine local.",
        ) from exc
    return ray


def run_on_ray(
    jobs: list[Job],
    config: Config,
    settings: ClusterSettings | None = None,
    *,
    on_done: Callable[[Report, Outcome], None] | None = None,
) -> BatchResult:
    """Anonymize ``jobs`` on a Ray cluster; one report per job, in job order.

    Every job needs a ``root`` (an ``--out`` folder): the resume manifest
    there is what makes a killed run resumable and a retried file safe.

    Raises:
        MissingExtra: Ray is not installed.
        OutputError: a job has no output folder, or its manifest cannot be opened.
        ModelError: a worker cannot load the models (``DeviceUnavailable`` for ``cuda``).
        ClusterFailed: no worker could be started.
    """
    settings = settings or ClusterSettings()
    ray = import_ray()
    roots = [job.root for job in jobs if job.root is not None]
    if len(roots) < len(jobs):
        raise OutputError("--engine ray writes into an output folder only",
                          hint="Add --out DIR (on a file system every machine of the cluster sees).")
    started_here = _connect(ray, settings)
    try:
        with ExitStack() as stack:
            manifests = {root: stack.enter_context(Manifest(root, config)) for root in dict.fromkeys(roots)}
            driver = _Driver(ray, jobs, config, settings, manifests, on_done)
            return driver.run()
    finally:
        if started_here:
            ray.shutdown()


def _connect(ray, settings: ClusterSettings) -> bool:
    """Join the cluster at ``settings.address``; True when a local Ray was started for this run."""
    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": "WARNING", "configure_logging": True}
    if settings.address != "auto":
        ray.init(address=settings.address, **quiet)
        return False
    try:
        ray.init(address="auto", **quiet)
        return False
    except ConnectionError:
        pass
    ray.init(**{"include_dashboard": False, **quiet, **settings.init_args})
    return True


class _Driver:
    def __init__(self, ray, jobs, config, settings, manifests, on_done) -> None:
        self.ray = ray
        self.jobs = jobs
        self.config = config
        self.settings = settings
        self.manifests: dict[Path, Manifest] = manifests
        self.manifest_of: list[Manifest] = [manifests[job.root] for job in jobs]  # by job index
        self.keys: dict[int, str] = {}  # source keys the workers computed (the driver hashes no path)
        self.on_done = on_done
        self.reports: list[Report | None] = [None] * len(jobs)
        self.crashes: dict[int, list[str]] = {}  # the deaths a file is blamed for (its attempts)
        self.deaths: dict[int, list[str]] = {}  # every worker death while on a file
        self.crashed_dirs: set[tuple[Path, str]] = set()
        self.queue: deque[_Unit] = deque()
        self.inflight: dict[Any, tuple[Any, _Unit]] = {}  # result ref → (actor, unit)
        self.by_token: dict[str, _Unit] = {}
        self.idle: list[Any] = []
        self.starting: dict[Any, Any] = {}  # ready ref → actor
        self.actors: list[Any] = []
        self.start_failures = 0
        self.ready_count = 0
        self._actors_started = 0
        self.stats: dict[str, float] = {}
        self._tokens = 0

    # -- planning -----------------------------------------------------
    def _plan_units(self) -> list[_Unit]:
        videos: list[_Item] = []
        photos: list[_Item] = []
        for index, job in enumerate(self.jobs):
            item = _Item(index, str(job.src), str(job.out_dir), str(job.root), PHOTO_DEADLINE_S, job.neutral_stem)
            (videos if job.src.suffix.lower() in VIDEO_SUFFIXES else photos).append(item)
        # Longest first: the last task to start is then a short one, not a film.
        lengths = {item.index: _video_length(Path(item.src)) for item in videos}
        videos.sort(key=lambda item: -lengths[item.index][0])
        for item in videos:
            seconds = lengths[item.index][1]
            item.deadline_s = self.settings.video_deadline_s or (
                VIDEO_DEADLINE_BASE_S + VIDEO_DEADLINE_PER_SECOND * (seconds or 3600.0))
        workers = max(1, self.settings.workers or 1)
        # Small runs are split finer so every worker gets work.
        size = max(1, min(self.settings.photos_per_task, -(-len(photos) // (4 * workers))))
        units = [_Unit([item]) for item in videos]
        units += [_Unit(photos[i : i + size]) for i in range(0, len(photos), size)]
        return units

    # -- the loop -----------------------------------------------------------
    def run(self) -> BatchResult:
        ray = self.ray
        if self.settings.workers is None:
            cpus = ray.cluster_resources().get("CPU", 1)
            self.settings.workers = max(1, int(cpus // self.settings.cpus_per_worker))
        if self.settings.device == "cuda" and self.settings.gpus_per_worker > 0 and not ray.cluster_resources().get("GPU"):
            from ..errors import DeviceUnavailable

            raise DeviceUnavailable("--device cuda: the Ray cluster has no GPU (no node offers a GPU resource)")
        gates = self.settings.gates or -(-self.settings.workers // WORKERS_PER_GATE)
        self.gates = [_gate_class(ray).options(
            num_cpus=0, max_concurrency=100_000,
            scheduling_strategy=_here(ray),  # beside the driver: the answers' round trip stays short
        ).remote() for _ in range(gates)]
        self.queue = deque(self._plan_units())
        for _ in range(min(self.settings.workers, max(1, len(self.queue)))):
            self._start_actor()
        # The gates' CPU from here on (their process start is not the run's cost).
        gate_cpu_at_start = ray.get([gate.cpu_s.remote() for gate in self.gates])
        # One call per gate per round: the answers of the last round in, the questions parked since out.
        # It waits in the gate (not here, polling) until a question comes or GATE_WAIT_S passes.
        takes = {gate.exchange.remote([], GATE_WAIT_S): gate for gate in self.gates}
        stalled_since = time.monotonic()
        cpu_at_start = time.process_time()
        try:
            while self.queue or self.inflight:
                self._dispatch()
                refs = [*takes, *self.inflight, *self.starting]
                ready, _ = ray.wait(refs, num_returns=1, timeout=LOOP_WAKE_S)
                if ready:
                    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
                asked = [ref for ref in ready if ref in takes]
                answers: dict[Any, list] = {}
                with ExitStack() as stack:
                    for manifest in self.manifests.values():
                        stack.enter_context(manifest.group_commit())
                    # Every gate's questions in one get; their lines share one write and one fsync below.
                    for ref, questions in zip(asked, ray.get(asked) if asked else []):
                        answers[ref] = [(rid, self._answer(message)) for rid, message in questions]
                    for ref in ready:
                        if ref in self.starting:
                            self._actor_ready(ref)
                        elif ref in self.inflight:
                            self._unit_finished(ref)
                # Answered only now: what a worker is told was recorded is on disk.
                for ref, given in answers.items():
                    gate = takes.pop(ref)
                    takes[gate.exchange.remote(given, GATE_WAIT_S)] = gate
                self._kill_overdue()
                if self.idle or self.inflight:
                    stalled_since = time.monotonic()
                elif time.monotonic() - stalled_since > STALL_LIMIT_S:
                    raise ClusterFailed(f"no crowdveil worker could start on the cluster for {STALL_LIMIT_S:.0f} s")
            self.stats["driver_cpu_s"] = round(time.process_time() - cpu_at_start, 3)
            gate_cpu = [after - before for after, before in
                        zip(ray.get([gate.cpu_s.remote() for gate in self.gates], timeout=30), gate_cpu_at_start)]
            self.stats["gate_cpu_s"] = round(sum(gate_cpu), 3)
            self.stats["gate_cpu_s_max"] = round(max(gate_cpu), 3)
            self.stats["gates"] = len(self.gates)
        finally:
            self._stop_actors()
        self._clean_crashed_temp_files()
        return BatchResult([r for r in self.reports if r is not None],
                           retried={str(self.jobs[i].src): reasons for i, reasons in self.deaths.items()},
                           stats=self.stats)

    def _start_actor(self) -> None:
        ray, s = self.ray, self.settings
        options: dict[str, Any] = {"num_cpus": s.cpus_per_worker, "max_restarts": 0, "max_task_retries": 0}
        if s.device == "cuda":
            options["num_gpus"] = s.gpus_per_worker
        threads = max(1, int(s.cpus_per_worker))
        gate = self.gates[self._actors_started % len(self.gates)]
        self._actors_started += 1
        actor = _worker_class(ray).options(**options).remote(self.config, s.device, threads, gate, s.stage,
                                                              s.before_file)
        self.actors.append(actor)
        self.starting[actor.ready.remote()] = actor

    def _actor_ready(self, ref) -> None:
        actor = self.starting.pop(ref)
        try:
            failure = self.ray.get(ref)
        except self.ray.exceptions.RayError:
            self.start_failures += 1
            if self.start_failures > 3 * max(1, self.settings.workers or 1):
                raise ClusterFailed("crowdveil workers keep dying while starting") from None
            self._start_actor()
            return
        if failure is not None:
            kind, message, hint = failure
            raise _model_error(kind)(message, hint=hint)
        self.idle.append(actor)
        self.ready_count += 1
        if self.settings.on_worker_ready is not None:
            self.settings.on_worker_ready(self.ready_count)

    def _dispatch(self) -> None:
        while self.idle and self.queue:
            actor = self.idle.pop()
            unit = self.queue.popleft()
            self._tokens += 1
            unit.token, unit.asked, unit.committed, unit.started = f"{self._tokens}", [], set(), time.monotonic()
            unit.killed = False
            self.by_token[unit.token] = unit
            items = [(i.index, i.src, i.out_dir, i.root, i.deadline_s, i.neutral_stem) for i in unit.items]
            self.inflight[actor.process.remote(unit.token, items)] = (actor, unit)

    # -- what the workers ask ------------------------------------------------
    def _answer(self, message: dict[str, Any]) -> Any:
        unit = self.by_token.get(message["token"])
        if unit is None:
            # A worker the driver already gave up on (killed past its deadline, or on a node
            # declared dead): it must not commit, its file is someone else's now.
            return {"refused": True}
        index = message["index"]
        manifest = self.manifest_of[index]
        key, digest = message["key"], message.get("digest")
        if message["kind"] == "lookup":
            return self._lookup(unit, index, key, digest, message["preexisting"])
        if message["kind"] == "started":
            if digest is None:
                return {"started_at": None}
            self.keys[index] = key
            return {"started_at": manifest.record_started_for(key, digest, message["preexisting"])}
        if message["kind"] == "committing":
            self.keys[index] = key
            manifest.record_committing_for(key, message["output"], message["output_sha256"])
            unit.committed.add(index)
            following = message.get("next")
            if following is None:
                return {"ok": True}
            return {"ok": True, "next": self._lookup(unit, following["index"], following["key"], following["digest"],
                                                     following["preexisting"])}
        raise ValueError(f"unknown message {message['kind']!r}")

    def _lookup(self, unit: _Unit, index: int, key: str, digest: str | None, preexisting: list[str]) -> dict:
        """What the manifest knows of one file; records ``started`` (its attempt) when it knows nothing."""
        unit.asked.append(index)
        if digest is None:
            return {"prior": Prior(), "started_at": None}
        self.keys[index] = key
        manifest = self.manifest_of[index]
        prior = manifest.lookup(key, digest)
        started_at = manifest.record_started_for(key, digest, preexisting) if prior.empty else None
        return {"prior": prior, "started_at": started_at}

    # -- what comes back -----------------------------------------------------
    def _unit_finished(self, ref) -> None:
        actor, unit = self.inflight.pop(ref)
        self.by_token.pop(unit.token, None)
        try:
            rows = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            self._unit_crashed(actor, unit, _crash_reason(exc))
            return
        self.idle.append(actor)
        for index, report, kind in rows:
            if kind == "fatal":
                raise ModelError(report.error or "a worker cannot load the models", hint=report.hint)
            self._record(index, report, kind)

    def _record(self, index: int, report: Report, kind: str) -> None:
        job = self.jobs[index]
        if self.reports[index] is not None:
            return  # each file is reported, and recorded done, once
        if kind in ("done", "adopted") and report.passed and report.destination and report.output_sha256:
            painted = ({"pct": report.painted_pct, **({"frame": report.video["painted_max_frame"]}
                                                      if "painted_max_frame" in report.video else {})}
                       if report.painted_pct is not None else None)
            key = self.keys.get(index) or source_key(job.src)
            self.manifest_of[index].record_done_for(key, None, report.destination, report.output_sha256, report.faces,
                                                    report.metadata_removed, adopted=kind == "adopted", painted=painted)
        self.reports[index] = report
        if self.on_done:
            self.on_done(report, "done" if report.passed else "quarantined" if kind == "quarantined" else "failed")

    def _unit_crashed(self, actor, unit: _Unit, reason: str) -> None:
        """The worker died: blame the file it was on, retry that one alone, the rest as before."""
        if actor in self.actors:
            self.actors.remove(actor)
        self._start_actor()
        if unit.killed:
            reason = f"not finished {unit.deadline_s + KILL_MARGIN_S:.0f} s after it started; the driver killed its worker"
        # The worker handles its files in order and asks about each one first: the last it asked about is the
        # one it was on (or, when the death came between a commit and the next file, the next file: one attempt).
        culprit = unit.asked[-1] if unit.asked else unit.items[0].index
        for item in unit.items:
            self.crashed_dirs.add((Path(item.out_dir), Path(item.src).stem + ".veiled."))
        before = [i for i in unit.items if i.index != culprit and i.index in unit.asked]
        after = [i for i in unit.items if i.index != culprit and i.index not in unit.asked]
        suspect = next(i for i in unit.items if i.index == culprit)
        for rest in (after, before):
            if rest:
                self.queue.appendleft(_Unit(rest))
        self.deaths.setdefault(culprit, []).append(reason)
        if culprit in unit.committed:
            # Its output was already renamed into place: the crash came after its risky part.
            self.queue.appendleft(_Unit([suspect]))
            return
        self.crashes.setdefault(culprit, []).append(reason)
        if len(self.crashes[culprit]) >= self.settings.attempts:
            self._record(culprit, self._quarantined_report(suspect), "quarantined")
        else:
            self.queue.appendleft(_Unit([suspect]))

    def _quarantined_report(self, item: _Item) -> Report:
        reasons = self.crashes[item.index]
        error = Quarantined(
            f"{Path(item.src).name}: its worker process died {len(reasons)} time(s) while processing it "
            f"(last: {reasons[-1]}); quarantined after {self.settings.attempts} attempts, nothing was written")
        report = Report(source=item.src, passed=False, error=str(error), hint=error.hint)
        report.checks = [Check("quarantined", False, "; ".join(reasons))]
        return report

    def _kill_overdue(self) -> None:
        now = time.monotonic()
        for ref, (actor, unit) in list(self.inflight.items()):
            if not unit.killed and now - unit.started > unit.deadline_s + KILL_MARGIN_S:
                unit.killed = True
                self.by_token.pop(unit.token, None)  # its late questions are refused from now on
                self.ray.kill(actor, no_restart=True)

    def _stop_actors(self) -> None:
        ray = self.ray
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        # A killed actor's next call fails only once it is gone: then it can write nothing more.
        probes = [actor.ready.remote() for actor in self.actors]
        deadline = time.monotonic() + 30
        for probe in probes:
            try:
                ray.get(probe, timeout=max(0.1, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001 - the death is what is waited for
                pass
        for gate in self.gates:
            ray.kill(gate)

    def _clean_crashed_temp_files(self) -> None:
        for folder, prefix in sorted(self.crashed_dirs):
            try:
                remove_stale_temp_files(folder, prefix=prefix)
            except OutputError:
                pass  # the next run's manifest removes them before any worker starts


def _model_error(name: str) -> type[ModelError]:
    """The worker's ``ModelError`` subclass by name (``DeviceUnavailable`` stays itself across the wire)."""
    from .. import errors

    cls = getattr(errors, name, ModelError)
    return cls if isinstance(cls, type) and issubclass(cls, ModelError) else ModelError


def _crash_reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    detail = next((line.strip() for line in text if "died" in line or "killed" in line or "exit" in line.lower()),
                  text[0] if text else type(exc).__name__)
    return f"{type(exc).__name__}: {detail[:300]}"


def _video_length(path: Path) -> tuple[float, float | None]:
    """(sort key, duration in seconds or None): the duration when the header gives it, else the size."""
    from ..io.video import VideoSource

    try:
        with VideoSource(path) as source:
            seconds = source.info.duration_s
    except (CrowdveilError, OSError):
        seconds = None
    if seconds:
        return float(seconds) * 1e12, float(seconds)  # any known duration sorts by duration, before sizes
    try:
        return float(path.stat().st_size), None
    except OSError:
        return 0.0, None


def _here(ray):
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)


# -- the Ray classes, made on first use so that importing this module never imports ray --------
_CLASSES: dict[str, Any] = {}


def _gate_class(ray):
    if "gate" not in _CLASSES:
        _CLASSES["gate"] = ray.remote(_Gate)
    return _CLASSES["gate"]


def _worker_class(ray):
    if "worker" not in _CLASSES:
        _CLASSES["worker"] = ray.remote(FileWorker)
    return _CLASSES["worker"]


class _Gate:
    """Where workers' questions wait for the driver: an async actor beside it.

    ``ask`` (workers) parks a question until the driver answers it;
    ``exchange`` (the driver, one call per round) delivers the answers of the
    last round and collects the questions parked since, waiting up to
    ``wait_s`` for one when there are none.
    """

    def __init__(self) -> None:
        self._inbox: list[tuple[int, dict]] = []
        self._waiting: dict[int, Any] = {}
        self._next = 0
        self._arrived: asyncio.Event | None = None

    def _event(self) -> asyncio.Event:
        if self._arrived is None:
            self._arrived = asyncio.Event()
        return self._arrived

    async def ask(self, message: dict) -> Any:
        import asyncio

        rid, self._next = self._next, self._next + 1
        future = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        self._inbox.append((rid, message))
        self._event().set()
        return await future

    async def ask_many(self, messages: list[dict]) -> list[Any]:
        """Several questions in one call (the benchmark's ``noop-driver`` stage); each is parked as by ``ask``."""
        import asyncio

        return list(await asyncio.gather(*(self.ask(message) for message in messages)))

    async def exchange(self, answers: list[tuple[int, Any]], wait_s: float) -> list[tuple[int, dict]]:
        import asyncio

        for rid, value in answers:
            future = self._waiting.pop(rid, None)
            if future is not None and not future.done():
                future.set_result(value)
        if not self._inbox:
            try:
                await asyncio.wait_for(self._event().wait(), wait_s)
            except asyncio.TimeoutError:
                pass
        batch, self._inbox = self._inbox, []
        self._event().clear()
        return batch

    async def cpu_s(self) -> float:
        """CPU seconds this actor's process used (the benchmark's control-plane cost)."""
        return time.process_time()


class GateManifest:
    """The manifest as a worker sees it: the driver's ``Manifest`` behind the gate.

    ``run_one`` calls it exactly as it calls a local ``Manifest``; the worker
    hashes the source and checks the outputs, the driver only reads and
    writes its records.
    """

    def __init__(self, gate, folder: Path, token: str, index: int,
                 before_file: Callable[[Path], None] | None = None, *, prefetched: dict | None = None,
                 following: tuple[int, Path, Path, Path, str | None] | None = None,
                 cache: dict[int, dict] | None = None) -> None:
        self.folder = Path(folder)
        self.output_tree = True  # the engine writes into --out only: crowdveil's own output folder
        self._gate, self._token, self._index = gate, token, index
        self._before_file = before_file
        # One question per file instead of two: the commit of this file carries the lookup of the
        # ``following`` one, whose answer waits in ``cache`` (as ``prefetched``) until it starts.
        self._prefetched, self._following, self._cache = prefetched, following, cache
        self._digest: str | None = None
        self._preexisting: list[str] = []
        self._started_at: str | None = None
        self.adopted = False

    def _ask(self, kind: str, **fields) -> dict:
        import ray

        answer = ray.get(self._gate.ask.remote({"kind": kind, "token": self._token, "index": self._index, **fields}))
        if answer.get("refused"):
            raise OutputError("the driver gave this file to another worker; this one stopped", hint=None)
        return answer

    def already_done(self, src: Path, out_dir: Path, neutral_stem: str | None = None):
        if self._prefetched is not None:
            self._digest, self._preexisting = self._prefetched["digest"], self._prefetched["preexisting"]
            answer = self._prefetched["answer"]
        else:
            self._digest = _digest_or_none(src)
            self._preexisting = preexisting_outputs(self.folder, src, out_dir, neutral_stem)
            answer = self._ask("lookup", key=source_key(src), digest=self._digest, preexisting=self._preexisting)
        self._started_at = answer["started_at"]
        done, self.adopted = check_prior(answer["prior"], self.folder, src, out_dir, neutral_stem)
        if done is None and self._before_file is not None:
            self._before_file(src)  # here the driver knows this worker is on this file, as in a decoder crash
        return done

    def record_started(self, src: Path, out_dir: Path, neutral_stem: str | None = None) -> None:
        if self._started_at is None and self._digest is not None:
            self._started_at = self._ask("started", key=source_key(src), digest=self._digest,
                                         preexisting=self._preexisting)["started_at"]

    def record_committing(self, src: Path, output: Path, output_sha256: str) -> None:
        following: dict[str, Any] | None = None
        if self._following is not None and self._cache is not None:
            index, next_src, next_out, next_root, next_stem = self._following
            following = {"index": index, "key": source_key(next_src), "digest": _digest_or_none(next_src),
                         "preexisting": preexisting_outputs(next_root, next_src, next_out, next_stem)}
        answer = self._ask("committing", key=source_key(src), output=str(output), output_sha256=output_sha256,
                           next=following)
        if following is not None and self._cache is not None and answer.get("next") is not None:
            self._cache[following["index"]] = {"digest": following["digest"], "preexisting": following["preexisting"],
                                               "answer": answer["next"]}

    def record_done(self, src, output, output_sha256, faces, metadata_removed, painted=None) -> None:
        """Recorded by the driver when the report comes back (it is the manifest's only writer)."""


def _digest_or_none(src: Path) -> str | None:
    from ..errors import InputError

    try:
        return source_digest(src)
    except (OSError, InputError):
        return None  # unreadable, or not a regular file: the pipeline reports why


class FileWorker:
    """One actor: its own onnxruntime sessions, files one after another through ``run_one``."""

    def __init__(self, config: Config, device: str, threads: int, gate, stage: Stage = "pipeline",
                 before_file: Callable[[Path], None] | None = None) -> None:
        self.config, self.gate, self.stage, self.before_file = config, gate, stage, before_file
        self.failure: tuple[str, str, str | None] | None = None
        from ..detect.onnx_session import use_device

        try:
            use_device(device, threads=threads)
        except ModelError as exc:
            self.failure = (type(exc).__name__, str(exc), exc.hint)

    def ready(self) -> tuple[str, str, str | None] | None:
        """None when the worker can work, else (kind, message, hint); loads the models once."""
        if self.failure is None and self.stage == "pipeline":
            try:
                from ..detect.registry import build_detector, build_verifier
                import numpy as np

                # One small detection builds every session now: a missing model or GPU shows before any file.
                pixels = np.zeros((64, 64, 3), np.uint8)
                build_detector(self.config.preset, self.config.threshold).detect(pixels)
                build_verifier(self.config.preset, self.config.threshold).detect(pixels)
            except ModelError as exc:
                self.failure = (type(exc).__name__, str(exc), exc.hint)
        return self.failure

    def process(self, token: str, items: list[tuple[int, str, str, str, float, str | None]]) -> list[tuple[int, Report, str]]:
        if self.stage != "pipeline":
            return _noop(self.gate, token, items, bulk=self.stage == "noop-driver")
        rows = []
        cache: dict[int, dict] = {}
        for position, (index, src, out_dir, root, deadline_s, stem) in enumerate(items):
            following = None
            if position + 1 < len(items):
                n_index, n_src, n_out, n_root, _, n_stem = items[position + 1]
                following = (n_index, Path(n_src), Path(n_out), Path(n_root), n_stem)
            manifest = GateManifest(self.gate, Path(root), token, index, self.before_file,
                                    prefetched=cache.pop(index, None), following=following, cache=cache)
            rows.append(self._one(manifest, index, Path(src), Path(out_dir), Path(root), deadline_s, stem))
            if rows[-1][2] == "fatal":
                break
        return rows

    def _one(self, manifest, index, src: Path, out_dir: Path, root: Path, deadline_s: float,
             neutral_stem: str | None = None) -> tuple[int, Report, str]:
        due = time.monotonic() + deadline_s

        def on_frames(done: int, total: int | None) -> None:
            if time.monotonic() > due:
                raise DeadlineExceeded(f"{src.name}: not finished within its deadline of {deadline_s:.0f} s; "
                                       "nothing was written")

        try:
            report = run_one(Job(src, out_dir, root, neutral_stem), self.config, manifest, progress=on_frames)
        except ModelError as exc:
            return index, Report(source=str(src), error=str(exc), hint=exc.hint), "fatal"
        if not report.passed:
            return index, report, "failed"
        if manifest.adopted:
            return index, report, "adopted"
        if any(c.name == "already done" for c in report.checks):
            return index, report, "already"
        return index, report, "done"


def _noop(gate, token: str, items: list[tuple[int, str, str, str, float, str | None]], *,
          bulk: bool = False) -> list[tuple[int, Report, str]]:
    """The control plane alone: each file's questions to the driver and its records, no pixels, no file read.

    The questions are a real worker's (the first file's lookup, then each
    file's commit carrying the next file's lookup), but a unit's commits are
    all put in flight at once, so a few workers ask as much as many real
    ones would: what is measured is the driver's and the gates' ceiling, not
    a round trip. ``bulk``: the unit's commits go in one gate call, so the
    gates' cost per call (which more gates share out) drops out and the
    driver and its manifest are what is measured.
    """
    import ray

    def ask_all(messages):
        answers = ray.get(gate.ask_many.remote(messages)) if bulk else ray.get([gate.ask.remote(m) for m in messages])
        if any(a.get("refused") for a in answers):
            raise OutputError("the driver gave these files to another worker")
        return answers

    files = [(index, Path(src), Path(out_dir)) for index, src, out_dir, _root, _deadline, _stem in items]
    keys = {index: source_key(src) for index, src, _ in files}
    digest = {index: hashlib.sha256(b"noop\0" + str(src).encode()).hexdigest() for index, src, _ in files}
    if not files:
        return []
    first = files[0][0]
    ask_all([{"kind": "lookup", "token": token, "index": first, "key": keys[first], "digest": digest[first],
              "preexisting": []}])
    rows = []
    commits = []
    for position, (index, src, out_dir) in enumerate(files):
        output = out_dir / f"{src.stem}.veiled.jpg"
        sha = hashlib.sha256(b"noop-output\0" + str(src).encode()).hexdigest()
        following = None
        if position + 1 < len(files):
            n = files[position + 1][0]
            following = {"index": n, "key": keys[n], "digest": digest[n], "preexisting": []}
        commits.append({"kind": "committing", "token": token, "index": index, "key": keys[index],
                        "output": str(output), "output_sha256": sha, "next": following})
        rows.append((index, Report(source=str(src), destination=str(output), passed=True, output_sha256=sha), "done"))
    ask_all(commits)
    return rows
