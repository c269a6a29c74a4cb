"""Fujifilm RAF: a header naming the camera, a full JPEG preview (audited as a JPEG), the sensor data."""

from __future__ import annotations

from typing import Any

from .base import Audit, Malformed, guarded, unpack
from .jpeg import parse_jpeg


def parse_raf(data: Any, audit: Audit) -> None:
    """A header naming the camera, an embedded full JPEG preview with its EXIF, then the sensor data."""
    n = len(data)
    audit._flag("device make/model", "RAF header (camera model)")
    jpeg_at, jpeg_length = unpack(">II", data, 84, n)
    if jpeg_at + jpeg_length > n or jpeg_length < 4:
        raise Malformed("embedded JPEG past the end of the file")
    audit._flag("embedded thumbnail", "RAF embedded JPEG preview")
    preview = bytes(data[jpeg_at : jpeg_at + jpeg_length])  # a few MB at most
    inner = Audit("jpeg")
    guarded(inner, "RAF preview JPEG", parse_jpeg, preview, inner)
    for finding in inner.findings:
        if finding.kind != "trailing data":
            audit._flag(finding.kind, f"RAF preview: {finding.where}")
    audit._flag("maker notes", "RAF sensor and camera settings records")
