"""The formats beyond JPEG/PNG/WebP/HEIC and MP4/MOV/MKV: each one made here from a real
photo (the astronaut's face) with its real encoder and the metadata people leave in it,
sniffed from its bytes, anonymized, and judged by exiftool (and ffprobe/ffmpeg where they
read the format), or refused with a line that says what to do.

JPEG XL (8-bit and 16-bit grey) and PNM come out as JPEG / PNG; animated GIF, WebP and
APNG as the same kind of animation (or MP4 with ``animation="mp4"``), every frame
detected, tracked and verified; WMV/ASF, FLV, MPEG-PS (.mpg, .vob), 3GP and AVCHD
(.mts/.m2ts) through the video pipeline as MP4; RAW files developed with LibRaw (a DNG
written here from the photo's pixels, and the real RAW samples of ../shared when present).
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from crowdveil import Config, anonymize
from crowdveil.demo import phone_exif
from crowdveil.errors import CorruptInput, CrowdveilError, TooLarge, UnsupportedFormat
from crowdveil.io.sniff import SNIFF_BYTES, sniff
from crowdveil.pipeline.video import anonymize_video
from crowdveil.runner.batch import expand_inputs
from crowdveil.verify.audit import audit_file

from helpers import exiftool_tags, face_on_background, filled_share, no_temp_files, sha256
from exiftool_allowlist import non_structural
from test_video import NoFaces, ffprobe, filled, mp4_leaks

SHARED_RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "metadata_samples"
FACE = (60, 40, 100)  # x, y, height of the face in the 320×240 picture


def _picture(width: int = 320, height: int = 240):
    pixels, (box,) = face_on_background(width, height, faces=(FACE,))
    return pixels, box


def _face_box(box):
    """The face below the hair line of the pasted crop (as ``test_video.filled`` measures it)."""
    x1, y1, x2, y2 = box
    return (x1, y1 + int(0.4 * (y2 - y1)), x2, y2)


def _as_bin(src: Path) -> Path:
    """The same bytes under a name that says nothing: formats are sniffed from content."""
    other = src.with_name(src.stem + "-renamed.bin")
    shutil.copyfile(src, other)
    return other


# -- JPEG XL -------------------------------------------------------------------------------------


def test_jpeg_xl_with_phone_exif_comes_out_a_clean_jpeg(tmp_path, fast_detector):
    pixels, box = _picture()
    src = tmp_path / "phone.jxl"
    Image.fromarray(pixels).save(src, "JXL", quality=90, exif=phone_exif())
    assert any("GPS" in k for k in exiftool_tags(src)), "the fixture must carry GPS"
    assert {"GPS position", "camera serial"} <= set(audit_file(src).kinds)
    report = anonymize(_as_bin(src), tmp_path / "out.jpg", Config(), detector=fast_detector, verifier=fast_detector)
    assert report.passed and {"GPS position", "camera serial"} <= set(report.metadata_removed)
    out = tmp_path / "out.jpg"
    assert non_structural(exiftool_tags(out)) == {}
    assert audit_file(out).clean
    assert filled_share(np.asarray(Image.open(out)), _face_box(box)) > 0.95


def test_jpeg_xl_16_bit_grey_is_read_as_16_bits(tmp_path, fast_detector):
    pixels, box = _picture()
    grey = np.asarray(Image.fromarray(pixels).convert("L")).astype(np.uint16) * 257
    src = tmp_path / "grey16.jxl"
    Image.fromarray(grey).save(src, "JXL", lossless=True)
    assert Image.open(src).mode == "I;16"
    report = anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    out = Path(report.destination)
    assert report.passed and out.name == "grey16.veiled.jpg"
    assert any("I;16" in note for note in report.notes)
    assert non_structural(exiftool_tags(out)) == {}
    decoded = np.asarray(Image.open(out).convert("RGB"))
    assert filled_share(decoded, _face_box(box)) > 0.95
    untouched = decoded[200:, 250:, 0].astype(int)  # bottom right, no face: the grey level survived 16 → 8 bits
    assert np.abs(untouched - np.asarray(Image.fromarray(pixels).convert("L"))[200:, 250:]).mean() < 4


# -- PNM -------------------------------------------------------------------------------------


def test_pnm_comments_are_found_and_every_flavour_comes_out_png(tmp_path, fast_detector):
    pixels, box = _picture()
    ppm = tmp_path / "scan.ppm"
    ppm.write_bytes(b"P6\n# CREATOR: GIMP PNM Filter Version 1.1\n# shot at the statue, 14:03\n320 240\n255\n"
                    + pixels.tobytes())
    pgm, pbm = tmp_path / "grey.pgm", tmp_path / "line.pbm"
    Image.fromarray(pixels).convert("L").save(pgm)
    Image.fromarray(pixels).convert("1").save(pbm)
    deep = tmp_path / "deep.pgm"  # 16-bit PGM: maxval 65535, big-endian samples
    grey16 = np.asarray(Image.fromarray(pixels).convert("L")).astype(">u2") * 257
    deep.write_bytes(b"P5 320 240 65535\n" + grey16.tobytes())
    assert audit_file(ppm).kinds == ["comment"] and "statue" in exiftool_tags(ppm).get("File:Comment", "")
    report = anonymize(_as_bin(ppm), None, Config(), detector=fast_detector, verifier=fast_detector)
    assert report.passed and report.metadata_removed == ["comment"] and report.destination.endswith(".veiled.png")
    assert filled_share(np.asarray(Image.open(report.destination)), _face_box(box)) > 0.95
    for src in (ppm, pgm, pbm, deep):
        out = Path(anonymize(src, None, Config(overwrite=True), detector=fast_detector, verifier=fast_detector).destination)
        assert out.suffix == ".png" and non_structural(exiftool_tags(out)) == {}, src.name
    assert filled_share(np.asarray(Image.open(tmp_path / "deep.veiled.png")), _face_box(box)) > 0.95


# -- animations --------------------------------------------------------------------------------

ANIMATION_FRAMES = 10
STEP = 6  # px the face moves right per frame
DURATIONS = [80, 120, 80, 80, 200, 80, 80, 40, 80, 160]  # ms; uneven, as chat apps make them
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'
# What exiftool shows of a clean animation: how it plays, never who, where or when.
ANIMATION_STRUCTURE = {
    "GIF:GIFVersion", "GIF:ImageWidth", "GIF:ImageHeight", "GIF:HasColorMap", "GIF:ColorResolutionDepth",
    "GIF:BitsPerPixel", "GIF:BackgroundColor", "GIF:AnimationIterations", "GIF:TransparentColor",
    "GIF:FrameCount", "GIF:Duration",
    "PNG:AnimationFrames", "PNG:AnimationPlays",
    "RIFF:AnimationLoopCount", "RIFF:BackgroundColor", "RIFF:Duration", "RIFF:WebP_Flags",
}


def _animation_frames(pixels: np.ndarray, box) -> tuple[list[Image.Image], list]:
    frames, boxes = [], []
    for i in range(ANIMATION_FRAMES):
        frames.append(Image.fromarray(np.roll(pixels, STEP * i, axis=1)))
        boxes.append((box[0] + STEP * i, box[1], box[2] + STEP * i, box[3]))
    return frames, boxes


def make_animation(path: Path, kind: str) -> list:
    """An animation of the face moving right, with the metadata its format can carry; returns the boxes."""
    pixels, box = _picture()
    frames, boxes = _animation_frames(pixels, box)
    params = {"save_all": True, "append_images": frames[1:], "duration": DURATIONS, "loop": 0}
    if kind == "gif":
        frames[0].save(path, "GIF", comment=b"Meet at the statue at 3", **params)
    elif kind == "webp":
        frames[0].save(path, "WEBP", exif=phone_exif(), xmp=XMP, quality=90, **params)
    else:
        info = PngImagePlugin.PngInfo()
        info.add_text("Author", "someone at the march")
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        frames[0].save(path, "PNG", pnginfo=info, exif=phone_exif(), **params)
    return boxes


def animation_leaks(tags: dict) -> dict:
    return {k: v for k, v in non_structural(tags).items() if k not in ANIMATION_STRUCTURE}


def _decoded_frames(path: Path) -> list[np.ndarray]:
    """Every frame as shown: ffmpeg for GIF and APNG (independent of Pillow); libwebp through Pillow for WebP."""
    if path.suffix == ".webp":
        with Image.open(path) as im:
            out = []
            for i in range(im.n_frames):
                im.seek(i)
                out.append(np.asarray(im.convert("RGB")))
            return out
    w, h = 320, 240
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vsync", "passthrough", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return list(np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3))


@pytest.mark.parametrize("kind,suffix", [("gif", ".gif"), ("webp", ".webp"), ("apng", ".png")])
def test_animation_comes_back_as_the_same_animation_every_frame_covered(tmp_path, fast_detector, kind, suffix):
    src = tmp_path / f"clip{suffix}"
    boxes = make_animation(src, kind)
    before = exiftool_tags(src)
    assert animation_leaks(before), "the fixture must carry metadata"
    report = anonymize(_as_bin(src), tmp_path / f"out{suffix}", Config(), detector=fast_detector, verifier=fast_detector)
    out = tmp_path / f"out{suffix}"
    assert report.passed and report.video["animation"]["written_as"] == kind
    assert report.metadata_removed and audit_file(out).clean
    tags = exiftool_tags(out)
    assert animation_leaks(tags) == {}
    frames = _decoded_frames(out)
    assert len(frames) == ANIMATION_FRAMES
    assert min(filled(f, b) for f, b in zip(frames, boxes)) > 0.95
    total = sum(DURATIONS) / 1000
    duration = {"gif": "GIF:Duration", "webp": "RIFF:Duration", "apng": None}[kind]
    if duration:
        assert tags[duration] == f"{total:.2f} s", tags[duration]
    with Image.open(out) as im:  # every frame keeps its own display time and the loop count
        times = []
        for i in range(im.n_frames):
            im.seek(i)
            im.load()
            times.append(round(im.info["duration"]))
        assert times == DURATIONS and im.info.get("loop") == 0
    if kind in ("gif", "apng"):
        assert int(ffprobe(out)["streams"][0]["nb_read_frames"]) == ANIMATION_FRAMES
    assert no_temp_files(tmp_path)


@pytest.mark.parametrize("kind,suffix", [("gif", ".gif"), ("webp", ".webp")])
def test_animation_as_mp4_on_request(tmp_path, fast_detector, kind, suffix):
    src = tmp_path / f"clip{suffix}"
    boxes = make_animation(src, kind)
    report = anonymize(src, None, Config(animation="mp4"), detector=fast_detector, verifier=fast_detector)
    out = tmp_path / "clip.veiled.mp4"
    assert report.passed and report.destination == str(out)
    probe = ffprobe(out)
    assert [s["codec_name"] for s in probe["streams"]] == ["h264"]
    assert int(probe["streams"][0]["nb_read_frames"]) == ANIMATION_FRAMES
    assert abs(float(probe["format"]["duration"]) - sum(DURATIONS) / 1000) < 0.2
    assert mp4_leaks(exiftool_tags(out)) == {}
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-vsync", "passthrough", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, 240, 320, 3)
    assert min(filled(f, b) for f, b in zip(frames, boxes)) > 0.95


class MissFrames:
    """Finds nothing on the listed calls (0-based), else what ``inner`` finds."""

    name = "blinking"

    def __init__(self, inner, misses: set[int]) -> None:
        self.inner, self.misses, self.calls = inner, misses, 0
        self.models = getattr(inner, "models", {})

    def detect(self, rgb):
        self.calls += 1
        if self.calls - 1 in self.misses:
            from crowdveil.types import Detections

            return Detections.empty()
        return self.inner.detect(rgb)


def test_a_face_the_detector_misses_on_some_frames_stays_covered_by_the_tracker(tmp_path, fast_detector):
    """With a verifier that finds nothing, only tracking can cover the frames the detector blinks on."""
    src = tmp_path / "blink.gif"
    boxes = make_animation(src, "gif")
    detector = MissFrames(fast_detector, {2, 5, 6})
    report = anonymize_video(src, tmp_path / "out.gif", Config(), detector=detector, verifier=NoFaces(),
                             animation="gif")
    assert report.passed and detector.calls == ANIMATION_FRAMES
    frames = _decoded_frames(tmp_path / "out.gif")
    assert [i for i, (f, b) in enumerate(zip(frames, boxes)) if filled(f, b) < 0.95] == []


def test_identical_frames_merged_by_the_encoder_still_verify_by_time(tmp_path, fast_detector):
    pixels, box = _picture()
    still = Image.fromarray(pixels)
    moved = Image.fromarray(np.roll(pixels, 20, axis=1))
    src = tmp_path / "pause.gif"
    still.save(src, save_all=True, append_images=[still.copy(), moved], duration=[100, 100, 100], loop=0)
    report = anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    assert report.passed
    timing = next(c for c in report.checks if c.name.startswith("same frames"))
    assert timing.passed
    assert exiftool_tags(Path(report.destination))["GIF:Duration"] == "0.30 s"


def test_damaged_animations_are_refused_and_leave_nothing(tmp_path, fast_detector):
    for kind, suffix in (("gif", ".gif"), ("webp", ".webp"), ("apng", ".png")):
        whole = tmp_path / f"whole{suffix}"
        make_animation(whole, kind)
        data = whole.read_bytes()
        cut = tmp_path / "in" / f"cut{suffix}"
        cut.parent.mkdir(exist_ok=True)
        cut.write_bytes(data[: len(data) * 2 // 3])
        out = tmp_path / f"out-{kind}"
        with pytest.raises((CorruptInput, UnsupportedFormat)):
            anonymize(cut, None, Config(), detector=fast_detector, verifier=fast_detector, out_dir=out)
        assert not out.exists() or not list(out.iterdir())


def test_an_animation_too_big_to_hold_is_refused_with_the_mp4_way_out(tmp_path, fast_detector):
    src = tmp_path / "long.gif"
    make_animation(src, "gif")
    config = Config(max_megapixels=0.5)  # 10 frames of 320×240 = 0.77 MP held before writing
    with pytest.raises(TooLarge) as info:
        anonymize(src, None, config, detector=fast_detector, verifier=fast_detector)
    assert "--animation mp4" in info.value.hint
    assert not (tmp_path / "long.veiled.gif").exists() and no_temp_files(tmp_path)
    report = anonymize(src, None, config.replace(animation="mp4"), detector=fast_detector, verifier=fast_detector)
    assert report.passed  # streamed to the encoder, nothing held


# -- video containers ----------------------------------------------------------------------------

VIDEO_TAGS = {"title": "Rally at the statue", "artist": "Someone Filming", "comment": "meet at 3", "copyright": "me"}
CONTAINERS = {
    # suffix: (muxer, video codec, audio codec, muxer options)
    "wmv": ("asf", "wmv2", "wmav2", {}),
    "flv": ("flv", "flv", "aac", {}),
    "mpg": ("mpeg", "mpeg2video", "mp2", {}),
    "vob": ("vob", "mpeg2video", "ac3", {}),
    "3gp": ("3gp", "libx264", "aac", {}),
    "mts": ("mpegts", "libx264", "ac3", {"mpegts_m2ts_mode": "1"}),
    "m2ts": ("mpegts", "libx264", "ac3", {"mpegts_m2ts_mode": "1"}),
}
CLIP_FRAMES = 12


def make_container_clip(path: Path, muxer: str, vcodec: str, acodec: str, options: dict) -> list:
    """A clip of the face moving right, with sound and the container's tags; returns the boxes."""
    pixels, box = _picture()
    out = av.open(str(path), "w", format=muxer, container_options=options)
    out.metadata.update(VIDEO_TAGS)
    v = out.add_stream(vcodec, rate=25)
    v.width, v.height, v.pix_fmt = 320, 240, "yuv420p"
    a = out.add_stream(acodec, rate=48000, layout="stereo")
    a.bit_rate = 128_000
    boxes = []
    for i in range(CLIP_FRAMES):
        boxes.append((box[0] + STEP * i, box[1], box[2] + STEP * i, box[3]))
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.roll(pixels, STEP * i, axis=1)), format="rgb24")
        out.mux(v.encode(frame))
    out.mux(v.encode(None))
    samples = 48000 * CLIP_FRAMES // 25
    step = a.codec_context.frame_size or 1152
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
    for start in range(0, samples - step + 1, step):
        chunk = np.ascontiguousarray(np.stack([tone[start : start + step]] * 2))
        audio = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        audio.sample_rate, audio.pts = 48000, start
        out.mux(a.encode(audio))
    out.mux(a.encode(None))
    out.close()
    return boxes


