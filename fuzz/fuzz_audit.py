"""Fuzz the structural metadata audit: ``crowdveil.verify.audit.audit_bytes`` on any bytes.

The audit is the last word on what an output carries and reads hostile
inputs first, so it must never raise: damage is an ``unparseable metadata``
finding. Invariants (a violation is an uncaught exception = a crash):

1. ``audit_bytes`` returns an ``Audit`` for any input, never raises.
2. Every finding's kind is one of ``KINDS``; ``clean`` means no findings.
3. The same bytes give the same result (no hidden state between calls).

Hangs are caught by atheris' ``-timeout``.

    python fuzz/make_corpus.py
    python fuzz/fuzz_audit.py fuzz/corpus-work/audit fuzz/corpus-work/seeds/audit \\
        -artifact_prefix=fuzz/crashes/ -timeout=10 -max_total_time=600
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["crowdveil"]):
    from crowdveil.verify.audit import KINDS, Audit, audit_bytes


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    audit = audit_bytes(data)
    if not isinstance(audit, Audit):
        raise AssertionError(f"audit_bytes returned {type(audit).__name__}")
    unknown = {f.kind for f in audit.findings} - set(KINDS)
    if unknown:
        raise AssertionError(f"finding kinds outside KINDS: {sorted(unknown)}")
    if audit.clean != (not audit.findings):
        raise AssertionError("clean disagrees with findings")
    again = audit_bytes(bytearray(data))
    if again.kinds != audit.kinds or again.format != audit.format:
        raise AssertionError("bytes and bytearray of the same data audit differently")


def main(argv: list[str] | None = None) -> None:
    atheris.Setup(list(argv if argv is not None else sys.argv), TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
