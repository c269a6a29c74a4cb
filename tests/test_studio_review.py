"""Reviewing in the studio, in Debian's Chromium through Playwright (issue 12, points 11-17).

* the covers drawn while reviewing are the pixels the export paints (compared pixel for pixel);
* a dense crowd: zoom and pan, handles and focus ring that never sit on a 10 px face, undo/redo,
  "no faces here" in one step;
* "export all" with progress and a summary of what was refused and why;
* errors in plain words, and a card that cannot be used removed;
* a video: scrub through frames with the painted regions, keep the sound, play the result, and a
  region drawn on one frame that follows the track it touches;
* the page in Simplified Chinese from the browser's language, and the switch.

Set ``CROWDVEIL_DOCS_SCREENSHOT=1`` to also copy the screenshots to ``docs/studio/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import face_on_background, filled_share
from crowdveil import errors, i18n
from crowdveil.config import Config
from crowdveil.detect.base import Detector
from crowdveil.studio.server import StudioServer
from crowdveil.studio.workspace import Workspace
from crowdveil.types import Detections
from helpers import drop

DOCS = Path(__file__).resolve().parents[1] / "docs" / "studio"
GREY = np.array(Config().fill_color)
BACKGROUND = (30, 160, 220)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A home folder of its own: the page shows the output folder as ``~/out`` (screenshots name no temp path)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


class FixedBoxes(Detector):
    """Finds the same boxes on every image of a given size (no network: the test decides the regions)."""

    name = "fixed-boxes"

    def __init__(self, boxes_by_size: dict[tuple[int, int], list]) -> None:
        self.boxes_by_size = boxes_by_size

    def detect(self, rgb: np.ndarray) -> Detections:
        boxes = self.boxes_by_size.get(rgb.shape[:2], [])
        return Detections.from_boxes(boxes, score=[0.9] * len(boxes)) if boxes else Detections.empty()


class NewFaceEachPass(Detector):
    """A verifier that finds a face at a new place on every pass over images of one size: the
    pipeline's repair rounds never catch up, so such a file is refused."""

    name = "new-face-each-pass"

    def __init__(self, size: tuple[int, int]) -> None:
        self.size, self.calls = size, 0

    def detect(self, rgb: np.ndarray) -> Detections:
        if rgb.shape[:2] != self.size:
            return Detections.empty()
        x = 5 + 30 * (self.calls % 5)
        self.calls += 1
        return Detections.from_boxes([[x, 200 + self.calls % 3 * 30, x + 16, 216 + self.calls % 3 * 30]], score=[0.9])


def docs_copy(path: Path, name: str) -> None:
    if os.environ.get("CROWDVEIL_DOCS_SCREENSHOT") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / name)


def open_page(browser, server, **context):
    ctx = browser.new_context(viewport=context.pop("viewport", {"width": 1400, "height": 900}), accept_downloads=True,
                              **context)
    page = ctx.new_page()
    errors_seen: list[str] = []
    page.on("pageerror", lambda exc: errors_seen.append(str(exc)))
    page.on("console", lambda msg: errors_seen.append(msg.text) if msg.type == "error" else None)
    page.goto(server.url)
    return ctx, page, errors_seen


def view_box(page) -> list[float]:
    return [float(v) for v in page.locator("#canvas").get_attribute("viewBox").split()]


def screen_rect(page, box) -> tuple[float, float, float, float]:
    """Where image box (x1, y1, x2, y2) is on screen, through the SVG's current viewBox."""
    vx, vy, vw, vh = view_box(page)
    canvas = page.locator("#canvas").bounding_box()
    scale = min(canvas["width"] / vw, canvas["height"] / vh)
    ox = canvas["x"] + (canvas["width"] - vw * scale) / 2
    oy = canvas["y"] + (canvas["height"] - vh * scale) / 2
    return (ox + (box[0] - vx) * scale, oy + (box[1] - vy) * scale, ox + (box[2] - vx) * scale, oy + (box[3] - vy) * scale)


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def as_rect(bb: dict) -> tuple[float, float, float, float]:
    return bb["x"], bb["y"], bb["x"] + bb["width"], bb["y"] + bb["height"]


