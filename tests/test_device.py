"""``--device``: which onnxruntime provider runs, and the errors when a GPU is asked for and cannot be used.

This machine has no GPU and the CPU build of onnxruntime: the fallback
and error paths are what can be tested here. The "silent fallback" case is
onnxruntime's own: asked for CUDA by a build that lists it, it creates a
CPU session without an error, which only ``session.get_providers()`` shows.
"""

from __future__ import annotations

import subprocess
import sys

import onnxruntime as ort
import pytest
from click.testing import CliRunner

from crowdveil import Config, anonymize
from crowdveil.cli import EXIT, main
from crowdveil.detect import onnx_session
from crowdveil.detect.onnx_session import CPU, CUDA, make_session, use_device
from crowdveil.detect.weights import YUNET, load_verified
from crowdveil.errors import DeviceUnavailable, ModelError

from helpers import face_on_background, jpeg_with_phone_metadata

needs_cpu_build = pytest.mark.skipif(CUDA in ort.get_available_providers(),
                                     reason="onnxruntime-gpu with CUDA is installed: the CPU-only paths do not apply")


@pytest.fixture(autouse=True)
def back_to_auto():
    yield
    use_device("auto")


@needs_cpu_build
def test_cuda_on_the_cpu_build_is_a_typed_setup_error():
    with pytest.raises(DeviceUnavailable) as caught:
        use_device("cuda")
    assert isinstance(caught.value, ModelError)  # the CLI's "cannot run here" (exit 3)
    assert "no CUDA provider" in str(caught.value) and "onnxruntime-gpu" in caught.value.hint
    assert onnx_session.current_device() == "auto"  # a refused choice changes nothing


def test_cuda_session_that_silently_fell_back_to_the_cpu_is_refused(monkeypatch):
    """A GPU build whose CUDA libraries are missing lists CUDA yet runs on the CPU: caught after creation."""
    listed = [CUDA, *ort.get_available_providers()]
    monkeypatch.setattr(ort, "get_available_providers", lambda: listed)
    use_device("cuda")
    with pytest.raises(DeviceUnavailable, match="fell back to the CPU"):
        make_session(load_verified(YUNET))


def test_cpu_and_auto_run_on_the_cpu_provider():
    use_device("cpu")
    assert make_session(load_verified(YUNET)).get_providers() == [CPU]
    use_device("auto")
    assert make_session(load_verified(YUNET)).get_providers()[0] in ort.get_available_providers()


def test_the_report_says_which_provider_ran(tmp_path):
    pixels, _ = face_on_background()
    src = jpeg_with_phone_metadata(tmp_path / "face.jpg", pixels)
    use_device("auto")
    report = anonymize(src, None, Config(preset="fast"))
    assert report.passed and report.providers
    assert set(report.providers) <= set(ort.get_available_providers())
    if CUDA not in ort.get_available_providers():
        assert report.providers == [CPU]  # auto fell back, and says so
    assert report.to_dict()["providers"] == report.providers


@needs_cpu_build
def test_cli_device_cuda_without_a_gpu_exits_3_before_writing(tmp_path):
    pixels, _ = face_on_background()
    src = jpeg_with_phone_metadata(tmp_path / "face.jpg", pixels)
    result = CliRunner().invoke(main, [str(src), "--out", str(tmp_path / "out"), "--device", "cuda"])
    assert result.exit_code == EXIT["setup"], result.output
    assert "no CUDA provider" in result.output and "what to do" in result.output
    assert not (tmp_path / "out").exists()


def test_cli_engine_ray_without_ray_says_how_to_install_and_exits_2(tmp_path, monkeypatch):
    pixels, _ = face_on_background()
    src = jpeg_with_phone_metadata(tmp_path / "face.jpg", pixels)
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` does where it is not installed
    result = CliRunner().invoke(main, [str(src), "--out", str(tmp_path / "out"), "--engine", "ray"])
    assert result.exit_code == EXIT["usage"], result.output
    assert "crowdveil[cluster]" in result.output
    assert not (tmp_path / "out").exists()


def test_importing_crowdveil_never_imports_ray():
    code = ("import sys, crowdveil, crowdveil.cli, crowdveil.runner.ray_engine, crowdveil.bench.cli; "
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
