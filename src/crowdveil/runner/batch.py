"""Many files through the one pipeline: a bad file fails alone, the rest go on.

With an output folder (``--out``) the batch keeps a resume manifest there
(``runner/manifest.py``): re-running the same command after a crash skips
the outputs already verified ("already done") and finishes the rest.
Without one, outputs go beside their originals and an existing output is
refused as "already exists" (crowdveil keeps no files among the originals).
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
from ..io.output import TEMP_MARK
from ..pipeline import anonymize
from ..types import Check, Report
from .manifest import Manifest, check_inside_output_tree, remove_stale_temp_files

ALREADY_DONE = "already done"

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".hif", ".avif"}
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"}
MEDIA_SUFFIXES = PHOTO_SUFFIXES | VIDEO_SUFFIXES


@dataclass
class Job:
    src: Path
    out_dir: Path | None  # None: beside the source
    root: Path | None = None  # the --out folder that holds the manifest; None: no manifest


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
    return ".veiled." in path.name or TEMP_MARK in path.name


def expand_inputs(inputs: Iterable[str | Path]) -> Iterator[tuple[Path, Path]]:
    """Yield ``(file, root)`` for files, folders (recursively) and glob patterns.

    ``root`` is the folder the file was found under, so ``--out`` can mirror
    the tree. Files given by name are always yielded (and refused later if
    they are not media); files found by walking must look like media and
    must not be links leading out of the folder (``src/link.jpg →
    ../someone_else/photo.jpg``): what a walk takes in is what the folder holds.
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
                    if f.suffix.lower() in MEDIA_SUFFIXES and not is_our_output(f) and not name.startswith("."):
                        if f.is_symlink() and not _within(os.path.realpath(f), inside):
                            continue
                        yield f, path
            continue
        yield path, path.parent


def _within(real: str, folder: str) -> bool:
    return os.path.commonpath([real, folder]) == folder


def plan_jobs(inputs: Iterable[str | Path], out_dir: Path | None) -> list[Job]:
    jobs = []
    for src, root in expand_inputs(inputs):
        if out_dir is None:
            jobs.append(Job(src, None))
        else:
            try:
                rel = src.parent.relative_to(root)
            except ValueError:
                rel = Path()
            jobs.append(Job(src, out_dir / rel, out_dir))
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

    Jobs with a ``root`` are resumable: outputs the manifest there records
    as verified are skipped with a passed report noted ``already done``.
    """
    result = BatchResult()
    with ExitStack() as stack:
        manifests: dict[Path, Manifest] = {}
        for root in dict.fromkeys(job.root for job in jobs if job.root is not None):
            manifests[root] = stack.enter_context(Manifest(root, config))
        for job in jobs:
            if on_start:
                on_start(job)
            report = run_one(job, config, manifests.get(job.root) if job.root is not None else None, progress=on_frames)
            result.reports.append(report)
            if on_done:
                on_done(report)
    return result


def run_one(
    job: Job, config: Config, manifest: Manifest | None = None, progress: Callable[[int, int | None], None] | None = None
) -> Report:
    """One job; errors become a failed report. With ``manifest``, a verified
    earlier output is reused and a new one recorded."""
    out_dir = job.out_dir if job.out_dir is not None else job.src.parent
    try:
        if manifest is not None:
            check_inside_output_tree(manifest.folder, out_dir)
            done = manifest.already_done(job.src, out_dir)
            if done is not None:
                return _already_done_report(job, done)
            manifest.record_started(job.src, out_dir)
        else:
            # A run killed beside the originals leaves its hidden temp file there.
            remove_stale_temp_files(out_dir, prefix=job.src.stem + ".veiled.")
        # The digest of the verified bytes goes into the manifest before the rename: only that file is adopted later.
        on_commit = None if manifest is None else (lambda dst, digest: manifest.record_committing(job.src, dst, digest))
        report = anonymize(job.src, None, config, out_dir=job.out_dir, progress=progress, on_commit=on_commit)
        if manifest is not None and report.passed and report.destination and report.output_sha256:
            manifest.record_done(job.src, Path(report.destination), report.output_sha256, report.faces, report.metadata_removed)
        return report
    except ModelError:
        raise
    except CrowdveilError as exc:
        report = getattr(exc, "report", None) or Report(source=str(job.src))
        report.passed = False
        report.error = str(exc)
        report.hint = exc.hint
        return report


def _already_done_report(job: Job, done) -> Report:
    report = Report(source=str(job.src), destination=str(done.output), passed=True)
    report.output_sha256 = done.output_sha256
    report.faces = list(done.faces)
    report.metadata_removed = list(done.metadata_removed)
    report.checks = [Check(ALREADY_DONE, True, "output verified by an earlier run; its sha256 matches the manifest")]
    report.notes.append(f"{ALREADY_DONE}: verified output from an earlier run kept ({done.output.name})")
    return report
