"""The sha256 of a file, read in blocks: a video is never held in memory to be hashed."""

from __future__ import annotations

import hashlib
import os

__all__ = ["sha256_file"]

_BLOCK = 1 << 20


def sha256_file(path: str | os.PathLike[str], *, prefix: bytes = b"") -> str:
    """Hex sha256 of ``prefix`` followed by the file's bytes (a prefix separates one use of a digest from another).

    Raises:
        OSError: the file cannot be opened or read.
    """
    digest = hashlib.sha256(prefix)
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()
