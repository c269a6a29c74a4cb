"""Exposed faces in crowd video: clips panned across WIDER crowd photos, scored frame by frame.

No public crowd video with face boxes on every frame exists in ``../shared/data``; the
ASL clips have one face, near the camera. So the benchmark makes its own: a window of
``WINDOW`` × the photo's size glides across each WIDER protest photo (the camera pans
slowly over a crowd, as a phone does), encoded with H.264 as a phone would, and the
ground truth moves with it. Each (face, frame) pair whose face lies wholly in the frame
and is at least 10 px high is scored like a photo's face: *exposed* when less than
``metrics.COVERED`` of its box is painted. Collateral per frame is measured as in
``bench photos`` (painted outside every face box grown ``metrics.ALLOWANCE``×).

crowdveil's mask is the regions its written file shows (``anonymize_video``'s
``painted`` callback, repairs included); deface's, the detections its own video loop
made on each frame, drawn as it draws them. Both read the same encoded clips.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import Config
from .metrics import COVERED, allowed_mask, box_cover

__all__ = ["PanClip", "write_pan_clip", "score_frames", "CrowdVideoScore", "crowd_video_bench"]

WINDOW = 0.75  # the window's side, as a share of the photo's
FRAMES = 40
RATE = 30
MIN_FACE_PX = 10


@dataclass
class PanClip:
    """A clip written by ``write_pan_clip``: its path, frame size and each frame's face boxes (xywh)."""

    path: Path
    width: int
    height: int
    faces: list[np.ndarray]
    scored: np.ndarray  # which boxes count for exposure (WIDER's valid ones); all count as allowed area
    source: str = ""  # the photo panned across


def write_pan_clip(rgb: np.ndarray, faces_xywh: np.ndarray, path: Path, *, scored: np.ndarray | None = None,
                   frames: int = FRAMES, window: float = WINDOW, source: str = "") -> PanClip:
    """Pan a ``window``-sized view diagonally across ``rgb`` over ``frames`` frames (H.264, CRF 18)."""
    import av

    h, w = rgb.shape[:2]
    ww, wh = int(w * window) // 2 * 2, int(h * window) // 2 * 2
    faces_xywh = np.asarray(faces_xywh, np.float64).reshape(-1, 4)
    per_frame = []
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=RATE, options={"preset": "veryfast", "crf": "18"})
        stream.width, stream.height, stream.pix_fmt = ww, wh, "yuv420p"
        for i in range(frames):
            t = i / max(1, frames - 1)
            x0, y0 = int(round(t * (w - ww))), int(round(t * (h - wh)))
            view = np.ascontiguousarray(rgb[y0 : y0 + wh, x0 : x0 + ww])
            out.mux(stream.encode(av.VideoFrame.from_ndarray(view, format="rgb24")))
            moved = faces_xywh.copy()
            moved[:, 0] -= x0
            moved[:, 1] -= y0
            per_frame.append(moved)
        out.mux(stream.encode(None))
    scored = np.ones(len(faces_xywh), bool) if scored is None else np.asarray(scored, bool)
    return PanClip(path, ww, wh, per_frame, scored, source)


