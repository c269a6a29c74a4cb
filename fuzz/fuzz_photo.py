"""Fuzz the photo path: arbitrary bytes through ``crowdveil.pipeline.anonymize``.

Invariants checked on every input (a violation is an uncaught exception,
which atheris reports as a crash and saves):

1. ``anonymize`` either returns a passed ``Report`` or raises a
   ``CrowdveilError``; any other exception escaping the library is a bug.
2. On error, no output file and no temporary file is left in the output folder.
3. On success, the output exists, its sha256 is the report's, and the
   structural audit finds no metadata in it.
4. The input file is byte-identical afterwards.

The detector is whole-image CenterFace (cheap) and the pixel limit is small,
so one execution takes milliseconds; decoding, EXIF orientation, colour
conversion, redaction, encoding, re-reading and the audit all still run.

    python fuzz/make_corpus.py
    python fuzz/fuzz_photo.py fuzz/corpus-work/photo fuzz/corpus-work/seeds/photo \\
        -artifact_prefix=fuzz/crashes/ -timeout=30 -max_total_time=600

(the first folder collects new inputs; see fuzz/README.md).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["crowdveil", "PIL", "pillow_heif"]):
    from crowdveil.config import Config
    from crowdveil.errors import CrowdveilError
    from crowdveil.io.sniff import SNIFF_BYTES, media_kind, sniff
    from crowdveil.pipeline import anonymize
    from crowdveil.verify.audit import audit_bytes

# The name's extension only matters for RAW refusal and messages (formats are
# sniffed from content); picking it from the length lets mutations explore it.
SUFFIXES = (".jpg", ".png", ".heic", ".webp", ".tif", ".dng", ".gif", ".avif", ".bmp", ".jxl", ".ppm", ".bin")
# ~0.3 MP: big enough for every seed, small enough that bombs are refused fast.
CONFIG = Config(max_megapixels=0.3)
TEMP_MARK = ".crowdveil-tmp-"

_state: dict = {}


def _setup() -> tuple[Path, object]:
    if not _state:
        from crowdveil.detect.centerface import CenterFace

        _state["dir"] = Path(tempfile.mkdtemp(prefix="crowdveil-fuzz-photo-"))
        _state["detector"] = CenterFace(threshold=0.3)
    return _state["dir"], _state["detector"]


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    try:
        if media_kind(sniff(data[:SNIFF_BYTES], "input")) == "video":
            return  # the video path has its own harness; decoding video here would stall the photo fuzzer
    except CrowdveilError:
        pass  # refused by the sniffer: anonymize must refuse it the same way, below
    work, detector = _setup()
    in_dir, out_dir = work / "in", work / "out"
    for folder in (in_dir, out_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    src = in_dir / ("input" + SUFFIXES[len(data) % len(SUFFIXES)])
    src.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    dst = out_dir / "output.jpg"
    try:
        report = anonymize(src, None, CONFIG, detector=detector, verifier=detector, out_dir=out_dir)
    except CrowdveilError:
        left = sorted(p.name for p in out_dir.iterdir())
        if left:
            raise AssertionError(f"error left files in the output folder: {left}")
    else:
        dst = Path(report.destination)
        if not report.passed:
            raise AssertionError("anonymize returned a report that did not pass")
        written = dst.read_bytes()
        if hashlib.sha256(written).hexdigest() != report.output_sha256:
            raise AssertionError("output differs from the verified bytes")
        audit = audit_bytes(written)
        if not audit.clean:
            raise AssertionError(f"output carries metadata: {audit.kinds}")
        strays = [p.name for p in out_dir.iterdir() if TEMP_MARK in p.name]
        if strays:
            raise AssertionError(f"temporary files left: {strays}")
    if hashlib.sha256(src.read_bytes()).hexdigest() != digest:
        raise AssertionError("the input file was modified")


def main(argv: list[str] | None = None) -> None:
    atheris.Setup(list(argv if argv is not None else sys.argv), TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    os.environ.setdefault("CROWDVEIL_THREADS", "1")
    main()
