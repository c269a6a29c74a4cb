"""Faults: a killed batch, a full disk and a read-only output folder leave no
partial output, a re-run resumes, and originals never change.

The full-disk and read-only tests run twice: on a small tmpfs mounted for
the test (root with CAP_SYS_ADMIN, as on CI; where mounting is not
permitted this variant falls back to the simulation) and with the errno
simulated at the write (ENOSPC after half the bytes, EROFS at open). Both
make the same assertions.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from crowdveil import Config
from crowdveil.cli import EXIT, main
from crowdveil.errors import OutputError
from crowdveil.runner.batch import ALREADY_DONE, plan_jobs, run_batch
from crowdveil.runner.manifest import Manifest, manifest_path

from helpers import exiftool_tags, face_on_background, jpeg_with_phone_metadata, sha256
from exiftool_allowlist import non_structural

TEMP_MARK = ".crowdveil-tmp-"


def _crowdveil_exe() -> str:
    return str(Path(sys.executable).with_name("crowdveil"))


def make_inputs(folder: Path, count: int, size=(640, 480)) -> dict[Path, str]:
    """``count`` phone-like JPEGs with one face each; returns their sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels, _ = face_on_background(*size, faces=((60 + 7 * i, 40, 150),), seed=i)
        jpeg_with_phone_metadata(folder / f"img{i:02d}.jpg", pixels)
    return {p: sha256(p) for p in sorted(folder.glob("*.jpg"))}


def visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def assert_valid_output(path: Path) -> None:
    """A complete, decodable image with nothing but structure in it (exiftool judges)."""
    with Image.open(path) as im:
        im.load()
    tags = exiftool_tags(path)
    assert "ExifTool:Warning" not in tags, f"{path.name}: {tags.get('ExifTool:Warning')}"
    assert non_structural(tags) == {}, f"{path.name} shows {sorted(non_structural(tags))}"


# -- kill -9 and resume ------------------------------------------------------------------------------


