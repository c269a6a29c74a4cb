"""The ``crowdveil`` command. The only place that prints or exits.

    crowdveil PHOTO_OR_VIDEO_OR_FOLDER… [--out DIR]   anonymize (the default)
    crowdveil audit FILE…                             list identifying metadata kinds
    crowdveil bench photos|video …                    measure exposure and speed
    crowdveil studio [FOLDER]                         review in the browser
    crowdveil doctor [--fix]                          what is installed, what is missing; install it
    crowdveil demo [DIR]                              make the demo crowd and anonymize it

Exit codes (``EXIT``): 0 every file passed; 1 at least one file failed or
was refused (the others were still written); 2 bad usage (``--engine ray``
without Ray installed included); 3 crowdveil cannot run here (model weights
missing: ``crowdveil doctor --fix``; ``--device cuda`` without a usable GPU);
130 interrupted.
"""

from __future__ import annotations

import difflib
import glob
import json
import os
import shlex
import sys
from pathlib import Path

import click

from .cli_support import EXIT, console, err_console, fail as _fail, guarded as _guarded  # noqa: F401 - EXIT: tests
from .config import COVERS, SHAPES, STYLES, Config
from .i18n import LANGUAGES
from .io.naming import NAME_STYLES, identifying_name_reasons
from .ui import set_language, shown, t
from .version import __version__


class _TranslatedHelp:
    """``help`` given as a catalog id, looked up when help is shown (after ``--lang`` was read)."""

    @property
    def help(self):
        return t(self._help_id) if self._help_id else None

    @help.setter
    def help(self, value):
        self._help_id = value


class TOption(_TranslatedHelp, click.Option):
    pass


class TCommand(_TranslatedHelp, click.Command):
    pass


class DefaultCommandGroup(_TranslatedHelp, click.Group):
    """``crowdveil FILE…`` means ``crowdveil anonymize FILE…`` (deface's one-command habit)."""

    default_command = "anonymize"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        lead: list[str] = []
        rest = list(args)
        while rest and ((rest[0] == "--lang" and len(rest) > 1) or rest[0].startswith("--lang=")):
            taken = 2 if rest[0] == "--lang" else 1
            lead, rest = lead + rest[:taken], rest[taken:]
        if rest and rest[0] not in self.commands and rest[0] not in ("--help", "-h", "--version", "--verbose"):
            _refuse_mistyped_command(rest[0], list(self.commands), args)
            rest = [self.default_command, *rest]
        # `--version` is eager and may come first: it reads `--verbose` from here.
        ctx.meta["crowdveil.verbose"] = "--verbose" in args
        return super().parse_args(ctx, [*lead, *rest])


def _refuse_mistyped_command(word: str, commands: list[str], args: list[str]) -> None:
    """``crowdveil audti x.jpg``: a word that is no file but nearly a command is a typo, not a photo."""
    if word.startswith("-") or os.path.lexists(word) or glob.has_magic(word) or "." in word or os.sep in word:
        return
    close = difflib.get_close_matches(word, commands, n=1, cutoff=0.6)
    if close:
        _language_from_args(args)
        _fail(t("usage.did_you_mean", word=word, command=close[0]), t("usage.did_you_mean_hint", command=close[0]),
              EXIT["usage"])


def _language_from_args(args: list[str]) -> None:
    """``--lang`` before click has parsed it (a usage error found while choosing the command)."""
    for i, arg in enumerate(args):
        if arg == "--lang" and i + 1 < len(args) and args[i + 1] in LANGUAGES:
            set_language(args[i + 1])
        elif arg.startswith("--lang=") and arg[7:] in LANGUAGES:
            set_language(arg[7:])


def _set_language(ctx, param, value):
    set_language(value)
    return value


def lang_option(f):
    return click.option("--lang", type=click.Choice(LANGUAGES), cls=TOption, help="opt.lang", is_eager=True,
                        expose_value=False, callback=_set_language)(f)


def _show_version(ctx: click.Context, _param, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    console.print(t("version.line", version=shown(__version__), python=sys.version.split()[0]))
    if ctx.meta.get("crowdveil.verbose"):
        _print_model_notices()
    ctx.exit(EXIT["ok"])


def _print_model_notices() -> None:
    """Every model file crowdveil reads: its licence, where it comes from, its sha256 (NOTICE says the same)."""
    from .doctor import model_notices

    console.print(t("version.models"))
    for notice in model_notices():
        console.print(f"  {shown(notice['file'])}: {shown(notice['licence'])}, {t('version.from')} {shown(notice['package'])}",
                      soft_wrap=True)
        console.print(f"    {shown(notice['origin'])}", soft_wrap=True)
        where = notice["installed"] or t("version.not_installed")
        console.print(f"    sha256 {notice['sha256']}; {shown(where)}", soft_wrap=True)


@click.group(cls=DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]}, help="cli.help.main")
@click.option("--version", is_flag=True, is_eager=True, expose_value=False, callback=_show_version, cls=TOption,
              help="opt.version")