# ---- 11: the preview is the export --------------------------------------------------------

PREVIEW_BOXES = [[100.3, 80.6, 160.2, 150.1], [400.0, 10.0, 450.0, 70.0], [580.0, 300.0, 636.0, 396.0],
                 [250.0, 250.0, 262.0, 262.0]]


@pytest.mark.parametrize("shape", ["box", "ellipse"])
def test_preview_covers_are_the_exported_pixels(tmp_path, browser, shape):
    """The grey the page paints while reviewing (1:1, covers as exported) is, pixel for pixel, the grey
    in the exported file: padding (1.2 times as much on top), clipping at the edges and shape included."""
    w, h = 640, 400
    src = tmp_path / "square.png"
    Image.fromarray(np.full((h, w, 3), BACKGROUND, np.uint8)).save(src)
    out = tmp_path / "out"
    workspace = Workspace(Config(preset="fast"), out, names="keep", detector=FixedBoxes({(h, w): PREVIEW_BOXES}),
                          verifier=FixedBoxes({}))
    with StudioServer(workspace) as server:
        ctx, page, seen = open_page(browser, server)
        page.set_input_files("#file-input", str(src))
        page.locator(".card .status", has_text="4 regions to review").wait_for(timeout=60_000)
        page.locator(".card").first.click()
        page.locator("rect.region.face").nth(3).wait_for()
        page.locator("#photo[href^='blob:']").wait_for(state="attached")
        if shape == "ellipse":
            page.select_option("#shape", "ellipse")
        page.keyboard.press("1")  # one image pixel per screen pixel
        assert page.locator("#zoom-level").inner_text() == "100%"
        page.keyboard.press("v")  # covers as exported: opaque, no outlines
        assert page.locator("#as-exported").is_checked()
        photo = page.locator("#photo").bounding_box()
        assert round(photo["width"]) == w and round(photo["height"]) == h
        shot = tmp_path / "preview.png"
        page.screenshot(path=str(shot), clip={"x": photo["x"], "y": photo["y"], "width": w, "height": h})
        if shape == "box":
            page.keyboard.press("v")
            page.screenshot(path=str(tmp_path / "review.png"))
            docs_copy(tmp_path / "review.png", "after-preview-equals-export.png")
        page.keyboard.press("e")
        page.locator("#result.ok, #result.bad").wait_for(timeout=60_000)
        assert "Verified and saved" in page.locator("#result").inner_text()
        assert seen == []
        ctx.close()

    exported = np.asarray(Image.open(out / "square.veiled.png").convert("RGB")).astype(int)
    preview = np.asarray(Image.open(shot).convert("RGB"))[:h, :w].astype(int)
    painted_export = (exported == GREY).all(axis=2)
    painted_preview = (np.abs(preview - GREY) <= 3).all(axis=2)
    detected = np.zeros((h, w), bool)
    for x1, y1, x2, y2 in PREVIEW_BOXES:
        detected[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))] = True
    assert painted_export.sum() > 1.5 * detected.sum(), "the export pads each box: drawing boxes only would differ"
    differ = painted_export ^ painted_preview
    # A box is exact; OpenCV draws an ellipse as a polygon, whose edge pixels an SVG ellipse cannot all match.
    allowed = 0 if shape == "box" else 0.01 * painted_export.sum()
    assert differ.sum() <= allowed, f"{differ.sum()} pixels differ between the preview and the export ({shape})"


# ---- 12: dense crowds ---------------------------------------------------------------------

def crowd_boxes(columns=28, rows=8, size=10, w=1600, h=1000) -> list[list[float]]:
    """224 faces of 10 px in a grid, the density of a march photographed from a bridge."""
    xs = np.linspace(60, w - 60 - size, columns)
    ys = np.linspace(120, h - 120 - size, rows)
    return [[float(x), float(y), float(x + size), float(y + size)] for y in ys for x in xs]