@pytest.mark.parametrize("suffix", list(CONTAINERS))
def test_other_video_containers_give_clean_h264_mp4(tmp_path, fast_detector, suffix):
    src = tmp_path / f"clip.{suffix}"
    try:
        boxes = make_container_clip(src, *CONTAINERS[suffix])
    except av.error.FFmpegError as exc:  # pragma: no cover - an FFmpeg build without this encoder
        pytest.skip(f"this FFmpeg cannot write {suffix}: {exc}")
    source_audit = audit_file(src)
    assert source_audit.format != "unknown" and "unparseable metadata" not in source_audit.kinds, source_audit.findings
    report = anonymize(_as_bin(src), tmp_path / "out.mp4", Config(), detector=fast_detector, verifier=fast_detector)
    out = tmp_path / "out.mp4"
    assert report.passed and report.video["audio"] == "dropped"
    probe = ffprobe(out)
    assert [s["codec_name"] for s in probe["streams"]] == ["h264"]
    assert int(probe["streams"][0]["nb_read_frames"]) == CLIP_FRAMES
    tags = exiftool_tags(out)
    assert mp4_leaks(tags) == {}
    assert not [v for v in map(str, tags.values()) if "statue" in v or "Someone" in v or "Lavf" in v]
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, 240, 320, 3)
    assert min(filled(f, b) for f, b in zip(frames, boxes)) > 0.95