@click.option("--verbose", is_flag=True, expose_value=False, cls=TOption, help="opt.verbose")
@lang_option
def main() -> None:
    pass


@main.command("anonymize", cls=TCommand, help="cli.help.anonymize")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), cls=TOption, help="opt.out")
@click.option("--names", type=click.Choice(NAME_STYLES), default="keep", show_default=True, cls=TOption, help="opt.names")
@click.option("--style", type=click.Choice(STYLES), default="fill", show_default=True, cls=TOption, help="opt.style")
@click.option("--shape", type=click.Choice(SHAPES), default="box", show_default=True, cls=TOption, help="opt.shape")
@click.option("--fast", is_flag=True, cls=TOption, help="opt.fast")
@click.option("--threshold", type=click.FloatRange(0.01, 0.99), default=None, cls=TOption, help="opt.threshold")
@click.option("--padding", type=click.FloatRange(0.25, 2.0), default=0.3, show_default=True, cls=TOption, help="opt.padding")
@click.option("--audio", type=click.Choice(["drop", "keep"]), default="drop", show_default=True, cls=TOption, help="opt.audio")
@click.option("--max-megapixels", type=click.FloatRange(1, 10000), default=250.0, show_default=True, cls=TOption,
              help="opt.max_megapixels")
@click.option("--overwrite", is_flag=True, cls=TOption, help="opt.overwrite")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), cls=TOption, help="opt.report")
@click.option("--report-provenance", is_flag=True, cls=TOption, help="opt.report_provenance")
@click.option("--cover", default="faces", show_default=True, callback=lambda ctx, param, value: _covers(value),
              cls=TOption, help="opt.cover")
@click.option("-q", "--quiet", is_flag=True, cls=TOption, help="opt.quiet")
@click.option("--animation", type=click.Choice(["same", "mp4"]), default="same", show_default=True, cls=TOption,
              help="opt.animation")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True, cls=TOption,
              help="opt.device")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True, cls=TOption,
              help="opt.engine")
@click.option("--address", default="auto", show_default=True, cls=TOption, help="opt.address")
@click.option("--workers", type=click.IntRange(1, 1_000_000), default=None, cls=TOption, help="opt.workers")
@lang_option
def anonymize_cmd(inputs, out_dir, names, style, shape, fast, threshold, padding, audio, max_megapixels, overwrite,
                  report_path, report_provenance, cover, quiet, animation, device, engine, address, workers) -> None:
    from .runner.batch import plan_jobs, run_batch
    from .ui import cover_note, print_summary, progress_for, skipped_line

    config = Config(
        style=style, shape=shape, preset="fast" if fast else "default", threshold=threshold, padding=padding,
        keep_audio=audio == "keep", max_megapixels=max_megapixels, overwrite=overwrite, animation=animation,
        cover=cover,
    )
    if engine == "ray":
        from .runner.ray_engine import import_ray

        _guarded(import_ray)
        if out_dir is None:
            _fail(t("usage.ray_needs_out"), t("usage.ray_needs_out_hint"), EXIT["usage"])
    skipped: list[Path] = []
    jobs = plan_jobs(inputs, out_dir, names=names, skipped=skipped)
    if skipped and not quiet:
        console.print(skipped_line(skipped), soft_wrap=True)
    if not jobs:
        _fail(t("usage.no_media", inputs=", ".join(inputs)), t("usage.no_media_hint"), EXIT["usage"])
    printed: set[int] = set()
    if engine == "ray":
        from .runner.ray_engine import ClusterSettings, run_on_ray
        from .ui import cluster_progress

        settings = ClusterSettings(address=address, workers=workers, device=device)
        with cluster_progress(len(jobs), console, enabled=not quiet, printed=printed) as on_done:
            result = _guarded(lambda: run_on_ray(jobs, config, settings, on_done=on_done))
    else:
        from .detect.onnx_session import use_device

        _guarded(lambda: use_device(device))
        with progress_for(jobs, console, enabled=len(jobs) > 1 and not quiet, printed=printed) as (on_start, on_done, on_frames):
            result = _guarded(lambda: run_batch(jobs, config, on_start=on_start, on_done=on_done,
                                                on_frames=None if quiet else on_frames))
    print_summary(result.reports, console, quiet=quiet, printed=printed, every_row=names == "neutral")
    if not quiet:
        _warn_about_names(result.reports, names)
    if report_path:
        files = []
        for r in result.reports:
            entry = _report_entry(r, provenance=report_provenance)
            cover = cover_note(r)
            if cover:
                entry["notes"] = [cover, *entry["notes"]]
            files.append(entry)
        _guarded(lambda: _write_report(report_path, {"version": __version__, "files": files}))
    sys.exit(EXIT["ok"] if result.ok else EXIT["failed"])


def _write_report(path: Path, data: dict) -> None:
    try:
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    except OSError as exc:
        from .io.output import _write_error

        raise _write_error(path, exc) from exc


