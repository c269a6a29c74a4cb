"""Videos end to end: faces covered on every frame (ffmpeg decodes the output),
no container or stream metadata left (exiftool -ee and ffprobe judge), rotation
applied, audio dropped unless kept, the leak test, and failing closed."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from crowdveil import Config, CorruptInput, DetectionFailed, VerificationFailed, anonymize
from crowdveil.bench.video import MissEveryK, exposed_frames, write_moving_face_clip
from crowdveil.detect.base import Detector
from crowdveil.detect.centerface import CenterFace
from crowdveil.io.video import VideoSource
from crowdveil.pipeline.video import anonymize_video
from crowdveil.track import TrackerSettings
from crowdveil.types import Detections, box_coverage

from helpers import exiftool_tags, face_on_background, no_temp_files, sha256

FPS = 24
FRAMES = 24
SHIFT = 3  # px the face moves right per frame
FACE = (40, 60, 90)  # x, y, height in the upright 320×240 picture

# -- fixtures: clips written by the muxer with what phones leave -----------------------------

PHONE_TAGS = {
    "creation_time": "2026-03-08T14:03:00Z",
    "location": "+48.8566+002.3522/",
    "com.apple.quicktime.location.ISO6709": "+48.8566+002.3522+035.000/",
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 15",
    "com.apple.quicktime.software": "17.3",
    "com.android.version": "14",
    "com.android.manufacturer": "Google",
    "encoder": "Pixel 8 Camera",
}


def make_clip(path: Path, *, fmt: str | None = None, vcodec: str = "libx264", acodec: str | None = "aac",
              rotation: int = 0, hflip: bool = False, metadata: dict | None = None, stream_metadata: dict | None = None,
              subtitles: bool = False, chapters: bool = False, container_options: dict | None = None,
              frames: int = FRAMES, size: tuple[int, int] = (320, 240),
              audio_start_s: float = 0.0) -> list[tuple[int, int, int, int]]:
    """Write a clip of the astronaut's face moving right; return its upright box per frame.

    With ``rotation``, frames are stored turned so that a player applying
    the display matrix shows them upright (as phones store portrait video).
    The audio tone starts ``audio_start_s`` after the first frame.
    """
    w, h = size
    pixels, (box,) = face_on_background(w, h, faces=(FACE,))
    out = av.open(str(path), "w", format=fmt, container_options=container_options or {})
    out.metadata.update(metadata or {})
    v = out.add_stream(vcodec, rate=FPS)
    turned = _store(pixels, rotation, hflip)
    v.height, v.width = turned.shape[:2]
    v.pix_fmt = "yuv420p"
    v.metadata.update(stream_metadata or {})
    if rotation or hflip:
        v.set_display_rotation(rotation, hflip=hflip)
    a = out.add_stream(acodec, rate=48000, layout="mono") if acodec else None
    s = out.add_mux_stream("mov_text") if subtitles else None
    if chapters:
        out.set_chapters([{"id": 1, "start": 0, "end": 1000, "time_base": Fraction(1, 1000),
                           "metadata": {"title": "Rally at the statue"}}])
    boxes = []
    for i in range(frames):
        upright = np.roll(pixels, SHIFT * i, axis=1)
        boxes.append((box[0] + SHIFT * i, box[1], box[2] + SHIFT * i, box[3]))
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(_store(upright, rotation, hflip)), format="rgb24")
        out.mux(v.encode(frame))
    out.mux(v.encode(None))
    if a is not None:
        samples = int(48000 * frames / FPS)
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000) * 32767).astype(np.int16)[None, :]
        for start in range(0, samples, 960):
            af = av.AudioFrame.from_ndarray(tone[:, start : start + 960].copy(), format="s16", layout="mono")
            af.sample_rate, af.pts = 48000, start + round(audio_start_s * 48000)
            out.mux(a.encode(af))
        out.mux(a.encode(None))
    if s is not None:
        text = b"Meet at the statue at 3"
        packet = av.Packet(len(text).to_bytes(2, "big") + text)
        packet.stream, packet.pts, packet.dts, packet.duration = s, 0, 0, 1000
        packet.time_base = Fraction(1, 1000)
        out.mux(packet)
    out.close()
    return boxes


def _store(upright: np.ndarray, rotation: int, hflip: bool) -> np.ndarray:
    """The stored pixels that ffmpeg's autorotate turns back into ``upright``."""
    stored = upright[:, ::-1] if hflip else upright
    return np.rot90(stored, k={0: 0, 90: -1, -90: 1, 180: 2}[rotation])


@pytest.fixture(scope="module")
def phone_mov(tmp_path_factory) -> tuple[Path, list]:
    """An iPhone/Android-like MOV: stored sideways, AAC tone, GPS, dates, device names,
    a device-named handler, a subtitle stream and a chapter."""
    path = tmp_path_factory.mktemp("phone") / "IMG_0001.MOV"
    boxes = make_clip(path, fmt="mov", rotation=-90, metadata=PHONE_TAGS, subtitles=True, chapters=True,
                      stream_metadata={"handler_name": "Pixel 8 Camera Video", "creation_time": PHONE_TAGS["creation_time"]},
                      container_options={"movflags": "use_metadata_tags"})
    return path, boxes


@pytest.fixture(scope="module")
def phone_mov_result(phone_mov, tmp_path_factory):
    src, boxes = phone_mov
    before = sha256(src)
    out = tmp_path_factory.mktemp("out") / "clean.mp4"
    report = anonymize(src, out)
    assert sha256(src) == before, "the original must never change"
    return src, out, report, boxes


# -- oracles -------------------------------------------------------------------------------------


