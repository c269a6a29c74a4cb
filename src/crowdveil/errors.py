"""Every error the crowdveil library raises.

The library never prints or exits: it raises one of these, and the CLI maps
them to a one-line message and an exit code in one place (``cli.py``).
Each error carries ``hint``: what the user can do about it.

    CrowdveilError
     ├── InputError                 the source cannot be used as it is
     │    ├── UnsupportedFormat     not a format crowdveil reads (RAW, PDF, …)
     │    ├── CorruptInput          truncated, empty or undecodable
     │    ├── NotARegularFile       a pipe, device, socket or looping link
     │    └── TooLarge              declared size above the pixel limit
     ├── OutputError                the destination cannot be written
     │    ├── UnsafeOutputPath      would overwrite the original / existing file
     │    └── WriteFailed           disk full, read-only folder, …
     ├── SetupError                 a part crowdveil needs is missing here (exit 3)
     │    └── ModelError            detector weights missing or tampered with
     │         └── DeviceUnavailable  --device cuda asked for, but onnxruntime cannot use a GPU
     ├── MissingExtra               an optional part (the Ray cluster engine) is not installed
     ├── ClusterFailed              the cluster engine could not start or keep its workers
     ├── DetectionFailed            the detector crashed on this media
     ├── DeadlineExceeded           one file took longer than the run allows it
     ├── Quarantined                the file killed its worker process k times; not tried again
     ├── VerificationFailed         the written result failed a check; nothing kept
     ├── SpliceImpossible           internal, never raised to a caller: a video cannot be repaired
     │                              GOP by GOP, so the pipeline encodes all of it again
     └── StudioError                the studio only: a request it refuses, answered with an HTTP status
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .types import Report

__all__ = [
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
    "DeviceUnavailable",
    "MissingExtra",
    "ClusterFailed",
    "DetectionFailed",
    "DeadlineExceeded",
    "Quarantined",
    "VerificationFailed",
]


class CrowdveilError(Exception):
    """Base of every error crowdveil raises on purpose."""

    hint: str = "Please report this with the file's format (not the file itself)."

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(CrowdveilError):
    hint = "Check that the file is a photo or video and opens in a viewer."


class UnsupportedFormat(InputError):
    hint = "Convert it to JPEG, PNG or MP4 first, then run crowdveil on the copy."


class CorruptInput(InputError):
    hint = "The file is damaged or incomplete; re-export or re-copy it from the source."


class NotARegularFile(InputError):
    hint = "Pass photo and video files only (not pipes, devices or folders)."


class TooLarge(InputError):
    hint = "Raise the limit with --max-megapixels if you trust the file."


class OutputError(CrowdveilError):
    hint = "Choose another output folder with --out."


class UnsafeOutputPath(OutputError):
    hint = "Pick an output path that is not the original (crowdveil never overwrites an original)."


class WriteFailed(OutputError):
    hint = "Check free space and write permission of the output folder, or use --out."


class SetupError(CrowdveilError):
    """crowdveil cannot run on this machine as it is: no file is to blame."""

    hint = "Run `crowdveil doctor` to see what is missing, and `crowdveil doctor --fix` to install it."


class ModelError(SetupError):
    hint = "Install the detector weights: run `crowdveil doctor --fix` (offline: add --find-links FOLDER_OF_WHEELS)."


class DeviceUnavailable(ModelError):
    hint = ("Install the GPU build (pip install 'crowdveil[gpu]', then pip install --force-reinstall --no-deps "
            "onnxruntime-gpu), check that nvidia-smi sees the GPU, or run with --device cpu or --device auto.")


class MissingExtra(CrowdveilError):
    hint = "pip install 'crowdveil[cluster]'"


class ClusterFailed(CrowdveilError):
    hint = "Check the cluster with `ray status`; every machine needs crowdveil and its extras installed."


class DeadlineExceeded(CrowdveilError):
    hint = "Nothing was written for it. Run it alone with the local engine, or give the run a longer deadline."


class Quarantined(CrowdveilError):
    hint = ("Nothing was written for it. Run this file alone with the local engine (crowdveil FILE --out DIR) "
            "to see the error, and report its format and size.")


class DetectionFailed(CrowdveilError):
    hint = "Nothing was written. Try again; if it keeps failing, report the format and size."


class VerificationFailed(CrowdveilError):
    """The output was written to a temporary file, failed a check and was deleted."""

    hint = "Nothing was written. Review the file by hand (crowdveil studio) or report it."

    def __init__(self, message: str, *, report: "Report | None" = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


class SpliceImpossible(CrowdveilError):
    """A video cannot be repaired GOP by GOP (``io.video.GopSplicer``); the pipeline encodes all of it again.

    Internal: caught inside the video pipeline, never raised to a caller (so not in ``__all__``).
    """


class StudioError(CrowdveilError):
    """A request the studio refuses; ``status`` is the HTTP status to answer with.

    ``message_id`` names the message in the studio's catalog (``i18n/studio``),
    ``fields`` fill it; ``message`` is its English text (the app answers in the
    page's language). Raised by the studio alone (so not in ``__all__``), never by ``anonymize``.
    """

    def __init__(self, message_id: str, status: int = 400, **fields: object) -> None:
        from .i18n import catalog

        self.message_id, self.fields, self.status = message_id, fields, status
        super().__init__(catalog("studio")(message_id, **fields))

    def text(self, language: str) -> str:
        from .i18n import catalog

        return catalog("studio", language)(self.message_id, **self.fields)
