"""Many files through the one pipeline: a bad file fails alone, the rest go on.

One rule, with an output folder (``--out``) or beside the originals:
re-running the same command (after a crash, or just again) skips the
outputs crowdveil verified from the same source and settings ("already
done") and does the rest; any other file at an output's name is refused as
"already exists". What was verified is recorded in a resume manifest kept
in the user's state directory (``runner/manifest.py``), never among the
outputs or the originals.
"""

from __future__ import annotations

import glob
import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..config import Config
from ..errors import CrowdveilError, ModelError
# What a folder walk takes as media: the one table in io.formats (RAW files included).
from ..io.formats import MEDIA_SUFFIXES, VIDEO_SUFFIXES
from ..io.naming import is_neutral_output, neutral_stems, output_stem
from ..io.output import TEMP_MARK
from ..pipeline import anonymize
from ..types import Check, Report
from .manifest import Manifest, check_inside_output_tree, remove_stale_temp_files

ALREADY_DONE = "already done"



@dataclass
class Job:
    src: Path
    out_dir: Path | None  # None: beside the source
    root: Path | None = None  # the --out folder; None: outputs beside the source
    neutral_stem: str | None = None  # ``veiled-0001``…; None: named after the source (``io.naming``)

    @property
    def output_folder(self) -> Path:
        return self.out_dir if self.out_dir is not None else self.src.parent


@dataclass
class BatchResult:
    reports: list[Report] = field(default_factory=list)
    # Cluster engine: source → why its worker died, once per death (retried, or quarantined at the limit).
    retried: dict[str, list[str]] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)  # cluster engine: driver and gate CPU seconds

    @property
    def ok(self) -> bool:
        return bool(self.reports) and all(r.passed for r in self.reports)

    @property
    def failed(self) -> list[Report]:
        return [r for r in self.reports if not r.passed]


def is_our_output(path: Path) -> bool:
    return ".veiled." in path.name or TEMP_MARK in path.name or is_neutral_output(path.name)


def expand_inputs(inputs: Iterable[str | Path], skipped: list[Path] | None = None) -> Iterator[tuple[Path, Path]]:
    """Yield ``(file, root)`` for files, folders (recursively) and glob patterns.

    ``root`` is the folder the file was found under, so ``--out`` can mirror
    the tree. Files given by name are always yielded (and refused later if
    they are not media); files found by walking must look like media and
    must not be links leading out of the folder (``src/link.jpg →
    ../someone_else/photo.jpg``): what a walk takes in is what the folder holds.
    Files a walk passes over for not looking like media (``notes.txt``,
    ``flyer.pdf``; not hidden files, not our outputs) are appended to ``skipped``.
    """
    for item in inputs:
        text = str(item)
        path = Path(text)
        if not path.exists() and glob.has_magic(text):
            for match in sorted(glob.glob(text, recursive=True)):
                m = Path(match)
                if m.is_file() and not is_our_output(m):
                    yield m, m.parent
            continue
        if path.is_dir():
            inside = os.path.realpath(path)
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    f = Path(dirpath) / name
                    if name.startswith(".") or is_our_output(f):
                        continue
                    if f.suffix.lower() not in MEDIA_SUFFIXES:
                        if skipped is not None:
                            skipped.append(f)
                        continue
                    if f.is_symlink() and not _within(os.path.realpath(f), inside):
                        continue
                    yield f, path
            continue
        yield path, path.parent


def _within(real: str, folder: str) -> bool:
    return os.path.commonpath([real, folder]) == folder


def plan_jobs(inputs: Iterable[str | Path], out_dir: Path | None, *, names: str = "keep",
              skipped: list[Path] | None = None) -> list[Job]:
    """One job per source; ``names="neutral"`` numbers the outputs in this order (``io.naming``)."""
    jobs = []
    for src, root in expand_inputs(inputs, skipped):
        if out_dir is None:
            jobs.append(Job(src, None))
        else:
            try:
                rel = src.parent.relative_to(root)
            except ValueError:
                rel = Path()
            jobs.append(Job(src, out_dir / rel, out_dir))
    if names == "neutral":
        for job, stem in zip(jobs, neutral_stems(job.src for job in jobs)):
            job.neutral_stem = stem
    elif names != "keep":
        raise ValueError(f"names must be 'keep' or 'neutral', not {names!r}")
    return jobs


