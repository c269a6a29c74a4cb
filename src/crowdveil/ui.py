"""Terminal rendering of progress and reports (rich), in the user's language. Used by the CLI only.

Every user-facing line comes from the ``cli`` catalog (``i18n/cli/*.json``)
through ``t``; the library's typed errors are translated here, by class and
by their hint, in ``error_text`` (the one place errors become words).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import AbstractSet, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from . import errors
from .i18n import DEFAULT, catalog, language_from_environment
from .types import Report

# Characters a terminal acts on instead of showing: C0 controls (ESC starts title, cursor and erase
# sequences), DEL, C1 controls (0x9b is an 8-bit CSI) and the bidi overrides that reorder a line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# More than this share of a photo (or of any video frame) painted is worth a look in the studio.
LARGE_COVER_PCT = 25.0
# How many skipped names are listed.
SKIPPED_SHOWN = 10

_language = language_from_environment()


def set_language(language: str | None) -> None:
    global _language
    if language:
        _language = language


def language() -> str:
    return _language


def t(message_id: str, /, **fields: object) -> str:
    """The message ``message_id`` in the current language (``--lang``, else the locale)."""
    return catalog("cli", _language)(message_id, **fields)


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


# -- errors -----------------------------------------------------------------------------------------

# Each error class's headline (shown before the library's English detail in other languages).
ERROR_IDS = {
    "CrowdveilError": "error.crowdveil_error", "InputError": "error.input_error",
    "UnsupportedFormat": "error.unsupported_format", "CorruptInput": "error.corrupt_input",
    "NotARegularFile": "error.not_a_regular_file", "TooLarge": "error.too_large", "OutputError": "error.output_error",
    "UnsafeOutputPath": "error.unsafe_output_path", "WriteFailed": "error.write_failed", "SetupError": "error.setup_error",
    "ModelError": "error.model_error", "DeviceUnavailable": "error.device_unavailable",
    "MissingExtra": "error.missing_extra", "ClusterFailed": "error.cluster_failed",
    "DeadlineExceeded": "error.deadline_exceeded", "Quarantined": "error.quarantined",
    "DetectionFailed": "error.detection_failed", "VerificationFailed": "error.verification_failed",
}


def _hint_ids() -> dict[str, str]:
    """The library's hints (English, as raised) → their message ids: the ``hint.*`` entries of en.json."""
    english = catalog("cli", DEFAULT).messages()
    return {text: key for key, text in english.items() if key.startswith("hint.")}


def error_text(error_type: str | None, message: str, hint: str | None) -> tuple[str, str | None]:
    """What the user reads for a library error: (message, what to do), in their language.

    English shows the library's own words. Other languages get the error class's
    headline with the library's detail (paths, numbers) after it, and the hint
    translated when it is one the catalog knows.
    """
    if _language == DEFAULT:
        return message, hint
    headline_id = ERROR_IDS.get(error_type or "", "error.crowdveil_error")
    text = t("error.with_detail", headline=t(headline_id), detail=message)
    if hint:
        known = _hint_ids().get(hint)
        if known:
            hint = t(known)
        else:
            for pattern, message_id in _HINT_PATTERNS:
                match = pattern.match(hint)
                if match:
                    hint = t(message_id, command=match.group(1))
                    break
    return text, hint


# Hints the library builds around a command or a name (detect/weights.py, doctor.py).
_HINT_PATTERNS = ((re.compile(r"^Install them: (.+)$"), "hint.install_them"),
                  (re.compile(r"^Reinstall them: (.+)$"), "hint.reinstall_them"),
                  (re.compile(r"^That index or folder holds another build of (.+?)\. Install the one from PyPI"),
                   "hint.doctor_other_build"),
                  (re.compile(r"^Run `(.+?) -m ensurepip`"), "hint.doctor_no_pip"),
                  (re.compile(r"^Supported: (.+)\.$"), "hint.supported_formats"))


def error_class_name(exc: BaseException) -> str:
    for cls in type(exc).__mro__:
        if cls.__name__ in ERROR_IDS and issubclass(cls, errors.CrowdveilError):
            return cls.__name__
    return "CrowdveilError"


# -- notes --------------------------------------------------------------------------------------------

