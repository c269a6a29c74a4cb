"""Small files that would take huge memory (issue 17, item 7).

A 16-bit PNG compresses a large flat picture into a few hundred KB; its
decode must cost about what an 8-bit photo of that size costs, not a
float64 copy of it. A video's frames are held to the same pixel limit as a
photo, checked from the declared size before a frame is converted.

Memory is measured in a subprocess (its own peak RSS, from /proc), never timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from crowdveil import Config, anonymize
from crowdveil.cli import EXIT, main
from crowdveil.errors import TooLarge
from crowdveil.io.image import check_decode_memory, decode_image, decode_peak_bytes, memory_budget
from crowdveil.io.video import VideoSource

from helpers import no_temp_files

# Decoding runs in a fresh interpreter, which reports how far its resident memory
# rose above where it stood once the file was read (VmHWM after − VmRSS before).
_MEASURE = r"""
import json, sys
from pathlib import Path
from crowdveil.io.image import decode_image

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
data = Path(sys.argv[1]).read_bytes()
before = status("VmRSS")
decoded = decode_image(data, "png", max_pixels=250_000_000)
print(json.dumps({"rise": status("VmHWM") - before, "shape": list(decoded.pixels.shape),
                  "mean": float(decoded.pixels.mean())}))
"""


def _decode_rise(path: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, timeout=300,
                            env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _stripes(height: int, width: int, dtype, value: int) -> np.ndarray:
    grey = np.zeros((height, width), dtype)
    grey[::7] = value  # compresses to a few hundred KB, decodes to every pixel
    return grey


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS read from /proc")
@pytest.mark.parametrize("kind", ["grey16", "rgb16"])
def test_16_bit_png_decodes_in_about_the_memory_of_an_8_bit_one(tmp_path, kind):
    n = 6000  # 36 MP: the float64 conversion took 26 bytes a pixel, about 940 MB here
    src = tmp_path / f"{kind}.png"
    if kind == "grey16":
        Image.fromarray(_stripes(n, n, np.uint16, 40000)).save(src)  # mode I;16
    else:
        import cv2  # Pillow cannot write 16-bit RGB; OpenCV writes a 16-bit-per-channel PNG

        assert cv2.imwrite(str(src), np.repeat(_stripes(n, n, np.uint16, 40000)[:, :, None], 3, axis=2))
    assert src.stat().st_size < 2 << 20, "a small file"
    measured = _decode_rise(src)
    rgb8_bytes = n * n * 3  # the array decode_image returns
    assert measured["shape"] == [n, n, 3]
    assert measured["mean"] == pytest.approx(round(40000 / 257) / 7, rel=0.01)
    # Pillow's own copy of the samples plus the 8-bit RGB output plus small bands.
    assert measured["rise"] < 3 * rgb8_bytes, f"{measured['rise'] / 1e6:.0f} MB to decode {n}×{n} {kind}"
    assert measured["rise"] < decode_peak_bytes("I;16" if kind == "grey16" else "RGB", n, n), "the budget is an upper bound"


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_16_bit_samples_round_to_nearest_8_bit_in_integers(tmp_path, mode):
    every = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    # frombytes, not convert(): Pillow clips to 255 when converting between 16-bit modes
    im = Image.frombytes(mode, (256, 256), every.astype(">u2" if mode.endswith("B") else "<u2").tobytes())
    path = tmp_path / "every.tif"
    im.save(path)
    assert Image.open(path).mode == mode
    decoded = decode_image(path.read_bytes(), "tiff", max_pixels=10**6)
    expected = np.floor(every.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)
    for channel in range(3):
        assert np.array_equal(decoded.pixels[:, :, channel], expected)


def test_32_bit_and_float_grey_keep_their_scaling():
    import io

    for array, expected in [
        (np.array([[0, 128, 255, -5]], np.int32), [0, 128, 255, 0]),  # 0–255 when no sample exceeds 255
        (np.array([[0, 65535, 70000, 32768]], np.int32), [0, 255, 255, 128]),
        (np.array([[0.0, 127.6, 255.0, np.nan]], np.float32), [0, 128, 255, 0]),
    ]:
        buf = io.BytesIO()
        Image.fromarray(array).save(buf, "TIFF")
        decoded = decode_image(buf.getvalue(), "tiff", max_pixels=100)
        assert decoded.pixels[0, :, 0].tolist() == expected, array


def test_memory_budget_in_bytes_keeps_8_bit_photos_at_the_default_limit():
    limit = int(Config().max_megapixels * 1e6)
    side = int(limit**0.5)
    for mode in ("RGB", "RGBA", "L", "P", "CMYK", "I;16", "I", "F"):
        check_decode_memory(mode, side, side, max_pixels=limit)  # no 8-bit photo under the pixel limit is refused
    assert memory_budget(limit) < 8e9
    with pytest.raises(TooLarge) as caught:  # a mode crowdveil does not know is budgeted as a deep one
        check_decode_memory("RGB;48", side, side, max_pixels=limit)
    assert "GB to decode" in str(caught.value) and "--max-megapixels" in caught.value.hint


# -- video ------------------------------------------------------------------------------------------


def _big_frame_mkv(path: Path, size: int = 6000, frames: int = 2) -> Path:
    import av

    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        black = av.VideoFrame.from_ndarray(np.zeros((size * 3 // 2, size), np.uint8), format="yuv420p")
        for i in range(frames):
            black.pts = i
            for packet in stream.encode(black):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def big_frame_video(tmp_path_factory) -> Path:
    path = _big_frame_mkv(tmp_path_factory.mktemp("video") / "huge_frames.mkv")
    assert path.stat().st_size < 1 << 20, "a small file"
    return path


def test_video_source_refuses_frames_above_the_pixel_limit_on_open(big_frame_video):
    with pytest.raises(TooLarge) as caught:
        VideoSource(big_frame_video, max_pixels=10_000_000)
    assert "6000×6000 = 36 megapixels" in str(caught.value) and "limit of 10" in str(caught.value)
    assert "--max-megapixels" in caught.value.hint
    with VideoSource(big_frame_video, max_pixels=40_000_000) as source:  # under the limit it opens
        assert source.info.stored_size == (6000, 6000)


def test_video_pipeline_refuses_large_frames_and_writes_nothing(big_frame_video, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(TooLarge):
        anonymize(big_frame_video, out_dir=out, config=Config(max_megapixels=10))
    assert list(out.iterdir()) == []


def test_cli_refuses_a_video_of_large_frames_in_one_line(big_frame_video, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [str(big_frame_video), "--out", str(out), "--fast", "--max-megapixels", "10"])
    assert result.exit_code == EXIT["failed"], result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if "6000×6000" in line]
    # one line, printed as the file fails and again in the summary
    assert len(set(lines)) == 1 and "limit of 10" in lines[0] and lines[0].startswith("FAILED"), result.output
    assert "--max-megapixels" in result.output
    assert not out.exists() or (no_temp_files(out) and not any(p.suffix in (".mp4", ".mkv") for p in out.rglob("*")))


def test_only_a_large_photo_runs_its_networks_without_the_arena():
    from crowdveil.detect.onnx_session import LARGE_INPUT_PIXELS, LARGE_PHOTO_PIXELS, large_photo, without_arena

    big_input = LARGE_INPUT_PIXELS + 1
    assert not without_arena(big_input), "video frames and ordinary photos keep the arena's speed"
    with large_photo(LARGE_PHOTO_PIXELS // 2):
        assert not without_arena(big_input)
    with large_photo(LARGE_PHOTO_PIXELS + 1):
        assert without_arena(big_input) and not without_arena(LARGE_INPUT_PIXELS)
        with large_photo(1000):  # a small photo beside it, in another thread say: still without
            assert without_arena(big_input)
        assert without_arena(big_input)
    assert not without_arena(big_input)
