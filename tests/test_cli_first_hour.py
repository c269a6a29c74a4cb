"""A new user's first hour with the command line (issue 12): names that leak, resume state
beside the outputs, unreadable outputs, counts, skipped files, re-runs, Ctrl-C, typos,
piped output and the language. Every check runs the installed ``crowdveil`` script."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from crowdveil.cli import EXIT
from crowdveil.io.naming import identifying_name_reasons
from crowdveil.runner.manifest import MANIFEST_NAME, manifest_path

from helpers import face_on_background, jpeg_with_phone_metadata, sha256

EXE = Path(sys.executable).with_name("crowdveil")
ROOT = Path(__file__).resolve().parents[1]


def crowdveil(*args, env=None, cwd=None, umask: str | None = None, timeout=300):
    """The installed script, as a user runs it; stdout is a pipe (not a terminal) unless ``env`` forces one."""
    environ = dict(os.environ, **(env or {}))
    environ.setdefault("LANG", "en_US.UTF-8")
    environ.pop("CROWDVEIL_LANG", None)
    command = [str(EXE), *map(str, args)]
    if umask is not None:
        command = ["sh", "-c", f'umask {umask}; exec "$@"', "sh", *command]
    return subprocess.run(command, capture_output=True, text=True, env=environ, cwd=cwd, timeout=timeout)


def one_face_png(path: Path, size=(320, 240), face=(100, 50, 110)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels, _ = face_on_background(*size, faces=(face,))
    Image.fromarray(pixels).save(path)
    return path


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


# -- 1. names ----------------------------------------------------------------------------------------


def test_neutral_names_number_the_outputs_and_show_the_mapping_only_to_the_user(tmp_path):
    folder = tmp_path / "march"
    folder.mkdir()
    pixels, _ = face_on_background(320, 240, faces=((100, 50, 110),))
    jpeg_with_phone_metadata(folder / "PXL_20250301_143022123_Maria_at_march.jpg", pixels)
    one_face_png(folder / "sub" / "IMG_0042.png")
    out = tmp_path / "clean"
    report = tmp_path / "report.json"
    run = crowdveil(folder, "--out", out, "--names", "neutral", "--fast", "--report", report)
    assert run.returncode == EXIT["ok"], run.stdout + run.stderr
    assert files_under(out) == ["sub/veiled-0002.png", "veiled-0001.jpg"], "numbered in the walk's order"
    lines = run.stdout.splitlines()
    assert any("PXL_20250301_143022123_Maria_at_march.jpg" in line and "veiled-0001.jpg" in line for line in lines), run.stdout
    files = {f["source"]: f["destination"] for f in json.loads(report.read_text())["files"]}
    assert files == {"PXL_20250301_143022123_Maria_at_march.jpg": "veiled-0001.jpg", "IMG_0042.png": "veiled-0002.png"}
    assert "repeat the original's name" not in run.stderr
    # Nothing in the output folder (names, hidden files) carries the originals' names.
    assert not [p for p in out.rglob("*") if "Maria" in p.name or "2025" in p.name or p.name.startswith(".")]
    # The same command again: the same names, skipped as done.
    again = crowdveil(folder, "--out", out, "--names", "neutral", "--fast")
    assert again.returncode == EXIT["ok"] and "2 already done by an earlier run, skipped" in again.stdout, again.stdout
    assert files_under(out) == ["sub/veiled-0002.png", "veiled-0001.jpg"]


def test_kept_names_that_tell_the_camera_time_or_words_are_warned_about(tmp_path):
    telling = one_face_png(tmp_path / "a" / "PXL_20250301_143022123_Maria_at_march.png")
    run = crowdveil(telling, "--fast")
    assert run.returncode == EXIT["ok"], run.stdout + run.stderr
    assert (telling.parent / "PXL_20250301_143022123_Maria_at_march.veiled.png").is_file()
    warning = " ".join(run.stderr.split())
    assert "1 output name(s) repeat the original's name" in warning and "--names neutral" in warning, warning
    for reason in ("a camera or phone name", "a date", "a time", "words"):
        assert reason in warning
    plain = one_face_png(tmp_path / "b" / "0007.png")
    quiet_name = crowdveil(plain, "--fast")
    assert quiet_name.returncode == EXIT["ok"] and "repeat the original's name" not in quiet_name.stderr


@pytest.mark.parametrize(("name", "reasons"), [
    ("PXL_20250301_143022123_Maria_at_march.jpg", ["device", "date", "time", "words"]),
    ("IMG_0042.HEIC", ["device"]), ("DSC01234.JPG", ["device"]), ("VID_20240612_181500.mp4", ["device", "date", "time"]),
    ("Screenshot_2024-05-01-10-22-33.png", ["device", "date", "time"]), ("2024-05-01 10.22.33.jpg", ["date", "time"]),
    ("protest_lisbon.jpg", ["words"]), ("0007.png", []), ("veiled-0001.jpg", []), ("a.png", []),
])
def test_what_makes_a_name_telling(name, reasons):
    assert identifying_name_reasons(name) == reasons


# -- 2. resume state outside the output folder ---------------------------------------------------------


def test_the_output_folder_holds_only_outputs_and_the_state_is_private(tmp_path, private_state_home):
    src = one_face_png(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    run = crowdveil(src.parent, "--out", out, "--fast")
    assert run.returncode == EXIT["ok"], run.stdout + run.stderr
    assert files_under(out) == ["a.veiled.png"], "no manifest, no hidden file among what people share"
    state = manifest_path(out)
    assert state.is_file() and str(state).startswith(str(private_state_home))
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700 and stat.S_IMODE(state.parent.parent.stat().st_mode) == 0o700
    assert [json.loads(line)["event"] for line in state.read_text().splitlines()] == ["started", "committing", "done"]
    # A manifest an older crowdveil left in the folder is taken over (resume goes on) and removed from it.
    (out / MANIFEST_NAME).write_text(state.read_text())
    state.unlink()
    again = crowdveil(src.parent, "--out", out, "--fast")
    assert again.returncode == EXIT["ok"] and "1 already done by an earlier run, skipped" in again.stdout, again.stdout
    assert files_under(out) == ["a.veiled.png"] and state.is_file()


def test_a_link_planted_at_the_state_folder_is_refused(tmp_path, private_state_home):
    src = one_face_png(tmp_path / "in" / "a.png")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (private_state_home / "crowdveil").symlink_to(elsewhere, target_is_directory=True)
    run = crowdveil(src, "--out", tmp_path / "out", "--fast")
    assert run.returncode == EXIT["failed"] and "XDG_STATE_HOME" in run.stderr, run.stdout + run.stderr
    assert list(elsewhere.iterdir()) == []


# -- 3. modes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [("022", 0o644), ("077", 0o600), ("002", 0o664)])
def test_outputs_follow_the_umask(tmp_path, umask, mode):
    src = one_face_png(tmp_path / "in" / "a.png")
    run = crowdveil(src, "--out", tmp_path / "out", "--fast", umask=umask)
    assert run.returncode == EXIT["ok"], run.stdout + run.stderr
    assert stat.S_IMODE((tmp_path / "out" / "a.veiled.png").stat().st_mode) == mode


def test_temp_files_stay_private_until_committed(tmp_path):
    from crowdveil.io.output import PendingOutput

    previous = os.umask(0o022)
    try:
        with PendingOutput(tmp_path / "x.png") as pending:
            pending.write(b"unverified")
            assert stat.S_IMODE(pending.path.stat().st_mode) == 0o600
            pending.commit(overwrite=False)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "x.png").stat().st_mode) == 0o644


# -- 4. on PATH ----------------------------------------------------------------------------------------


def test_readme_says_how_to_get_the_command_and_make_install_links_it():
    readme = (ROOT / "README.md").read_text()
    assert readme.splitlines()[3].startswith("make run") and readme.splitlines()[4].startswith("make test")
    assert "source .venv/bin/activate" in readme and "make install" in readme
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^install: ", makefile, re.M) and "ln -sf" in makefile and "bin/crowdveil" in makefile


def test_a_link_to_the_venv_script_runs_from_anywhere_on_path(tmp_path):
    """What ``make install`` does: ~/.local/bin/crowdveil → .venv/bin/crowdveil; the script finds its venv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "crowdveil").symlink_to(EXE)
    run = subprocess.run(["crowdveil", "--version"], capture_output=True, text=True, cwd=tmp_path,
                         env=dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin"))
    assert run.returncode == 0 and "crowdveil" in run.stdout, run.stderr


# -- 5. regions, and large covers ------------------------------------------------------------------------


def test_regions_are_counted_as_regions_and_a_large_cover_is_said(tmp_path):
    big = one_face_png(tmp_path / "in" / "close_up.png", size=(320, 240), face=(90, 20, 200))
    small = one_face_png(tmp_path / "in" / "small.png", size=(640, 480), face=(100, 50, 60))
    report = tmp_path / "r.json"
    run = crowdveil(tmp_path / "in", "--out", tmp_path / "out", "--fast", "--report", report)
    assert run.returncode == EXIT["ok"], run.stdout + run.stderr
    files = {f["source"]: f for f in json.loads(report.read_text())["files"]}
    pct = files["close_up.png"]["painted_pct"]
    assert pct > 25 and files["small.png"]["painted_pct"] < 25
    note = f"{pct:.0f} % of close_up.png is covered: check it in the studio"
    assert note in run.stdout and note in files["close_up.png"]["notes"]
    assert not any("is covered" in n for n in files["small.png"]["notes"])
    assert "1 more than a quarter covered" in run.stdout
    assert "region(s) covered" in run.stdout and "face" not in run.stdout.lower()
    # The same command again skips the file and still says so.
    again = crowdveil(tmp_path / "in", "--out", tmp_path / "out", "--fast")
    assert "2 already done" in again.stdout and note in again.stdout, again.stdout
    # On a terminal, the table's column says regions too.
    table = crowdveil(big, small, "--out", tmp_path / "out2", "--fast", env={"FORCE_COLOR": "1", "COLUMNS": "200"})
    header = next(line for line in table.stdout.splitlines() if "metadata removed" in line)
    assert "regions" in header and "faces" not in header, table.stdout


def test_a_video_frame_painted_over_a_quarter_is_said(tmp_path):
    from test_video import make_clip

    clip = tmp_path / "march.mp4"
    make_clip(clip, frames=6)
    report = tmp_path / "r.json"
    run = crowdveil(clip, "--fast", "--padding", "2", "--report", report)
    assert run.returncode == EXIT["ok"], run.stdout + run.stderr
    entry = json.loads(report.read_text())["files"][0]
    assert entry["painted_pct"] > 25 and isinstance(entry["video"]["painted_max_frame"], int)
    note = f"{entry['painted_pct']:.0f} % of frame {entry['video']['painted_max_frame']} of march.mp4 is covered"
    assert note in run.stdout and any(note in n for n in entry["notes"])
    # 10. a note that matters reaches the screen, not only the report.
    assert "audio dropped (voices identify people)" in run.stdout


# -- 6. skipped files ------------------------------------------------------------------------------


def test_folder_runs_say_which_files_they_skipped(tmp_path):
    folder = tmp_path / "in"
    one_face_png(folder / "a.png")
    (folder / "notes.txt").write_text("meet at 5")
    (folder / "flyer.pdf").write_bytes(b"%PDF-1.4")
    (folder / ".DS_Store").write_bytes(b"")
    run = crowdveil(folder, "--out", tmp_path / "out", "--fast")
    assert run.returncode == EXIT["ok"], run.stdout + run.stderr
    assert "2 file(s) skipped (not photos or videos): flyer.pdf, notes.txt" in run.stdout
    only = tmp_path / "only_text"
    only.mkdir()
    (only / "notes.txt").write_text("x")
    none = crowdveil(only)
    assert none.returncode == EXIT["usage"] and "1 file(s) skipped (not photos or videos): notes.txt" in none.stdout


# -- 7. the same command twice ---------------------------------------------------------------------------


def test_running_the_same_command_twice_beside_the_originals_skips_what_was_verified(tmp_path):
    src = one_face_png(tmp_path / "in" / "a.png")
    first = crowdveil(src, "--fast")
    assert first.returncode == EXIT["ok"], first.stdout + first.stderr
    output = src.with_name("a.veiled.png")
    digest = sha256(output)
    again = crowdveil(src, "--fast")
    assert again.returncode == EXIT["ok"], again.stdout + again.stderr
    assert "already done by an earlier run" in again.stdout and sha256(output) == digest
    assert sorted(p.name for p in src.parent.iterdir()) == ["a.png", "a.veiled.png"], "nothing of ours among the originals"
    # Other settings make another output: the verified one is not theirs, so it is refused, not replaced.
    other = crowdveil(src, "--fast", "--style", "mosaic")
    assert other.returncode == EXIT["failed"] and "already exists" in other.stdout and "--overwrite" in other.stdout
    # A file at the output's name that crowdveil did not verify is never taken as done.
    output.write_bytes(src.read_bytes())
    planted = crowdveil(src, "--fast")
    assert planted.returncode == EXIT["failed"] and "already exists" in planted.stdout
    assert "already done" not in planted.stdout


# -- 8. Ctrl-C -------------------------------------------------------------------------------------------


def test_ctrl_c_says_finished_files_were_kept_and_how_to_continue(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(8):
        pixels, _ = face_on_background(640, 480, faces=((60 + 7 * i, 40, 150),), seed=i)
        jpeg_with_phone_metadata(folder / f"img{i:02d}.jpg", pixels)
    out = tmp_path / "out"
    env = dict(os.environ, LANG="en_US.UTF-8")
    # Ctrl-C as a terminal sends it: a suite started as a background job (``make test &``) hands its
    # children SIGINT ignored, and a program started that way rightly keeps ignoring it.
    proc = subprocess.Popen([str(EXE), str(folder), "--out", str(out), "--fast"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (out.is_dir() and [p for p in out.iterdir() if not p.name.startswith(".")]):
        assert proc.poll() is None and time.monotonic() < deadline, "no output before the end"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == EXIT["interrupted"], stdout + stderr
    said = " ".join(stderr.split())
    assert "the files already finished were kept" in said and "Run the same command again to continue" in said, said
    finished = len([p for p in out.iterdir() if not p.name.startswith(".")])
    assert 1 <= finished < 8
    again = crowdveil(folder, "--out", out, "--fast")
    assert again.returncode == EXIT["ok"] and f"{finished} already done by an earlier run, skipped" in again.stdout


# -- 9. a mistyped command ------------------------------------------------------------------------------


def test_a_mistyped_command_is_suggested_once(tmp_path):
    photo = one_face_png(tmp_path / "x.png")
    run = crowdveil("audti", photo, cwd=tmp_path)
    printed = run.stdout + run.stderr
    assert run.returncode == EXIT["usage"], printed
    assert printed.count("did you mean audit?") == 1 and "does not exist" not in printed, printed
    assert not list(tmp_path.glob("*.veiled.*"))
    # A file that exists is a file, whatever its name.
    doctor_like = tmp_path / "doctr"
    one_face_png(tmp_path / "doctr.png").rename(doctor_like)
    run = crowdveil("doctr", "--fast", cwd=tmp_path)
    assert "did you mean" not in run.stdout + run.stderr and (tmp_path / "doctr.veiled.png").is_file()


# -- 10. piped output ------------------------------------------------------------------------------------


def test_piped_output_is_one_plain_line_per_file(tmp_path):
    name = "a_rather_long_file_name_from_a_phone_that_would_wrap_a_table_at_eighty_columns.png"
    src = one_face_png(tmp_path / "in" / name)
    run = crowdveil(src.parent, "--out", tmp_path / "out", "--fast")
    assert run.returncode == EXIT["ok"], run.stdout + run.stderr
    line = next(line for line in run.stdout.splitlines() if name in line)
    assert name.replace(".png", ".veiled.png") in line and "1 region(s) covered" in line and "checks 3/3 passed" in line
    assert not re.search("[━─│┃╇┡]", run.stdout), run.stdout


# -- 16. language ----------------------------------------------------------------------------------------


def test_the_cli_speaks_simplified_chinese_from_the_locale(tmp_path):
    folder = tmp_path / "in"
    one_face_png(folder / "a.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("x")
    run = crowdveil(folder, "--out", tmp_path / "out", "--fast", env={"LANG": "zh_CN.UTF-8"})
    assert run.returncode == EXIT["failed"], run.stdout + run.stderr
    out = run.stdout
    assert "2 个文件中 1 个已匿名处理并通过检查" in out and "跳过 1 个文件（不是照片或视频）：notes.txt" in out, out
    assert "失败" in out and "文件已损坏或不完整" in out and "请从来源重新导出或重新复制" in out, out
    assert "anonymized and verified" not in out and "what to do" not in out
    # --lang beats the locale; the help is translated too.
    english = crowdveil(folder, "--out", tmp_path / "out", "--fast", "--lang", "en", env={"LANG": "zh_CN.UTF-8"})
    assert "anonymized and verified" in english.stdout and "已匿名处理" not in english.stdout
    chinese = crowdveil("--lang", "zh-CN", "audti", folder / "a.png")
    assert "你是想用 audit 吗" in chinese.stderr, chinese.stderr
    for args in (["--help"], ["anonymize", "--help"], ["audit", "--help"], ["doctor", "--help"], ["demo", "--help"]):
        helped = crowdveil(*args, env={"LANG": "zh_CN.UTF-8"})
        assert helped.returncode == 0 and re.search("[\u4e00-\u9fff]", helped.stdout), (args, helped.stdout, helped.stderr)
        assert not re.search(r"\b(?:opt|cli)\.[a-z_.]+\b", helped.stdout), helped.stdout


def test_a_typed_error_is_translated_at_the_cli(tmp_path):
    raw = tmp_path / "IMG_0001.dng"
    raw.write_bytes(b"II*\x00\x08\x00\x00\x00" + bytes(64))
    run = crowdveil(raw, env={"LANG": "zh_CN.UTF-8"})
    assert run.returncode == EXIT["failed"]
    # A RAW file LibRaw cannot develop: the headline and the export hint, both in Chinese.
    assert "不支持这种格式" in run.stdout and "请先转换为 JPEG：在相机应用或 RAW 编辑软件" in run.stdout, run.stdout


def test_every_library_error_and_hint_has_a_catalog_message():
    """A new error class or a new hint in the library fails here until the CLI catalog says it."""
    from crowdveil import errors
    from crowdveil.i18n import LANGUAGES, catalog
    from crowdveil.ui import ERROR_IDS

    english = catalog("cli", "en").messages()
    for name in errors.__all__:
        assert name in ERROR_IDS and ERROR_IDS[name] in english, name
    hints = {text for key, text in english.items() if key.startswith("hint.")}
    patterns = [re.compile(re.escape(t).replace(re.escape("{command}"), ".+")) for t in hints if "{command}" in t]
    src = Path(errors.__file__).parent
    for path in src.rglob("*.py"):
        if {"studio", "bench"} & set(path.relative_to(src).parts):
            continue
        text = path.read_text()
        for match in re.finditer(r'\bhint\s*=\s*((?:f?"[^"]*"\s*)+)', text):
            hint = "".join(re.findall(r'f?"([^"]*)"', match.group(1)))
            if "{" in hint:
                assert any(p.fullmatch(re.sub(r"{[^}]*}", "x", hint)) for p in patterns), (path.name, hint)
            else:
                assert hint in hints, (path.name, hint)
    for language in LANGUAGES:
        assert set(catalog("cli", language).messages()) == set(english)


def test_each_failure_is_printed_once(tmp_path):
    folder = tmp_path / "in"
    one_face_png(folder / "a.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    for env in ({}, {"FORCE_COLOR": "1", "COLUMNS": "200"}):
        run = crowdveil(folder, "--out", tmp_path / "out", "--fast", env=env)
        assert run.returncode == EXIT["failed"]
        assert run.stdout.count("could not be decoded") == 1 and run.stdout.count("what to do") == 1, (env, run.stdout)
        assert not env or "FAILED" in run.stdout


def test_neutral_names_beside_the_originals_are_not_taken_for_inputs_on_the_next_run(tmp_path):
    folder = tmp_path / "march"
    one_face_png(folder / "IMG_0001.png")
    one_face_png(folder / "IMG_0002.png", face=(60, 40, 100))
    first = crowdveil(folder, "--names", "neutral", "--fast")
    assert first.returncode == EXIT["ok"], first.stdout + first.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["IMG_0001.png", "IMG_0002.png", "veiled-0001.png", "veiled-0002.png"]
    again = crowdveil(folder, "--names", "neutral", "--fast")
    assert again.returncode == EXIT["ok"] and "2 of 2 file(s)" in again.stdout and "2 already done" in again.stdout, again.stdout


def test_every_translated_note_still_matches_what_the_library_writes():
    """The CLI translates some library notes by their English text; a reworded note must fail here, not go untranslated."""
    from crowdveil import ui

    src = Path(ui.__file__).parent
    written = []
    for path in src.rglob("*.py"):
        for match in re.finditer(r'notes?(?:\.append\(|\s*\+=\s*\[|\.append\(\s*)\s*f?"([^"]+)"', path.read_text()):
            written.append(re.sub(r"{[^}]*}", "7", match.group(1)))
    for pattern, message_id in ui._NOTE_IDS:
        assert any(pattern.match(text) for text in written), message_id