def test_dense_crowd_zoom_pan_focus_undo_and_no_faces(tmp_path, browser):
    w, h = 1600, 1000
    boxes = crowd_boxes()
    assert len(boxes) == 224
    rng = np.random.default_rng(3)
    pixels = rng.integers(90, 200, size=(h, w, 3), dtype=np.uint8)
    for x1, y1, x2, y2 in boxes:  # a small dark "face" in each box, to see whether anything hides it
        pixels[int(y1):int(y2), int(x1):int(x2)] = (20, 20, 20)
    src = tmp_path / "crowd.png"
    Image.fromarray(pixels).save(src)
    out = tmp_path / "out"
    workspace = Workspace(Config(preset="fast"), out, names="keep", detector=FixedBoxes({(h, w): boxes}), verifier=FixedBoxes({}))
    with StudioServer(workspace) as server:
        ctx, page, seen = open_page(browser, server)
        page.set_input_files("#file-input", str(src))
        page.locator(".card .status", has_text="224 regions to review").wait_for(timeout=60_000)
        page.locator(".card").first.click()
        page.locator("rect.region.face").nth(223).wait_for()
        title = page.locator("#file-title").inner_text()
        fit = view_box(page)
        assert fit[2] >= w - 1 or fit[3] >= h - 1, fit

        # Zoom with the wheel, around the pointer: the image point under it stays put.
        target = boxes[100]
        sx, sy, _, _ = screen_rect(page, target)
        page.mouse.move(sx, sy)
        page.mouse.wheel(0, -600)
        zoomed = view_box(page)
        assert zoomed[2] < fit[2] / 2, (fit, zoomed)
        nx, ny, _, _ = screen_rect(page, target)
        assert abs(nx - sx) < 2 and abs(ny - sy) < 2, "the point under the pointer must stay under it"
        # A pinch on a trackpad arrives as Ctrl + wheel.
        page.keyboard.down("Control")
        page.mouse.wheel(0, 30)
        page.keyboard.up("Control")
        assert view_box(page)[2] > zoomed[2]
        # Keyboard: + and - zoom, arrows pan while zoomed (and do not change the file), 0 shows it all.
        page.keyboard.press("+")
        before = view_box(page)
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowDown")
        panned = view_box(page)
        assert panned[0] > before[0] and panned[1] > before[1] and panned[2] == pytest.approx(before[2])
        assert page.locator("#file-title").inner_text() == title
        page.keyboard.press("-")
        assert view_box(page)[2] > panned[2]
        page.keyboard.press("0")
        assert view_box(page) == pytest.approx(fit)

        # Tab selects a box: a visible focus ring around it; handles and outlines stay off the 10 px face.
        face = screen_rect(page, boxes[0])
        assert face[2] - face[0] < 10, "at this size a 12 px handle on a corner would hide the face"
        clip = {"x": face[0] - 1, "y": face[1] - 1, "width": face[2] - face[0] + 2, "height": face[3] - face[1] + 2}
        unselected = np.asarray(Image.open(__import__("io").BytesIO(page.screenshot(clip=clip))).convert("RGB"))
        page.keyboard.press("Tab")
        assert "Box 1 of 224 selected" in page.locator("#selection-note").inner_text()
        ring = as_rect(page.locator("#focus-ring").bounding_box())
        assert ring[0] < face[0] and ring[1] < face[1] and ring[2] > face[2] and ring[3] > face[3]
        handles = [as_rect(hd.bounding_box()) for hd in page.locator("rect.handle").all()]
        assert len(handles) == 4
        assert not [hd for hd in handles if overlaps(hd, face)], (handles, face)
        selected = np.asarray(Image.open(__import__("io").BytesIO(page.screenshot(clip=clip))).convert("RGB"))
        inner = (slice(2, -2), slice(2, -2))
        assert np.abs(selected[inner].astype(int) - unselected[inner]).max() <= 2, "selection must not paint over the face"
        shot = tmp_path / "crowd.png"
        page.keyboard.press("+")
        page.keyboard.press("+")
        page.screenshot(path=str(shot))
        docs_copy(shot, "after-dense-crowd-zoom.png")
        page.keyboard.press("0")

        # Undo and redo: leave a face visible, undo, redo; draw a box, undo.
        count = page.locator("#region-count")
        assert count.inner_text() == "224 box(es) will be covered."
        page.keyboard.press("Enter")
        assert count.inner_text() == "223 box(es) will be covered, 1 left visible."
        page.keyboard.press("Control+z")
        assert count.inner_text() == "224 box(es) will be covered."
        page.keyboard.press("Control+Shift+z")
        assert count.inner_text() == "223 box(es) will be covered, 1 left visible."
        page.keyboard.press("Control+z")
        a, b = screen_rect(page, [700, 20, 800, 90])[:2], screen_rect(page, [700, 20, 800, 90])[2:]
        page.mouse.move(*a)
        page.mouse.down()
        page.mouse.move(*b, steps=5)
        page.mouse.up()
        assert count.inner_text() == "225 box(es) will be covered."
        page.click("#undo")
        assert count.inner_text() == "224 box(es) will be covered."
        page.click("#redo")
        assert count.inner_text() == "225 box(es) will be covered."

        # "No faces here" clears the photo in one step (drawn box included), and one undo brings it back.
        page.click("#no-faces")
        assert count.inner_text() == "0 box(es) will be covered, 224 left visible."
        page.keyboard.press("Control+z")
        assert count.inner_text() == "225 box(es) will be covered."
        page.click("#no-faces")
        page.keyboard.press("e")
        page.locator("#result.ok, #result.bad").wait_for(timeout=60_000)
        assert "Verified and saved" in page.locator("#result").inner_text()
        assert seen == []
        ctx.close()
    exported = np.asarray(Image.open(out / "crowd.veiled.png").convert("RGB"))
    assert np.array_equal(exported, pixels), "after 'no faces here' the export leaves the photo as it is"


