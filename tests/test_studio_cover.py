"""Covering more than faces in the studio, in Debian's Chromium through Playwright (issue 14).

* "Cover text": the text found (plates, signs, badges) appears as suggestions of their own colour,
  covered; one click clears one, another covers it again; the export paints exactly the ones kept
  and leaves the cleared ones as they were, verified for text;
* "Cover a whole person": one drag over a head covers that head and the body below it;
* "Cover whole bodies": the body below each face kept covered;
* with all of them, the covers the page draws (1:1, "covers as exported") are the exported pixels.
"""

from __future__ import annotations

import subprocess

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from crowdveil.config import Config
from crowdveil.detect import cover
from crowdveil.detect.base import Detector
from crowdveil.redact import bodies
from crowdveil.studio.server import StudioServer
from crowdveil.studio.workspace import Workspace
from crowdveil.types import Detections

from helpers import face_on_background, filled_share

GREY = np.array(Config().fill_color)
BACKGROUND = (30, 160, 220)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


class Fixed(Detector):
    """Finds the same boxes, of one kind, on every image (the test decides the regions)."""

    def __init__(self, boxes: list, kind: str = "face") -> None:
        self.boxes, self.kind, self.name, self.calls = boxes, kind, f"fixed-{kind}", 0

    def detect(self, rgb: np.ndarray) -> Detections:
        self.calls += 1
        if not self.boxes:
            return Detections.empty()
        return Detections.from_boxes(self.boxes, score=[0.9] * len(self.boxes), kind=self.kind, source=self.name)


def open_editor(browser, server, src, cards_text: str):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(server.url)
    page.locator("body[data-ready='1']").wait_for()
    page.set_input_files("#file-input", str(src))
    page.locator(".card .status", has_text=cards_text).wait_for(timeout=60_000)
    page.locator(".card").first.click()
    page.locator("#photo[href^='blob:']").wait_for(state="attached")
    return ctx, page, errors


def screen_point(page, x: float, y: float) -> tuple[float, float]:
    box = page.locator("#photo").bounding_box()
    width, height = (float(page.locator("#photo").get_attribute(a)) for a in ("width", "height"))
    return box["x"] + x * box["width"] / width, box["y"] + y * box["height"] / height


def click_box(page, box) -> None:
    page.mouse.click(*screen_point(page, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2))


def drag(page, box) -> None:
    page.mouse.move(*screen_point(page, box[0], box[1]))
    page.mouse.down()
    page.mouse.move(*screen_point(page, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2), steps=4)
    page.mouse.move(*screen_point(page, box[2], box[3]), steps=4)
    page.mouse.up()


def boxes_of(page, selector: str) -> list[list[int]]:
    return [[int(v) for v in r.get_attribute("data-box").split(",")] for r in page.locator(selector).all()]


def stroke(page, selector: str) -> str:
    return page.locator(selector).first.evaluate("(node) => getComputedStyle(node).stroke")


# ---- text: suggestions one click covers or clears, the export paints the kept ones --------------

def street_with_text(path) -> list[tuple[int, int, int, int]]:
    """A plain street-coloured photo with a licence plate, a shop sign and a name badge rendered on it."""
    img = np.full((500, 800, 3), (120, 110, 100), np.uint8)
    boxes = []
    font = cv2.FONT_HERSHEY_DUPLEX
    for (x, y), text, scale, thick, ink, card in [((60, 120), "KX 4821", 1.0, 2, (15, 15, 15), (245, 245, 245)),
                                                 ((380, 110), "BAKERY 24h", 1.2, 3, (255, 255, 255), (180, 30, 30)),
                                                 ((200, 380), "R. OKAFOR", 0.9, 2, (20, 20, 60), (230, 230, 210))]:
        (w, h), base = cv2.getTextSize(text, font, scale, thick)
        cv2.rectangle(img, (x - 14, y - h - 14), (x + w + 14, y + base + 14), card, -1)
        cv2.putText(img, text, (x, y), font, scale, ink, thick, cv2.LINE_AA)
        boxes.append((x, y - h, x + w, y + base))
    Image.fromarray(img).save(path, quality=95)
    return boxes


