"""What the studio holds: the files added, what was found in them, their exports.

Everything here calls the library (decode, detect, audit, ``anonymize``);
the studio never paints or verifies on its own. Originals uploaded through
the page, and the previews made from any original, live in a private
temporary folder (mode 0700) that ``close`` deletes. It is made in
``$XDG_RUNTIME_DIR`` when that is ours (a tmpfs: gone at logout or power
off, never on a disk), else in the system's temp folder. Its name holds
the studio's pid (``crowdveil-studio-<pid>-…``), so a studio that was
killed outright (``kill -9``, a crash) has its folder removed by the next
one to start.

Coordinates are those of the upright image as ``decode_image`` returns it,
the same pixels the pipeline detects and paints on.
"""

from __future__ import annotations

import atexit
import os
import queue
import re
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from PIL import Image

from ..config import Config
from ..detect.base import Detector
from ..errors import CrowdveilError, StudioError, VerificationFailed
from ..io.image import decode_image, encode_image, output_format
from ..io.animation import animation_frames
from ..io.sniff import ANIMATABLE_FORMATS, SNIFF_BYTES, media_kind, sniff
from ..io.source import read_regular_file
from ..types import Detections, Report, box_iou

__all__ = ["Workspace", "Item", "StudioError", "PREVIEW_LONG_SIDE", "RESULT_FRAMES", "REVIEW_FRAMES", "SAME_FACE_IOU",
           "STUDIO_COVERS", "error_kind"]

# Previews are only for looking at; regions stay in full-size pixels.
PREVIEW_LONG_SIDE = 1600
# How many frames of an exported video the page shows.
RESULT_FRAMES = 4
# How many frames of a video the page can scrub through, each with the regions painted on it.
REVIEW_FRAMES = 60
# A region left visible must overlap a face the studio found at least this much (it is then that face's box).
SAME_FACE_IOU = 0.5
# What the page can ask to cover besides faces (``Config.cover``): text on photos, bodies on photos and videos.
STUDIO_COVERS = ("text", "bodies")
PRIVATE_PREFIX = "crowdveil-studio-"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def error_kind(exc: BaseException) -> str:
    """The library's error class for ``exc`` (the page words each kind plainly), ``unexpected`` for any other."""
    from .. import errors

    for cls in type(exc).__mro__:
        if cls.__name__ in errors.__all__:
            return cls.__name__
    return "unexpected"


@dataclass
class Item:
    """One photo or video in the studio.

    ``status`` moves waiting → analysing → ready → (exporting →) exported |
    refused; ``error`` when the file cannot be read at all.
    """

    id: str
    name: str
    path: Path
    out_dir: Path
    uploaded: bool
    media: str = "photo"
    format: str = ""
    status: str = "waiting"
    width: int = 0
    height: int = 0
    faces: Detections = field(default_factory=Detections.empty)
    rejected: Detections = field(default_factory=Detections.empty)  # candidates the detector turned down
    # Text regions (plates, signs, badges) found when the page asked for them; ``None``: not looked for yet.
    text: Detections | None = None
    # What the last export covered besides faces (``STUDIO_COVERS``); the page reloads it.
    cover: list[str] = field(default_factory=list)
    metadata_kinds: list[str] = field(default_factory=list)
    style: str = "fill"
    shape: str = "box"
    message: str | None = None
    hint: str | None = None
    # The library's error class (``error_kind``); the hint is that class's own when ``hint_is_default``.
    error_kind: str | None = None
    hint_is_default: bool = False
    export: dict[str, Any] | None = None
    destination: Path | None = None
    progress: tuple[int, int | None] | None = None
    result_frames: list[Path] = field(default_factory=list)
    preview: Path | None = None
    result_preview: Path | None = None
    # Videos: sampled source frames to scrub through, each with the regions the export painted on it.
    review_frames: list[tuple[int, Path]] = field(default_factory=list)
    review_regions: list[list[list[float]]] = field(default_factory=list)
    frames_total: int = 0
    keep_audio: bool = False
    # Videos: regions drawn in review ({"frame": n, "box": [...]}), painted with the tracks they touch.
    video_fixes: list[dict[str, Any]] = field(default_factory=list)
    alpha: bool = False
    # ``veiled-0001``…: the export's name when the workspace names outputs neutrally (``io.naming``).
    neutral_stem: str | None = None
    # What the person decided in the editor; the page reloads it.
    regions: list[dict[str, Any]] | None = None
    removed: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "media": self.media,
            "format": self.format,
            "status": self.status,
            "width": self.width,
            "height": self.height,
            "faces": self.faces.to_list(),
            "face_count": len(self.faces),
            "text": None if self.text is None else self.text.to_list(),
            "cover": self.cover,
            "metadata_kinds": self.metadata_kinds,
            "style": self.style,
            "shape": self.shape,
            "message": self.message,
            "hint": self.hint,
            "error_kind": self.error_kind,
            "hint_is_default": self.hint_is_default,
            "export": self.export,
            "progress": list(self.progress) if self.progress else None,
            "result_frames": len(self.result_frames),
            "review": [{"frame": n, "regions": regions}
                       for (n, _), regions in zip(self.review_frames, self.review_regions)],
            "frames_total": self.frames_total,
            "keep_audio": self.keep_audio,
            "video_fixes": self.video_fixes,
            "has_preview": self.preview is not None,
            "has_result": self.result_preview is not None,
            "regions": self.regions,
            "removed": self.removed,
        }


