"""The manifest's rounds (``Manifest.group_commit``): what the cluster driver writes per round of answers.

Inside a round, lines wait in memory; at its end they go out in one write and
one fsync, before any worker is told they are recorded. Outside a round
(the local runner) every line is written and fsync'd at once. And what makes a line
of an earlier run count as done (``settings_digest``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crowdveil import Config
from crowdveil.runner.manifest import Manifest, manifest_path, relative_name

DIGEST = "d" * 64


@pytest.fixture
def fsyncs(monkeypatch):
    calls = []
    real = os.fsync

    def counting(fd):
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


def _lines(folder: Path) -> list[str]:
    return manifest_path(folder).read_text(encoding="utf-8").splitlines()


def test_a_round_is_one_write_and_one_fsync_at_its_end(tmp_path, fsyncs):
    out = tmp_path / "out"
    with Manifest(out, Config()) as manifest:
        before, synced = len(_lines(out)), len(fsyncs)
        with manifest.group_commit():
            for i in range(50):
                key = f"{i:064x}"
                manifest.record_started_for(key, DIGEST, [])
                manifest.record_committing_for(key, out / f"p{i}.veiled.jpg", "a" * 64)
                manifest.record_done_for(key, None, str(out / f"p{i}.veiled.jpg"), "a" * 64, [], [])
            assert len(_lines(out)) == before, "nothing may reach the file before the round ends"
        assert len(fsyncs) == synced + 1
        assert len(_lines(out)) == before + 150
        # Outside a round every line is on disk, fsync'd, before the call returns.
        manifest.record_started_for("e" * 64, DIGEST, [])
        assert len(fsyncs) == synced + 2 and len(_lines(out)) == before + 151
    with Manifest(out, Config()) as again:
        prior = again.lookup(f"{7:064x}", DIGEST)
        assert prior.done is not None and prior.done["output"] == "p7.veiled.jpg"


def test_the_lines_of_a_round_that_raised_are_written_too(tmp_path):
    out = tmp_path / "out"
    with Manifest(out, Config()) as manifest:
        with pytest.raises(RuntimeError):
            with manifest.group_commit():
                manifest.record_started_for("f" * 64, DIGEST, ["x.veiled.jpg"])
                raise RuntimeError("the driver failed mid-round")
    with Manifest(out, Config()) as again:
        assert again.lookup("f" * 64, DIGEST).preexisting == ("x.veiled.jpg",)


@pytest.mark.parametrize("name", ["a.jpg", "sub/a.jpg", "sub//a.jpg", "./a.jpg", "sub/./a.jpg", "sub/", "..",
                                  "../x.jpg", ".", "a/."])
def test_output_names_are_the_same_as_pathlib_gives(tmp_path, name):
    for folder in (tmp_path / "out", Path("relative/out")):
        manifest = Manifest(folder, Config())
        for output in (f"{folder}/{name}", Path(f"{folder}/{name}"), f"/elsewhere/{name}"):
            assert manifest._rel(output) == relative_name(folder, Path(output))


def test_work_done_with_other_weights_is_not_done(monkeypatch):
    import dataclasses

    from crowdveil.detect import weights
    from crowdveil.runner.manifest import settings_digest

    before = settings_digest(Config())
    assert settings_digest(Config(overwrite=True)) == before  # overwriting changes no output byte
    retrained = dataclasses.replace(weights.CANDIDATE_CLASSIFIER, sha256="0" * 64)
    monkeypatch.setattr(weights, "ALL", tuple(retrained if w is weights.CANDIDATE_CLASSIFIER else w for w in weights.ALL))
    assert settings_digest(Config()) != before