def test_text_suggestions_have_their_own_colour_one_click_toggles_and_the_export_paints_the_kept(tmp_path, browser):
    src = tmp_path / "street.jpg"
    plate, sign, badge = street_with_text(src)
    out = tmp_path / "out"
    # The real text detector finds the suggestions, and the export's verifier reads the file for text.
    workspace = Workspace(Config(preset="fast"), out, names="keep", detector=Fixed([[600, 300, 640, 350]]),
                          verifier=Fixed([]))
    with StudioServer(workspace) as server:
        ctx, page, errors = open_editor(browser, server, src, "1 region to review")
        page.locator("rect.region.face").first.wait_for()
        assert page.locator("rect.region.text").count() == 0, "text is covered only when asked for"
        page.check("#cover-text")
        page.locator("#text-status", has_text="text region(s) found").wait_for(timeout=120_000)
        found = boxes_of(page, "rect.region.text")
        assert len(found) >= 3, found

        def suggestions_over(truth):
            return [b for b in found if b[0] < truth[2] and truth[0] < b[2] and b[1] < truth[3] and truth[1] < b[3]]

        for truth in (plate, sign, badge):
            assert suggestions_over(truth), (truth, found)
        # Their own colour: neither the faces' nor the hand-drawn boxes' nor "left visible".
        text_colour = stroke(page, ".outline.text")
        assert text_colour not in {stroke(page, ".outline.face"), "rgb(47, 128, 237)", "rgb(224, 36, 94)"}, text_colour
        assert page.locator("#cover-text").is_checked()
        # One click clears the badge's suggestion, another covers it again; then the badge is cleared for the export.
        badge_boxes = suggestions_over(badge)
        click_box(page, badge_boxes[0])
        assert boxes_of(page, "rect.region.text.removed") == [badge_boxes[0]]
        assert stroke(page, ".outline.text.removed") == text_colour, "a cleared suggestion keeps its colour"
        click_box(page, badge_boxes[0])
        assert boxes_of(page, "rect.region.text.removed") == []
        for box in badge_boxes:
            click_box(page, box)
        assert sorted(boxes_of(page, "rect.region.text.removed")) == sorted(badge_boxes)
        page.keyboard.press("e")
        page.locator("#result.ok, #result.bad").wait_for(timeout=120_000)
        result = page.locator("#result").inner_text()
        assert "Verified and saved" in result, result
        assert "✓ no text left outside the redacted regions" in result, result
        assert errors == []
        ctx.close()

    original = np.asarray(Image.open(src).convert("RGB")).astype(int)
    exported = np.asarray(Image.open(out / "street.veiled.jpg").convert("RGB")).astype(int)
    for truth in (plate, sign):
        assert filled_share(exported, truth) > 0.97, truth
    x1, y1, x2, y2 = badge
    assert np.abs(exported[y1:y2, x1:x2] - original[y1:y2, x1:x2]).mean() < 4, "the cleared suggestion stays as it was"
    assert filled_share(exported, (600, 300, 640, 350)) > 0.97


def test_turning_text_off_takes_its_suggestions_away_and_the_export_covers_none(tmp_path, browser, monkeypatch):
    src = tmp_path / "sign.png"
    Image.fromarray(np.full((400, 640, 3), BACKGROUND, np.uint8)).save(src)
    text = Fixed([[100, 100, 220, 130]], kind="text")
    out = tmp_path / "out"
    workspace = Workspace(Config(preset="fast"), out, names="keep", detector=Fixed([]), verifier=Fixed([]),
                          text_detector=text)
    with StudioServer(workspace) as server:
        ctx, page, errors = open_editor(browser, server, src, "No faces found")
        page.check("#cover-text")
        page.locator("rect.region.text").first.wait_for()
        page.uncheck("#cover-text")
        assert page.locator("rect.region.text").count() == 0
        page.check("#cover-text")  # found once: asked again, the same suggestions come back at once
        page.locator("rect.region.text").first.wait_for()
        assert text.calls == 1
        page.click("#undo")  # undoing "cover text" takes its suggestions and the setting away together
        assert page.locator("rect.region.text").count() == 0 and not page.locator("#cover-text").is_checked()
        page.keyboard.press("e")
        page.locator("#result.ok").wait_for(timeout=60_000)
        assert "no text left" not in page.locator("#result").inner_text()
        assert errors == []
        ctx.close()
    exported = np.asarray(Image.open(out / "sign.veiled.png").convert("RGB")).astype(int)
    assert (exported == BACKGROUND).all(), "nothing was painted: text was not asked for in the end"


# ---- a whole person in one drag, bodies below faces, and the preview is the export -------------

FACES = [[100.0, 80.0, 130.0, 116.0], [150.0, 90.0, 178.0, 124.0], [520.0, 60.0, 548.0, 94.0]]
TEXT = [[400.0, 300.0, 480.0, 320.0], [400.0, 350.0, 470.0, 368.0]]
HEAD = (300, 60, 330, 96)  # dragged with the person tool