class Workspace:
    """The studio's files and the single worker that analyses them.

    Args:
        config: settings for detection and export (style and shape are
            chosen per file in the page).
        out_dir: where exports are written (created on first export).
        detector, verifier: override the preset's detectors (tests).
        text_detector: overrides the text detector that finds the text suggestions (tests);
            the export's verifier reads text with ``detect.cover``'s own.
        max_upload_bytes: larger uploads are refused.
    """

    def __init__(
        self,
        config: Config,
        out_dir: Path,
        *,
        detector: Detector | None = None,
        verifier: Detector | None = None,
        text_detector: Detector | None = None,
        max_upload_bytes: int = 2 << 30,
        names: str = "neutral",
    ) -> None:
        from ..io.naming import NAME_STYLES

        if names not in NAME_STYLES:
            raise ValueError(f"names must be one of {NAME_STYLES}, not {names!r}")
        # Neutral by default: a phone's file name tells when it was taken, a renamed one who is in it,
        # and the people the studio is for download and post what it exports.
        self.names = names
        self._numbered = 0
        self.config = config
        self.out_dir = Path(out_dir).expanduser().resolve()
        self.max_upload_bytes = max_upload_bytes
        self._detector = detector
        self._verifier = verifier
        self._text_detector = text_detector
        base = private_base()
        remove_dead_private_folders(base)
        self.private_dir = Path(tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}{os.getpid()}-", dir=base))
        os.chmod(self.private_dir, 0o700)
        self._items: dict[str, Item] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()
        # One engine at a time: detection and export share the CPU and the detector.
        self._engine = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="crowdveil-studio-analyse", daemon=True)
        self._worker.start()
        self._closed = False
        atexit.register(self.close)  # also when the process ends without stopping the server

    # -- adding files ----------------------------------------------------------------------------
    def add_folder(self, folder: Path) -> list[Item]:
        """Add every photo and video under ``folder`` (originals are read in place, never changed)."""
        from ..runner.batch import expand_inputs

        folder = Path(folder).expanduser().resolve()
        added = []
        for path, root in expand_inputs([folder]):
            if self.out_dir in Path(os.path.realpath(path)).parents:
                continue  # our own exports, when --out lies inside the folder
            sub = path.parent.relative_to(root) if path.parent != root else Path()
            added.append(self._add(path.name, path, self.out_dir / sub, uploaded=False))
        return added

    def new_upload_path(self, name: str) -> tuple[str, Path]:
        """A fresh private path for an upload named ``name`` (the name is only kept for display)."""
        safe = _SAFE_NAME.sub("_", Path(name.replace("\\", "/")).name).strip(" .") or "upload"
        item_id = secrets.token_hex(8)
        folder = self.private_dir / item_id
        folder.mkdir(mode=0o700)
        return item_id, folder / safe[-120:]

    def add_upload(self, item_id: str, path: Path) -> Item:
        return self._add(path.name, path, self.out_dir, uploaded=True, item_id=item_id)

    def _add(self, name: str, path: Path, out_dir: Path, *, uploaded: bool, item_id: str | None = None) -> Item:
        from ..io.naming import NEUTRAL_PREFIX

        item = Item(id=item_id or secrets.token_hex(8), name=name, path=path, out_dir=out_dir, uploaded=uploaded,
                    style=self.config.style, shape=self.config.shape)
        with self._lock:
            if self.names == "neutral":  # numbered in the order files were added, for the whole session
                self._numbered += 1
                item.neutral_stem = f"{NEUTRAL_PREFIX}{self._numbered:04d}"
            self._items[item.id] = item
            self._order.append(item.id)
        self._queue.put(item.id)
        return item

    # -- reading state ---------------------------------------------------------------------------
    def items(self) -> list[Item]:
        with self._lock:
            return [self._items[i] for i in self._order]

    def get(self, item_id: str) -> Item:
        with self._lock:
            item = self._items.get(item_id)
        if item is None:
            raise StudioError("server.no_such_file", 404)
        return item

    def remove(self, item_id: str) -> None:
        """Take a file off the page; an upload's private copy and every preview of it are deleted.

        An original added from a folder is never touched.
        """
        item = self.get(item_id)
        if item.status in ("analysing", "exporting"):
            raise StudioError("server.busy", 409, name=item.name)
        with self._lock:
            self._items.pop(item_id, None)
            self._order.remove(item_id)
        shutil.rmtree(self.private_dir / item.id, ignore_errors=True)

    def wait_idle(self) -> None:
        """Block until every queued file is analysed (tests)."""
        self._queue.join()

    # -- analysis --------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item_id = self._queue.get()
            try:
                if item_id is None:
                    return
                item = self._items.get(item_id)
                if item is None:
                    continue  # removed from the page before its turn
                item.status = "analysing"
                with self._engine:
                    self._analyse(item)
            except Exception as exc:  # a bad file must not stop the worker
                if item_id is not None and item_id in self._items:
                    self._fail(self._items[item_id], exc)
            finally:
                self._queue.task_done()

    def _fail(self, item: Item, exc: BaseException) -> None:
        if isinstance(exc, CrowdveilError):
            item.message, item.hint = str(exc), exc.hint
        else:
            item.message, item.hint = f"{type(exc).__name__}: {exc}", CrowdveilError.hint
        item.error_kind = error_kind(exc)
        item.hint_is_default = item.hint == _class_hint(exc)
        item.status = "error"

    def _analyse(self, item: Item) -> None:
        from ..verify.audit import audit_bytes, audit_file

        head = read_regular_file(item.path, limit=SNIFF_BYTES)
        item.format = sniff(head, item.name)
        item.media = media_kind(item.format)
        if item.format in ANIMATABLE_FORMATS and animation_frames(read_regular_file(item.path), item.format) > 1:
            item.media = "video"  # an animation is reviewed and exported as a short video (MP4)
        if item.media == "video":
            item.metadata_kinds = audit_file(item.path).kinds
            self._video_poster(item)
            item.status = "ready"
            return
        data = read_regular_file(item.path)
        item.metadata_kinds = audit_bytes(data).kinds
        decoded = decode_image(data, item.format, max_pixels=int(self.config.max_megapixels * 1e6), name=item.name)
        del data
        item.width, item.height, item.alpha = decoded.width, decoded.height, decoded.has_alpha
        self._write_preview(item, decoded.pixels)
        from ..pipeline import detect, judge

        judged = judge(self.detector, decoded.pixels)
        item.faces, item.rejected = judged.faces, judged.rejected
        if "text" in self.config.cover:  # ``crowdveil studio --cover text``: the suggestions are there on opening
            item.text = detect(self.text_detector, decoded.pixels)
        item.status = "ready"

    def find_text(self, item_id: str) -> Item:
        """Look for text in a photo (once): the page shows what is found as suggestions to cover or clear."""
        from ..pipeline import detect

        item = self.get(item_id)
        if item.media != "photo" or item.status in ("waiting", "analysing", "error"):
            raise StudioError("server.text_not_now", 409, name=item.name)
        with self._engine:
            if item.text is None:
                try:
                    decoded = decode_image(read_regular_file(item.path), item.format,
                                           max_pixels=int(self.config.max_megapixels * 1e6), name=item.name)
                    item.text = detect(self.text_detector, decoded.pixels)
                except CrowdveilError as exc:
                    raise StudioError("server.text_failed", 500, name=item.name, detail=str(exc)) from exc
        return item

    @property
    def text_detector(self) -> Detector:
        if self._text_detector is None:
            from ..detect.cover import text_detector

            self._text_detector = text_detector("detector")
        return self._text_detector

    @property
    def detector(self) -> Detector:
        if self._detector is None:
            from ..detect.registry import build_detector

            self._detector = build_detector(self.config.preset, self.config.threshold)
        return self._detector

    @property
    def verifier(self) -> Detector:
        if self._verifier is None:
            from ..detect.registry import build_verifier

            self._verifier = build_verifier(self.config.preset, self.config.threshold)
        return self._verifier

    def _write_preview(self, item: Item, pixels: np.ndarray) -> None:
        """A downscaled JPEG/PNG made from the decoded pixels only: no byte of the original."""
        item.preview = self._private_file(item, "preview", _shrunk(pixels), pixels.shape[2] == 4)

    def _private_file(self, item: Item, stem: str, pixels: np.ndarray, alpha: bool) -> Path:
        folder = self.private_dir / item.id
        folder.mkdir(mode=0o700, exist_ok=True)
        path = folder / (stem + (".png" if alpha else ".jpg"))
        path.write_bytes(encode_image(pixels, "png" if alpha else "jpeg", jpeg_quality=85))
        return path

    def _video_poster(self, item: Item) -> None:
        from ..io.animation import AnimationSource
        from ..io.video import VideoSource

        reader = VideoSource if media_kind(item.format) == "video" else AnimationSource
        with reader(item.path, max_pixels=int(self.config.max_megapixels * 1e6)) as source:
            for frame in source.frames():
                rgb = _frame_pixels(frame)
                item.height, item.width = rgb.shape[:2]
                self._write_preview(item, rgb)
                break

    # -- export ----------------------------------------------------------------------------------
    def export_photo(self, item_id: str, regions: list[dict], removed: list[dict], style: str, shape: str,
                     cover: Iterable[str] = ()) -> Item:
        """Run the pipeline on a photo with the reviewed regions; record a pass or a refusal.

        ``cover``: ``STUDIO_COVERS`` asked for in the page. With ``text``, the verifier reads the written
        file for text too (text suggestions cleared in the page are left visible, as cleared faces are);
        with ``bodies``, the body below each face kept covered is painted, as ``--cover bodies`` does.
        """
        from ..pipeline import anonymize

        item = self.get(item_id)
        if item.media != "photo" or item.status in ("waiting", "analysing", "error", "exporting"):
            raise StudioError("server.not_now", 409, name=item.name)
        faces = _detections(regions, item, manual_ok=True)
        keep_visible = _found_faces(_detections(removed, item, manual_ok=False), item)
        covers = _covers(cover)
        config = self._config_for(style, shape).replace(cover=("faces", *covers))
        item.regions, item.removed, item.style, item.shape, item.cover = regions, removed, style, shape, list(covers)
        item.status, item.result_preview = "exporting", None
        with self._engine:
            try:
                dst = self._destination(item, output_format(item.format, item.alpha))
                report = anonymize(item.path, dst, config.replace(overwrite=dst == item.destination),
                                   regions=faces, keep_visible=keep_visible, rejected=item.rejected,
                                   detector=self.detector, verifier=self.verifier)
            except CrowdveilError as exc:
                self._refused(item, exc)
                return item
            self._result_preview(item, _written(report))
        self._exported(item, report)
        return item

    def _result_preview(self, item: Item, written: Path) -> None:
        """A preview of the export as written, decoded from the file itself."""
        data = written.read_bytes()
        decoded = decode_image(data, sniff(data[:64], written.name), max_pixels=item.width * item.height)
        item.result_preview = self._private_file(item, "result", _shrunk(decoded.pixels), decoded.has_alpha)

    def start_video_export(self, item_id: str, style: str, shape: str, keep_audio: bool = False,
                           fixes: list[dict] | None = None, cover: Iterable[str] = ()) -> Item:
        """Run the pipeline on a video in a background thread; ``progress`` follows it.

        ``fixes``: regions drawn on frames of the previous export's review, ``{"frame": n, "box": [...]}``.
        ``cover``: ``("bodies",)`` paints the body below each face, following the face's track.
        """
        item = self.get(item_id)
        if item.media != "video" or item.status in ("waiting", "analysing", "error", "exporting"):
            raise StudioError("server.not_now", 409, name=item.name)
        added = _video_fixes(fixes or [], item)
        item.video_fixes = [{"frame": n, "box": [round(float(v), 1) for v in box]}
                            for n, found in sorted(added.items()) for box in found.xyxy]
        covers = _covers(cover)
        if "text" in covers:  # the video pipeline covers faces and bodies only
            raise StudioError("server.text_not_now", 409, name=item.name)
        config = self._config_for(style, shape).replace(keep_audio=bool(keep_audio), cover=("faces", *covers))
        item.style, item.shape, item.keep_audio, item.cover = style, shape, bool(keep_audio), list(covers)
        item.status, item.progress, item.export, item.result_frames = "exporting", (0, None), None, []
        item.review_frames, item.review_regions, item.frames_total = [], [], 0
        threading.Thread(target=self._export_video, args=(item, config, added), name="crowdveil-studio-video",
                         daemon=True).start()
        return item

    def _export_video(self, item: Item, config: Config, added: dict[int, Detections]) -> None:
        # The video pipeline itself (``pipeline.anonymize`` hands videos to it): called here for its
        # ``painted`` report of the regions the written file shows, which the page scrubs through.
        from ..pipeline.video import anonymize_video

        def progress(done: int, total: int | None) -> None:
            item.progress = (done, total)

        painted: list[list] = []

        with self._engine:
            try:
                dst = self._destination(item, "mp4")
                report = anonymize_video(item.path, dst, config.replace(overwrite=dst == item.destination),
                                         fmt=item.format, progress=progress, added=added,
                                         painted=lambda regions, size: painted.append(regions))
                item.result_frames = self._result_frames(item, _written(report))
                self._review_frames(item, painted[0] if painted else [])
            except CrowdveilError as exc:
                self._refused(item, exc)
                return
            except Exception as exc:  # untyped crash: the page must still hear about it
                self._refused(item, CrowdveilError(f"{type(exc).__name__}: {exc}"), kind=error_kind(exc))
                return
        self._exported(item, report)

    def _review_frames(self, item: Item, regions_per_frame: list[Detections]) -> None:
        """Up to ``REVIEW_FRAMES`` frames of the source, evenly spaced, with the regions painted on each."""
        from ..io.video import VideoSource

        total = len(regions_per_frame)
        item.frames_total = total
        if not total:
            return
        count = min(total, REVIEW_FRAMES)
        wanted = sorted({round(i * (total - 1) / max(1, count - 1)) for i in range(count)})
        wanted_set = set(wanted)
        frames: list[tuple[int, Path]] = []
        regions: list[list[list[float]]] = []
        with VideoSource(item.path, max_pixels=int(self.config.max_megapixels * 1e6)) as source:
            for frame in source.frames(pixels_for=lambda n: n in wanted_set):
                if frame.index in wanted_set:
                    frames.append((frame.index, self._private_file(item, f"review-{len(frames)}", _shrunk(_frame_pixels(frame)),
                                                                   False)))
                    regions.append([[round(float(v), 2) for v in box] for box in regions_per_frame[frame.index].xyxy])
                if frame.index >= wanted[-1]:
                    break
        item.review_frames, item.review_regions = frames, regions

    def _result_frames(self, item: Item, video: Path) -> list[Path]:
        """A few frames of the written result, decoded from the file itself."""
        from ..io.video import VideoSource

        with VideoSource(video) as source:
            total = source.info.frames_declared or RESULT_FRAMES
            wanted = sorted({round(i * (total - 1) / max(1, RESULT_FRAMES - 1)) for i in range(RESULT_FRAMES)})
            frames: list[Path] = []
            for frame in source.frames():
                if frame.index in wanted:
                    frames.append(self._private_file(item, f"result-{len(frames)}", _shrunk(_frame_pixels(frame)), False))
                if frame.index >= wanted[-1]:
                    break
        return frames

    def _config_for(self, style: str, shape: str) -> Config:
        try:
            return self.config.replace(style=style, shape=shape)
        except ValueError as exc:
            raise StudioError("server.bad_setting", detail=str(exc)) from exc

    def _destination(self, item: Item, out_fmt: str) -> Path:
        """``veiled-0001.<ext>`` (or ``<stem>.veiled.<ext>`` with names kept) in the output folder; a new
        name rather than replace a file we did not write.

        Raises:
            UnsafeOutputPath: the output folder is a link or another user's, or the item's
                subfolder is reached through a link (outputs would land wherever it points).
        """
        from ..pipeline import default_destination
        from ..runner.manifest import check_inside_output_tree, check_output_folder

        if self.out_dir.exists() or self.out_dir.is_symlink():
            check_output_folder(self.out_dir)
        check_inside_output_tree(self.out_dir, item.out_dir)
        from ..io.naming import output_stem

        dst = default_destination(item.path, out_fmt, item.out_dir, item.neutral_stem)
        stem = output_stem(item.path, item.neutral_stem)
        n = 2
        while dst.exists() and dst != item.destination:
            dst = dst.with_name(f"{stem}-{n}{dst.suffix}")
            n += 1
        return dst

    def _exported(self, item: Item, report: Report) -> None:
        item.destination = _written(report)
        item.export = {
            "passed": True,
            "destination": str(item.destination),
            "file_name": item.destination.name,
            "faces_covered": report.face_count,
            "metadata_removed": report.metadata_removed,
            "checks": [c.to_dict() for c in report.checks],
            "notes": report.notes,
        }
        item.status = "exported"

    def _refused(self, item: Item, exc: CrowdveilError, kind: str | None = None) -> None:
        report = exc.report if isinstance(exc, VerificationFailed) else None
        item.export = {
            "passed": False,
            "verification": isinstance(exc, VerificationFailed),
            "message": str(exc),
            "hint": exc.hint,
            "kind": kind or error_kind(exc),
            "hint_is_default": exc.hint == _class_hint(exc),
            "checks": [c.to_dict() for c in report.checks] if report else [],
        }
        item.status = "refused"

    # -- shutdown --------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the worker and delete the private folder (uploads, previews, frames)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        shutil.rmtree(self.private_dir, ignore_errors=True)


