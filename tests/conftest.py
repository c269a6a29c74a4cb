"""Shared fixtures (the helpers they use are in ``helpers.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CHROMIUM, CHROMIUM_ARGS, face_on_background, jpeg_with_phone_metadata


@pytest.fixture(autouse=True)
def private_state_home(tmp_path_factory, monkeypatch) -> Path:
    """Resume manifests go to ``$XDG_STATE_HOME``: a fresh one per test (subprocesses inherit it),
    never the real home."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


@pytest.fixture(scope="session")
def fast_detector():
    """Whole-image CenterFace: enough for tests on small, clear faces."""
    from crowdveil.detect.centerface import CenterFace

    return CenterFace(threshold=0.3)


@pytest.fixture
def face_jpeg(tmp_path) -> tuple[Path, list]:
    pixels, boxes = face_on_background()
    return jpeg_with_phone_metadata(tmp_path / "face.jpg", pixels), boxes


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