def test_one_drag_covers_a_person_and_every_cover_drawn_is_the_exported_pixels(tmp_path, browser, monkeypatch):
    w, h = 640, 400
    src = tmp_path / "group.png"
    Image.fromarray(np.full((h, w, 3), BACKGROUND, np.uint8)).save(src)
    text = Fixed(TEXT, kind="text")
    # The export's text verifier reads both lines on every pass: the kept one is under paint, the
    # cleared one is left visible as chosen; were it not, the verifier would paint it and the test fail.
    monkeypatch.setitem(cover._TEXT, "verifier", Fixed(TEXT, kind="text"))
    monkeypatch.setitem(cover._TEXT, "detector", text)
    out = tmp_path / "out"
    workspace = Workspace(Config(preset="fast"), out, names="keep", detector=Fixed(FACES), verifier=Fixed([]),
                          text_detector=text)
    with StudioServer(workspace) as server:
        ctx, page, errors = open_editor(browser, server, src, "3 regions to review")
        page.locator("rect.region.face").nth(2).wait_for()
        page.check("#cover-text")
        page.locator("rect.region.text").nth(1).wait_for()
        click_box(page, TEXT[1])  # cleared
        click_box(page, FACES[2])  # left visible: no body below it either
        page.check("#cover-bodies")
        page.click("#person-tool")
        assert page.locator("#person-tool").get_attribute("aria-pressed") == "true"
        drag(page, HEAD)
        (person,) = boxes_of(page, "rect.region.person")
        assert np.allclose(person, HEAD, atol=3), person
        assert stroke(page, ".outline.person") != stroke(page, ".outline.face")
        page.click("#person-tool")
        assert page.locator("#person-tool").get_attribute("aria-pressed") == "false"

        page.keyboard.press("1")
        page.keyboard.press("v")
        photo = page.locator("#photo").bounding_box()
        assert round(photo["width"]) == w and round(photo["height"]) == h
        shot = tmp_path / "preview.png"
        page.screenshot(path=str(shot), clip={"x": photo["x"], "y": photo["y"], "width": w, "height": h})
        page.keyboard.press("e")
        page.locator("#result.ok, #result.bad").wait_for(timeout=60_000)
        result = page.locator("#result").inner_text()
        assert "Verified and saved" in result and "✓ no text left outside the redacted regions" in result, result
        assert errors == []
        ctx.close()

    exported = np.asarray(Image.open(out / "group.veiled.png").convert("RGB")).astype(int)
    preview = np.asarray(Image.open(shot).convert("RGB"))[:h, :w].astype(int)
    painted_export = (exported == GREY).all(axis=2)
    painted_preview = (np.abs(preview - GREY) <= 3).all(axis=2)
    differ = painted_export ^ painted_preview
    assert differ.sum() == 0, f"{differ.sum()} pixels differ between the preview and the export"

    def painted(box) -> float:
        x1, y1, x2, y2 = (int(v) for v in box)
        return painted_export[y1:y2, x1:x2].mean()

    # The person: head and the body below it, down to the frame, as redact.bodies scales it.
    hw, cx = HEAD[2] - HEAD[0], (HEAD[0] + HEAD[2]) / 2
    assert painted((np.ceil(cx - bodies.HALF_WIDTH * hw), HEAD[1], cx + bodies.HALF_WIDTH * hw, h)) == 1
    # The two faces side by side: one band of bodies below them; the face left visible has none.
    assert painted((FACES[0][0], FACES[0][3], FACES[1][2], h)) == 1
    assert painted((FACES[2][0], FACES[2][1], FACES[2][2], h)) == 0
    assert painted(TEXT[0]) == 1 and painted(TEXT[1]) == 0
    assert painted((560, 0, 640, 40)) == 0 and painted((0, 0, 640, 20)) == 0


# ---- the workspace's side: what the page may ask for -------------------------------------------

def _workspace(tmp_path, config=None, **detectors):
    folder = tmp_path / "in"
    folder.mkdir(parents=True)
    Image.fromarray(np.full((400, 640, 3), BACKGROUND, np.uint8)).save(folder / "sign.png")
    workspace = Workspace(config or Config(preset="fast"), tmp_path / "out", names="keep",
                          **{"detector": Fixed([]), "verifier": Fixed([]), **detectors})
    (item,) = workspace.add_folder(folder)
    workspace.wait_idle()
    return workspace, item