# ---- 13, 15: export all, plain errors, removable cards ------------------------------------

def test_export_all_with_progress_and_summary(tmp_path, browser):
    folder = tmp_path / "march"
    folder.mkdir()
    good, _ = face_on_background(320, 240, faces=((100, 40, 120),))
    Image.fromarray(good).save(folder / "a.png")
    Image.fromarray(good[:, ::-1].copy()).save(folder / "b.png")
    Image.fromarray(np.full((300, 200, 3), 90, np.uint8)).save(folder / "refused.png")
    whole = folder / "whole.jpg"
    Image.fromarray(good).save(whole, quality=90)
    (folder / "truncated.jpg").write_bytes(whole.read_bytes()[:1500])
    whole.unlink()
    out = tmp_path / "out"
    face = [[100, 40, 190, 160]]
    # The verifier keeps finding new faces on the 200x300 photo: that file must be refused.
    workspace = Workspace(Config(preset="fast"), out, names="keep", detector=FixedBoxes({(240, 320): face}),
                          verifier=NewFaceEachPass((300, 200)))
    workspace.add_folder(folder)
    with StudioServer(workspace) as server:
        ctx, page, seen = open_page(browser, server)
        page.locator(".card").nth(3).wait_for(timeout=60_000)
        page.click("#export-all")
        page.locator("#all-progress").wait_for(state="visible")
        summary = page.locator("#all-summary")
        summary.wait_for(state="visible", timeout=120_000)
        text = summary.inner_text()
        assert "2 saved and verified, 2 not saved" in text, text
        assert page.locator("#all-text").inner_text() == "Done"
        refused = page.locator("#all-summary .refused-list li")
        assert refused.count() == 2
        by_name = {li.locator("b").inner_text(): li.inner_text() for li in refused.all()}
        assert set(by_name) == {"refused.png", "truncated.jpg"}
        assert "The check of the safe copy failed" in by_name["refused.png"] or "verification failed" in by_name["refused.png"]
        assert "This file is damaged or incomplete." in by_name["truncated.jpg"]
        assert "What to do: " + errors.CorruptInput.hint in by_name["truncated.jpg"]
        assert page.locator(".card .status.ok", has_text="Exported and verified").count() == 2
        shot = tmp_path / "all.png"
        page.screenshot(path=str(shot), full_page=True)
        docs_copy(shot, "after-export-all.png")
        assert seen == []
        ctx.close()
    assert sorted(p.name for p in out.iterdir()) == ["a.veiled.png", "b.veiled.png"]