def ffprobe(path: Path) -> dict:
    exe = shutil.which("ffprobe")
    if exe is None:
        pytest.fail("ffprobe is required (apt-get install ffmpeg); `make test` installs it")
    out = subprocess.run([exe, "-v", "error", "-show_format", "-show_streams", "-show_chapters", "-count_frames",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def ffmpeg_frames(path: Path) -> np.ndarray:
    """Every frame as ffmpeg itself decodes (and autorotates) it: (N, H, W, 3)."""
    probe = next(s for s in ffprobe(path)["streams"] if s["codec_type"] == "video")
    rotated = any(sd.get("rotation") in (90, -90, 270) for sd in probe.get("side_data_list", []))
    w, h = (probe["height"], probe["width"]) if rotated else (probe["width"], probe["height"])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


# Every tag exiftool (-ee) may show in a clean crowdveil MP4, by name without the
# Track number, and the value it must have where the value could carry anything.
ZERO_DATE = "0000:00:00 00:00:00"
MP4_STRUCTURE = {
    "QuickTime:MajorBrand": None, "QuickTime:MinorVersion": None, "QuickTime:CompatibleBrands": None,
    "QuickTime:MovieHeaderVersion": None, "QuickTime:CreateDate": ZERO_DATE, "QuickTime:ModifyDate": ZERO_DATE,
    "QuickTime:TimeScale": None, "QuickTime:Duration": None, "QuickTime:PreferredRate": None,
    "QuickTime:PreferredVolume": None, "QuickTime:MatrixStructure": "1 0 0 0 1 0 0 0 1", "QuickTime:PreviewTime": None,
    "QuickTime:PreviewDuration": None, "QuickTime:PosterTime": None, "QuickTime:SelectionTime": None,
    "QuickTime:SelectionDuration": None, "QuickTime:CurrentTime": None, "QuickTime:NextTrackID": None,
    "QuickTime:MediaDataSize": None, "QuickTime:MediaDataOffset": None, "QuickTime:MediaData": None,
    "QuickTime:Free": None,
    # The empty iTunes metadata box every libavformat MP4 carries: handler 'mdir',
    # manufacturer field 'appl' (exiftool prints "Apple"); it names no device.
    "QuickTime:HandlerType": "Metadata", "QuickTime:HandlerVendorID": "Apple",
    "Track:TrackHeaderVersion": None, "Track:TrackCreateDate": ZERO_DATE, "Track:TrackModifyDate": ZERO_DATE,
    "Track:TrackID": None, "Track:TrackDuration": None, "Track:TrackLayer": None, "Track:TrackVolume": None,
    "Track:MatrixStructure": "1 0 0 0 1 0 0 0 1", "Track:ImageWidth": None, "Track:ImageHeight": None,
    "Track:Unknown_edts": None, "Track:MediaHeaderVersion": None, "Track:MediaCreateDate": ZERO_DATE,
    "Track:MediaModifyDate": ZERO_DATE, "Track:MediaTimeScale": None, "Track:MediaDuration": None,
    "Track:MediaLanguageCode": "und", "Track:HandlerType": None,
    "Track:HandlerDescription": ("VideoHandler", "SoundHandler"), "Track:GraphicsMode": None, "Track:OpColor": None,
    "Track:CompressorID": "avc1", "Track:SourceImageWidth": None, "Track:SourceImageHeight": None,
    "Track:XResolution": None, "Track:YResolution": None, "Track:BitDepth": None, "Track:AVCConfiguration": None,
    "Track:BufferSize": None, "Track:MaxBitrate": None, "Track:AverageBitrate": None, "Track:VideoFrameRate": None,
    "Track:SyncSampleTable": None, "Track:CompositionTimeToSample": None, "Track:SampleToChunk": None,
    "Track:SampleSizes": None, "Track:ChunkOffset": None, "Track:TimeToSampleTable": None, "Track:Balance": None,
    "Track:AudioFormat": "mp4a", "Track:AudioChannels": None, "Track:AudioBitsPerSample": None,
    "Track:AudioSampleRate": None, "Track:Unknown_esds": None, "Track:Unknown_btrt": None,
    "Track:SampleGroupDescription": None, "Track:SampleToGroup": None,
    "Composite:ImageSize": None, "Composite:Megapixels": None, "Composite:AvgBitrate": None, "Composite:Rotation": 0,
}


def mp4_leaks(tags: dict) -> dict:
    """exiftool tags of an output MP4 that are not bare structure (or carry a value they must not)."""
    leaks = {}
    for key, value in tags.items():
        if key in ("SourceFile", "ExifTool:ExifToolVersion") or key.startswith(("System:", "File:")):
            continue
        group, _, name = key.partition(":")
        generic = ("Track" if group.startswith("Track") and group[5:].isdigit() else group) + ":" + name
        if generic not in MP4_STRUCTURE:
            leaks[key] = value
            continue
        allowed = MP4_STRUCTURE[generic]
        if allowed is not None and value not in (allowed if isinstance(allowed, tuple) else (allowed,)):
            leaks[key] = value
    return leaks


def filled(frame: np.ndarray, box, tol: int = 16) -> float:
    """Share of the face in ``box`` painted with the fill colour.

    ``box`` is the pasted astronaut crop, whose top ~40 % is hair and
    background above the forehead (part of it near-grey already): only the
    face below it is measured, so a frame whose region starts at the hairline
    is not mistaken for a leak.
    """
    x1, y1, x2, y2 = box
    y1 = y1 + int(0.4 * (y2 - y1))
    patch = frame[y1:y2, x1:x2].astype(int)
    return float((np.abs(patch - 128).max(axis=2) <= tol).mean())


# -- the phone MOV -------------------------------------------------------------------------------


def test_fixture_carries_what_phones_leave(phone_mov):
    src, _ = phone_mov
    tags = exiftool_tags(src)
    probe = ffprobe(src)
    assert any("GPS" in k or "Location" in k for k in tags), "fixture must carry a location"
    assert tags.get("QuickTime:CreateDate", ZERO_DATE) != ZERO_DATE
    assert any("Android" in k for k in tags)
    assert {s["codec_type"] for s in probe["streams"]} >= {"video", "audio", "subtitle"}
    assert probe["chapters"]
    assert any(sd.get("rotation") for s in probe["streams"] for sd in s.get("side_data_list", []))


def test_phone_mov_nothing_but_structure_survives_exiftool(phone_mov_result):
    _, out, report, _ = phone_mov_result
    assert report.passed and report.media == "video"
    assert mp4_leaks(exiftool_tags(out)) == {}
    assert {"location", "timestamps", "device make/model"} <= set(report.metadata_removed)


def test_phone_mov_ffprobe_sees_one_clean_h264_stream(phone_mov_result):
    src, out, report, _ = phone_mov_result
    probe = ffprobe(out)
    (video,) = probe["streams"]  # audio dropped, subtitles and data never copied
    assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
    assert set(probe["format"].get("tags", {})) <= {"major_brand", "minor_version", "compatible_brands"}
    assert video.get("tags", {}) == {"language": "und", "handler_name": "VideoHandler", "vendor_id": "[0][0][0][0]"}
    assert not video.get("side_data_list"), "no display matrix: the rotation is in the pixels"
    assert probe["chapters"] == []
    source = next(s for s in ffprobe(src)["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (source["height"], source["width"]) == (320, 240)
    assert video["nb_read_frames"] == source["nb_read_frames"] == str(FRAMES)
    assert video["r_frame_rate"] == source["r_frame_rate"]
    assert abs(float(video["duration"]) - float(source["duration"])) < 1.5 / FPS
    for needle in (b"x264", b"Lavf", b"Lavc", b"Pixel", b"iPhone", b"48.8566", b"Google", b"statue"):
        assert needle not in out.read_bytes(), needle


def test_phone_mov_face_covered_on_every_frame_as_ffmpeg_decodes_it(phone_mov_result):
    _, out, report, boxes = phone_mov_result
    frames = ffmpeg_frames(out)
    assert frames.shape == (FRAMES, 240, 320, 3), "upright 320×240, every frame"
    shares = [filled(frame, box) for frame, box in zip(frames, boxes)]
    assert min(shares) > 0.97, shares
    video = report.video
    assert video["frames"] == FRAMES and video["tracks"] >= 1 and video["exposed_risk_frames"] == []
    assert video["audio"] == "dropped" and any("audio dropped" in n for n in report.notes)
    assert video["regions_per_frame"]["mean"] >= 1
    assert {c.name for c in report.checks} >= {"no metadata", "no face left outside the redacted regions"}
    assert all(c.passed for c in report.checks)


def test_audio_kept_on_request_as_aac_and_still_no_tags(phone_mov, tmp_path):
    src, _ = phone_mov
    report = anonymize(src, tmp_path / "with-audio.mp4", Config(keep_audio=True))
    probe = ffprobe(tmp_path / "with-audio.mp4")
    assert sorted(s["codec_name"] for s in probe["streams"]) == ["aac", "h264"]
    audio = next(s for s in probe["streams"] if s["codec_type"] == "audio")
    assert audio.get("tags", {}) == {"language": "und", "handler_name": "SoundHandler", "vendor_id": "[0][0][0][0]"}
    assert abs(float(audio["duration"]) - FRAMES / FPS) < 0.1
    assert report.video["audio"] == "kept" and any("audio kept" in n for n in report.notes)
    assert mp4_leaks(exiftool_tags(tmp_path / "with-audio.mp4")) == {}


def _stream(probe: dict, kind: str) -> dict:
    return next(s for s in probe["streams"] if s["codec_type"] == kind)


def test_kept_audio_that_starts_late_stays_late(tmp_path, fast_detector):
    """Sound recorded after the first picture keeps its offset (it used to restart at 0, out of sync)."""
    src = tmp_path / "late-sound.mp4"
    make_clip(src, acodec="aac", audio_start_s=0.5)
    report = anonymize(src, tmp_path / "out.mp4", Config(keep_audio=True), detector=fast_detector, verifier=fast_detector)
    assert report.passed
    source, out = _stream(ffprobe(src), "audio"), _stream(ffprobe(tmp_path / "out.mp4"), "audio")
    assert float(source["start_time"]) > 0.4
    # One AAC priming frame (21 ms) of slack: ffmpeg does not trim it on a late-starting track.
    assert abs(float(out["start_time"]) - float(source["start_time"])) < 0.03
    assert float(_stream(ffprobe(tmp_path / "out.mp4"), "video")["start_time"]) == 0


def test_kept_audio_before_the_first_picture_is_cut(tmp_path, fast_detector):
    """Sound recorded before the first picture is cut, so the rest stays in sync with the picture."""
    src = tmp_path / "early-sound.mkv"
    make_clip(src, fmt="matroska", acodec="aac", audio_start_s=-0.25)
    assert float(_stream(ffprobe(src), "video")["start_time"]) > 0.2  # Matroska shifts both: the video starts late
    report = anonymize(src, tmp_path / "out.mp4", Config(keep_audio=True), detector=fast_detector, verifier=fast_detector)
    assert report.passed
    out = ffprobe(tmp_path / "out.mp4")
    audio = _stream(out, "audio")
    assert abs(float(audio["start_time"])) < 0.03
    assert abs(float(audio["duration"]) - (FRAMES / FPS - 0.25)) < 0.05


def _klv(key: bytes, kind: bytes, size: int, data: bytes, repeat: int) -> bytes:
    return key + kind + bytes([size]) + repeat.to_bytes(2, "big") + data + b"\0" * (-len(data) % 4)


def gopro_gps_sample(lat: float, lon: float) -> bytes:
    """One GPMF sample (GoPro's timed telemetry, which exiftool -ee decodes) holding a GPS fix."""
    import struct

    stream = (_klv(b"STNM", b"c", 1, b"GPS", 3) + _klv(b"GPSF", b"L", 4, struct.pack(">L", 3), 1)
              + _klv(b"GPSU", b"U", 16, b"260308140300.000", 1)
              + _klv(b"SCAL", b"l", 4, struct.pack(">5l", 10_000_000, 10_000_000, 1000, 1000, 100), 5)
              + _klv(b"GPS5", b"l", 20, struct.pack(">5l", round(lat * 1e7), round(lon * 1e7), 35_000, 0, 0), 1))
    device = _klv(b"DVID", b"L", 4, struct.pack(">L", 1), 1) + _klv(b"DVNM", b"c", 1, b"Camera", 6)
    device += _klv(b"STRM", b"\0", 1, stream, len(stream))
    return _klv(b"DEVC", b"\0", 1, device, len(device))


def test_timed_gps_track_is_not_copied(tmp_path, fast_detector):
    """A camera's timed GPS track (a GPMF 'gpmd' data stream, muxed by ffmpeg) never reaches the output."""
    plain = tmp_path / "plain.mov"
    make_clip(plain, fmt="mov", acodec=None, frames=12)
    (tmp_path / "gps.bin").write_bytes(gopro_gps_sample(48.8566, 2.3522))
    src = tmp_path / "GOPR0001.MOV"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(plain), "-f", "data", "-i", str(tmp_path / "gps.bin"),
                    "-map", "0:v", "-map", "1:0", "-c", "copy", "-tag:d", "gpmd", str(src)], check=True)
    assert [s["codec_type"] for s in ffprobe(src)["streams"]] == ["video", "data"]
    assert any(k.endswith(":GPSLatitude") for k in exiftool_tags(src)), "fixture must carry timed GPS"

    report = anonymize(src, tmp_path / "out.mp4", Config(), detector=fast_detector, verifier=fast_detector)
    assert report.passed and "data" in report.video["streams_dropped"]
    assert [s["codec_type"] for s in ffprobe(tmp_path / "out.mp4")["streams"]] == ["video"]
    tags = exiftool_tags(tmp_path / "out.mp4")
    assert not [k for k in tags if "GPS" in k] and mp4_leaks(tags) == {}
    data = (tmp_path / "out.mp4").read_bytes()
    assert b"GPS5" not in data and round(48.8566 * 1e7).to_bytes(4, "big") not in data


# -- containers and orientations ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "fmt", "vcodec", "acodec"),
    [("mkv", "matroska", "libx264", "aac"), ("webm", "webm", "libvpx-vp9", "libopus"), ("avi", "avi", "mpeg4", "libmp3lame")],
)
def test_other_containers_give_clean_h264_mp4(tmp_path, suffix, fmt, vcodec, acodec, fast_detector):
    src = tmp_path / f"clip.{suffix}"
    boxes = make_clip(src, fmt=fmt, vcodec=vcodec, acodec=acodec, frames=12, metadata={"title": "march", "encoder": "Phone X"})
    report = anonymize(src, None, Config(), detector=fast_detector, verifier=fast_detector)
    out = tmp_path / "clip.veiled.mp4"
    assert report.passed and report.destination == str(out)
    probe = ffprobe(out)
    assert [s["codec_name"] for s in probe["streams"]] == ["h264"]
    assert probe["streams"][0]["nb_read_frames"] == "12"
    assert mp4_leaks(exiftool_tags(out)) == {}
    frames = ffmpeg_frames(out)
    assert min(filled(f, b) for f, b in zip(frames, boxes)) > 0.97


def test_odd_size_loses_one_edge_row_and_column_and_says_so(tmp_path, fast_detector):
    """H.264 4:2:0 cannot store an odd width or height (its crop window moves in 2-px steps)."""
    src = tmp_path / "odd.mkv"
    boxes = make_clip(src, fmt="matroska", vcodec="ffv1", acodec=None, frames=6, size=(321, 241))
    assert (_stream(ffprobe(src), "video")["width"], _stream(ffprobe(src), "video")["height"]) == (321, 241)
    report = anonymize(src, tmp_path / "out.mp4", Config(), detector=fast_detector, verifier=fast_detector)
    video = _stream(ffprobe(tmp_path / "out.mp4"), "video")
    assert report.passed and (video["width"], video["height"]) == (320, 240) == (report.width, report.height)
    assert any("cropped to 320×240" in n for n in report.notes)
    assert min(filled(f, b) for f, b in zip(ffmpeg_frames(tmp_path / "out.mp4"), boxes)) > 0.97


@pytest.mark.parametrize(("rotation", "hflip"), [(90, False), (-90, False), (180, False), (0, True), (90, True)])
def test_display_matrix_applied_like_ffmpeg_autorotate(tmp_path, rotation, hflip):
    src = tmp_path / "turned.mp4"
    make_clip(src, rotation=rotation, hflip=hflip, acodec=None, frames=2)
    reference = ffmpeg_frames(src)  # ffmpeg's autorotate is the oracle
    with VideoSource(src) as source:
        ours = np.stack([f.rgb for f in source.frames()])
    assert ours.shape == reference.shape == (2, 240, 320, 3)
    assert np.abs(ours.astype(int) - reference.astype(int)).mean() < 3


# -- the leak test: detector blinks, no frame leaks -----------------------------------------------


@pytest.fixture(scope="module")
def moving_face(tmp_path_factory) -> tuple[Path, list]:
    path = tmp_path_factory.mktemp("leak") / "moving.mp4"
    return path, write_moving_face_clip(path, width=320, height=240, frames=36, face_height=70)


class NoFaces(Detector):
    """A verifier that never finds anything, so only the tracker can cover a miss."""

    name = "nothing"

    def detect(self, rgb):
        return Detections.empty()


@pytest.mark.parametrize("k", [2, 3])
def test_leak_test_no_exposed_frame_when_detector_misses_every_kth(moving_face, tmp_path, k):
    src, boxes = moving_face
    detector = MissEveryK(CenterFace(threshold=0.2), k)
    report = anonymize_video(src, tmp_path / "out.mp4", Config(), detector=detector, verifier=NoFaces())
    assert detector.calls == len(boxes)
    assert exposed_frames(tmp_path / "out.mp4", boxes) == []
    assert report.video["tracks"] == 1


def test_leak_test_can_fail_without_the_tracker(moving_face, tmp_path):
    src, boxes = moving_face
    report = anonymize_video(src, tmp_path / "out.mp4", Config(), detector=MissEveryK(CenterFace(threshold=0.2), 3),
                             verifier=NoFaces(), tracker=TrackerSettings(lookahead=0, hold=0))
    assert report.passed
    assert exposed_frames(tmp_path / "out.mp4", boxes) == list(range(2, len(boxes), 3))


def test_verifier_repairs_what_the_detector_and_tracker_missed(moving_face, tmp_path):
    src, boxes = moving_face
    report = anonymize_video(src, tmp_path / "out.mp4", Config(), detector=MissEveryK(CenterFace(threshold=0.2), 3),
                             verifier=CenterFace(threshold=0.2), tracker=TrackerSettings(lookahead=0, hold=0))
    assert report.passed and report.video["repaired_frames"]
    assert exposed_frames(tmp_path / "out.mp4", boxes) == []


# -- failing closed -------------------------------------------------------------------------------


class CrashOn(Detector):
    """Raises on the listed frames (0-based call numbers), else detects normally."""

    def __init__(self, frames: set[int]):
        self.inner, self.frames, self.calls, self.name = CenterFace(threshold=0.2), frames, 0, "crashy"

    def detect(self, rgb):
        self.calls += 1
        if self.calls - 1 in self.frames:
            raise RuntimeError("onnxruntime fell over")
        return self.inner.detect(rgb)


def test_frame_whose_detection_crashed_is_covered_entirely(moving_face, tmp_path):
    src, _ = moving_face
    report = anonymize_video(src, tmp_path / "out.mp4", Config(), detector=CrashOn({5}), verifier=NoFaces())
    frames = ffmpeg_frames(tmp_path / "out.mp4")
    assert (np.abs(frames[5].astype(int) - 128).max(axis=2) <= 16).mean() > 0.99
    assert (np.abs(frames[20].astype(int) - 128).max(axis=2) <= 16).mean() < 0.5
    assert report.video["detection_failed_frames"] == 1


def test_detection_failing_on_many_frames_fails_and_writes_nothing(moving_face, tmp_path):
    src, _ = moving_face
    with pytest.raises(DetectionFailed):
        anonymize_video(src, tmp_path / "out.mp4", Config(), detector=CrashOn(set(range(0, 36, 2))), verifier=NoFaces())
    assert not (tmp_path / "out.mp4").exists() and no_temp_files(tmp_path)


def test_face_left_after_repair_fails_closed(moving_face, tmp_path):
    src, _ = moving_face

    class Stubborn(Detector):  # finds a face somewhere new after the repair, so the repair never covers it
        name, calls = "stubborn", 0

        def detect(self, rgb):
            self.calls += 1
            x = 100 * ((self.calls - 1) // 36)  # a new place in every verification round
            return Detections.from_boxes([[x, 200, x + 30, 230]], score=[0.9])

    with pytest.raises(VerificationFailed) as info:
        anonymize_video(src, tmp_path / "out.mp4", Config(), detector=CenterFace(threshold=0.2), verifier=Stubborn())
    assert "no face left outside" in str(info.value) and info.value.report.video["exposed_risk_frames"]
    assert not (tmp_path / "out.mp4").exists() and no_temp_files(tmp_path)


def test_resume_after_an_interrupted_video_adopts_only_what_was_verified(tmp_path):
    """Interrupt ``crowdveil SRC --out OUT`` mid-video, copy the original to the output
    name, run again: the copy must be refused, not reported as done. A run that
    committed records the digest it renamed, and that file is adopted."""
    from crowdveil.runner.batch import ALREADY_DONE, plan_jobs, run_batch

    src = tmp_path / "in" / "street.mp4"
    src.parent.mkdir()
    make_clip(src, metadata={"location": "+48.8566+002.3522/"})
    out = tmp_path / "out"
    jobs = plan_jobs([src], out)
    config = Config(preset="fast")

    def interrupt(done, total):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(jobs, config, on_frames=interrupt)
    assert no_temp_files(out)
    planted = out / "street.veiled.mp4"
    shutil.copyfile(src, planted)
    again = run_batch(jobs, config)
    assert not again.ok and "already exists" in again.reports[0].error
    assert not any(ALREADY_DONE in n for n in again.reports[0].notes)

    planted.unlink()
    done = run_batch(jobs, config)
    assert done.ok and sha256(planted) == done.reports[0].output_sha256
    from crowdveil.runner.manifest import manifest_path

    lines = [json.loads(line) for line in manifest_path(out).read_text().splitlines()]
    assert [e["output_sha256"] for e in lines if e["event"] == "committing"] == [sha256(planted)]


def test_interrupt_mid_video_leaves_no_output(moving_face, tmp_path):
    src, _ = moving_face

    def interrupt(done, total):
        assert total == 36
        if done == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        anonymize_video(src, tmp_path / "out.mp4", Config(), detector=CenterFace(threshold=0.2), verifier=NoFaces(),
                        progress=interrupt)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGQUIT"])
def test_kill_leaves_no_output(moving_face, tmp_path, signame):
    """``kill``, a closed terminal (SIGHUP) or Ctrl-\\ mid-run unwind like Ctrl-C: the temp
    file is deleted, no output appears."""
    import sys

    src, _ = moving_face
    script = (
        "import os, signal, sys\n"
        # Under nohup SIGHUP arrives ignored, and crowdveil keeps it so: start from the default.
        f"signal.signal(signal.{signame}, signal.SIG_DFL)\n"
        "from crowdveil import Config\n"
        "from crowdveil.detect.centerface import CenterFace\n"
        "from crowdveil.pipeline.video import anonymize_video\n"
        "def progress(done, total):\n"
        f"    if done == 5: os.kill(os.getpid(), signal.{signame})\n"
        f"anonymize_video({str(src)!r}, {str(tmp_path / 'out.mp4')!r}, Config(), detector=CenterFace(0.2), progress=progress)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode != 0 and "KeyboardInterrupt" in run.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_video_refused_with_a_clear_message(moving_face, tmp_path, damage):
    src, _ = moving_face
    data = src.read_bytes()
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(data[: len(data) // 3] if damage == "truncated" else data[:32] + bytes(range(256)) * 40)
    with pytest.raises(CorruptInput) as info:
        anonymize(bad, tmp_path / "out.mp4", Config(), detector=CenterFace(0.2), verifier=NoFaces())
    message = str(info.value)
    assert "bad.mp4" in message and ("damaged" in message or "cannot be opened" in message or "no decodable" in message)
    assert info.value.hint
    assert not (tmp_path / "out.mp4").exists() and no_temp_files(tmp_path)


def test_progress_reports_every_frame(moving_face, tmp_path):
    src, boxes = moving_face
    calls = []
    anonymize(src, tmp_path / "out.mp4", Config(), detector=CenterFace(0.2), verifier=NoFaces(),
              progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, len(boxes)) for i in range(1, len(boxes) + 1)]


# -- repairs: only the GOPs around a find are encoded again ---------------------------------------


@pytest.fixture(scope="module")
def four_gops(tmp_path_factory) -> tuple[Path, list]:
    # 10 fps, 70 frames: GOPs of KEYFRAME_SECONDS (2 s) = 20 frames → 20, 20, 20, 10.
    path = tmp_path_factory.mktemp("gops") / "moving.mp4"
    return path, write_moving_face_clip(path, width=320, height=240, frames=70, face_height=70, rate=10)


def keyframes(path: Path) -> list[int]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=key_frame",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
    return [i for i, line in enumerate(out.split()) if line.strip().startswith("1")]


def test_splicer_copies_untouched_gops_and_encodes_the_rest_from_new_pixels(four_gops, tmp_path):
    from crowdveil.io.video import CleanMp4Writer, GopSplicer

    src, _ = four_gops
    with VideoSource(src) as source:
        frames = [(f.pts, f.rgb) for f in source.frames()]
        info = source.info
    first = tmp_path / "first.mp4"
    writer = CleanMp4Writer(first, width=320, height=240, rate=info.rate, time_base=info.time_base)
    for pts, rgb in frames:
        writer.write_video(rgb, pts)
    writer.close()
    assert keyframes(first) == [0, 20, 40, 60]

    splicer = GopSplicer(first, width=320, height=240, rate=info.rate, time_base=info.time_base)
    assert splicer.gop_frames == [20, 20, 20, 10]
    patched = []
    for pts, rgb in frames[20:40]:
        rgb = rgb.copy()
        rgb[:120, :160] = (128, 128, 128)
        patched.append((pts, rgb))
    spliced = tmp_path / "spliced.mp4"
    splicer.write(spliced, {1}, iter(patched))

    before, after = ffmpeg_frames(first), ffmpeg_frames(spliced)
    assert len(after) == 70 and keyframes(spliced) == [0, 20, 40, 60]
    for i in [*range(20), *range(40, 70)]:  # copied byte for byte: decoded exactly as before
        assert np.array_equal(before[i], after[i]), i
    for i in range(20, 40):
        assert np.abs(after[i][:120, :160].astype(int) - 128).max() <= 16, i
        assert not np.array_equal(before[i], after[i])
    run = subprocess.run(["ffmpeg", "-v", "error", "-i", str(spliced), "-f", "null", "-"], capture_output=True, text=True)
    assert run.returncode == 0 and run.stderr == ""
    assert not [t for t in exiftool_tags(spliced) if "Encoder" in t or "x264" in str(exiftool_tags(spliced)[t])]


class BlindOn(Detector):
    """Finds nothing on the listed frames (calls, in frame order: one worker), else CenterFace's answer."""

    def __init__(self, frames: range):
        self.inner, self.frames, self.calls, self.name = CenterFace(threshold=0.2), frames, 0, "blind"

    def detect(self, rgb):
        self.calls += 1
        return Detections.empty() if self.calls - 1 in self.frames else self.inner.detect(rgb)


def test_verifier_find_encodes_again_only_the_gop_that_shows_it(four_gops, tmp_path):
    src, boxes = four_gops
    report = anonymize_video(src, tmp_path / "out.mp4", Config(), detector=BlindOn(range(26, 30)),
                             verifier=CenterFace(threshold=0.2), tracker=TrackerSettings(lookahead=0, hold=0))
    assert report.passed and report.video["repaired_frames"] == [26, 27, 28, 29]
    assert report.video["gops"] == 4 and report.video["gops_encoded_again"] == 1  # frames 22-33 are all in GOP 1
    assert "encoded again the 20 frames around them" in " ".join(report.notes)
    assert exposed_frames(tmp_path / "out.mp4", boxes) == []
    assert report.video["verified_frames"] == 70
    assert len(ffmpeg_frames(tmp_path / "out.mp4")) == 70


def test_when_gops_cannot_be_spliced_the_whole_video_is_encoded_again(four_gops, tmp_path, monkeypatch):
    from crowdveil.io import video as video_io

    def refuse(self, *args, **kwargs):
        raise video_io.SpliceImpossible("decode times would go backwards at a GOP seam")

    monkeypatch.setattr(video_io.GopSplicer, "write", refuse)
    src, boxes = four_gops
    report = anonymize_video(src, tmp_path / "out.mp4", Config(), detector=BlindOn(range(26, 30)),
                             verifier=CenterFace(threshold=0.2), tracker=TrackerSettings(lookahead=0, hold=0))
    notes = " ".join(report.notes)
    assert report.passed and "encoded the whole video again" in notes and "encoded again the whole video" in notes
    assert exposed_frames(tmp_path / "out.mp4", boxes) == []
    assert not list(tmp_path.glob("*.splice")) and no_temp_files(tmp_path)


# -- the detector's two views -------------------------------------------------------------------


def test_detector_reads_even_frames_plain_and_odd_frames_mirrored_and_the_verifier_the_other_way(moving_face, tmp_path,
                                                                                              monkeypatch):
    import threading

    from crowdveil.detect import registry

    seen: list[tuple[str, bool]] = []
    lock = threading.Lock()

    class Recording(Detector):
        def __init__(self, role, mirror):
            self.role, self.mirror, self.name = role, mirror, f"{role}{'-mirrored' if mirror else ''}"

        def detect(self, rgb):
            with lock:
                seen.append((self.role, self.mirror, int(rgb[0, 0, 0])))
            return Detections.empty()

    monkeypatch.setattr(registry, "build_video_detector", lambda c, w, h, mirror=False: Recording("d", mirror))
    monkeypatch.setattr(registry, "build_video_verifier", lambda c, w, h, mirror=True: Recording("v", mirror))
    src, _ = moving_face
    report = anonymize_video(src, tmp_path / "out.mp4", Config())
    detected = [mirror for role, mirror, _ in seen if role == "d"]
    verified = [mirror for role, mirror, _ in seen if role == "v"]
    assert len(detected) == len(verified) == 36
    assert sum(detected) == sum(verified) == 18
    assert report.video["detector"] == "d on even frames, d-mirrored on odd frames"
    assert report.video["verifier"] == "v-mirrored on even frames, v on odd frames"
    assert registry.views(registry.build_video_detector, Config(), 10, 10)[1].mirror


def test_real_views_are_yunet_plain_then_mirrored():
    from crowdveil.detect.confirm import Confirmed
    from crowdveil.detect.registry import build_video_detector, build_video_verifier, views
    from crowdveil.detect.yunet import YuNet

    detector = views(build_video_detector, Config(), 1280, 720)
    verifier = views(build_video_verifier, Config(), 1280, 720, verifier=True)
    # both have their big unsure finds confirmed by CenterFace (detect.confirm), at the scale YuNet saw
    assert all(isinstance(d, Confirmed) and d.scale == d.first.scale for d in detector + verifier)
    assert [d.first.mirror for d in detector] == [False, True] and [v.first.mirror for v in verifier] == [True, False]
    assert detector[0].first.scale == 0.75 and detector[0].first.threshold == 0.2  # 960 px long side
    fast = views(build_video_detector, Config(preset="fast"), 1280, 720)[0]
    assert isinstance(fast, YuNet) and fast.scale == 0.5  # --fast: YuNet alone


# -- pixel conversions ----------------------------------------------------------------------------


def test_frame_conversions_match_swscale_and_keep_bt709_on_swscale(moving_face):
    from crowdveil.io.video import to_i420_frame, to_rgb

    src, _ = moving_face
    with av.open(str(src)) as c:
        frame = next(c.decode(video=0))
    frame.colorspace = 2  # unspecified: BT.601, converted by OpenCV
    reference = frame.to_ndarray(format="rgb24")
    # Same matrix; only chroma upsampling at colour edges differs (BT.709 against 601 would be ~20 off).
    difference = np.abs(to_rgb(frame).astype(int) - reference)
    assert difference.mean() < 1.5 and difference.max() <= 8
    frame.colorspace = 1  # BT.709: swscale, which reads the tag
    assert np.array_equal(to_rgb(frame), frame.to_ndarray(format="rgb24"))
    yuv = to_i420_frame(reference)
    swscale = av.VideoFrame.from_ndarray(reference, format="rgb24").reformat(format="yuv420p")
    assert yuv.format.name == "yuv420p"
    assert np.abs(yuv.to_ndarray().astype(int) - swscale.to_ndarray()).mean() < 0.5


def test_a_find_beside_a_tracked_face_is_repaired_where_that_face_moves():
    from crowdveil.pipeline.video.ledger import moved_with_tracks, touched_track

    def frame(x):  # a tracked face region (track 5) at x, and an untracked one far away
        return Detections.from_boxes([[x, 100, x + 60, 180], [400, 20, 440, 60]], track_id=[5, -1],
                                     source=np.array(["track:5", "centerface"], object))

    on_frame_3, on_frame_6 = frame(200), frame(230)  # the face moves 10 px a frame
    ear = np.array([170, 120, 200, 160], np.float32)  # touches the face's left edge
    assert touched_track(ear, on_frame_3) == 5
    assert touched_track(np.array([0, 0, 20, 20], np.float32), on_frame_3) == -1  # far from everything
    extra = Detections.from_boxes([ear], track_id=[5])
    moved = moved_with_tracks(extra, on_frame_3, on_frame_6)
    assert moved.xyxy[0].tolist() == [200, 120, 230, 160]
    # a region a repair added is not a track to follow
    repaired = Detections.from_boxes([[200, 100, 260, 180]], track_id=[5], source=np.array(["verifier"], object))
    assert touched_track(ear, repaired) == -1


def test_kept_audio_survives_a_gop_repair_unchanged(tmp_path):
    """The splicer copies the audio packets: same samples, same start, same length as before the repair."""
    src = tmp_path / "sound.mp4"
    make_clip(src, acodec="aac", audio_start_s=0.5, frames=90)  # 3.75 s at 24 fps: GOPs of frames 0-47 and 48-89
    kept = Config(keep_audio=True)
    plain = anonymize_video(src, tmp_path / "plain.mp4", kept, detector=CenterFace(threshold=0.2), verifier=NoFaces())
    repaired = anonymize_video(src, tmp_path / "repaired.mp4", kept, detector=BlindOn(range(60, 64)),
                               verifier=CenterFace(threshold=0.2), tracker=TrackerSettings(lookahead=0, hold=0))
    # At 0.2 the verifier also finds slivers at the regions' edges on a few other frames (79 and 84
    # here), near its threshold; one CI run (its machine busy) encoded two GOPs again, not one.
    # The audio must come through however many GOPs were spliced.
    assert plain.passed and repaired.passed and repaired.video["gops_encoded_again"] >= 1
    assert {60, 61, 62, 63} <= set(repaired.video["repaired_frames"])
    audio = [_stream(ffprobe(tmp_path / name), "audio") for name in ("plain.mp4", "repaired.mp4")]
    assert audio[0]["start_time"] == audio[1]["start_time"] and audio[0]["duration_ts"] == audio[1]["duration_ts"]

    def samples(path):
        with av.open(str(path)) as c:
            return np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio=0)])

    assert np.array_equal(samples(tmp_path / "plain.mp4"), samples(tmp_path / "repaired.mp4"))


def test_an_unsure_box_far_bigger_than_the_sure_face_beside_it_is_dropped():
    from crowdveil.pipeline.video.detection import without_outsized

    sure_face = [300, 60, 366, 152]  # 66x92, score 0.93
    shirt = [260, 200, 400, 350]  # 140x150 below it: the ASL shirt print's size and place
    hand = [150, 220, 220, 300]  # face-sized: a face is never ruled out by size alone
    far = [0, 300, 150, 470]  # as big as the shirt, but far from any sure face

    def found(*boxes_scores):
        boxes, scores = zip(*boxes_scores)
        return Detections.from_boxes(list(boxes), score=list(scores))

    kept = without_outsized(found((sure_face, 0.93), (shirt, 0.3), (hand, 0.3), (far, 0.25)))
    assert sorted(kept.xyxy[:, 0].tolist()) == [0, 150, 300]
    assert len(without_outsized(found((sure_face, 0.93), (shirt, 0.85)))) == 2, "strong evidence keeps a big box"
    assert len(without_outsized(found((sure_face, 0.6), (shirt, 0.3)))) == 2, "no sure face: no size to compare"
    assert len(without_outsized(found((shirt, 0.3),))) == 1


def test_on_a_painted_frame_a_find_twice_the_grey_face_beside_it_needs_a_surer_score():
    from crowdveil.pipeline.video.detection import without_outsized

    painted_face = Detections.from_boxes([[259, 66, 327, 159]], score=[0.94])  # brother.mkv's face, 68x93
    skull = [[155, 112, 320, 305]]  # the print on the shirt, 2.2x the face: 0.80 once the face above it is grey
    shoulder_face = [[330, 60, 440, 210]]  # a neighbour 1.6x the face: the 0.8 bar as on the detector's side
    assert len(without_outsized(Detections.from_boxes(skull, score=[0.8]), beside=painted_face)) == 0
    assert len(without_outsized(Detections.from_boxes(skull, score=[0.92]), beside=painted_face)) == 1
    assert len(without_outsized(Detections.from_boxes(shoulder_face, score=[0.82]), beside=painted_face)) == 1
    assert len(without_outsized(Detections.from_boxes(shoulder_face, score=[0.7]), beside=painted_face)) == 0
    # the detector reads unpainted frames: there a sure box is never ruled out by size
    both = Detections.from_boxes(skull + [[259, 66, 327, 159]], score=[0.85, 0.94])
    assert len(without_outsized(both)) == 2


def test_big_detections_need_a_surer_score():
    from crowdveil.detect.registry import VIDEO_SIZE_LADDER
    from crowdveil.pipeline.video.detection import sure_for_their_size

    assert sorted(VIDEO_SIZE_LADDER.items()) == [(48, 0.4), (96, 0.5)]
    boxes = [[0, 0, 30, 40], [100, 0, 150, 60], [500, 0, 550, 60], [600, 0, 650, 60], [200, 0, 300, 130],
             [300, 0, 400, 130], [0, 200, 150, 330]]
    # small weak face / weak 60 px / 60 px at 0.37 (hands on hungry.mkv) / 60 px at 0.42 / weak 130 px /
    # surer 130 px / sure
    scores = [0.21, 0.3, 0.37, 0.42, 0.45, 0.55, 0.9]
    found = Detections.from_boxes(boxes, score=scores)
    kept = sure_for_their_size(found, 1.0)
    assert kept.xyxy[:, 0].tolist() == [0, 600, 300, 0]  # the small face stays: under 48 px the preset decides
    # Heights are judged as the detector saw them: on a 4K frame read at a quarter, a 130-px box is 32 px.
    assert len(sure_for_their_size(found, 0.25)) == 7
    whole = Detections.from_boxes([[0, 0, 640, 480]], score=[0.0], kind="frame")
    assert len(sure_for_their_size(whole, 1.0)) == 1, "a failed frame's whole-frame region is never dropped"


def test_spurious_fast_box_beside_a_face_does_not_balloon(moving_face, tmp_path):
    # A signer: the detector finds the face on every frame and, on a few frames, an unsure box
    # on the hands, face-sized, jumping 30 px a frame. The hold used to grow that box by its
    # speed to 3x its width and the whole frame went grey; the face stays covered throughout.
    src, boxes = moving_face

    class Signer(Detector):
        name, calls = "signer", 0

        def detect(self, rgb):
            i = self.calls
            self.calls += 1
            x1, y1, x2, y2 = boxes[i]
            found = [[x1, y1, x2, y2]], [0.93]
            if 10 <= i < 14:  # the hands
                hx = 20 + 30 * (i - 10)
                found = found[0] + [[hx, 170, hx + 40, 210]], found[1] + [0.3]
            return Detections.from_boxes(*found)

    seen = []
    report = anonymize_video(src, tmp_path / "out.mp4", Config(), detector=Signer(), verifier=NoFaces(),
                             painted=lambda regions, size: seen.append((regions, size)))
    assert report.passed and exposed_frames(tmp_path / "out.mp4", boxes) == []
    from crowdveil.bench.video import painted_shares

    (regions, (w, h)), = seen
    shares = painted_shares(regions, w, h, "box")
    face_only = max(shares[i] for i in range(len(shares)) if not 0 <= i < 30)
    assert max(shares) <= face_only + 100 * (40 * 1.6 * 1.6) * (40 * 1.6 * 1.72) / (w * h) + 1.0


def test_reviewed_regions_are_refused_for_a_video_and_nothing_is_written(moving_face, tmp_path):
    """``regions``/``keep_visible`` are a photo's review: a video refuses them instead of dropping them silently."""
    import crowdveil

    src, _ = moving_face
    for given in ({"regions": Detections.from_boxes([[10, 10, 60, 60]])}, {"keep_visible": Detections.empty()},
                  {"rejected": Detections.empty()}):
        with pytest.raises(crowdveil.UnsupportedFormat, match="for photos"):
            anonymize(src, tmp_path / "out.mp4", Config(), **given)
    assert list(tmp_path.iterdir()) == []


def test_a_video_is_sniffed_from_its_head_never_read_whole(moving_face, tmp_path, monkeypatch):
    import crowdveil.pipeline as pipeline

    reads = []
    real = pipeline.read_regular_file

    def recording(path, *, limit=None):
        reads.append(limit)
        return real(path, limit=limit)

    monkeypatch.setattr(pipeline, "read_regular_file", recording)
    src, _ = moving_face
    report = anonymize(src, tmp_path / "out.mp4", Config(), detector=CenterFace(threshold=0.2), verifier=CenterFace(0.5))
    assert report.passed and reads and None not in reads, reads


def test_a_video_reports_its_faces_as_tracks_and_a_photo_as_regions(moving_face, tmp_path):
    """``Report.faces`` holds ``VideoTrack``s for a video and ``PhotoFace``s for a photo: the typed shapes, key for key."""
    from crowdveil.types import PhotoFace, VideoTrack

    src, _ = moving_face
    report = anonymize_video(src, tmp_path / "out.mp4", Config(), detector=CenterFace(threshold=0.2), verifier=NoFaces())
    assert report.faces and all(list(track) == list(VideoTrack.__annotations__) for track in report.faces)
    photo = tmp_path / "face.png"
    from PIL import Image

    with av.open(str(src)) as c:
        Image.fromarray(next(c.decode(video=0)).to_ndarray(format="rgb24")).save(photo)
    shot = anonymize(photo, tmp_path / "face.veiled.png", Config(), detector=CenterFace(threshold=0.2),
                     verifier=NoFaces())
    assert shot.faces and all(set(face) <= set(PhotoFace.__annotations__) and
                              {"box", "score", "kind", "source"} <= set(face) for face in shot.faces)


class Fixed(Detector):
    """Finds the same boxes, with the same scores, on every frame."""

    def __init__(self, boxes, scores, name="fixed"):
        self.found = Detections.from_boxes(boxes, score=scores)
        self.name = name

    def detect(self, rgb):
        return self.found


def test_the_verifiers_outsized_finds_beside_a_sure_face_are_not_repaired(tmp_path):
    # The detector is sure of the face; the verifier reads the written frames and finds, besides a
    # face-sized box elsewhere (repaired), a box under the face twice its size at 0.6: the signer's
    # hands. The detector's own rule drops such a box; the verifier's finds follow the same rule.
    src = tmp_path / "in.mp4"
    make_clip(src)
    face, hands, other = [40, 30, 100, 110], [20, 120, 160, 235], [220, 40, 270, 100]
    seen: list = []
    report = anonymize_video(src, tmp_path / "out.mp4", Config(), detector=Fixed([face], [0.93]),
                             verifier=Fixed([hands, other], [0.6, 0.6], "verifier"),
                             painted=lambda regions, size: seen.append(regions))
    assert report.passed
    regions = seen[-1]
    assert len(regions) == FRAMES
    for frame in regions:
        assert box_coverage(np.array([other], np.float32), frame.xyxy).max() >= 0.999, "a face-sized find is repaired"
        assert box_coverage(np.array([hands], np.float32), frame.xyxy).max() < 0.5, "the outsized find is not"
