"""Opening an original: regular files only, read no further than their size.

A name in a folder can be a FIFO (opening it waits forever for a writer),
a link to a device such as ``/dev/zero`` (reading never ends), or a link
loop. Each of those is refused as that file's own input error, so a batch
goes on with the rest instead of hanging or aborting.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ..errors import CorruptInput, InputError, NotARegularFile

__all__ = ["read_regular_file"]

_CHUNK = 1 << 20


def read_regular_file(path: str | os.PathLike[str], *, limit: int | None = None) -> bytes:
    """The bytes of the regular file at ``path`` (the first ``limit`` of them if given).

    Raises:
        InputError: missing, a folder, a link loop, not a regular file.
        CorruptInput: it cannot be read.
    """
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise InputError(f"{path} does not exist", hint="Check the path.") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path} is a folder", hint="Pass files, or a folder to the CLI (it walks folders).") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotARegularFile(f"{path} is a symbolic link that loops") from exc
        raise CorruptInput(f"cannot read {path}: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{path} is a folder", hint="Pass files, or a folder to the CLI (it walks folders).")
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(f"{path} is not a regular file (a pipe, socket or device)")
        os.set_blocking(fd, True)
        wanted = info.st_size if limit is None else min(limit, info.st_size)
        chunks, size = [], 0
        while size < wanted:
            chunk = os.read(fd, min(_CHUNK, wanted - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise CorruptInput(f"cannot read {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
