"""The ``crowdveil`` command. The only place that prints or exits.

    crowdveil PHOTO_OR_VIDEO_OR_FOLDER… [--out DIR]   anonymize (the default)
    crowdveil audit FILE…                             list identifying metadata kinds
    crowdveil bench photos|video …                    measure exposure and speed
    crowdveil studio [FOLDER]                         review in the browser
    crowdveil doctor                                  what is installed, what is missing
    crowdveil demo [DIR]                              make the demo crowd and anonymize it

Exit codes (``EXIT``): 0 every file passed; 1 at least one file failed or
was refused (the others were still written); 2 bad usage; 3 crowdveil
cannot run here (model weights missing); 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from . import __version__
from .config import COVERS, PRESETS, SHAPES, STYLES, Config
from .errors import CrowdveilError, ModelError
from .ui import shown

EXIT = {"ok": 0, "failed": 1, "usage": 2, "setup": 3, "interrupted": 130}

# emoji=False: a file named ":smile:.jpg" must be printed as it is.
console = Console(stderr=False, highlight=False, emoji=False)
err_console = Console(stderr=True, highlight=False, emoji=False)


class DefaultCommandGroup(click.Group):
    """``crowdveil FILE…`` means ``crowdveil anonymize FILE…`` (deface's one-command habit)."""

    default_command = "anonymize"

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crowdveil")
def main() -> None:
    """Anonymize protest photos and videos, offline: every face covered, no
    identifying metadata, each output verified before it is kept.

    \b
    Examples:
      crowdveil crowd.jpg                  writes crowd.veiled.jpg beside it
      crowdveil photos/ --out clean/       a whole folder, mirrored into clean/
      crowdveil audit clean/*.jpg          what identifying metadata a file carries
    """


@main.command("anonymize")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Write outputs here (default: beside each original, as NAME.veiled.EXT).")
@click.option("--style", type=click.Choice(STYLES), default="fill", show_default=True, help="fill is irreversible; mosaic and blur are calibrated to be matched at chance by a face recognizer (README).")
@click.option("--shape", type=click.Choice(SHAPES), default="box", show_default=True)
@click.option("--fast", is_flag=True, help="Faster detection with lower recall on tiny faces.")
@click.option("--threshold", type=click.FloatRange(0.01, 0.99), default=None, help="What a candidate needs to be painted: in photos the classifier's probability (default 0.1; with --fast YuNet's score, 0.3), in videos YuNet's score (0.2; --fast 0.3). Lower paints more.")
@click.option("--padding", type=click.FloatRange(0.25, 2.0), default=0.3, show_default=True, help="Margin around each face, share of its size per side.")
@click.option("--audio", type=click.Choice(["drop", "keep"]), default="drop", show_default=True, help="Video: voices identify people, so audio is dropped unless kept.")
@click.option("--max-megapixels", type=click.FloatRange(1, 10000), default=250.0, show_default=True, help="Refuse larger images and video frames (decompression bombs).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (never originals).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a JSON report of every file (file names only: no folders, no digest of the original).")
@click.option("--report-provenance", is_flag=True,
              help="Also put the originals' full paths and sha256 in the report (for archives; never share it with the outputs).")
@click.option("--cover", default="faces", show_default=True, callback=lambda ctx, param, value: _covers(value),
              help="What to cover, comma-separated: faces (always), text (plates, badges, signs; photos only), "
                   "bodies (each face's body, from its size). Example: --cover text,bodies")
@click.option("-q", "--quiet", is_flag=True, help="Only print failures.")
def anonymize_cmd(inputs, out_dir, style, shape, fast, threshold, padding, audio, max_megapixels, overwrite, report_path,
                  report_provenance, cover, quiet):
    """Anonymize photos and videos (files, folders, globs)."""
    from .runner.batch import plan_jobs, run_batch
    from .ui import print_summary, progress_for

    config = Config(
        style=style, shape=shape, preset="fast" if fast else "default", threshold=threshold, padding=padding,
        keep_audio=audio == "keep", max_megapixels=max_megapixels, overwrite=overwrite, cover=cover,
    )
    jobs = plan_jobs(inputs, out_dir)
    if not jobs:
        _fail("no photos or videos found in " + ", ".join(inputs), "Pass files or folders holding JPEG, PNG, HEIC, MP4, MOV…", EXIT["usage"])
    with progress_for(jobs, console, enabled=len(jobs) > 1 and not quiet) as (on_start, on_done, on_frames):
        result = _guarded(lambda: run_batch(jobs, config, on_start=on_start, on_done=on_done, on_frames=None if quiet else on_frames))
    print_summary(result.reports, console, quiet=quiet)
    if report_path:
        files = [_report_entry(r, provenance=report_provenance) for r in result.reports]
        report_path.write_text(json.dumps({"version": __version__, "files": files}, indent=2))
    sys.exit(EXIT["ok"] if result.ok else EXIT["failed"])


def _covers(value: str) -> tuple[str, ...]:
    names = tuple(part.strip().lower() for part in value.split(",") if part.strip())
    unknown = [n for n in names if n not in COVERS]
    if unknown:
        raise click.BadParameter(f"{unknown[0]!r} is not something crowdveil covers; use a comma list of "
                                 f"{', '.join(COVERS)}")
    return names


@main.command("audit")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def audit_cmd(files, as_json):
    """List the kinds of identifying metadata FILES carry (never their values).

    Exit code 1 when any file carries any.
    """
    from .verify.audit import audit_file

    dirty = False
    results = {}
    for f in files:
        a = _guarded(lambda: audit_file(f))
        dirty |= not a.clean
        results[str(f)] = {"format": a.format, "kinds": a.kinds, "where": sorted({x.where for x in a.findings})}
        if not as_json:
            status = "[green]clean[/]" if a.clean else "[red]" + shown(", ".join(a.kinds)) + "[/]"
            console.print(f"{shown(f)} ({a.format}): {status}", soft_wrap=True, emoji=False)  # one line per file, names as they are
    if as_json:
        click.echo(json.dumps(results, indent=2))
    sys.exit(EXIT["failed"] if dirty else EXIT["ok"])


@main.command("doctor")
def doctor_cmd():
    """Check that everything crowdveil needs is installed."""
    from .doctor import run_checks

    ok = True
    for name, passed, detail in run_checks():
        ok &= passed
        mark = "[green]ok[/]  " if passed else "[red]MISSING[/]"
        console.print(f"{mark} {shown(name)}: {shown(detail)}")
    sys.exit(EXIT["ok"] if ok else EXIT["setup"])


@main.command("demo")
@click.argument("folder", default="demo", type=click.Path(file_okay=False, path_type=Path))
def demo_cmd(folder):
    """Make the demo crowd photo in FOLDER and anonymize it."""
    from .demo import write_demo
    from .pipeline import anonymize
    from .ui import print_summary

    src = folder / "crowd.jpg"
    boxes = write_demo(src)
    console.print(f"demo input: {shown(src)} ({len(boxes)} faces from 10 to 300 px, EXIF GPS, serial, thumbnail)")
    report = _guarded(lambda: anonymize(src, None, Config(overwrite=True)))
    print_summary([report], console, quiet=False, detail=True)
    from .demo import coverage_of

    console.print(f"metadata removed: {shown(', '.join(report.metadata_removed))}", soft_wrap=True)
    covered = coverage_of(report, boxes)
    console.print(f"demo faces covered: {covered}/{len(boxes)}")
    sys.exit(EXIT["ok"] if report.passed and covered == len(boxes) else EXIT["failed"])


def _report_entry(report, *, provenance: bool) -> dict:
    """One file's report entry. Reports travel with the outputs, so by default nothing in
    them leads back to the original: its folder (a user name, a place), or its sha256 (the
    key under which a copy of the original, seized or posted, is matched)."""
    entry = report.to_dict()
    if provenance:
        return entry
    entry.pop("source_sha256", None)
    for key in ("source", "destination"):
        full = entry.get(key)
        if full:
            name = Path(full).name
            entry[key] = name
            for field in ("error", "hint"):
                if entry.get(field):
                    entry[field] = entry[field].replace(full, name)
            entry["notes"] = [n.replace(full, name) for n in entry.get("notes", [])]
    return entry


def _guarded(fn):
    """Run ``fn``; map crowdveil's errors to one line and an exit code."""
    try:
        return fn()
    except KeyboardInterrupt:
        _fail("interrupted; no partial output was kept", None, EXIT["interrupted"])
    except ModelError as exc:
        _fail(str(exc), exc.hint, EXIT["setup"])
    except CrowdveilError as exc:
        _fail(str(exc), exc.hint, EXIT["failed"])


def _fail(message: str, hint: str | None, code: int):
    err_console.print(f"[bold red]crowdveil:[/] {shown(message)}", soft_wrap=True)
    if hint:
        err_console.print(f"  what to do: {shown(hint)}", soft_wrap=True)
    sys.exit(code)


def _register_feature_commands() -> None:
    # Each command lives with its feature and imports its heavy parts lazily.
    from .bench.cli import bench
    from .studio.cli import studio

    main.add_command(bench)
    main.add_command(studio)


_register_feature_commands()
