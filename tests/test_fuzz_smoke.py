"""The fuzzers in ``fuzz/`` run briefly in CI: a few hundred atheris executions
each over the project-made seed corpus, in a subprocess, exactly as a long run
starts them. A crash, a hang or a broken harness fails the test. The long runs
(10+ minutes per harness) are described in fuzz/README.md."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
sys.path.insert(0, str(FUZZ))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from make_corpus import build

    return build(tmp_path_factory.mktemp("seeds"))


# The memory libFuzzer allows the harness itself.
FUZZ_RSS_BUDGET_MB = 2048


def _fuzz(harness: str, seeds: Path, runs: int, work: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CROWDVEIL_THREADS": "1"}
    work.mkdir(parents=True, exist_ok=True)
    # libFuzzer reads its peak RSS from getrusage, and Linux hands a child the peak of
    # the process that forked it: after the pipeline tests this pytest process has
    # peaked near 2 GB, which the fuzzer would count as its own and stop as out of memory.
    inherited_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return subprocess.run(
        [sys.executable, str(FUZZ / harness), str(work / "new"), str(seeds), f"-runs={runs}", "-timeout=60",
         f"-rss_limit_mb={inherited_mb + FUZZ_RSS_BUDGET_MB}",
         f"-artifact_prefix={work}/", "-seed=1", "-print_final_stats=1"],
        capture_output=True, text=True, timeout=600, env=env, cwd=work,
    )


def _executions(output: str) -> int:
    match = re.search(r"stat::number_of_executed_units:\s*(\d+)", output)
    assert match, output[-3000:]
    return int(match.group(1))


@pytest.mark.parametrize("harness,runs", [("fuzz_photo.py", 300), ("fuzz_audit.py", 3000)])
def test_fuzzer_runs_clean(tmp_path, corpus, harness, runs):
    (tmp_path / "new").mkdir()
    seeds = Path(corpus["photo" if harness == "fuzz_photo.py" else "audit"][0]).parent
    result = _fuzz(harness, seeds, runs, tmp_path)
    output = result.stdout + result.stderr
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-", "leak-"))]
    assert result.returncode == 0 and not crashes, f"{harness} found {crashes}:\n{output[-4000:]}"
    assert _executions(output) >= runs


def test_harness_invariants_hold_on_every_seed(corpus):
    """The same checks in-process on every seed, so a failure names the seed."""
    import fuzz_audit
    import fuzz_photo

    for path in corpus["photo"]:
        fuzz_photo.TestOneInput(path.read_bytes())
    for path in corpus["audit"]:
        fuzz_audit.TestOneInput(path.read_bytes())


def test_photo_harness_catches_a_broken_invariant(corpus, monkeypatch):
    """A harness that cannot fail proves nothing: an untyped error inside the
    pipeline must surface as a crash, not be swallowed."""
    import fuzz_photo

    def broken(*args, **kwargs):
        raise KeyError("an untyped error escaping the library")

    monkeypatch.setattr(fuzz_photo, "anonymize", broken)
    seed = next(p for p in corpus["photo"] if p.name == "phone.jpg")
    with pytest.raises(KeyError):
        fuzz_photo.TestOneInput(seed.read_bytes())