def _covers(value: str) -> tuple[str, ...]:
    names = tuple(part.strip().lower() for part in value.split(",") if part.strip())
    unknown = [n for n in names if n not in COVERS]
    if unknown:
        raise click.BadParameter(t("usage.unknown_cover", name=repr(unknown[0]), covers=", ".join(COVERS)))
    return names


def _warn_about_names(reports, names: str) -> None:
    """Kept names repeat what the camera or a person put in them; neutral ones need their list shown."""
    passed = [r for r in reports if r.passed]
    if names == "neutral":
        if passed:
            console.print(t("label.note", note=t("names.neutral_mapping")), soft_wrap=True)
        return
    telling = [(Path(r.source).name, identifying_name_reasons(Path(r.source).name)) for r in passed]
    telling = [(name, reasons) for name, reasons in telling if reasons]
    if telling:
        example, reasons = telling[0]
        why = t("list.separator").join(t(f"names.reason.{reason}") for reason in reasons)
        err_console.print("[yellow]" + t("label.note", note=t("names.kept_warning", n=len(telling), example=shown(example),
                                                              reasons=why)) + "[/]", soft_wrap=True)
        err_console.print("  " + t("label.what_to_do", hint=t("names.kept_hint")), soft_wrap=True)


@main.command("audit", cls=TCommand, help="cli.help.audit")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, cls=TOption, help="opt.json")
@lang_option
def audit_cmd(files, as_json):
    from .verify.audit import audit_file

    dirty = False
    results = {}
    for f in files:
        a = _guarded(lambda: audit_file(f))
        dirty |= not a.clean
        results[str(f)] = {"format": a.format, "kinds": a.kinds, "where": sorted({x.where for x in a.findings})}
        if not as_json:
            status = f"[green]{t('label.clean')}[/]" if a.clean else "[red]" + shown(", ".join(a.kinds)) + "[/]"
            console.print(f"{shown(f)} ({a.format}): {status}", soft_wrap=True, emoji=False)  # one line per file, names as they are
    if as_json:
        click.echo(json.dumps(results, indent=2))
    sys.exit(EXIT["failed"] if dirty else EXIT["ok"])


@main.command("doctor", cls=TCommand, help="cli.help.doctor")
@click.option("--fix", is_flag=True, cls=TOption, help="opt.fix")
@click.option("--find-links", metavar="FOLDER", cls=TOption, help="opt.find_links")
@click.option("--index-url", metavar="URL", cls=TOption, help="opt.index_url")
@lang_option
def doctor_cmd(fix, find_links, index_url):
    from .doctor import fix_weights, run_checks

    if (find_links or index_url) and not fix:
        _fail(t("doctor.fix_only"), t("doctor.fix_only_hint"), EXIT["usage"])
    if fix:
        def announce(weight, command):
            console.print(t("doctor.installing", requirement=shown(weight.requirement), command=shown(shlex.join(command))),
                          soft_wrap=True)

        for step in _guarded(lambda: fix_weights(find_links=find_links, index_url=index_url, before_install=announce)):
            did = t("doctor.kept") if step.action == "kept" else t("doctor.installed_into", prefix=shown(sys.prefix))
            console.print(f"[green]{t('label.ok')}[/]   " + t("doctor.verified", requirement=shown(step.weight.requirement),
                          did=did, file=shown(Path(step.weight.relative_path).name), sha=step.weight.sha256[:16]),
                          soft_wrap=True)
    ok = True
    for name, passed, detail in run_checks():
        ok &= passed
        mark = f"[green]{t('label.ok')}[/]  " if passed else f"[red]{t('label.missing')}[/]"
        console.print(f"{mark} {shown(name)}: {shown(detail)}")
    _print_model_notices()
    sys.exit(EXIT["ok"] if ok else EXIT["setup"])


@main.command("demo", cls=TCommand, help="cli.help.demo")
@click.argument("folder", default="demo", type=click.Path(file_okay=False, path_type=Path))
@lang_option
def demo_cmd(folder):
    from .demo import write_demo
    from .pipeline import anonymize
    from .ui import print_summary

    src = folder / "crowd.jpg"
    boxes = _guarded(lambda: write_demo(src))
    console.print(t("demo.input", path=shown(src), n=len(boxes)))
    report = _guarded(lambda: anonymize(src, None, Config(overwrite=True)))
    print_summary([report], console, quiet=False, detail=True)
    from .demo import coverage_of

    console.print(t("demo.metadata_removed", kinds=shown(", ".join(report.metadata_removed))), soft_wrap=True)
    covered = coverage_of(report, boxes)
    console.print(t("demo.covered", covered=covered, total=len(boxes)))
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


def _register_feature_commands() -> None:
    # Each command lives with its feature and imports its heavy parts lazily.
    from .bench.cli import bench
    from .studio.cli import studio

    main.add_command(bench)
    main.add_command(studio)


_register_feature_commands()