def test_container_tags_are_found_in_the_originals(tmp_path):
    """The audit names what each container carries (exiftool sees the same tags)."""
    expected = {"wmv": {"comment", "owner/author", "software"}, "flv": {"comment", "owner/author", "software"},
                "3gp": {"comment", "owner/author"},
                "mts": {"comment", "software"}}
    for suffix, kinds in expected.items():
        src = tmp_path / f"clip.{suffix}"
        make_container_clip(src, *CONTAINERS[suffix])
        assert kinds <= set(audit_file(src).kinds), (suffix, audit_file(src).findings)
        shown = " ".join(map(str, exiftool_tags(src).values()))
        if suffix == "mts":  # exiftool does not read the service descriptor; ffprobe does
            shown = subprocess.run(["ffprobe", "-v", "error", "-show_programs", str(src)],
                                   capture_output=True, text=True, check=True).stdout
        assert "Rally at the statue" in shown or "Someone Filming" in shown, suffix


@pytest.mark.parametrize("suffix", ["wmv", "flv", "mpg", "mts"])
def test_damaged_and_empty_videos_are_refused(tmp_path, fast_detector, suffix):
    src = tmp_path / f"clip.{suffix}"
    make_container_clip(src, *CONTAINERS[suffix])
    data = src.read_bytes()
    for name, payload in (("empty", b""), ("head", data[:600]), ("garbled", data[:64] + bytes(4096))):
        bad = tmp_path / "in" / f"{name}.{suffix}"
        bad.parent.mkdir(exist_ok=True)
        bad.write_bytes(payload)
        out = tmp_path / f"out-{name}"
        with pytest.raises(CrowdveilError) as info:
            anonymize(bad, None, Config(), detector=fast_detector, verifier=fast_detector, out_dir=out)
        assert isinstance(info.value, (CorruptInput, UnsupportedFormat)), (name, info.value)
        assert not out.exists() or not list(out.iterdir())