def test_kill_9_mid_batch_leaves_no_partial_output_and_rerun_resumes(tmp_path):
    originals = make_inputs(tmp_path / "in", 12)
    out = tmp_path / "out"
    command = [_crowdveil_exe(), str(tmp_path / "in"), "--out", str(out), "--fast", "-q"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (out.is_dir() and visible(out)):
            assert proc.poll() is None, "the batch ended before any output appeared"
            assert time.monotonic() < deadline, "no output after 120 s"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    finished = visible(out)
    assert 1 <= len(finished) < 12, "the kill must land mid-batch"
    for path in finished:
        assert path.name.endswith(".veiled.jpg"), f"junk after kill: {path.name}"
        assert_valid_output(path)
    hidden = {p.name for p in out.rglob(".*") if p.is_file()}
    assert all(TEMP_MARK in name for name in hidden), hidden
    finished_bytes = {p.name: sha256(p) for p in finished}

    report_path = tmp_path / "report.json"
    rerun = subprocess.run(command + ["--report", str(report_path)], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == EXIT["ok"], rerun.stdout + rerun.stderr
    assert f"{len(finished)} already done by an earlier run, skipped" in " ".join(rerun.stdout.split())
    files = {Path(f["source"]).name: f for f in json.loads(report_path.read_text())["files"]}
    skipped = {name for name, f in files.items() if any(ALREADY_DONE in n for n in f["notes"])}
    assert skipped == {name.replace(".veiled.jpg", ".jpg") for name in finished_bytes}, "finished files are skipped, not redone"
    assert all(f["passed"] for f in files.values()) and len(files) == 12
    outputs = visible(out)
    assert [p.name for p in outputs] == [f"img{i:02d}.veiled.jpg" for i in range(12)]
    for path in outputs:
        assert_valid_output(path)
    assert {p.name: sha256(p) for p in outputs if p.name in finished_bytes} == finished_bytes
    assert not [p for p in out.rglob("*") if TEMP_MARK in p.name], "stale temp files must be removed"
    assert {p: sha256(p) for p in originals} == originals
    assert sorted(p.name for p in out.rglob("*")) == [p.name for p in outputs], "the output folder holds the outputs only"
    manifest = manifest_path(out).read_text()
    assert str(tmp_path / "in") not in manifest and "img00.jpg" not in manifest, "no paths of originals in the manifest"


def test_rerun_redoes_nothing_and_notices_a_changed_output(tmp_path, fast_detector):
    originals = make_inputs(tmp_path / "in", 2, size=(320, 240))
    out = tmp_path / "out"
    config = Config()
    jobs = plan_jobs([tmp_path / "in"], out)
    first = _run_batch(jobs, config, fast_detector)
    assert first.ok and not any(ALREADY_DONE in " ".join(r.notes) for r in first.reports)
    stale = out / f".img01.veiled.jpg{TEMP_MARK}k1ll3d"  # what a kill during a write leaves
    stale.write_bytes(b"\xff\xd8\xff half written")
    second = _run_batch(jobs, config, fast_detector)
    assert second.ok and all(ALREADY_DONE in " ".join(r.notes) for r in second.reports)
    assert not stale.exists(), "a killed run's temp file is removed when the folder is opened again"
    # An output changed after it was verified is not "done": it is refused as an existing file
    # (the pipeline never overwrites without --overwrite) and redone with it.
    tampered = out / "img00.veiled.jpg"
    tampered.write_bytes(tampered.read_bytes() + b"appended")
    third = _run_batch(jobs, config, fast_detector)
    by_name = {Path(r.source).name: r for r in third.reports}
    assert by_name["img01.jpg"].passed and ALREADY_DONE in " ".join(by_name["img01.jpg"].notes)
    assert not by_name["img00.jpg"].passed and "already exists" in by_name["img00.jpg"].error
    fourth = _run_batch(jobs, config.replace(overwrite=True), fast_detector)
    assert fourth.ok
    assert_valid_output(tampered)
    # Other settings are other outputs: nothing is skipped.
    fifth = _run_batch(jobs, config.replace(style="mosaic", overwrite=True), fast_detector)
    assert fifth.ok and not any(ALREADY_DONE in " ".join(r.notes) for r in fifth.reports)
    assert {p: sha256(p) for p in originals} == originals


def _run_batch(jobs, config, detector):
    """run_batch with the cheap detector: patch the pipeline's detector factories."""
    import crowdveil.pipeline.photo as pipeline

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "build_detector", lambda *a, **k: detector)
        mp.setattr(pipeline, "build_verifier", lambda *a, **k: detector)
        return run_batch(jobs, config)


def test_output_committed_before_its_manifest_line_is_adopted_not_refused(tmp_path, fast_detector):
    """A kill between the rename into place and the ``done`` line: the output
    passed every check (it is only renamed after that), so the re-run keeps it."""
    originals = make_inputs(tmp_path / "in", 1, size=(320, 240))
    src = next(iter(originals))
    out = tmp_path / "out"
    jobs = plan_jobs([src], out)
    first = _run_batch(jobs, Config(), fast_detector)
    assert first.ok
    lines = manifest_path(out).read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["started", "committing", "done"]
    cut = lines[2][: len(lines[2]) // 2]
    manifest_path(out).write_text(lines[0] + "\n" + lines[1] + "\n" + cut)  # the kill cut the done line
    again = _run_batch(jobs, Config(), fast_detector)
    assert again.ok and ALREADY_DONE in " ".join(again.reports[0].notes)
    after = manifest_path(out).read_text().splitlines()
    assert after[2] == cut, "the cut line stays alone on its line"
    assert json.loads(after[-1])["event"] == "done", "new lines are not glued to the cut one"
    # An output that existed before the interrupted run started is not adopted.
    other = tmp_path / "out2"
    other.mkdir()
    (other / "img00.veiled.jpg").write_bytes(b"someone else's file")
    with Manifest(other, Config()) as manifest:
        manifest.record_started(src, other)
    refused = _run_batch(plan_jobs([src], other), Config(), fast_detector)
    assert not refused.ok and "already exists" in refused.reports[0].error
    assert (other / "img00.veiled.jpg").read_bytes() == b"someone else's file"
    assert sha256(src) == originals[src]


def test_a_file_put_at_the_output_name_while_interrupted_is_never_adopted(tmp_path, fast_detector):
    """The attack: interrupt a run, copy the original to its output name, run the same
    command again. Only bytes whose sha256 the run recorded after every check passed
    may be adopted; anything else is refused and never reported as verified."""
    originals = make_inputs(tmp_path / "in", 1, size=(320, 240))
    src = next(iter(originals))
    out = tmp_path / "out"
    planted = out / "img00.veiled.jpg"
    jobs = plan_jobs([src], out)
    # Interrupted before any output passed its checks: a "started" line only.
    with Manifest(out, Config()) as manifest:
        manifest.record_started(src, out)
    planted.write_bytes(src.read_bytes())
    rerun = _run_batch(jobs, Config(), fast_detector)
    assert not rerun.ok and "already exists" in rerun.reports[0].error
    assert not any(ALREADY_DONE in n for n in rerun.reports[0].notes)
    # Interrupted between "committing" and the rename, then the file swapped: the digest differs.
    with Manifest(out, Config()) as manifest:
        manifest.record_started(src, out)
        manifest.record_committing(src, planted, "0" * 64)
    rerun = _run_batch(jobs, Config(), fast_detector)
    assert not rerun.ok and "already exists" in rerun.reports[0].error
    # Through the CLI, as the attack was run: exit 1, never "anonymized and verified".
    with Manifest(out, Config(preset="fast")) as manifest:
        manifest.record_started(src, out)
    result = CliRunner().invoke(main, [str(src), "--out", str(out), "--fast"])
    assert result.exit_code == EXIT["failed"], result.output
    assert "0 of 1 file(s) anonymized and verified" in " ".join(result.output.split())
    assert "already done" not in result.output
    assert planted.read_bytes() == src.read_bytes(), "nothing of ours claims the planted file"
    assert sha256(src) == originals[src]


def test_second_run_into_the_same_folder_is_refused_while_the_first_holds_it(tmp_path):
    with Manifest(tmp_path / "out", Config()):
        with pytest.raises(OutputError, match="another crowdveil run"):
            with Manifest(tmp_path / "out", Config()):
                pass


# -- full disk, read-only folder ----------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, options: str, *, wanted: bool = True):
    """Mount a tmpfs at ``path``; yields False (and mounts nothing) where that is
    not permitted or not ``wanted``."""
    path.mkdir(parents=True, exist_ok=True)
    if not wanted:
        yield False
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)


def _simulate_errno(monkeypatch, code: int, *, partial: bool) -> None:
    """Where no tmpfs can be mounted: make the output write fail with ``code`` (after
    half the bytes, as a filling disk does) and the manifest open fail for EROFS."""
    import builtins

    import crowdveil.io.output as output_module

    real_open = builtins.open

    class FailingFile:
        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            if partial:
                self.fh.write(data[: len(data) // 2])
            raise OSError(code, os.strerror(code))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def __getattr__(self, name):
            return getattr(self.fh, name)

    def failing_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        return FailingFile(fh) if "w" in mode else fh

    monkeypatch.setattr(output_module, "open", failing_open, raising=False)
    if code == errno.EROFS:
        import tempfile

        def refuse(*a, **k):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
        import crowdveil.runner.manifest as manifest_module

        monkeypatch.setattr(manifest_module, "open", refuse, raising=False)


@pytest.mark.parametrize("mount", [True, False], ids=["tmpfs", "simulated"])
def test_full_disk_gives_a_clean_error_and_no_partial_file(tmp_path, monkeypatch, mount):
    originals = make_inputs(tmp_path / "in", 1, size=(1200, 900))
    out = tmp_path / "small_disk"
    with tmpfs(out, "size=48k", wanted=mount) as mounted:
        if not mounted:
            _simulate_errno(monkeypatch, errno.ENOSPC, partial=True)
        result = CliRunner().invoke(main, [str(tmp_path / "in"), "--out", str(out), "--fast", "-q"])
        how = "tmpfs of 48 KiB" if mounted else "simulated ENOSPC"
        assert result.exit_code == EXIT["failed"], f"{how}: {result.output}"
        text = " ".join(result.output.split())
        assert "the disk is full" in text and "nothing was written" in text, f"{how}: {text}"
        assert "Traceback" not in result.output
        left = [p.name for p in out.rglob("*") if p.is_file()]
        assert left == [], f"{how}: partial files left: {left}"
    assert {p: sha256(p) for p in originals} == originals


@pytest.mark.parametrize("mount", [True, False], ids=["tmpfs", "simulated"])
def test_read_only_output_folder_gives_a_clean_error(tmp_path, monkeypatch, mount):
    # chmod 0555 means nothing to root, so the folder is a read-only tmpfs.
    originals = make_inputs(tmp_path / "in", 2, size=(320, 240))
    out = tmp_path / "read_only"
    with tmpfs(out, "ro,size=1m", wanted=mount) as mounted:
        if not mounted:
            _simulate_errno(monkeypatch, errno.EROFS, partial=False)
        result = CliRunner().invoke(main, [str(tmp_path / "in"), "--out", str(out), "--fast", "-q"])
        how = "read-only tmpfs" if mounted else "simulated EROFS"
        assert result.exit_code == EXIT["failed"], f"{how}: {result.output}"
        text = " ".join(result.output.split())
        assert "read-only" in text and "what to do" in text, f"{how}: {text}"
        assert "Traceback" not in result.output
        assert not list(out.rglob("*")), f"{how}: files appeared in a read-only folder"
    assert {p: sha256(p) for p in originals} == originals


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGQUIT"])
def test_a_signal_while_a_photo_is_verified_leaves_nothing_beside_the_original(tmp_path, signame):
    """Closing the terminal (SIGHUP) used to end the process with the unverified temp file
    left beside the original; every terminating signal now unwinds like Ctrl-C."""
    make_inputs(tmp_path / "in", 1, size=(320, 240))
    script = (
        "import os, signal\n"
        # A run started under nohup inherits SIGHUP ignored, and crowdveil keeps it ignored: the
        # child starts from the default disposition, as in a terminal.
        f"signal.signal(signal.{signame}, signal.SIG_DFL)\n"
        "from crowdveil import Config, anonymize\n"
        "from crowdveil.detect.centerface import CenterFace\n"
        "class SignalWhileVerifying(CenterFace):\n"
        "    def detect(self, rgb):\n"
        f"        os.kill(os.getpid(), signal.{signame})\n"
        "        return super().detect(rgb)\n"
        f"anonymize({str(tmp_path / 'in' / 'img00.jpg')!r}, None, Config(), detector=CenterFace(0.3), "
        "verifier=SignalWhileVerifying(0.3))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "KeyboardInterrupt" in run.stderr, run.stderr
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["img00.jpg"], "no temp file, no output"


def test_stale_temp_files_beside_the_originals_are_removed(tmp_path, fast_detector):
    """Without --out, outputs go beside the originals: a killed run's hidden temp file
    there is removed on the next run (only that output's temp files are touched)."""
    originals = make_inputs(tmp_path / "in", 1, size=(320, 240))
    src = next(iter(originals))
    stale = src.parent / f".img00.veiled.jpg{TEMP_MARK}k1ll3d"
    stale.write_bytes(b"\xff\xd8\xff half written")
    unrelated = src.parent / f".other.veiled.jpg{TEMP_MARK}keep"
    unrelated.write_bytes(b"not ours to judge")
    result = _run_batch(plan_jobs([src], None), Config(), fast_detector)
    assert result.ok
    assert not stale.exists() and unrelated.exists()
    assert_valid_output(src.with_name("img00.veiled.jpg"))
    assert sha256(src) == originals[src]


def test_links_planted_in_the_output_folder_redirect_no_write(tmp_path, fast_detector):
    """A link at the manifest's name made crowdveil append to its target, and a
    linked subfolder of --out received outputs elsewhere."""
    folder = tmp_path / "in"
    make_inputs(folder / "sub", 1, size=(320, 240))
    victim = tmp_path / "victim.txt"
    victim.write_text("someone's file\n")
    out = tmp_path / "out"
    out.mkdir()
    manifest_path(out).parent.mkdir(parents=True, mode=0o700)
    manifest_path(out).symlink_to(victim)
    with pytest.raises(OutputError, match="symbolic link"):
        _run_batch(plan_jobs([folder], out), Config(), fast_detector)
    assert victim.read_text() == "someone's file\n"

    manifest_path(out).unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere, target_is_directory=True)
    result = _run_batch(plan_jobs([folder], out), Config(), fast_detector)
    assert not result.ok and "symbolic link" in result.reports[0].error
    assert list(elsewhere.iterdir()) == []


def test_an_output_folder_owned_by_another_user_is_refused(tmp_path, fast_detector):
    if os.getuid() != 0:
        pytest.skip("making a folder owned by another user needs root")
    make_inputs(tmp_path / "in", 1, size=(320, 240))
    out = tmp_path / "out"
    out.mkdir()
    os.chown(out, 12345, 12345)
    with pytest.raises(OutputError, match="another user"):
        _run_batch(plan_jobs([tmp_path / "in"], out), Config(), fast_detector)
    assert list(out.iterdir()) == []