def test_text_is_looked_for_once_on_request_or_on_adding_with_cover_text(tmp_path):
    text = Fixed(TEXT, kind="text")
    workspace, item = _workspace(tmp_path / "asked", text_detector=text)
    try:
        assert item.text is None and item.to_dict()["text"] is None and text.calls == 0
        workspace.find_text(item.id)
        workspace.find_text(item.id)
        assert text.calls == 1 and [t["box"] for t in item.to_dict()["text"]] == TEXT
    finally:
        workspace.close()
    started = Fixed(TEXT, kind="text")
    workspace, item = _workspace(tmp_path / "started", Config(preset="fast", cover=("text",)), text_detector=started)
    try:  # ``crowdveil studio --cover text``: the suggestions are there when the photo opens
        assert started.calls == 1 and len(item.text) == 2
    finally:
        workspace.close()


def test_a_cleared_text_box_must_be_text_the_studio_found_and_covers_must_be_known(tmp_path, monkeypatch):
    from crowdveil.studio.workspace import StudioError

    monkeypatch.setitem(cover._TEXT, "verifier", Fixed([], kind="text"))
    workspace, item = _workspace(tmp_path, text_detector=Fixed(TEXT, kind="text"))
    try:
        forged = [{"box": [10, 10, 200, 60], "kind": "text"}]
        with pytest.raises(StudioError, match="must be a face the studio found"):  # nothing looked for yet
            workspace.export_photo(item.id, [], forged, "fill", "box", cover=["text"])
        workspace.find_text(item.id)
        with pytest.raises(StudioError, match="not a drawn, moved or resized box"):
            workspace.export_photo(item.id, [], forged, "fill", "box", cover=["text"])
        with pytest.raises(StudioError, match="not one the studio offers"):
            workspace.export_photo(item.id, [], [], "fill", "box", cover=["plates"])
        cleared = [{"box": TEXT[1], "kind": "text"}]
        workspace.export_photo(item.id, [{"box": TEXT[0], "kind": "text"}], cleared, "fill", "box", cover=["text"])
        assert item.status == "exported" and item.cover == ["text"]
        assert "no text left outside the redacted regions" in {c["name"] for c in item.export["checks"]}
    finally:
        workspace.close()
    exported = np.asarray(Image.open(tmp_path / "out" / "sign.veiled.png").convert("RGB"))
    assert filled_share(exported, TEXT[0]) == 1 and filled_share(exported, TEXT[1]) == 0


def test_a_person_drawn_by_hand_is_painted_head_and_body(tmp_path):
    workspace, item = _workspace(tmp_path)
    try:
        workspace.export_photo(item.id, [{"box": list(HEAD), "kind": "person"}], [], "fill", "ellipse")
        assert item.status == "exported"
    finally:
        workspace.close()
    exported = np.asarray(Image.open(tmp_path / "out" / "sign.veiled.png").convert("RGB"))
    hw, cx = HEAD[2] - HEAD[0], (HEAD[0] + HEAD[2]) / 2
    body = (np.ceil(cx - bodies.HALF_WIDTH * hw), HEAD[3], np.floor(cx + bodies.HALF_WIDTH * hw), 400)
    assert filled_share(exported, body) == 1 and filled_share(exported, HEAD) == 1
    assert filled_share(exported, (0, 0, 640, 30)) == 0 and filled_share(exported, (400, 0, 640, 400)) == 0


def test_cover_whole_bodies_reaches_a_videos_export_and_its_review(tmp_path, browser):
    pixels, (face,) = face_on_background(320, 240, faces=((130, 30, 60),))
    src = tmp_path / "clip.mp4"
    with av.open(str(src), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for _ in range(30):
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    out = tmp_path / "out"
    workspace = Workspace(Config(preset="fast"), out, names="keep")
    with StudioServer(workspace) as server:
        ctx, page, errors = open_editor(browser, server, src, "Video")
        assert page.locator("#text-option").is_hidden(), "videos cover faces and bodies only"
        page.check("#cover-bodies")
        page.click("#export")
        page.locator("#result.ok, #result.bad").wait_for(timeout=120_000)
        assert "Verified and saved" in page.locator("#result").inner_text()
        page.locator("#scrubber").wait_for(state="visible")
        # The review draws the regions the export painted on each frame: the face's and its body's.
        assert page.locator("#covers > *").count() >= 2
        assert errors == []
        ctx.close()
    x1, y1, x2, y2 = face
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out / "clip.veiled.mp4"), "-f", "rawvideo", "-pix_fmt",
                          "rgb24", "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, 240, 320, 3)
    assert len(frames) == 30
    torso = (x1, y2 + 4, x2, 240)
    assert min(filled_share(frame, torso, tol=16) for frame in frames) > 0.97