# Notes the library writes in English, and the catalog id that says the same (group 1 → {n}).
_NOTE_IDS = (
    (re.compile(r"^audio dropped \(voices identify people\)"), "note.audio_dropped"),
    (re.compile(r"^audio kept and re-encoded as AAC"), "note.audio_kept"),
    (re.compile(r"^verification found (\d+) more face\(s\); redacted them too$"), "note.repaired"),
    (re.compile(r"^detection failed on (\d+) frame\(s\); each was painted over entirely$"), "note.detection_failed_frames"),
    (re.compile(r"^EXIF orientation (\d+) applied to the pixels$"), "note.orientation"),
)


def note_text(note: str) -> str:
    """A library note in the user's language where the catalog has it, else as written."""
    if _language != DEFAULT:
        for pattern, message_id in _NOTE_IDS:
            match = pattern.match(note)
            if match:
                return t(message_id, n=match.group(1)) if match.groups() else t(message_id)
    return note


def cover_note(report: Report) -> str | None:
    """"63 % of IMG_5195.HEIC is covered: check it in the studio", when more than a quarter is painted."""
    pct = report.painted_pct
    if not report.passed or pct is None or pct <= LARGE_COVER_PCT:
        return None
    name = Path(report.source).name
    if report.media == "video" and "painted_max_frame" in report.video:
        return t("note.large_cover_video", pct=f"{pct:.0f}", frame=report.video["painted_max_frame"], name=name)
    return t("note.large_cover_photo", pct=f"{pct:.0f}", name=name)


def is_already_done(report: Report) -> bool:
    from .runner.batch import ALREADY_DONE

    return any(n.startswith(ALREADY_DONE) for n in report.notes)


def screen_notes(report: Report) -> list[str]:
    """The notes of one file worth a line on screen: all but the resume bookkeeping, the cover warning first."""
    from .runner.batch import ALREADY_DONE

    notes = [note_text(n) for n in report.notes if not n.startswith(ALREADY_DONE)]
    cover = cover_note(report)
    return ([cover] if cover else []) + notes


@contextmanager
def progress_for(jobs: list, console: Console, *, enabled: bool, printed: set[int] | None = None) -> Iterator[tuple]:
    """Yield (on_start, on_done, on_frames) callbacks driving progress bars.

    Files get a bar when there is more than one (``enabled``); a video's
    frames always get one, with frames per second and time left. On a
    terminal a failure is printed as it happens, and its report's ``id``
    added to ``printed`` so the summary does not print it again.
    """
    if not console.is_terminal or (not enabled and not any(_is_video(job.src) for job in jobs)):
        yield None, None, None
        return
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn(escape(t("progress.eta"))), TimeRemainingColumn(),
        TextColumn("{task.fields[current]}"), console=console, transient=True,
    ) as progress:
        task = progress.add_task(escape(t("progress.files")), total=len(jobs), current="", visible=enabled)
        frames = progress.add_task(escape(t("progress.frames")), total=None, current="", visible=False)

        def on_start(job) -> None:
            progress.update(task, current=shown(job.src.name))
            progress.reset(frames, total=None, visible=False)

        def on_frames(done: int, total: int | None) -> None:
            fps = progress.tasks[frames].speed or 0.0
            progress.update(frames, completed=done, total=total, visible=True, current=escape(t("progress.fps", fps=f"{fps:.1f}")))

        def on_done(report: Report) -> None:
            progress.advance(task)
            if not report.passed and console.is_terminal:
                progress.console.print(failure_line(report), soft_wrap=True)
                if printed is not None:
                    printed.add(id(report))

        yield on_start, on_done, on_frames


@contextmanager
def cluster_progress(total: int, console: Console, *, enabled: bool, printed: set[int] | None = None) -> Iterator:
    """Yield ``on_done(report, outcome)`` for the cluster engine: files done, failed and quarantined, files/s, ETA.

    A failure is printed as it happens on a terminal (and added to ``printed``, so the
    summary does not print it again).
    """
    if not enabled:
        yield None
        return
    counts = {"done": 0, "failed": 0, "quarantined": 0}
    with Progress(
        TextColumn("[bold]" + t("progress.cluster")), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"), TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(), TextColumn(t("progress.eta")), TimeRemainingColumn(),
        console=console, transient=True,
    ) as progress:
        task = progress.add_task("files", total=total, counts="", rate="")

        def on_done(report: Report, outcome: str) -> None:
            counts[outcome] = counts.get(outcome, 0) + 1
            progress.advance(task)
            speed = progress.tasks[task].speed or 0.0
            progress.update(task, rate=t("progress.files_per_s", rate=f"{speed:.2f}"), counts=(
                f"[green]{t('progress.done', n=counts['done'])}[/] [red]{t('progress.failed', n=counts['failed'])}[/] "
                f"[yellow]{t('progress.quarantined', n=counts['quarantined'])}[/]"))
            if not report.passed and console.is_terminal:
                progress.console.print(failure_line(report), soft_wrap=True)
                if printed is not None:
                    printed.add(id(report))

        yield on_done


