"""Run the real ``crowdveil`` CLI over a folder of real camera files and judge
every output with exiftool: the per-file outcome table of issue 5 part 1.

    .venv/bin/python scripts/real_samples.py [SAMPLES] [WORK] [-- extra crowdveil options]

SAMPLES defaults to ../shared/data/metadata_samples (read-only, never
modified: each original's sha256 is checked after the run), WORK to
/tmp/crowdveil-real-samples (outputs, the JSON report and table.md).

Each file either comes out clean (exiftool ``-a -G1 -ee -u`` shows only the
structural allowlist of ``tests/exiftool_allowlist.py``) or is refused with
the CLI's reason. Prints a Markdown table and exits 1 when any output
still shows a non-structural tag or an original changed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from exiftool_allowlist import STRUCTURAL, non_structural  # noqa: E402

DEFAULT_SAMPLES = ROOT.parent / "shared" / "data" / "metadata_samples"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def exiftool(paths: list[Path]) -> dict[str, dict]:
    if not paths:
        return {}
    out = subprocess.run(["exiftool", "-j", "-a", "-G1", "-ee", "-u", *map(str, paths)], capture_output=True, text=True)
    return {rec["SourceFile"]: rec for rec in json.loads(out.stdout or "[]")}


def main(argv: list[str]) -> int:
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = argv[: argv.index("--")] if "--" in argv else argv
    samples = Path(args[0]) if args else DEFAULT_SAMPLES
    work = Path(args[1]) if len(args) > 1 else Path("/tmp/crowdveil-real-samples")
    shutil.rmtree(work, ignore_errors=True)
    out_dir, report_path = work / "out", work / "report.json"
    work.mkdir(parents=True)
    originals = sorted(p for p in samples.rglob("*") if p.is_file() and p.name != "INVENTORY.tsv")
    before = {p: sha256(p) for p in originals}
    exe = Path(sys.executable).with_name("crowdveil")
    started = time.perf_counter()
    # Every file by name, so files the folder walk would skip (odd suffixes) are judged too.
    run = subprocess.run([str(exe), *map(str, originals), "--out", str(out_dir), "--report", str(report_path), "-q", *extra],
                         capture_output=True, text=True)
    seconds = time.perf_counter() - started
    reports = {str(Path(f["source"])): f for f in json.loads(report_path.read_text())["files"]}
    outputs = [Path(r["destination"]) for r in reports.values() if r["passed"]]
    tags = exiftool(outputs)
    rows, leaks = [], 0
    for src in originals:
        rel = src.relative_to(samples)
        r = reports.get(str(src))
        if r is None:
            rows.append((str(rel), "MISSING", "no report for this file"))
            leaks += 1
            continue
        if r["passed"]:
            record = tags.get(r["destination"], {"?": "exiftool could not read the output"})
            extra_tags = non_structural(record)
            stored = sorted(k for k in record if k in STRUCTURAL)  # what the file itself still holds
            if extra_tags:
                leaks += 1
                rows.append((str(rel), "LEAK", "non-structural tags remain: " + ", ".join(sorted(extra_tags))))
            else:
                removed = ", ".join(r.get("metadata_removed", [])) or "none"
                detail = f"removed: {removed}; faces: {r.get('face_count', 0)}; exiftool shows only: {', '.join(stored)}"
                rows.append((str(rel), f"clean → {Path(r['destination']).suffix[1:]}", detail))
        else:
            rows.append((str(rel), "refused", (r.get("error") or "").replace("|", "\\|")))
    changed = [p for p in originals if sha256(p) != before[p]]
    lines = ["| file | outcome | detail |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    clean = sum(1 for _, b, _ in rows if b.startswith("clean"))
    refused = sum(1 for _, b, _ in rows if b == "refused")
    summary = (f"\n{len(originals)} files: {clean} clean, {refused} refused, {leaks} leaking or missing; "
               f"CLI exit {run.returncode} in {seconds:.0f} s; originals changed: {len(changed)}")
    table = "\n".join(lines) + summary + "\n"
    (work / "table.md").write_text(table)
    (work / "cli_stderr.txt").write_text(run.stderr)
    print(table)
    return 1 if leaks or changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