# -- RAW -------------------------------------------------------------------------------------

try:  # the RAW tests need the extra; every other test here runs without it
    import rawpy as _rawpy  # noqa: F401

    HAVE_RAWPY = True
except ImportError:  # pragma: no cover
    HAVE_RAWPY = False
needs_rawpy = pytest.mark.skipif(not HAVE_RAWPY, reason="rawpy (crowdveil[raw]) is not installed")


def make_dng(path: Path, rgb: np.ndarray, *, orientation: int = 1) -> Path:
    """An uncompressed Bayer (RGGB) DNG of ``rgb``, as a camera would store it.

    Samples are linear sRGB at 16 bits with sRGB's own XYZ matrix as ColorMatrix1
    (illuminant D65), so LibRaw develops them back to about ``rgb``. It carries a
    camera make, model and serial, and ``orientation`` (EXIF values).
    """
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    linear = ((rgb[:h, :w].astype(np.float64) / 255.0) ** 2.2 * 65535).astype(np.uint16)
    cfa = np.empty((h, w), np.uint16)
    cfa[0::2, 0::2] = linear[0::2, 0::2, 0]
    cfa[0::2, 1::2] = linear[0::2, 1::2, 1]
    cfa[1::2, 0::2] = linear[1::2, 0::2, 1]
    cfa[1::2, 1::2] = linear[1::2, 1::2, 2]
    raster = cfa.astype("<u2").tobytes()
    entries: list[tuple[int, int, int, bytes]] = []

    def add(tag, kind, fmt, *values):
        entries.append((tag, kind, len(values), struct.pack("<" + fmt * len(values), *values)))

    def text(tag, value: bytes):
        entries.append((tag, 2, len(value) + 1, value + b"\0"))

    def rationals(tag, kind, *values):
        packed = b"".join(struct.pack("<ii" if kind == 10 else "<II", round(v * 10000), 10000) for v in values)
        entries.append((tag, kind, len(values), packed))

    add(254, 4, "I", 0), add(256, 4, "I", w), add(257, 4, "I", h), add(258, 3, "H", 16), add(259, 3, "H", 1)
    add(262, 3, "H", 32803), text(271, b"Crowdveil"), text(272, b"Test Body"), add(273, 4, "I", 0)
    add(274, 3, "H", orientation), add(277, 3, "H", 1), add(278, 4, "I", h), add(279, 4, "I", len(raster))
    add(284, 3, "H", 1), add(33421, 3, "H", 2, 2), add(33422, 1, "B", 0, 1, 1, 2), add(50706, 1, "B", 1, 4, 0, 0)
    text(50708, b"Crowdveil Test Body"), add(50717, 4, "I", 65535)
    rationals(50721, 10, 3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570)
    rationals(50728, 5, 1, 1, 1), text(50735, b"SN-000042"), add(50778, 3, "H", 21)
    entries.sort()
    extra_at = 8 + 2 + 12 * len(entries) + 4
    ifd, extra, strip_at = struct.pack("<H", len(entries)), b"", 0
    for tag, kind, count, payload in entries:
        if len(payload) <= 4:
            ifd += struct.pack("<HHI", tag, kind, count) + payload.ljust(4, b"\0")
        else:
            ifd += struct.pack("<HHII", tag, kind, count, extra_at + len(extra))
            extra += payload + b"\0" * (len(payload) & 1)
        if tag == 273:
            strip_at = len(ifd) - 4
    ifd += b"\0\0\0\0"
    ifd = ifd[:strip_at] + struct.pack("<I", extra_at + len(extra)) + ifd[strip_at + 4 :]
    path.write_bytes(b"II*\0" + struct.pack("<I", 8) + ifd + extra + raster)
    return path


