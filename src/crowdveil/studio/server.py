"""Serving the studio on 127.0.0.1, on a free port, with uvicorn.

The socket is bound before the app is built, so the guard knows the exact
port it must see in every ``Host`` header.
"""

from __future__ import annotations

import html
import os
import secrets
import signal
import socket
import threading
import time
from pathlib import Path

import uvicorn

from .app import create_app
from .workspace import Workspace

__all__ = ["StudioServer", "LAUNCHER_NAME", "STOP_SIGNALS"]

LAUNCHER_NAME = "open-studio.html"
# Closing the terminal sends SIGHUP, Ctrl-\\ SIGQUIT: both would end the process at once and leave the
# private folder (uploaded originals, previews) behind. uvicorn itself handles SIGINT and SIGTERM.
STOP_SIGNALS = (signal.SIGHUP, signal.SIGQUIT)


class StudioServer:
    """The studio on ``127.0.0.1:<port>`` (0: any free port).

    ``run()`` serves in the calling thread until Ctrl-C, ``kill``, a closed
    terminal or Ctrl-\\; ``start()`` / ``stop()`` (or ``with``) serve from a
    background thread. Either way the workspace's private folder is deleted
    when serving ends.
    """

    def __init__(self, workspace: Workspace, port: int = 0) -> None:
        self.workspace = workspace
        self.token = secrets.token_urlsafe(32)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", port))
        # Listening now lets a browser opened before uvicorn starts wait in the backlog.
        self.socket.listen(128)
        self.port = self.socket.getsockname()[1]
        self.app = create_app(workspace, port=self.port, token=self.token)
        self._server = uvicorn.Server(uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="on", server_header=False, date_header=False,
            ws="none",
        ))
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The one-time link: works for the first visit only."""
        return f"{self.origin}/?token={self.token}"

    def write_launcher(self) -> Path:
        """A page (mode 0600, in the private folder) that sends a browser on to the one-time link.

        A browser is opened on this file rather than on the link itself: the
        command line of a starting browser is readable by every local user
        (``/proc/*/cmdline``), and a watcher could spend the link first.
        """
        url = html.escape(self.url, quote=True)
        path = self.workspace.private_dir / LAUNCHER_NAME
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f'<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer">'
                     f'<meta http-equiv="refresh" content="0;url={url}"><title>crowdveil studio</title>'
                     f'<p><a href="{url}">Open crowdveil studio</a></p>\n')
        return path

    def run(self) -> None:
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                previous[signum] = signal.signal(signum, self._stop_on_signal)
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self.workspace.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _stop_on_signal(self, signum, frame) -> None:
        self._server.should_exit = True

    def start(self) -> "StudioServer":
        self._thread = threading.Thread(target=self.run, name="crowdveil-studio-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the studio server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.workspace.close()

    def __enter__(self) -> "StudioServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
