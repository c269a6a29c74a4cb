"""Writing results: a temp file beside the destination, renamed only when
every check passed, so a crash, Ctrl-C, ``kill``, a closed terminal or a
failed check leaves no output."""

from __future__ import annotations

import errno
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

from ..errors import UnsafeOutputPath, WriteFailed

TEMP_MARK = ".crowdveil-tmp-"
# What ``kill`` (SIGTERM), closing the terminal (SIGHUP) and Ctrl-\\ (SIGQUIT) send: by default they
# end the process on the spot, leaving the unverified temp file behind.
TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def check_destination(src: Path, dst: Path, *, overwrite: bool) -> None:
    """Refuse to write over the original, or over an existing file unless asked."""
    if src.resolve() == dst.resolve() or (dst.exists() and src.exists() and os.path.samefile(src, dst)):
        raise UnsafeOutputPath(f"output {dst} is the input file; crowdveil never overwrites an original")
    if dst.exists() and not overwrite:
        raise UnsafeOutputPath(
            f"output {dst} already exists",
            hint="Delete it, choose another --out folder, or pass --overwrite to replace outputs.",
        )
    if dst.is_dir():
        raise UnsafeOutputPath(f"output {dst} is a folder", hint="Give a file name, or use --out DIR.")


class PendingOutput:
    """A temp file in the destination folder that becomes ``dst`` on ``commit``.

    Used as a context manager: leaving the block without ``commit`` (error,
    failed check, KeyboardInterrupt) deletes the temp file. While the temp
    file exists, the terminating signals unwind like Ctrl-C (from the main
    thread, and only those nobody else handles), so they delete it too.
    """

    def __init__(self, dst: Path) -> None:
        self.dst = Path(dst)
        self.path: Path | None = None
        self._committed = False
        self._previous_handlers: dict[int, Any] = {}

    def __enter__(self) -> "PendingOutput":
        self._interrupt_on_signals()
        try:
            self.dst.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix="." + self.dst.name + TEMP_MARK, dir=self.dst.parent)
            os.close(fd)
        except OSError as exc:
            self._restore_signals()
            raise _write_error(self.dst, exc) from exc
        self.path = Path(name)
        return self

    def _interrupt_on_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def interrupt(signum, frame):
            raise KeyboardInterrupt(signal.Signals(signum).name)

        for signum in TERMINATING_SIGNALS:
            if signal.getsignal(signum) == signal.SIG_DFL:
                self._previous_handlers[signum] = signal.signal(signum, interrupt)

    def _restore_signals(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers.clear()

    def write(self, data: bytes) -> None:
        assert self.path is not None
        try:
            with open(self.path, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise _write_error(self.dst, exc) from exc

    def read(self) -> bytes:
        assert self.path is not None
        return self.path.read_bytes()

    def commit(self, *, overwrite: bool) -> None:
        assert self.path is not None
        try:
            # mkstemp made the temp file 0600 so nobody reads it before it is verified; the
            # output itself is an ordinary file, readable as the user's umask says (0644 under 022).
            os.chmod(self.path, 0o666 & ~current_umask())
            if overwrite:
                os.replace(self.path, self.dst)
            else:
                # link() fails if dst appeared meanwhile: no silent clobbering.
                os.link(self.path, self.dst)
                os.unlink(self.path)
        except FileExistsError as exc:
            raise UnsafeOutputPath(f"output {self.dst} appeared while crowdveil was working") from exc
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EXDEV) and not self.dst.exists():
                os.replace(self.path, self.dst)  # file systems without hard links
            else:
                raise _write_error(self.dst, exc) from exc
        self._committed = True

    def __exit__(self, *exc_info) -> None:
        try:
            if not self._committed and self.path is not None:
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass
        finally:
            self._restore_signals()


def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (another thread may be creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _write_error(dst: Path, exc: OSError) -> WriteFailed:
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exhausted",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
    }
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    return WriteFailed(f"cannot write {dst}: {reason}; nothing was written")
