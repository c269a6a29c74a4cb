"""Which identifying metadata *kinds* a file carries, found by our own byte-level walk.

This does not trust any decoder's idea of "metadata" (Pillow's ``.info`` hides
whatever it does not understand). It walks the container structure itself and
classifies every segment, chunk, box, tag or element it meets: each one is
either on a short structural allowlist (listed in ``Audit.structural``) or a
``Finding`` of one of ``KINDS``. It never reports values, only kinds and where
they sit. Anything it cannot follow (bad sizes, offsets past the end, loops,
nesting too deep) becomes a ``"unparseable metadata"`` finding, never an
exception, so a damaged or hostile file can only ever fail closed.

Used to list what an input carried, as the verify step on every output, and by
``crowdveil audit``.

What our own outputs look like to the audit:

* Pillow ``Image.save`` JPEG / PNG / WebP / GIF / TIFF with no ``exif=``,
  ``icc_profile=``, ``comment=`` or ``pnginfo=``: clean (the JPEG's JFIF APP0
  has no thumbnail and is structural).
* pillow_heif HEIC without ``exif=``: clean; an RGBA one carries an alpha
  ``auxl`` item, listed as structural.
* PyAV H.264 MP4, default muxer options: ``software`` twice, from the
  ``moov/udta/meta/ilst/©too`` "Lavf…" encoder tag and from the x264 SEI
  message (x264 version and full option string) at the start of ``mdat``.
  With ``options={"fflags": "+bitexact"}`` the muxer drops ``©too`` (it still
  writes an empty ``udta/meta/hdlr+ilst``, which is structural) and the
  creation/modification times in ``mvhd/tkhd/mdhd`` stay zero, so only the
  SEI ``software`` finding remains. Removing SEI NAL units with the
  ``filter_units=remove_types=6`` bitstream filter
  (``av.bitstream.BitStreamFilterContext``) on every packet gives a clean MP4.
  Only the first 64 KiB of each ``mdat`` are searched for encoder strings;
  the audit does not otherwise look inside coded media samples.
* Setting container metadata ``creation_time`` fills ``mvhd/tkhd/mdhd``
  times (``timestamps``); ``location`` is written as 3GPP ``udta/loci`` in MP4
  and as ``udta/©xyz`` in MOV (``location``).

* PyAV Matroska/WebM: ``software`` from Info MuxingApp/WritingApp and the
  ENCODER tag, gone with ``+bitexact`` (the DURATION tag is structural); the
  encoder SEI is found in the first 64 KiB of each cluster. PyAV AVI: a LIST
  INFO ``text chunk`` (ISFT "Lavf…"), gone with ``+bitexact``; its JUNK index
  placeholders are structural.

Not covered: maker notes are flagged as a whole; inside them only Panasonic,
Nikon, Olympus/OM System and Sony notes are looked into (serials, face counts,
previews). Coded samples are not looked into beyond the encoder strings; AVI
``movi`` data is not scanned. BMP is reported as ``unknown``.

One module per container family, each with a ``parse_…(data, audit)`` function
(a ``base.Parser``): ``jpeg``, ``png``, ``riff`` (WebP, AVI), ``gif``, ``tiff``
(TIFF and TIFF-based RAW; the Exif blocks of every other family), ``isobmff``
(HEIF, AVIF, MP4, MOV, 3GP, CR3), ``matroska`` (MKV, WebM), ``jxl``, ``pnm``,
``flv``, ``mpeg_ps``, ``mpeg_ts``, ``asf``, ``raf``; ``xmp`` reads the XMP
packets they find. Which one runs is decided by ``io.sniff``, the sniffer the
pipeline reads its inputs with; ``Audit.format`` names the family that walked
the file (``mkv/webm``, ``riff-avi``…), as the audit always has.
"""

from __future__ import annotations

import mmap
import os
from typing import Any

from ...errors import CorruptInput, InputError, UnsupportedFormat
from ...io.sniff import SNIFF_BYTES, raw_container, sniff
from .asf import parse_asf
from .base import KINDS, Audit, Finding, Parser, guarded
from .flv import parse_flv
from .gif import parse_gif
from .isobmff import parse_isobmff
from .jpeg import parse_jpeg
from .jxl import parse_jxl
from .matroska import parse_matroska
from .mpeg_ps import parse_mpeg_ps
from .mpeg_ts import parse_mpeg_ts
from .png import parse_png
from .pnm import parse_pnm
from .raf import parse_raf
from .riff import parse_avi, parse_webp
from .tiff import parse_tiff

__all__ = ["KINDS", "Finding", "Audit", "audit_bytes", "audit_file"]

# By the sniffer's format name: the family that walks it (the name ``Audit.format`` reports) and its parser.
# BMP has none: it is reported as an unknown container.
_FAMILIES: dict[str, tuple[str, Parser]] = {
    "jpeg": ("jpeg", parse_jpeg), "png": ("png", parse_png), "webp": ("webp", parse_webp), "gif": ("gif", parse_gif),
    "tiff": ("tiff", parse_tiff), "heif": ("heif", parse_isobmff), "avif": ("avif", parse_isobmff),
    "mp4": ("mp4", parse_isobmff), "3gp": ("mp4", parse_isobmff), "mov": ("mov", parse_isobmff),
    "mkv": ("mkv/webm", parse_matroska), "webm": ("mkv/webm", parse_matroska), "avi": ("riff-avi", parse_avi),
    "jxl": ("jxl", parse_jxl), "pnm": ("pnm", parse_pnm), "flv": ("flv", parse_flv), "mpegps": ("mpeg-ps", parse_mpeg_ps),
    "mpegts": ("mpeg-ts", parse_mpeg_ts), "asf": ("asf", parse_asf),
}
# RAW files, by the container ``io.sniff.raw_container`` names (Sigma X3F has no parser).
_RAW_FAMILIES: dict[str, tuple[str, Parser]] = {
    "tiff": ("tiff", parse_tiff), "isobmff": ("mp4", parse_isobmff), "raf": ("raf", parse_raf),
}


def audit_bytes(data: Any) -> Audit:
    """Audit a whole file held in ``data`` (bytes, bytearray or mmap)."""
    family, parse = _container(data)
    audit = Audit(family)
    if parse is None:
        audit._flag("unparseable metadata", "empty file" if not len(data) else "unknown container")
        return audit
    guarded(audit, f"{family} structure", parse, data, audit)
    return audit


def audit_file(path: str | os.PathLike[str]) -> Audit:
    """Audit a file on disk through a read-only memory map (large videos are not read whole).

    Raises:
        InputError: the file cannot be opened or read.
    """
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                return audit_bytes(b"")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return audit_bytes(mapped)
    except OSError as exc:
        raise InputError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from exc


def _container(data: Any) -> tuple[str, Parser | None]:
    """The family of the file in ``data`` and its parser; ``("unknown", None)`` for anything else."""
    head = bytes(data[:SNIFF_BYTES])
    try:
        fmt = sniff(head)
    except (CorruptInput, UnsupportedFormat):
        return "unknown", None
    found = _RAW_FAMILIES.get(raw_container(head)) if fmt == "raw" else _FAMILIES.get(fmt)
    return found or ("unknown", None)
