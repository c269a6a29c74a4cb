"""The photo path end to end: faces covered, metadata gone (by exiftool),
verification fails closed, originals never touched."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

import crowdveil
from crowdveil import Config, anonymize
from crowdveil.detect.base import Detector
from crowdveil.types import Detections, box_coverage

from helpers import exiftool_tags, face_on_background, filled_share, no_temp_files, sha256

IDENTIFYING = ("GPS", "Serial", "Make", "Model", "DateTime", "Software", "Thumbnail", "MPF", "XMP", "IPTC", "ICC")


def identifying_tags(tags: dict) -> list[str]:
    return [k for k in tags if any(word.lower() in k.lower() for word in IDENTIFYING)]


def test_face_covered_and_phone_metadata_gone(face_jpeg, fast_detector):
    src, boxes = face_jpeg
    before = sha256(src)
    assert identifying_tags(exiftool_tags(src)), "fixture must carry GPS/serial/thumbnail"
    report = anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    out = src.with_name("face.veiled.jpg")
    assert report.passed and report.destination == str(out)
    assert sha256(src) == before
    assert identifying_tags(exiftool_tags(out)) == []
    pixels = np.asarray(Image.open(out))
    assert filled_share(pixels, boxes[0]) > 0.97
    assert {"GPS position", "camera serial", "embedded thumbnail", "timestamps"} <= set(report.metadata_removed)
    assert report.face_count == 1 and report.checks and all(c.passed for c in report.checks)
    assert no_temp_files(src.parent)


def test_demo_crowd_every_face_covered_with_default_detector(tmp_path):
    from crowdveil.demo import coverage_of, write_demo

    src = tmp_path / "crowd.jpg"
    boxes = write_demo(src)
    report = anonymize(src, tmp_path / "out.jpg")
    assert report.passed
    assert coverage_of(report, boxes) == len(boxes), "every demo face from 10 to 300 px must be covered"
    assert not [k for k in exiftool_tags(tmp_path / "out.jpg") if "GPS" in k]
    # …and nothing else: no region covers background alone or more than one face.
    faces = np.array(boxes, np.float32)
    for region in report.faces:
        box = np.array([region["box"]], np.float32)
        inside = box_coverage(faces, box)[:, 0]  # share of each demo face inside this region
        assert (inside > 0.2).sum() == 1, f"region {region} covers {int((inside > 0.2).sum())} faces"
        face = faces[inside.argmax()]
        grown = (face[2] - face[0]) * (face[3] - face[1]) * 4  # the face box grown 2× on each axis
        assert (box[0, 2] - box[0, 0]) * (box[0, 3] - box[0, 1]) <= grown, f"region {region} is mostly background"


def _orient(upright: Image.Image, orientation: int) -> Image.Image:
    """Store ``upright`` so that a viewer applying ``orientation`` shows it upright."""
    inverse = {
        2: [Image.Transpose.FLIP_LEFT_RIGHT],
        3: [Image.Transpose.ROTATE_180],
        4: [Image.Transpose.FLIP_TOP_BOTTOM],
        5: [Image.Transpose.TRANSPOSE],
        6: [Image.Transpose.ROTATE_90],
        7: [Image.Transpose.TRANSVERSE],
        8: [Image.Transpose.ROTATE_270],
    }.get(orientation, [])
    for op in inverse:
        upright = upright.transpose(op)
    return upright


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_gives_upright_output_with_face_covered(tmp_path, orientation, fast_detector):
    pixels, boxes = face_on_background(480, 320, faces=((60, 40, 130),))
    stored = _orient(Image.fromarray(pixels), orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    src = tmp_path / f"o{orientation}.jpg"
    stored.save(src, "JPEG", quality=95, exif=exif.tobytes())
    report = anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    out = np.asarray(Image.open(report.destination))
    assert out.shape[:2] == (320, 480), "output must be upright"
    assert filled_share(out, boxes[0]) > 0.97
    # Outside the face, the output matches the upright original (JPEG noise aside).
    assert np.abs(out[250:, 300:].astype(int) - pixels[250:, 300:].astype(int)).mean() < 6
    assert "Orientation" not in str(exiftool_tags(report.destination))


def test_alpha_png_redacted_regions_become_opaque(tmp_path, fast_detector):
    pixels, boxes = face_on_background(400, 300, faces=((120, 60, 140),))
    alpha = np.full(pixels.shape[:2], 255, np.uint8)
    alpha[:, :200] = 0  # the face's left half is transparent but its RGB is still there
    src = tmp_path / "alpha.png"
    Image.fromarray(np.dstack([pixels, alpha]), "RGBA").save(src)
    report = anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    out = np.asarray(Image.open(report.destination))
    assert report.destination.endswith(".png") and out.shape[2] == 4
    x1, y1, x2, y2 = boxes[0]
    assert (out[y1:y2, x1:x2, 3] == 255).all(), "transparent pixels over a face would still carry it"
    assert filled_share(out, boxes[0], tol=0) == 1.0
    assert (out[:, 330:, 3] == 255).all() and (out[250:, :100, 3] == 0).all()


def test_heic_with_gps_becomes_clean_jpeg(tmp_path, fast_detector):
    import pillow_heif  # noqa: F401  (registers the HEIF plugin)

    from crowdveil.demo import phone_exif

    pixels, boxes = face_on_background(480, 320, faces=((150, 60, 150),))
    src = tmp_path / "phone.heic"
    Image.fromarray(pixels).save(src, "HEIF", quality=90, exif=phone_exif())
    assert [k for k in exiftool_tags(src) if "GPS" in k]
    report = anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    assert report.destination.endswith("phone.veiled.jpg")
    assert identifying_tags(exiftool_tags(report.destination)) == []
    assert filled_share(np.asarray(Image.open(report.destination)), boxes[0]) > 0.97
    assert "GPS position" in report.metadata_removed


@pytest.mark.parametrize("mode", ["CMYK", "P", "L", "I;16", "LA"])
def test_unusual_pixel_formats_decode_and_redact(tmp_path, mode, fast_detector):
    pixels, boxes = face_on_background(400, 300, faces=((120, 60, 140),))
    im = Image.fromarray(pixels)
    if mode == "I;16":
        im = Image.fromarray(np.asarray(im.convert("L")).astype(np.uint16) * 257)
    else:
        im = im.convert(mode)
    src = tmp_path / ("in.jpg" if mode == "CMYK" else "in.png")
    im.save(src)
    report = anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    out = np.asarray(Image.open(report.destination).convert("RGB"))
    assert report.passed and out.shape[:2] == (300, 400)
    assert filled_share(out, boxes[0], tol=16) > 0.95


def test_animated_gif_is_not_reduced_to_its_first_frame(tmp_path, fast_detector):
    """Every frame goes through the video pipeline (tests/test_formats.py has the rest)."""
    pixels, _ = face_on_background(200, 150, faces=((50, 20, 90),))
    frames = [Image.fromarray(pixels), Image.fromarray(pixels[:, ::-1].copy())]
    src = tmp_path / "anim.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100)
    report = anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    assert report.passed and report.video["frames"] == 2 and report.destination.endswith("anim.veiled.gif")
    with Image.open(report.destination) as out:
        assert out.n_frames == 2


def test_multipage_tiff_is_refused_not_reduced_to_its_first_page(tmp_path, fast_detector):
    pixels, _ = face_on_background(200, 150, faces=((50, 20, 90),))
    src = tmp_path / "pages.tif"
    Image.fromarray(pixels).save(src, save_all=True, append_images=[Image.fromarray(pixels[:, ::-1].copy())])
    with pytest.raises(crowdveil.UnsupportedFormat, match="2 frames"):
        anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pages.tif"]


def test_forced_metadata_leak_fails_closed(face_jpeg, fast_detector, monkeypatch):
    import crowdveil.pipeline.photo as pipeline

    real_encode = pipeline.encode_clean
    # Simulate an encoder bug that lets a Motion-Photo-style trailer through.
    monkeypatch.setattr(pipeline, "encode_clean", lambda *a, **k: real_encode(*a, **k) + b"\x00\x00\x00\x18ftypmp42")
    src, _ = face_jpeg
    before = sha256(src)
    with pytest.raises(crowdveil.VerificationFailed, match="no metadata") as info:
        anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    assert info.value.report is not None and not info.value.report.passed
    assert sorted(p.name for p in src.parent.iterdir()) == ["face.jpg"]
    assert sha256(src) == before


class _EvasiveVerifier(Detector):
    """Reports a new face each time, somewhere not yet painted."""

    name = "evasive"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, rgb):
        self.calls += 1
        x = 10 + 60 * self.calls
        return Detections.from_boxes([[x, 420, x + 30, 450]], score=[0.9], source=self.name)


def test_faces_left_after_repair_rounds_fail_the_file(face_jpeg, fast_detector):
    src, _ = face_jpeg
    verifier = _EvasiveVerifier()
    with pytest.raises(crowdveil.VerificationFailed, match="no face left"):
        anonymize(src, None, Config(), detector=fast_detector, verifier=verifier)
    assert verifier.calls == 3
    assert sorted(p.name for p in src.parent.iterdir()) == ["face.jpg"]


def test_verifier_finds_are_redacted_and_reverified(face_jpeg):
    src, boxes = face_jpeg

    class Blind(Detector):
        name = "blind"

        def detect(self, rgb):
            return Detections.empty()

    from crowdveil.detect.centerface import CenterFace

    report = anonymize(src, None, Config(), detector=Blind(), verifier=CenterFace(threshold=0.3))
    assert report.passed and report.face_count == 1
    assert any("verification found 1" in n for n in report.notes)
    assert filled_share(np.asarray(Image.open(report.destination)), boxes[0]) > 0.97


def test_never_overwrites_original_or_existing_output(face_jpeg, fast_detector):
    src, _ = face_jpeg
    with pytest.raises(crowdveil.UnsafeOutputPath, match="is the input"):
        anonymize(src, src, Config(overwrite=True), detector=fast_detector, verifier=fast_detector)
    existing = src.with_name("face.veiled.jpg")
    existing.write_bytes(b"keep me")
    with pytest.raises(crowdveil.UnsafeOutputPath, match="already exists"):
        anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    assert existing.read_bytes() == b"keep me"


@pytest.mark.parametrize("style", ["fill", "mosaic", "blur"])
@pytest.mark.parametrize("shape", ["box", "ellipse"])
def test_styles_change_only_the_padded_face_region(tmp_path, style, shape, fast_detector):
    pixels, boxes = face_on_background(400, 300, faces=((140, 70, 130),))
    src = tmp_path / "in.png"
    Image.fromarray(pixels).save(src)
    report = anonymize(src, None, Config(style=style, shape=shape), detector=fast_detector, verifier=fast_detector)
    out = np.asarray(Image.open(report.destination)).astype(int)
    region = report.faces[0]["box"]
    changed = np.abs(out - pixels.astype(int)).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    w, h = region[2] - region[0], region[3] - region[1]
    assert xs.min() >= region[0] - w * 0.45 and xs.max() <= region[2] + w * 0.45
    assert ys.min() >= region[1] - h * 0.5 and ys.max() <= region[3] + h * 0.45
    x1, y1, x2, y2 = boxes[0]
    inner = out[y1 + 10 : y2 - 10, x1 + 10 : x2 - 10]
    # Whatever the style, no facial detail survives in the face itself.
    assert inner.std(axis=(0, 1)).max() < (2 if style == "fill" else 40)
    if style != "fill":
        assert np.abs(inner - pixels[y1 + 10 : y2 - 10, x1 + 10 : x2 - 10]).mean() > 10


def test_report_lists_kinds_never_values(face_jpeg, fast_detector):
    src, _ = face_jpeg
    report = anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    text = str(report.to_dict())
    for value in ("SN-0042-DEMO", "DemoPhone", "2026:11:01", "48, 1"):
        assert value not in text
    assert report.models and all(len(v) == 64 for v in report.models.values())
    assert report.version == crowdveil.__version__ and report.timings_ms["total"] > 0


class _Judging(Detector):
    """Paints nothing and says it turned down ``rejected``, as the second stage does."""

    name = "judging"

    def __init__(self, rejected: Detections) -> None:
        self.rejected = rejected

    def detect(self, rgb):
        return self.judge(rgb).faces

    def judge(self, rgb):
        from crowdveil.detect.base import Judgement

        return Judgement(Detections.empty(), self.rejected)


class _Finding(Detector):
    name = "finding"

    def __init__(self, box, score) -> None:
        self.box, self.score = box, score

    def detect(self, rgb):
        return Detections.from_boxes([self.box], score=[self.score], source=self.name)


@pytest.mark.parametrize("score, view, repainted", [
    (0.6, "yunet-mirrored", False),  # repeats a candidate the classifier turned down: its judgement stands
    (0.85, "yunet-mirrored", True),  # as sure as that network is of faces: repainted whatever the classifier said
    (0.6, "centerface", True),  # another network's candidate: the verifier's find is new evidence
])
def test_a_verifier_find_that_only_repeats_a_rejected_candidate_is_not_repainted(tmp_path, score, view, repainted):
    from crowdveil.detect.registry import VERIFIER_VIEW, VERIFY_SURE_SCORE

    assert VERIFIER_VIEW == "yunet-mirrored" and VERIFY_SURE_SCORE == 0.8
    pixels = np.zeros((200, 300, 3), np.uint8)
    pixels[..., 1] = np.linspace(60, 220, 300, dtype=np.uint8)  # green, nowhere near the fill colour
    src = tmp_path / "in.png"
    Image.fromarray(pixels).save(src)
    rejected = Detections.from_boxes([[100, 50, 160, 120]], score=[0.55], source=view)
    report = anonymize(src, None, Config(), detector=_Judging(rejected), verifier=_Finding([102, 52, 158, 118], score))
    out = np.asarray(Image.open(report.destination))
    assert report.passed
    assert (filled_share(out, [102, 52, 158, 118]) > 0.97) == repainted
    assert any("verification found 1" in n for n in report.notes) == repainted
    assert any("re-found 1 candidate(s) the classifier had turned down" in n for n in report.notes) != repainted


def test_a_verifier_find_over_what_painting_changed_is_repainted_even_beside_a_rejected_candidate(tmp_path):
    from crowdveil.verify.checks import repeats_rejected

    rejected = Detections.from_boxes([[100, 50, 160, 120]], score=[0.55], source="yunet-mirrored")
    found = Detections.from_boxes([[100, 50, 160, 120], [130, 50, 190, 120], [100, 50, 160, 120]],
                                  score=[0.6, 0.6, 0.6], kind=["face", "face", "text"])
    # the same box repeats it; one half off it does not (IoU 1/3); text is never a face candidate's twin
    assert repeats_rejected(found, rejected, below=0.8).tolist() == [True, False, False]
    assert repeats_rejected(found, Detections.empty(), below=0.8).tolist() == [False, False, False]


def test_reviewed_regions_carry_the_rejected_candidates_they_came_from(tmp_path):
    # The studio exports the regions a person reviewed; the candidates the detector turned down on
    # opening travel with them, so the export's verifier weighs its finds as the CLI's does.
    pixels = np.zeros((200, 300, 3), np.uint8)
    pixels[..., 2] = 180
    src = tmp_path / "in.png"
    Image.fromarray(pixels).save(src)
    rejected = Detections.from_boxes([[100, 50, 160, 120]], score=[0.55], source="yunet-mirrored")
    manual = Detections.from_boxes([[10, 10, 40, 40]], kind="manual")
    verifier = _Finding([102, 52, 158, 118], 0.6)
    kept = anonymize(src, tmp_path / "a.png", Config(), regions=manual, rejected=rejected, verifier=verifier)
    assert kept.passed and not any("verification found" in n for n in kept.notes)
    plain = anonymize(src, tmp_path / "b.png", Config(), regions=manual, verifier=verifier)
    assert any("verification found 1" in n for n in plain.notes)
