"""Terminal rendering of progress and reports (rich). Used by the CLI only."""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .types import Report

# Characters a terminal acts on instead of showing: C0 controls (ESC starts title, cursor and erase
# sequences), DEL, C1 controls (0x9b is an 8-bit CSI) and the bidi overrides that reorder a line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(text: object) -> str:
    """``text`` safe to print: control characters as visible escapes (as ``ls -b`` does), rich markup escaped.

    A file named ``x\\e]0;PWNED\\e\\\\good.jpg`` must not retitle the terminal or erase
    the lines above it (another file's FAILED line).
    """
    return escape(_CONTROL.sub(_visible_escape, str(text)))


def _visible_escape(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\{ord(char):03o}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


@contextmanager
def progress_for(jobs: list, console: Console, *, enabled: bool) -> Iterator[tuple]:
    """Yield (on_start, on_done, on_frames) callbacks driving progress bars.

    Files get a bar when there is more than one (``enabled``); a video's
    frames always get one, with frames per second and time left.
    """
    if not enabled and not any(_is_video(job.src) for job in jobs):
        yield None, None, None
        return
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[current]}"),
        console=console, transient=True,
    ) as progress:
        task = progress.add_task("anonymizing", total=len(jobs), current="", visible=enabled)
        frames = progress.add_task("frames", total=None, current="", visible=False)

        def on_start(job) -> None:
            progress.update(task, current=shown(job.src.name))
            progress.reset(frames, total=None, visible=False)

        def on_frames(done: int, total: int | None) -> None:
            fps = progress.tasks[frames].speed or 0.0
            progress.update(frames, completed=done, total=total, visible=True, current=f"{fps:.1f} frames/s")

        def on_done(report: Report) -> None:
            progress.advance(task)
            if not report.passed:
                progress.console.print(_failure_line(report), soft_wrap=True)

        yield on_start, on_done, on_frames


@contextmanager
def cluster_progress(total: int, console: Console, *, enabled: bool) -> Iterator:
    """Yield ``on_done(report, outcome)`` for the cluster engine: files done, failed and quarantined, files/s, ETA."""
    if not enabled:
        yield None
        return
    counts = {"done": 0, "failed": 0, "quarantined": 0}
    with Progress(
        TextColumn("[bold]anonymizing on the cluster"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"), TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        console=console, transient=True,
    ) as progress:
        task = progress.add_task("files", total=total, counts="", rate="")

        def on_done(report: Report, outcome: str) -> None:
            counts[outcome] = counts.get(outcome, 0) + 1
            progress.advance(task)
            speed = progress.tasks[task].speed or 0.0
            progress.update(task, rate=f"{speed:.2f} files/s", counts=(
                f"[green]{counts['done']} done[/] [red]{counts['failed']} failed[/] "
                f"[yellow]{counts['quarantined']} quarantined[/]"))
            if not report.passed:
                progress.console.print(_failure_line(report), soft_wrap=True)

        yield on_done


def _is_video(path) -> bool:
    from .runner.batch import VIDEO_SUFFIXES

    return path.suffix.lower() in VIDEO_SUFFIXES


def _failure_line(r: Report) -> str:
    hint = f"\n    what to do: {shown(r.hint)}" if r.hint else ""
    return f"[red]FAILED[/] {shown(r.source)}: {shown(r.error or 'unknown error')}{hint}"


def print_summary(reports: list[Report], console: Console, *, quiet: bool, detail: bool = False) -> None:
    passed = [r for r in reports if r.passed]
    failed = [r for r in reports if not r.passed]
    if not quiet and passed:
        table = Table(show_edge=False, header_style="bold")
        for col in ("file", "faces", "metadata removed", "checks", "written to"):
            table.add_column(col, overflow="fold")
        for r in passed[:40]:
            checks = f"{sum(c.passed for c in r.checks)}/{len(r.checks)} passed"
            table.add_row(shown(r.source), str(r.face_count), shown(", ".join(r.metadata_removed) or "none"),
                          checks, shown(r.destination or ""))
        if len(passed) > 40:
            table.add_row(f"… and {len(passed) - 40} more", "", "", "", "")
        console.print(table)
    if detail:
        for r in reports:
            for c in r.checks:
                mark = "[green]pass[/]" if c.passed else "[red]FAIL[/]"
                console.print(f"  {mark} {shown(c.name)}: {shown(c.detail)}")
            for n in r.notes:
                console.print(f"  note: {shown(n)}")
    for r in failed:
        # soft_wrap: a failure line is copied into bug reports and grepped; keep it whole.
        console.print(_failure_line(r), soft_wrap=True)
    faces = sum(r.face_count for r in passed)
    resumed = sum(any(n.startswith("already done") for n in r.notes) for r in passed)
    console.print(
        f"[bold]{len(passed)} of {len(reports)} file(s) anonymized and verified[/], {faces} face region(s) covered"
        + (f" ({resumed} already done by an earlier run, skipped)" if resumed else "")
        + (f", [red]{len(failed)} failed (nothing written for them)[/]" if failed else "")
    )
