"""The studio in a real browser: Debian's Chromium driven by Playwright.

A person's review, end to end: add a photo with two faces, leave one face
visible, draw one extra region, export, and check the exported pixels in
Python. Set ``CROWDVEIL_DOCS_SCREENSHOT=1`` to also copy the screenshot the
test makes to ``docs/studio.png`` (the README's picture).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from helpers import drop, exiftool_tags, face_on_background, filled_share, jpeg_with_phone_metadata
from crowdveil.config import Config
from crowdveil.detect.base import Detector
from crowdveil.demo import astronaut_face
from crowdveil.studio.server import StudioServer
from crowdveil.studio.workspace import Workspace
from crowdveil.types import Detections

DOCS_SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "studio.png"
FACE_HEIGHT = 120
LEFT_FACE, RIGHT_FACE = (80, 200), (560, 200)  # top-left corners of the pasted heads
DRAWN = (340, 40, 440, 120)  # a region drawn by hand on plain background


def two_faces(path: Path) -> tuple[Path, list[tuple[int, int, int, int]]]:
    """A plain background with the astronaut's head pasted twice, 120 px tall, plus phone metadata."""
    canvas = np.full((500, 800, 3), (70, 120, 90), np.uint8)
    head = Image.fromarray(astronaut_face())
    width = round(FACE_HEIGHT * head.width / head.height)
    boxes = []
    for x, y in (LEFT_FACE, RIGHT_FACE):
        canvas[y : y + FACE_HEIGHT, x : x + width] = np.asarray(head.resize((width, FACE_HEIGHT), Image.LANCZOS))
        boxes.append((x, y, x + width, y + FACE_HEIGHT))
    return jpeg_with_phone_metadata(path, canvas), boxes


def screen_point(page, x: float, y: float) -> tuple[float, float]:
    """Where image pixel (x, y) is on screen: the photo element spans the whole image."""
    box = page.locator("#photo").bounding_box()
    width, height = (float(page.locator("#photo").get_attribute(a)) for a in ("width", "height"))
    return box["x"] + x * box["width"] / width, box["y"] + y * box["height"] / height


def region_boxes(page, selector: str) -> list[list[int]]:
    return [[int(v) for v in r.get_attribute("data-box").split(",")] for r in page.locator(selector).all()]


