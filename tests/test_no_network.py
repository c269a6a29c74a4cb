"""No network, ever: anonymizing a photo and a video opens no socket.

While a run is watched, every socket operation (creation, connect, name
lookup: CPython's ``socket.*`` audit events, raised by ``_socket`` itself, so
no import path can bypass them) raises, and so does starting a child
process (a child could open sockets this process cannot see). The runs must
still succeed, through the library and through the CLI.
"""

from __future__ import annotations

import socket
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from crowdveil import Config, anonymize
from crowdveil.cli import EXIT, main

from helpers import face_on_background, jpeg_with_phone_metadata

_BLOCKED_PREFIXES = ("socket.", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.fork")
_watch = {"on": False, "seen": []}


def _audit(event: str, args) -> None:
    if _watch["on"] and event.startswith(_BLOCKED_PREFIXES):
        _watch["seen"].append(event)
        raise RuntimeError(f"crowdveil tried {event} while processing offline")


sys.addaudithook(_audit)  # hooks cannot be removed; this one acts only inside `offline()`


class _NoSocket(socket.socket):
    def __init__(self, *args, **kwargs):
        _watch["seen"].append("socket.socket()")
        raise RuntimeError("crowdveil tried to create a socket")


@contextmanager
def offline(monkeypatch):
    monkeypatch.setattr(socket, "socket", _NoSocket)
    monkeypatch.setattr(socket, "create_connection", _NoSocket)
    _watch.update(on=True, seen=[])
    try:
        yield _watch["seen"]
    finally:
        _watch["on"] = False


def test_the_guard_itself_catches_sockets_and_children(monkeypatch):
    """The guard must be able to fail, or the tests below prove nothing."""
    import _socket
    import subprocess

    with offline(monkeypatch) as seen:
        with pytest.raises(RuntimeError):
            socket.socket()
        with pytest.raises(RuntimeError):
            _socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # the C module, under any patch
        with pytest.raises(RuntimeError):
            socket.getaddrinfo("localhost", 80)
        with pytest.raises(RuntimeError):
            subprocess.run(["true"])
    assert len(seen) == 4


def _small_video(path: Path) -> Path:
    import av

    pixels, _ = face_on_background(320, 240, faces=((100, 40, 120),))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(10):
            frame = np.roll(pixels, i * 2, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_photo_through_the_library_opens_no_socket(tmp_path, monkeypatch, fast_detector):
    pixels, _ = face_on_background(320, 240, faces=((100, 40, 120),))
    src = jpeg_with_phone_metadata(tmp_path / "photo.jpg", pixels)
    with offline(monkeypatch) as seen:
        report = anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    assert report.passed and Path(report.destination).is_file()
    assert seen == []


def test_video_through_the_library_opens_no_socket(tmp_path, monkeypatch, fast_detector):
    src = _small_video(tmp_path / "clip.mp4")
    with offline(monkeypatch) as seen:
        report = anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    assert report.passed and Path(report.destination).is_file()
    assert seen == []


def test_cli_with_default_detectors_opens_no_socket(tmp_path, monkeypatch):
    """The whole command, model loading and weight checks included."""
    pixels, _ = face_on_background(320, 240, faces=((100, 40, 120),))
    (tmp_path / "in").mkdir()
    jpeg_with_phone_metadata(tmp_path / "in" / "photo.jpg", pixels)
    _small_video(tmp_path / "in" / "clip.mp4")
    with offline(monkeypatch) as seen:
        result = CliRunner().invoke(main, [str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--fast", "-q"])
    assert result.exit_code == EXIT["ok"], result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == ["clip.veiled.mp4", "photo.veiled.jpg"]
    assert seen == []
