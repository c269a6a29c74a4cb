"""Named detector configurations (presets), built lazily."""

from __future__ import annotations

from .base import Detector

# Score threshold of the redaction pass per preset.
THRESHOLDS = {"default": 0.2, "fast": 0.3}
# The verification pass re-reads the output with a lower threshold, so it
# sees faces the redaction pass was not sure of.
VERIFY_FACTOR = 0.75


def build_detector(preset: str = "default", threshold: float | None = None) -> Detector:
    """The detector for ``preset``.

    ``default``: CenterFace on the whole image plus 2×-enlarged overlapping
    tiles (small faces); ``fast``: the whole image only.
    """
    from .centerface import CenterFace
    from .tiling import Tiled, Union

    t = THRESHOLDS[preset] if threshold is None else threshold
    if preset == "fast":
        return CenterFace(threshold=t)
    if preset == "default":
        return Union(
            [CenterFace(threshold=t), Tiled(CenterFace(threshold=t, scale=2.0), tile=512, overlap=0.25)],
            name=f"centerface full+tiles2x>{t:g}",
        )
    raise ValueError(f"unknown preset {preset!r}")


def build_verifier(preset: str = "default", threshold: float | None = None) -> Detector:
    """The more sensitive detector that re-checks outputs."""
    t = THRESHOLDS[preset] if threshold is None else threshold
    return build_detector(preset, threshold=round(t * VERIFY_FACTOR, 4))