def test_review_remove_draw_export(tmp_path, browser, monkeypatch):
    # A home folder of its own: the page shows the output folder as "~/march-veiled", so the
    # README's screenshot names no test's temporary path and no account.
    home = tmp_path / "home"
    (home / "march").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    src, (left_face, right_face) = two_faces(home / "march" / "march.jpg")
    out = home / "march-veiled"
    workspace = Workspace(Config(preset="fast"), out)
    requests: list[str] = []
    with StudioServer(workspace) as server:
        assert oct(workspace.private_dir.stat().st_mode & 0o777) == "0o700"
        context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)  # CSP violations too
        page.on("request", lambda request: requests.append(request.url))
        page.goto(server.url)
        assert page.url == server.origin + "/", "the one-time token must leave the address bar"
        page.locator("#out-dir", has_text="~/march-veiled").wait_for()
        assert str(tmp_path) not in page.locator("header").inner_text()

        page.set_input_files("#file-input", str(src))
        card = page.locator(".card").first
        card.locator(".status", has_text="2 regions to review").wait_for(timeout=60_000)
        assert card.locator(".status", has_text="GPS position").count() == 1
        assert card.locator(".status", has_text="Not exported yet").count() == 1
        card.click()

        page.locator("rect.region.face").nth(1).wait_for()
        found = region_boxes(page, "rect.region.face")
        assert len(found) == 2
        left = next(b for b in found if b[2] <= left_face[2] + 20)
        # Click the left face: it is left visible, drawn dashed.
        page.mouse.click(*screen_point(page, (left[0] + left[2]) / 2, (left[1] + left[3]) / 2))
        assert region_boxes(page, "rect.region.removed") == [left]
        # Drag on the background: a new region, drawn by hand.
        page.mouse.move(*screen_point(page, DRAWN[0], DRAWN[1]))
        page.mouse.down()
        page.mouse.move(*screen_point(page, (DRAWN[0] + DRAWN[2]) / 2, (DRAWN[1] + DRAWN[3]) / 2), steps=4)
        page.mouse.move(*screen_point(page, DRAWN[2], DRAWN[3]), steps=4)
        page.mouse.up()
        drawn = region_boxes(page, "rect.region.manual")
        assert len(drawn) == 1 and np.allclose(drawn[0], DRAWN, atol=3), drawn
        assert page.locator("#region-count").inner_text().startswith("2 box(es) will be covered, 1 left visible")

        page.keyboard.press("e")
        page.locator("#result.ok, #result.bad").wait_for(timeout=60_000)
        result_text = page.locator("#result").inner_text()
        assert "Verified and saved" in result_text, result_text
        page.screenshot(path=str(tmp_path / "studio.png"))
        page.click("#toggle-result")
        assert "/result" in page.locator("#photo").get_attribute("data-src")
        # A locator, not wait_for_function: the page's CSP forbids the eval a string predicate needs.
        page.locator("#photo[href^='blob:']").wait_for(state="attached")
        assert page.locator("rect.region").count() == 0, "the exported copy is shown as written, without boxes"
        page.keyboard.press("r")
        assert page.locator("rect.region").count() == 3
        with page.expect_download() as download:
            page.click("#download")
        downloaded = Path(download.value.path()).read_bytes()
        assert download.value.suggested_filename == "veiled-0001.jpg", "the download is named neutrally too"
        page.keyboard.press("Escape")
        assert page.locator(".card .status.ok", has_text="Exported and verified").count() == 1
        assert page.locator(".card img").first.get_attribute("src").startswith("blob:")
        assert errors == []
        # A second tab of the same browser has the cookie but not the tab's key: it sees no file.
        other = context.new_page()
        other.goto(server.origin + "/")
        other.locator("#no-access").wait_for(state="visible")
        status = other.evaluate("fetch('/api/state').then((r) => r.status)")
        assert status == 403
        other.close()
        private = workspace.private_dir
        context.close()
    assert not private.exists(), "the private folder (previews) must be deleted when the studio stops"

    # Neutral by default: "march.jpg" could be "PXL_20250301_143022123_Maria.jpg", and the copy is what gets posted.
    exported = out / "veiled-0001.jpg"
    assert sorted(p.name for p in out.iterdir()) == [exported.name]
    assert downloaded == exported.read_bytes()
    original = np.asarray(Image.open(src).convert("RGB")).astype(int)
    result = np.asarray(Image.open(exported).convert("RGB"))
    assert result.shape == original.shape
    fill = Config().fill_color
    assert filled_share(result, right_face, fill) > 0.97, "the kept detection must be filled"
    assert filled_share(result, DRAWN, fill) > 0.97, "the drawn region must be filled"
    x1, y1, x2, y2 = left_face
    untouched = np.abs(result[y1:y2, x1:x2].astype(int) - original[y1:y2, x1:x2]).mean()
    assert untouched < 4, f"the face left visible changed by {untouched:.1f} on average"
    assert filled_share(result, left_face, fill) < 0.05
    tags = exiftool_tags(exported)
    assert not [k for k in tags if k.split(":")[0] in ("IFD0", "ExifIFD", "GPS", "IFD1", "XMP-x", "XMP-xmp")], tags

    origins = {r.split("/")[2] for r in requests if not r.startswith(("data:", "blob:"))}
    assert origins == {f"127.0.0.1:{server.port}"}, f"the page must fetch from the studio only: {origins}"

    assert Image.open(tmp_path / "studio.png").size == (1280, 800)
    if os.environ.get("CROWDVEIL_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / "studio.png", DOCS_SCREENSHOT)


def _small_video(path: Path, frames: int = 12) -> tuple[Path, tuple[int, int, int, int]]:
    import av

    pixels, (box,) = face_on_background(320, 240, faces=((100, 40, 120),))
    with av.open(str(path), "w") as container:
        container.metadata["location"] = "+48.8566+002.3522/"
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path, box


def test_video_export_shows_progress_and_frames(tmp_path, browser):
    src, face = _small_video(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    workspace = Workspace(Config(preset="fast"), out, names="keep")
    with StudioServer(workspace) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(server.url)
        drop(page, src, "video/mp4")
        card = page.locator(".card").first
        card.locator(".status", has_text="Video").wait_for(timeout=60_000)
        assert card.locator(".status", has_text="location").count() == 1
        card.click()
        page.locator("#photo").wait_for()
        page.click("#export")
        page.locator("#progress").wait_for(state="visible")
        page.locator("#result.ok, #result.bad").wait_for(timeout=120_000)
        assert "Verified and saved" in page.locator("#result").inner_text()
        frames = page.locator("#frames img")
        frames.nth(3).wait_for()
        assert frames.count() == 4
        page.wait_for_function("[...document.querySelectorAll('#frames img')].every(i => i.complete && i.naturalWidth > 0)")
        assert page.locator("#progress-text").inner_text() == "done"
        key = page.evaluate("sessionStorage.getItem('crowdveil-key')")
        shown = page.request.get(server.origin + frames.first.get_attribute("data-src"),
                                 headers={"X-Crowdveil-Key": key})
        assert shown.ok
        (tmp_path / "frame.jpg").write_bytes(shown.body())
        page.close()

    frame = np.asarray(Image.open(tmp_path / "frame.jpg").convert("RGB"))
    assert frame.shape[:2] == (240, 320)
    assert filled_share(frame, face, Config().fill_color, tol=16) > 0.9, "the frames shown come from the covered result"
    exported = out / "clip.veiled.mp4"
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                                       str(exported)], capture_output=True, text=True, check=True).stdout)
    assert [s["codec_type"] for s in probe["streams"]] == ["video"]
    assert int(probe["streams"][0]["nb_frames"]) == 12
    assert "location" not in json.dumps(probe["format"].get("tags", {}))


class EverNewFace(Detector):
    """A verifier that finds one more face at a new place on every pass, so
    the pipeline's repair rounds never catch up and it must refuse the file."""

    name = "ever-new-face"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, rgb: np.ndarray) -> Detections:
        x = 10 + 60 * self.calls
        self.calls += 1
        return Detections.from_boxes([[x, 400, x + 16, 416]], score=[0.9])


def test_verification_refusal_is_shown_in_the_page(tmp_path, browser):
    src, _ = two_faces(tmp_path / "march.jpg")
    out = tmp_path / "out"
    workspace = Workspace(Config(preset="fast"), out, verifier=EverNewFace())
    with StudioServer(workspace) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(server.url)
        page.set_input_files("#file-input", str(src))
        page.locator(".card .status", has_text="2 regions to review").wait_for(timeout=60_000)
        page.locator(".card").first.click()
        page.locator("rect.region.face").nth(1).wait_for()
        page.click("#export")
        page.locator("#result.ok, #result.bad").wait_for(timeout=60_000)
        text = page.locator("#result").inner_text()
        assert "Refused: verification failed, nothing was saved" in text, text
        assert "✗ no face left outside the redacted regions" in text, text
        assert "What to do:" in text
        page.keyboard.press("Escape")
        assert page.locator(".card .status.bad", has_text="Refused").count() == 1
        page.close()
    assert not out.exists() or not [p for p in out.iterdir()], "a refused file leaves nothing behind"