@dataclass
class CrowdVideoScore:
    """Totals over clips for one system."""

    faces: int = 0  # scored (face, frame) pairs
    exposed: int = 0
    faces_ge16: int = 0
    exposed_ge16: int = 0
    faces_ge32: int = 0
    exposed_ge32: int = 0
    collateral: list[float] = field(default_factory=list)  # per frame, share of the frame
    painted: list[float] = field(default_factory=list)  # per frame, share of the frame
    failed_clips: int = 0
    per_clip: list[dict] = field(default_factory=list)

    def add(self, masks: list[np.ndarray], clip: PanClip) -> None:
        before = (self.faces_ge16, self.exposed_ge16, self.faces_ge32, self.exposed_ge32)
        for mask, faces in zip(masks, clip.faces):
            inside = clip.scored & ((faces[:, 0] >= 0) & (faces[:, 1] >= 0) & (faces[:, 0] + faces[:, 2] <= clip.width)
                      & (faces[:, 1] + faces[:, 3] <= clip.height) & (faces[:, 3] >= MIN_FACE_PX) & (faces[:, 2] > 0))
            scored = faces[inside]
            exposed = box_cover(mask, scored.astype(np.int64)) < COVERED if len(scored) else np.zeros(0, bool)
            hts = scored[:, 3]
            self.faces += len(scored)
            self.exposed += int(exposed.sum())
            self.faces_ge16 += int((hts >= 16).sum())
            self.exposed_ge16 += int(exposed[hts >= 16].sum())
            self.faces_ge32 += int((hts >= 32).sum())
            self.exposed_ge32 += int(exposed[hts >= 32].sum())
            visible = faces[(faces[:, 2] > 0) & (faces[:, 3] > 0)]
            height, width = mask.shape[:2]
            self.collateral.append(float((mask & ~allowed_mask(height, width, visible)).mean()))
            self.painted.append(float(mask.mean()))
        self.per_clip.append({
            "clip": clip.source or clip.path.name,
            "face_frames_ge16": self.faces_ge16 - before[0], "exposed_ge16": self.exposed_ge16 - before[1],
            "face_frames_ge32": self.faces_ge32 - before[2], "exposed_ge32": self.exposed_ge32 - before[3],
        })

    def to_dict(self) -> dict:
        def rate(e: int, n: int) -> float | None:
            return e / n if n else None

        return {
            "face_frames": self.faces, "exposed_all": rate(self.exposed, self.faces),
            "face_frames_ge16": self.faces_ge16, "exposed_ge16": rate(self.exposed_ge16, self.faces_ge16),
            "face_frames_ge32": self.faces_ge32, "exposed_ge32": rate(self.exposed_ge32, self.faces_ge32),
            "collateral_pct": 100 * float(np.mean(self.collateral)) if self.collateral else None,
            "painted_median_pct": 100 * float(np.median(self.painted)) if self.painted else None,
            "failed_clips": self.failed_clips, "per_clip": self.per_clip,
        }


def score_frames(masks: list[np.ndarray], clip: PanClip, score: CrowdVideoScore) -> None:
    if len(masks) != len(clip.faces):
        raise ValueError(f"{clip.path.name}: {len(masks)} masks for {len(clip.faces)} frames")
    score.add(masks, clip)


def _crowdveil_masks(clip: PanClip, folder: Path, config: Config) -> list[np.ndarray]:
    from ..errors import VerificationFailed
    from ..pipeline.video import anonymize_video
    from ..redact import region_mask

    seen: list = []
    try:
        anonymize_video(clip.path, folder / f"{clip.path.stem}.veiled.mp4", config.replace(overwrite=True),
                        painted=lambda regions, size: seen.append(regions))
    except VerificationFailed:
        if not seen:
            raise
    return [region_mask(clip.height, clip.width, r, config.shape) for r in seen[-1]]


def _deface_masks(clip: PanClip, folder: Path) -> list[np.ndarray]:
    from .deface_video import run_deface_video
    from .photos import deface_mask

    _, found = run_deface_video(clip.path, folder / f"{clip.path.stem}_anonymized.mp4")
    return [deface_mask(dets, *shape) for dets, shape in found]


def crowd_video_bench(root: Path, *, clips: int, configs: dict[str, Config], with_deface: bool,
                      log=print) -> dict[str, CrowdVideoScore]:
    """Score each system in ``configs`` (and deface) on ``clips`` pans over photos of the WIDER root ``root``.

    The photos are taken evenly through the root's list (the same ones in every run).
    """
    from ..io.image import decode_image
    from ..io.sniff import sniff
    from .wider import load_wider

    items = load_wider(root)
    step = max(1, len(items) // max(1, clips))
    chosen = items[::step][:clips]
    scores = {name: CrowdVideoScore() for name in configs}
    if with_deface:
        scores["deface"] = CrowdVideoScore()
    with tempfile.TemporaryDirectory(prefix="crowdveil-crowdvideo-") as tmp:
        folder = Path(tmp)
        for n, (path, image) in enumerate(chosen):
            data = path.read_bytes()
            rgb = decode_image(data, sniff(data[:64], path.name), max_pixels=250_000_000, name=path.name).pixels[:, :, :3]
            boxes = np.asarray(image.boxes, np.float64).reshape(-1, 4)
            clip = write_pan_clip(np.ascontiguousarray(rgb), boxes, folder / f"pan{n:03d}.mp4", scored=image.scored,
                                  source=path.name)
            for name, config in configs.items():
                try:
                    score_frames(_crowdveil_masks(clip, folder, config), clip, scores[name])
                except Exception as exc:  # noqa: BLE001 - a failed clip is counted, the bench goes on
                    scores[name].failed_clips += 1
                    log(f"{name}: {path.name}: {type(exc).__name__}: {exc}")
            if with_deface:
                score_frames(_deface_masks(clip, folder), clip, scores["deface"])
            log(f"clip {n + 1}/{len(chosen)}: {path.name}")
    return scores