def _written(report: Report) -> Path:
    """Where the pipeline wrote the verified copy (a report that passed names it)."""
    if report.destination is None:
        raise CrowdveilError("the pipeline reported success without naming the file it wrote")
    return Path(report.destination)


def _frame_pixels(frame: Any) -> np.ndarray:
    """A decoded frame's pixels: every frame read here is decoded (none is skipped by ``pixels_for``)."""
    if frame.rgb is None:
        raise CrowdveilError(f"frame {frame.index} of the video came without its pixels")
    return frame.rgb


def _class_hint(exc: BaseException) -> str:
    """The hint of ``exc``'s class itself (the page has it in every language), not one given for this case."""
    return type(exc).hint if isinstance(exc, CrowdveilError) else CrowdveilError.hint


def private_base() -> Path:
    """``$XDG_RUNTIME_DIR`` when it is a folder of ours that only we can enter, else the temp folder."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        try:
            st = os.stat(runtime)
        except OSError:
            st = None
        if st is not None and os.path.isdir(runtime) and st.st_uid == os.getuid() and st.st_mode & 0o077 == 0:
            return Path(runtime)
    return Path(tempfile.gettempdir())


def remove_dead_private_folders(base: Path) -> list[Path]:
    """Delete the private folders (uploads, previews) of studios of ours that died without cleaning up."""
    removed: list[Path] = []
    try:
        candidates = [p for p in base.iterdir() if p.name.startswith(PRIVATE_PREFIX)]
    except OSError:
        return removed
    for folder in candidates:
        pid_text, dash, _ = folder.name[len(PRIVATE_PREFIX):].partition("-")
        try:
            if not dash or not pid_text.isdigit() or folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
                continue  # not ours, or from a studio that did not name its pid: leave it
        except OSError:
            continue
        pid = int(pid_text)
        if pid == os.getpid() or _alive(pid):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process has that pid now
    return True


def _shrunk(pixels: np.ndarray) -> np.ndarray:
    h, w = pixels.shape[:2]
    scale = PREVIEW_LONG_SIDE / max(h, w)
    if scale >= 1:
        return pixels
    im = Image.fromarray(np.ascontiguousarray(pixels))
    return np.asarray(im.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS))


def _covers(cover: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(str(c) for c in cover)
    unknown = [c for c in chosen if c not in STUDIO_COVERS]
    if unknown:
        raise StudioError("server.bad_setting", detail=f"cover {unknown[0]!r}")
    return tuple(c for c in STUDIO_COVERS if c in chosen)


def _detections(entries: Iterable[dict], item: Item, *, manual_ok: bool) -> Detections:
    """Regions sent by the page as ``Detections``.

    Drawn ones are ``manual``; a ``person`` (a head marked with the person tool) becomes that head,
    ``manual``, and the body below it (``redact.bodies.person_regions``). Found ones keep their kind,
    ``face`` or ``text``.
    """
    from ..redact.bodies import person_regions

    boxes, kinds, sources, scores = [], [], [], []
    heads = []
    for entry in entries:
        try:
            box = [float(v) for v in entry["box"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise StudioError("server.region_box") from exc
        if len(box) != 4 or not all(np.isfinite(box)):
            raise StudioError("server.region_box")
        x1, y1, x2, y2 = min(box[0], box[2]), min(box[1], box[3]), max(box[0], box[2]), max(box[1], box[3])
        x1, x2 = np.clip([x1, x2], 0, item.width)
        y1, y2 = np.clip([y1, y2], 0, item.height)
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        kind = entry.get("kind")
        manual = kind in ("manual", "person")
        if manual and not manual_ok:
            continue
        if kind == "person":
            heads.append([x1, y1, x2, y2])
        boxes.append([x1, y1, x2, y2])
        kinds.append("manual" if manual else "text" if kind == "text" else "face")
        sources.append("studio" if manual else str(entry.get("source") or "detector")[:64])
        scores.append(1.0 if manual else float(np.clip(float(entry.get("score", 1.0) or 0.0), 0, 1)))
    if not boxes:
        return Detections.empty()
    found = Detections.from_boxes(boxes, score=scores, kind=kinds, source=sources)
    if not heads:
        return found
    return Detections.merge([found, person_regions(Detections.from_boxes(heads), item.width, item.height)])


def _video_fixes(entries: Iterable[dict], item: Item) -> dict[int, Detections]:
    """Regions drawn on video frames in review, by frame: ``{"frame": n, "box": [x1, y1, x2, y2]}`` each."""
    by_frame: dict[int, list[dict]] = {}
    for entry in entries:
        try:
            frame = int(entry["frame"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StudioError("server.fix_frame") from exc
        if frame < 0 or (item.frames_total and frame >= item.frames_total):
            raise StudioError("server.fix_frame")
        by_frame.setdefault(frame, []).append({"box": entry.get("box"), "kind": "manual"})
    added = {n: _detections(boxes, item, manual_ok=True) for n, boxes in by_frame.items()}
    return {n: found for n, found in added.items() if len(found)}


def _found_faces(chosen: Detections, item: Item) -> Detections:
    """The faces (and text) found in ``item`` that the page asks to leave visible, as the detector boxed them.

    A region left visible is a face or a text suggestion the person clicked
    in the page, nothing else: a box that matches none found here (a forged
    request, a box moved or stretched after the click) is refused rather
    than turned into an area the verifier overlooks.
    """
    if not len(chosen):
        return Detections.empty()
    found = item.faces if item.text is None else Detections.merge([item.faces, item.text])
    if not len(found):
        raise StudioError("server.visible_none")
    overlap = box_iou(chosen.xyxy, found.xyxy)
    best = overlap.argmax(axis=1)
    if (overlap[np.arange(len(chosen)), best] < SAME_FACE_IOU).any():
        raise StudioError("server.visible_not_found")
    return found[np.unique(best)]