def run_batch(
    jobs: list[Job],
    config: Config,
    *,
    on_done: Callable[[Report], None] | None = None,
    on_start: Callable[[Job], None] | None = None,
    on_frames: Callable[[int, int | None], None] | None = None,
) -> BatchResult:
    """Anonymize every job; a failure is recorded in its report, never raised,
    except a ``ModelError`` (every later file would fail the same way) and an
    ``OutputError`` opening an output folder's manifest (another run holds it,
    or the folder cannot be written at all).

    ``on_frames(done, total)`` follows the frames of each video.

    Every job is resumable: outputs its folder's manifest records as
    verified are skipped with a passed report noted ``already done``.
    The manifests of ``--out`` folders are held for the whole batch; those
    of folders of originals one at a time, as the walk reaches them.
    """
    result = BatchResult()
    with ExitStack() as stack:
        manifests: dict[Path, Manifest] = {}
        for root in dict.fromkeys(job.root for job in jobs if job.root is not None):
            manifests[root] = stack.enter_context(Manifest(root, config))
        beside = _OneAtATime(config)
        stack.callback(beside.close)
        for job in jobs:
            if on_start:
                on_start(job)
            manifest = manifests[job.root] if job.root is not None else beside.manifest_for(job.src.parent)
            report = run_one(job, config, manifest, progress=on_frames)
            result.reports.append(report)
            if on_done:
                on_done(report)
    return result


class _OneAtATime:
    """The manifest of the folder of originals the batch is in; a walk of many folders holds one lock at a time."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.folder: str | None = None
        self.manifest: Manifest | None = None

    def manifest_for(self, folder: Path) -> Manifest:
        real = os.path.realpath(folder)
        if self.manifest is None or real != self.folder:
            self.close()
            self.manifest = Manifest(folder, self.config, output_tree=False).__enter__()
            self.folder = real
        return self.manifest

    def close(self) -> None:
        if self.manifest is not None:
            self.manifest.__exit__(None, None, None)
            self.manifest, self.folder = None, None


def run_one(
    job: Job, config: Config, manifest: Manifest | None = None, progress: Callable[[int, int | None], None] | None = None
) -> Report:
    """One job; errors become a failed report. With ``manifest``, a verified
    earlier output is reused and a new one recorded."""
    out_dir = job.output_folder
    try:
        if manifest is not None:
            if manifest.output_tree:
                check_inside_output_tree(manifest.folder, out_dir)
            done = manifest.already_done(job.src, out_dir, job.neutral_stem)
            if done is not None:
                return _already_done_report(job, done)
            manifest.record_started(job.src, out_dir, job.neutral_stem)
        if job.out_dir is None:
            # A run killed beside the originals leaves its hidden temp file there.
            remove_stale_temp_files(out_dir, prefix=output_stem(job.src, job.neutral_stem) + ".")
        # The digest of the verified bytes goes into the manifest before the rename: only that file is adopted later.
        on_commit = None if manifest is None else (lambda dst, digest: manifest.record_committing(job.src, dst, digest))
        report = anonymize(job.src, None, config, out_dir=job.out_dir, progress=progress, on_commit=on_commit,
                           neutral_stem=job.neutral_stem)
        if manifest is not None and report.passed and report.destination and report.output_sha256:
            painted = {"pct": report.painted_pct, **({"frame": report.video["painted_max_frame"]}
                                                     if "painted_max_frame" in report.video else {})}
            manifest.record_done(job.src, Path(report.destination), report.output_sha256, report.faces,
                                 report.metadata_removed, painted if report.painted_pct is not None else None)
        return report
    except ModelError:
        raise
    except CrowdveilError as exc:
        report = getattr(exc, "report", None) or Report(source=str(job.src))
        report.passed = False
        report.error = str(exc)
        report.hint = exc.hint
        report.error_type = type(exc).__name__
        return report


def _already_done_report(job: Job, done) -> Report:
    report = Report(source=str(job.src), destination=str(done.output), passed=True,
                    media="video" if job.src.suffix.lower() in VIDEO_SUFFIXES else "photo")
    report.output_sha256 = done.output_sha256
    report.faces = list(done.faces)
    report.metadata_removed = list(done.metadata_removed)
    if done.painted.get("pct") is not None:  # the large-cover warning holds on a re-run too
        report.painted_pct = done.painted["pct"]
        if "frame" in done.painted:
            report.video["painted_max_frame"] = done.painted["frame"]
    report.checks = [Check(ALREADY_DONE, True, "output verified by an earlier run; its sha256 matches the manifest")]
    report.notes.append(f"{ALREADY_DONE}: verified output from an earlier run kept ({done.output.name})")
    return report