def test_unusable_file_in_plain_words_and_removed(tmp_path, browser):
    good, _ = face_on_background(320, 240, faces=((100, 40, 120),))
    whole = tmp_path / "whole.jpg"
    Image.fromarray(good).save(whole, quality=90)
    src = tmp_path / "IMG_broken.jpg"
    src.write_bytes(whole.read_bytes()[:-30])  # "image file is truncated (30 bytes not processed)"
    workspace = Workspace(Config(preset="fast"), tmp_path / "out", names="keep", detector=FixedBoxes({}), verifier=FixedBoxes({}))
    with StudioServer(workspace) as server:
        ctx, page, seen = open_page(browser, server)
        page.set_input_files("#file-input", str(src))
        card = page.locator(".card").first
        card.locator(".error-title").wait_for(timeout=60_000)
        text = card.inner_text()
        assert "This file is damaged or incomplete." in text
        assert errors.CorruptInput.hint in text, "the library's own hint, not a second wording"
        assert "OSError" not in text, "the technical message stays folded away"
        card.locator("summary").click()
        assert "truncated" in card.inner_text()
        assert page.locator("#grid-view").is_visible(), "opening the details does not open the file"
        item_id = card.get_attribute("data-id")
        assert (workspace.private_dir / item_id).exists()
        shot = tmp_path / "error.png"
        page.screenshot(path=str(shot))
        docs_copy(shot, "after-plain-error.png")
        card.locator(".remove").click()
        page.locator(".card").wait_for(state="detached")
        assert workspace.items() == []
        assert not (workspace.private_dir / item_id).exists(), "the uploaded copy is deleted with its card"
        assert seen == []
        ctx.close()


def _term(prefix: str, text: str) -> str:
    """The catalog id the page looks a library term up by (``libraryTerm`` in studio.js)."""
    return f"{prefix}." + re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def test_catalog_holds_the_library_hints_word_for_word():
    english = i18n.catalog("studio").messages()
    for name in errors.__all__:
        assert english[f"error.hint.{name}"] == getattr(errors, name).hint, name
        assert f"error.kind.{name}" in english


def test_catalog_names_every_metadata_kind_and_check():
    """The page shows the library's metadata kinds and check names in its language: each has a message."""
    from crowdveil.verify.audit import KINDS

    english = i18n.catalog("studio").messages()
    for kind in KINDS:
        assert english[_term("metadata", kind)] == kind
    src = Path(errors.__file__).parent
    names = set()
    for path in src.rglob("*.py"):
        names |= set(re.findall(r"""(?:\bCheck|report\.check)\(\s*["']([^"']+)["']""", path.read_text(encoding="utf-8")))
    assert len(names) >= 5, names
    for name in names:
        assert english[_term("check", name)] == name


# ---- 14: video review ---------------------------------------------------------------------