@needs_rawpy
def test_raw_is_developed_upright_and_comes_out_a_clean_jpeg(tmp_path, fast_detector):
    pixels, box = _picture()
    src = make_dng(tmp_path / "DSC_0042.dng", pixels, orientation=6)  # camera held upright: stored turned
    assert sniff(src.read_bytes()[:SNIFF_BYTES], "no-suffix") == "raw"  # DNGVersion in IFD0, not the name
    assert {"camera serial", "device make/model"} <= set(audit_file(src).kinds)
    report = anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    out = Path(report.destination)
    assert report.passed and out.name == "DSC_0042.veiled.jpg"
    assert any("LibRaw" in n for n in report.notes) and "camera serial" in report.metadata_removed
    developed = np.asarray(Image.open(out))
    assert developed.shape[:2] == (320, 240)  # orientation 6: turned a quarter clockwise
    assert non_structural(exiftool_tags(out)) == {}
    x1, y1, x2, y2 = _face_box(box)
    turned = (240 - y2, x1, 240 - y1, x2)  # the face box after the quarter turn clockwise
    assert filled_share(developed, turned) > 0.95
    background = np.asarray(Image.fromarray(pixels).rotate(-90, expand=True))[250:, :60].astype(int)
    assert np.abs(developed[250:, :60].astype(int) - background).mean() < 25  # colours developed, not a preview


