"""The studio's before/after screenshot scenes (docs/studio/): a photo with two faces, a crowd of
224 faces of 10 px with one selected, a truncated JPEG.

    PYTHONPATH=src .venv/bin/python scripts/studio_screenshots.py docs/studio after

For the "before" pictures, run it with PYTHONPATH pointing at an older tree's src
(``git archive <commit> src | tar -x -C /tmp/old``) and the prefix ``before``.
Needs Debian's chromium and Playwright; writes PREFIX-preview-cover.png, PREFIX-dense-crowd.png and
PREFIX-plain-error.png into the folder given.
"""
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import face_on_background
from crowdveil.config import Config
from crowdveil.detect.base import Detector
from crowdveil.studio.server import StudioServer
from crowdveil.studio.workspace import Workspace
from crowdveil.types import Detections
from playwright.sync_api import sync_playwright

DOCS = Path(sys.argv[1])
PREFIX = sys.argv[2] if len(sys.argv) > 2 else "before"


class Fixed(Detector):
    def __init__(self, b): self.b = b
    def detect(self, rgb):
        boxes = self.b.get(rgb.shape[:2], [])
        return Detections.from_boxes(boxes, score=[0.9]*len(boxes)) if boxes else Detections.empty()

def crowd():
    w, h = 1600, 1000
    xs = np.linspace(60, w - 70, 28)
    ys = np.linspace(120, h - 130, 8)
    return [[float(x), float(y), float(x + 10), float(y + 10)] for y in ys for x in xs]

tmp = Path(tempfile.mkdtemp())
os.environ["HOME"] = str(tmp)  # the page shows ~/out, not a temp path
with sync_playwright() as p:
    b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
    # preview cover: the astronaut twice, real detector
    from test_studio_browser import two_faces
    two_faces(tmp / "march.jpg")
    boxes_c = crowd()
    rng = np.random.default_rng(3)
    cp = rng.integers(90, 200, size=(1000, 1600, 3), dtype=np.uint8)
    for x1, y1, x2, y2 in boxes_c:
        cp[int(y1):int(y2), int(x1):int(x2)] = 20
    Image.fromarray(cp).save(tmp / "crowd.png")
    good, _ = face_on_background(320, 240, faces=((100, 40, 120),))
    Image.fromarray(good).save(tmp / "w.jpg", quality=90)
    (tmp / "IMG_broken.jpg").write_bytes((tmp / "w.jpg").read_bytes()[:-30])
    ws = Workspace(Config(preset="fast"), tmp / "out", detector=Fixed({(1000, 1600): boxes_c}), verifier=Fixed({}))
    with StudioServer(ws) as server:
        page = b.new_page(viewport={"width": 1400, "height": 900})
        page.goto(server.url)
        page.set_input_files("#file-input", [str(tmp / "crowd.png"), str(tmp / "IMG_broken.jpg")])
        page.locator(".card .status", has_text="224 faces").wait_for(timeout=60000)
        page.locator(".card .status.bad, .card .error-title").first.wait_for(timeout=60000)
        time.sleep(1.5)
        page.screenshot(path=str(DOCS / (PREFIX + "-plain-error.png")))
        page.locator(".card").first.click()
        page.locator("rect.region").nth(223).wait_for()
        time.sleep(1)
        page.keyboard.press("Tab")
        page.screenshot(path=str(DOCS / (PREFIX + "-dense-crowd.png")))
    ws = Workspace(Config(preset="fast"), tmp / "out2")
    with StudioServer(ws) as server:
        page = b.new_page(viewport={"width": 1400, "height": 900})
        page.goto(server.url)
        page.set_input_files("#file-input", str(tmp / "march.jpg"))
        page.locator(".card .status", has_text="faces found").wait_for(timeout=60000)
        page.locator(".card").first.click()
        page.locator("rect.region").nth(1).wait_for()
        time.sleep(1)
        page.screenshot(path=str(DOCS / (PREFIX + "-preview-cover.png")))
    b.close()