def _video_with_sound(path: Path, frames: int = 20) -> tuple[Path, tuple[int, int, int, int]]:
    import av

    pixels, (box,) = face_on_background(320, 240, faces=((100, 40, 120),))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        audio = container.add_stream("aac", rate=44100)
        audio.layout = "mono"
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        tone = (np.sin(np.arange(44100 * frames // 10) * 2 * np.pi * 440 / 44100) * 8000).astype(np.int16)
        for start in range(0, len(tone), 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="s16", layout="mono")
            chunk.sample_rate = 44100
            for packet in audio.encode(chunk):
                container.mux(packet)
        for s in (stream, audio):
            for packet in s.encode():
                container.mux(packet)
    return path, box


def test_video_review_scrub_keep_sound_and_play(tmp_path, browser):
    src, face = _video_with_sound(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    workspace = Workspace(Config(preset="fast"), out, names="keep")
    with StudioServer(workspace) as server:
        ctx, page, seen = open_page(browser, server)
        drop(page, src, "video/mp4")
        page.locator(".card .status", has_text="Video").wait_for(timeout=60_000)
        page.locator(".card").first.click()
        page.locator("#photo").wait_for()
        assert page.locator("#audio-option").is_visible()
        page.check("#keep-audio")
        page.click("#export")
        page.locator("#result.ok, #result.bad").wait_for(timeout=180_000)
        assert "Verified and saved" in page.locator("#result").inner_text()
        # Scrub: every frame of this short clip, with the regions the export painted on it.
        scrub = page.locator("#scrub")
        scrub.wait_for(state="visible")
        assert scrub.get_attribute("max") == "19"
        scrub.fill("12")
        assert page.locator("#photo").get_attribute("data-src").endswith("/review/12")
        assert page.locator("#scrub-text").inner_text().startswith("Frame 13 of 20")
        covers = page.locator("#covers .cover")
        assert covers.count() >= 1
        bb = [float(covers.first.get_attribute(a)) for a in ("x", "y", "width", "height")]
        cover = (bb[0], bb[1], bb[0] + bb[2], bb[1] + bb[3])
        assert cover[0] <= face[0] + 10 and cover[1] <= face[1] + 10 and cover[2] >= face[2] - 10 and cover[3] >= face[3] - 10
        # Play the safe copy in the page (a blob: URL, as every image here).
        video = page.locator("#result-video")
        video.wait_for(state="visible")
        assert video.get_attribute("src").startswith("blob:")
        page.evaluate("document.getElementById('result-video').muted = true; document.getElementById('result-video').play()")
        page.locator("#result-video").evaluate("v => new Promise((ok) => { const t = () => v.currentTime > 0.2 ? ok() : setTimeout(t, 50); t(); })")
        shot = tmp_path / "video.png"
        page.screenshot(path=str(shot))
        docs_copy(shot, "after-video-review.png")
        assert seen == []
        ctx.close()
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams",
                                       str(out / "clip.veiled.mp4")], capture_output=True, text=True, check=True).stdout)
    assert sorted(s["codec_type"] for s in probe["streams"]) == ["audio", "video"], "keep the sound was ticked"


# ---- 16: the page in Chinese --------------------------------------------------------------

def test_page_in_chinese_from_the_browser_language_and_the_switch(tmp_path, browser):
    workspace = Workspace(Config(preset="fast"), tmp_path / "out", names="keep", detector=FixedBoxes({}), verifier=FixedBoxes({}))
    chinese = i18n.catalog("studio", "zh-CN").messages()
    with StudioServer(workspace) as server:
        ctx, page, seen = open_page(browser, server, locale="zh-CN")
        page.locator("html[lang='zh-CN']").wait_for(state="attached")
        assert page.locator(".drop-title").inner_text() == chinese["drop.title"] == "把照片或视频拖到这里"
        texts = page.evaluate("[...document.querySelectorAll('[data-i18n]')].map(n => [n.dataset.i18n, n.textContent])")
        assert texts and all(text == chinese[key] for key, text in texts), [t for t in texts if t[1] != chinese[t[0]]]
        assert page.title() == chinese["page.title"]
        # A refusal from the server comes back in the page's language.
        empty = tmp_path / "empty.jpg"
        empty.write_bytes(b"")
        page.set_input_files("#file-input", str(empty))
        page.locator("#upload-status", has_text=chinese["server.empty_file"]).wait_for()
        good, _ = face_on_background(320, 240, faces=((100, 40, 120),))
        Image.fromarray(good).save(tmp_path / "photo.png")
        page.set_input_files("#file-input", str(tmp_path / "photo.png"))
        page.locator(".card .status", has_text="未找到人脸").wait_for(timeout=60_000)
        shot = tmp_path / "zh.png"
        page.screenshot(path=str(shot))
        docs_copy(shot, "after-chinese.png")
        page.select_option("#language", "en")
        page.locator("html[lang='en']").wait_for(state="attached")
        assert page.locator(".drop-title").inner_text() == "Drop photos or videos here"
        assert page.locator(".card .status", has_text="No faces found").count() == 1
        assert [m for m in seen if "status of 400" not in m] == []  # the empty file's refusal
        ctx.close()


def _walking_face(path: Path, frames: int = 40) -> list[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]]:
    """A face walking right, 3 px a frame, with a sign held beside it: (face box, sign box) per frame."""
    import av

    from crowdveil.demo import astronaut_face

    head = Image.fromarray(astronaut_face())
    fh = 80
    fw = round(fh * head.width / head.height)
    face_pixels = np.asarray(head.resize((fw, fh), Image.LANCZOS))
    boxes = []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for n in range(frames):
            canvas = np.full((240, 320, 3), (40, 110, 70), np.uint8)
            x, y = 20 + 3 * n, 70
            canvas[y:y + fh, x:x + fw] = face_pixels
            sign = (x + fw + 24, y + 20, x + fw + 54, y + 50)
            canvas[sign[1]:sign[3], sign[0]:sign[2]] = (230, 200, 20)  # a name written on a sign
            boxes.append(((x, y, x + fw, y + fh), sign))
            for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return boxes