def _is_video(path) -> bool:
    from .io.formats import VIDEO_SUFFIXES

    return path.suffix.lower() in VIDEO_SUFFIXES


def failure_line(r: Report) -> str:
    message, hint = error_text(r.error_type, r.error or t("error.unknown"), r.hint)
    hint_line = "\n    " + t("label.what_to_do", hint=shown(hint)) if hint else ""
    return f"[red]{t('label.failed')}[/] {shown(r.source)}: {shown(message)}{hint_line}"


def print_summary(reports: list[Report], console: Console, *, quiet: bool, detail: bool = False,
                  plain: bool | None = None, printed: AbstractSet[int] = frozenset(), every_row: bool = False) -> None:
    """A table on a terminal; one plain line per file when stdout is a pipe or a file
    (``plain``; default: whether ``console`` is a terminal), then every note that matters,
    the failures and the totals. The table shows 40 files unless ``every_row`` (neutral
    names: the screen is where the user learns which original became which)."""
    plain = not console.is_terminal if plain is None else plain
    passed = [r for r in reports if r.passed]
    failed = [r for r in reports if not r.passed]
    if not quiet and passed:
        if plain:
            for r in passed:
                console.print(_plain_line(r), soft_wrap=True)
                for note in screen_notes(r):
                    console.print("  " + t("label.note", note=shown(note)), soft_wrap=True)
        else:
            _print_table(passed, console, limit=None if every_row else 40)
            for r in passed:
                for note in screen_notes(r):
                    console.print(f"  {shown(Path(r.source).name)}: " + t("label.note", note=shown(note)), soft_wrap=True)
    if detail:
        for r in reports:
            for c in r.checks:
                mark = f"[green]{escape(t('label.pass'))}[/]" if c.passed else f"[red]{escape(t('label.fail'))}[/]"
                console.print(f"  {mark} {shown(c.name)}: {shown(c.detail)}")
    for r in failed:
        if id(r) in printed:
            continue  # printed as it happened
        # soft_wrap: a failure line is copied into bug reports and grepped; keep it whole.
        console.print(failure_line(r), soft_wrap=True)
    regions = sum(r.face_count for r in passed)
    resumed = sum(is_already_done(r) for r in passed)
    line = t("summary.totals", passed=len(passed), total=len(reports), regions=regions)
    if resumed:
        line += t("summary.resumed", n=resumed)
    covered = sum(cover_note(r) is not None for r in passed)
    if covered:
        line += t("summary.large_cover", n=covered)
    text = f"[bold]{escape(line)}[/]"
    if failed:
        text += f"[red]{escape(t('summary.failed', n=len(failed)))}[/]"
    console.print(text, soft_wrap=plain)


def _plain_line(r: Report) -> str:
    checks = t("summary.checks", ok=sum(c.passed for c in r.checks), total=len(r.checks))
    if is_already_done(r):
        return t("plain.already_done", source=shown(r.source), destination=shown(r.destination or ""))
    return t("plain.file", source=shown(r.source), destination=shown(r.destination or ""), regions=r.face_count,
             metadata=shown(", ".join(r.metadata_removed) or t("summary.none")), checks=checks)


def _print_table(passed: list[Report], console: Console, *, limit: int | None) -> None:
    table = Table(show_edge=False, header_style="bold")
    for col in (t("table.file"), t("table.regions"), t("table.metadata"), t("table.checks"), t("table.written_to")):
        table.add_column(escape(col), overflow="fold")
    for r in passed[:limit]:
        checks = t("summary.checks", ok=sum(c.passed for c in r.checks), total=len(r.checks))
        table.add_row(shown(r.source), str(r.face_count), shown(", ".join(r.metadata_removed) or t("summary.none")),
                      escape(checks), shown(r.destination or ""))
    if limit is not None and len(passed) > limit:
        table.add_row(escape(t("table.more", n=len(passed) - limit)), "", "", "", "")
    console.print(table)


def skipped_line(skipped: list[Path]) -> str:
    names = ", ".join(shown(p.name) for p in skipped[:SKIPPED_SHOWN])
    if len(skipped) > SKIPPED_SHOWN:
        names += t("skipped.more", n=len(skipped) - SKIPPED_SHOWN)
    return t("skipped.non_media", n=len(skipped), names=names)