@needs_rawpy
def test_damaged_raw_is_refused_with_what_to_export(tmp_path, fast_detector):
    pixels, _ = _picture()
    whole = make_dng(tmp_path / "whole.dng", pixels).read_bytes()
    for name, data in (("cut.dng", whole[: len(whole) // 3]), ("header.dng", whole[:300]), ("zero.nef", b"")):
        src = tmp_path / "in" / name
        src.parent.mkdir(exist_ok=True)
        src.write_bytes(data)
        out = tmp_path / "out"
        with pytest.raises((UnsupportedFormat, CorruptInput)) as info:
            anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector, out_dir=out)
        if data:
            assert "RAW" in str(info.value) and "export a JPEG" in info.value.hint, str(info.value)
        assert not out.exists() or not list(out.iterdir())


@needs_rawpy
def test_raw_declaring_a_huge_sensor_is_refused_before_developing(tmp_path, fast_detector):
    pixels, _ = _picture()
    data = bytearray(make_dng(tmp_path / "x.dng", pixels).read_bytes())
    # ImageWidth and ImageLength are the 2nd and 3rd entries of IFD0 (sorted by tag).
    struct.pack_into("<I", data, 8 + 2 + 12 * 1 + 8, 60000)
    struct.pack_into("<I", data, 8 + 2 + 12 * 2 + 8, 60000)
    src = tmp_path / "bomb.dng"
    src.write_bytes(bytes(data))
    with pytest.raises((TooLarge, UnsupportedFormat, CorruptInput)) as info:
        anonymize(src, None, Config(max_megapixels=50), detector=fast_detector, verifier=fast_detector)
    assert not isinstance(info.value, CorruptInput) or "RAW" in str(info.value)


def test_raw_without_the_extra_says_how_to_install_it(tmp_path, fast_detector, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_rawpy(name, *args, **kwargs):
        if name == "rawpy":
            raise ImportError("No module named 'rawpy'")
        return real_import(name, *args, **kwargs)

    pixels, _ = _picture()
    src = make_dng(tmp_path / "IMG.dng", pixels)
    monkeypatch.setattr(builtins, "__import__", no_rawpy)
    with pytest.raises(UnsupportedFormat) as info:
        anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    assert "crowdveil[raw]" in info.value.hint and "export a JPEG" in info.value.hint


SHARED_RAW_FILES = sorted(p for p in SHARED_RAW.rglob("*") if p.suffix.lower() in
                          {".dng", ".arw", ".nef", ".cr2", ".cr3", ".raf", ".orf", ".rw2"}) if SHARED_RAW.is_dir() else []


@needs_rawpy
@pytest.mark.skipif(not SHARED_RAW_FILES, reason="needs the RAW samples of ../shared/data/metadata_samples")
@pytest.mark.parametrize("path", SHARED_RAW_FILES, ids=lambda p: p.name)
def test_real_raw_samples_are_developed_or_refused_with_what_to_export(tmp_path, path):
    """Each real RAW file: a clean, upright JPEG of the developed sensor data, or a refusal that says what to export.

    (The one sample today, a Nikon Z 9 "high efficiency" DNG, uses a compression LibRaw cannot decode.)"""
    before = sha256(path)
    try:
        report = anonymize(path, None, Config(preset="fast"), out_dir=tmp_path)
    except UnsupportedFormat as exc:
        assert "LibRaw cannot develop" in str(exc) and "export a JPEG" in exc.hint
        assert not list(tmp_path.iterdir())
    else:
        out = Path(report.destination)
        assert report.passed and out.suffix == ".jpg" and any("LibRaw" in n for n in report.notes)
        assert non_structural(exiftool_tags(out)) == {}
        with Image.open(out) as im:
            assert im.width * im.height > 1_000_000  # the developed photo, not a thumbnail-sized preview
    assert sha256(path) == before


# -- sniffing and folder walks -------------------------------------------------------------------


def test_each_new_format_is_sniffed_from_its_bytes(tmp_path):
    pixels, _ = _picture()
    made = {}
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JXL")
    made["jxl"] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PPM")
    made["pnm"] = buf.getvalue()
    for suffix, fmt in (("wmv", "asf"), ("flv", "flv"), ("mpg", "mpegps"), ("3gp", "3gp"), ("mts", "mpegts")):
        clip = tmp_path / f"c.{suffix}"
        make_container_clip(clip, *CONTAINERS[suffix])
        made[fmt] = clip.read_bytes()
    for fmt, data in made.items():
        assert sniff(data[:SNIFF_BYTES], "unnamed.bin") == fmt
    ts = tmp_path / "plain.ts"  # 188-byte packets without the AVCHD time codes
    make_container_clip(ts, "mpegts", "libx264", "ac3", {})
    assert sniff(ts.read_bytes()[:SNIFF_BYTES], "x") == "mpegts"
    with pytest.raises(UnsupportedFormat):
        sniff(b"G" + bytes(400), "x")  # one sync byte, then none where the next packet should start


def test_a_folder_walk_takes_the_new_suffixes(tmp_path):
    names = ["a.jxl", "b.ppm", "c.pgm", "d.pbm", "e.dng", "f.NEF", "g.cr3", "h.wmv", "i.mts", "j.m2ts", "k.3gp",
             "l.flv", "m.mpg", "n.vob", "o.apng", "notes.txt"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    found = sorted(p.name for p, _ in expand_inputs([tmp_path]))
    assert found == sorted(n for n in names if n != "notes.txt")


def test_frames_shown_for_zero_ms_are_matched_in_order(tmp_path, fast_detector):
    """Old GIFs build a picture from 0-ms frames: several frames share one time."""
    pixels, box = _picture()
    frames, boxes = _animation_frames(pixels, box)
    src = tmp_path / "layers.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:4], duration=[0, 100, 0, 100], loop=0)
    report = anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    assert report.passed and report.video["frames_written"] == 4
    shown = _decoded_frames(Path(report.destination))
    assert min(filled(f, b) for f, b in zip(shown, boxes)) > 0.95


def _jpeg_with_exif() -> bytes:
    pixels, _ = _picture()
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=80, exif=phone_exif())
    return buf.getvalue()


def test_raw_containers_that_are_not_plain_tiff_are_sniffed_and_audited():
    """RAF (a header, then a full JPEG preview with its EXIF) and ORF/RW2 (TIFF with magic numbers of their own)."""
    from crowdveil.verify.audit import audit_bytes

    preview = _jpeg_with_exif()
    header = b"FUJIFILMCCD-RAW 0201FF383501" + b"X-T5".ljust(32, b"\0")
    header = header.ljust(84, b"\0")
    raf = header + struct.pack(">II", 100, len(preview)) + bytes(100 - 92) + preview + bytes(64)
    assert sniff(raf[:SNIFF_BYTES], "x") == "raw"
    kinds = set(audit_bytes(raf).kinds)
    assert {"device make/model", "embedded thumbnail", "EXIF", "GPS position", "camera serial"} <= kinds, kinds
    tiff = io.BytesIO()
    Image.fromarray(_picture()[0][:8, :8]).save(tiff, "TIFF", exif=phone_exif())
    for magic in (b"IIRO", b"IIU\0"):
        data = magic + tiff.getvalue()[4:]
        assert sniff(data[:SNIFF_BYTES], "x") == "raw"
        assert "device make/model" in audit_bytes(data).kinds, magic


def test_the_destination_suffix_picks_the_animation_kind(tmp_path, fast_detector):
    src = tmp_path / "clip.gif"
    make_animation(src, "gif")
    out = tmp_path / "clip.webp"
    report = anonymize(src, out, Config(), detector=fast_detector, verifier=fast_detector)
    assert report.passed and report.video["animation"]["written_as"] == "webp"
    assert exiftool_tags(out)["File:FileType"] == "Extended WEBP" and animation_leaks(exiftool_tags(out)) == {}


def test_the_studio_takes_an_animation_as_a_short_video_and_exports_mp4(tmp_path):
    from crowdveil.studio.workspace import Workspace

    folder = tmp_path / "in"
    folder.mkdir()
    make_animation(folder / "clip.gif", "gif")
    workspace = Workspace(Config(preset="fast"), tmp_path / "out", names="keep")
    try:
        (item,) = workspace.add_folder(folder)
        workspace.wait_idle()
        assert item.status == "ready" and item.media == "video" and (item.width, item.height) == (320, 240)
        workspace.start_video_export(item.id, "fill", "box")
        for _ in range(600):
            if item.status != "exporting":
                break
            import time

            time.sleep(0.5)
        assert item.status == "exported", (item.status, item.message)
        written = tmp_path / "out" / "clip.veiled.mp4"
        assert written.is_file() and mp4_leaks(exiftool_tags(written)) == {}
        assert int(ffprobe(written)["streams"][0]["nb_read_frames"]) == ANIMATION_FRAMES
    finally:
        workspace.close()