def _frame_of(video: Path, index: int) -> np.ndarray:
    from crowdveil.io.video import VideoSource

    with VideoSource(video) as source:
        for frame in source.frames():
            if frame.index == index:
                return frame.rgb
    raise AssertionError(f"no frame {index}")


def test_a_region_drawn_on_one_frame_follows_its_track(tmp_path, browser):
    src = tmp_path / "walk.mp4"
    boxes = _walking_face(src)
    out = tmp_path / "out"
    workspace = Workspace(Config(preset="fast"), out, names="keep")
    fill = Config().fill_color
    with StudioServer(workspace) as server:
        ctx, page, seen = open_page(browser, server)
        drop(page, src, "video/mp4")
        page.locator(".card .status", has_text="Video").wait_for(timeout=60_000)
        page.locator(".card").first.click()
        page.locator("#photo").wait_for()
        page.click("#export")
        page.locator("#result.ok, #result.bad").wait_for(timeout=180_000)
        assert "Verified and saved" in page.locator("#result").inner_text()
        first = _frame_of(out / "walk.veiled.mp4", 35)

        assert filled_share(first, boxes[35][0], fill, tol=16) > 0.9, "the face is covered"
        assert filled_share(first, boxes[35][1], fill, tol=16) < 0.2, "the sign is not (the detector cannot know)"
        # Frame 6: draw a region over the sign, beside the face; it follows the face's track.
        page.locator("#scrub").fill("5")
        assert page.locator("#scrub-text").inner_text().startswith("Frame 6 of 40")
        page.locator("#photo[href^='blob:']").wait_for(state="attached")
        sx1, sy1, sx2, sy2 = boxes[5][1]
        a = screen_rect(page, (sx1 - 2, sy1 - 2, sx2 + 2, sy2 + 2))
        page.mouse.move(a[0], a[1])
        page.mouse.down()
        page.mouse.move((a[0] + a[2]) / 2, (a[1] + a[3]) / 2, steps=3)
        page.mouse.move(a[2], a[3], steps=3)
        page.mouse.up()
        assert page.locator("rect.region.fix").count() == 1
        assert page.locator("#fix-count").inner_text().startswith("1 region(s) drawn on frames")
        page.screenshot(path=str(tmp_path / "fix.png"))
        docs_copy(tmp_path / "fix.png", "after-video-fix.png")
        page.click("#export")
        page.locator("#result.busy").wait_for()
        page.locator("#result.ok, #result.bad").wait_for(timeout=180_000)
        text = page.locator("#result").inner_text()
        assert "Verified and saved" in text, text
        assert "following the tracks they touch" in text
        assert seen == []
        ctx.close()
    exported = out / "walk.veiled.mp4"
    for n in (5, 20, 35):
        frame = _frame_of(exported, n)
        assert filled_share(frame, boxes[n][1], fill, tol=16) > 0.9, f"frame {n}: the sign must be covered too"
        assert filled_share(frame, boxes[n][0], fill, tol=16) > 0.9, f"frame {n}: and the face still"
