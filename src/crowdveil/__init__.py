"""crowdveil: anonymize protest photos and videos offline, verified.

>>> import crowdveil
>>> report = crowdveil.anonymize("crowd.jpg")          # doctest: +SKIP
>>> report.passed, report.face_count, report.metadata_removed  # doctest: +SKIP
"""

from .version import __version__

from .config import Config
from .errors import (
    CorruptInput,
    CrowdveilError,
    DetectionFailed,
    InputError,
    ModelError,
    NotARegularFile,
    OutputError,
    SetupError,
    TooLarge,
    UnsafeOutputPath,
    UnsupportedFormat,
    VerificationFailed,
    WriteFailed,
)
from .pipeline import anonymize
from .types import Check, Detections, Report

__all__ = [
    "__version__",
    "anonymize",
    "Config",
    "Detections",
    "Report",
    "Check",
    "CrowdveilError",
    "InputError",
    "UnsupportedFormat",
    "CorruptInput",
    "NotARegularFile",
    "TooLarge",
    "OutputError",
    "UnsafeOutputPath",
    "WriteFailed",
    "SetupError",
    "ModelError",
    "DetectionFailed",
    "VerificationFailed",
]
