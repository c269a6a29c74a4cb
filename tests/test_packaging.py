"""What a user installs: the licence and notice, one version everywhere, and a wheel and
sdist that hold the package data and nothing else (no tests, no training code, no
evaluation data).

The build runs offline (``--no-isolation``, with the ``build`` and ``setuptools``
of the dev extra) from a copy of the repository, sdist first and the wheel from the
sdist, as ``python -m build`` does: a file the sdist forgets is missing from the
wheel too. CI (``.ci/check-install``) installs that wheel into fresh venvs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

import crowdveil
from crowdveil.cli import EXIT, main
from crowdveil.detect import weights
from crowdveil.types import Report

from helpers import face_on_background

PACKAGE = Path(crowdveil.__file__).parent
REPO = PACKAGE.parent.parent
# What no wheel or sdist may hold: photos and videos (the evaluation data is all media), tests, training.
MEDIA = {".jpg", ".jpeg", ".png", ".heic", ".heif", ".webp", ".avif", ".tif", ".tiff", ".gif", ".mp4", ".mov", ".mkv",
         ".avi", ".webm", ".dng", ".npz", ".npy", ".pt"}

needs_repository = pytest.mark.skipif(not (REPO / "pyproject.toml").is_file(),
                                      reason="crowdveil is installed, not run from its repository")


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


# -- licence and notice --------------------------------------------------------------------------------

@needs_repository
def test_the_code_is_apache_2_and_the_metadata_says_so():
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    project = _pyproject()["project"]
    assert project["license"] == "Apache-2.0" and set(project["license-files"]) == {"LICENSE", "NOTICE"}


@needs_repository
def test_notice_lists_every_model_file_with_its_licence_and_sha256():
    notice = (REPO / "NOTICE").read_text(encoding="utf-8")
    for weight in weights.ALL:
        section = notice.split(Path(weight.relative_path).name + "\n", 1)
        assert len(section) == 2, f"NOTICE has no section for {weight.relative_path}"
        body = section[1].split("\n\n", 1)[0]  # a section ends at a blank line
        assert weight.sha256 in body, weight.name
        assert weight.licence.split(" ")[0] in body, weight.name
        if weight.requirement:
            distribution, version = weight.requirement.split("==")
            assert f"`{distribution}` {version} wheel" in body, weight.name
    assert "CC BY-NC-ND 4.0" in notice  # the classifier's training data and its terms


def test_version_verbose_lists_the_model_files():
    result = CliRunner().invoke(main, ["--version", "--verbose"])
    assert result.exit_code == EXIT["ok"], result.output
    assert result.output.startswith(f"crowdveil {crowdveil.__version__} (Apache-2.0")
    text = " ".join(result.output.split())
    for weight in weights.ALL:
        assert weight.sha256 in text and Path(weight.relative_path).name in text and weight.licence in text
    plain = CliRunner().invoke(main, ["--version"])
    assert plain.exit_code == EXIT["ok"] and plain.output.strip().startswith(f"crowdveil {crowdveil.__version__}")
    assert "sha256" not in plain.output


# -- one version ---------------------------------------------------------------------------------------

@needs_repository
def test_one_version_in_pyproject_package_and_changelog():
    pyproject = _pyproject()
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "crowdveil.version.__version__"}
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## Unreleased" in changelog or f"## {crowdveil.__version__}" in changelog


def test_reports_and_the_manifest_carry_the_version_but_the_output_does_not(tmp_path):
    assert Report(source="x").version == crowdveil.__version__  # failed and kept-from-earlier reports too
    pixels, _ = face_on_background(320, 240, faces=((100, 50, 110),))
    src = tmp_path / "in" / "a.png"
    src.parent.mkdir()
    Image.fromarray(pixels).save(src)
    (src.parent / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(main, [str(src.parent), "--fast", "--out", str(tmp_path / "out"), "--report", str(report_path)])
    assert result.exit_code == EXIT["failed"], result.output
    report = json.loads(report_path.read_text())
    assert report["version"] == crowdveil.__version__
    assert [f["version"] for f in report["files"]] == [crowdveil.__version__] * 2
    from crowdveil.runner.manifest import manifest_path

    lines = [json.loads(line) for line in manifest_path(tmp_path / "out").read_text().splitlines()]
    assert lines and all(line["crowdveil"] == crowdveil.__version__ for line in lines)
    output = (tmp_path / "out" / "a.veiled.png").read_bytes()
    assert b"crowdveil" not in output.lower() and crowdveil.__version__.encode() not in output


# -- the wheel and the sdist ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    pytest.importorskip("build", reason="the `build` package (dev extra) builds the wheel")
    if not (REPO / "pyproject.toml").is_file():
        pytest.skip("crowdveil is installed, not run from its repository")
    work = tmp_path_factory.mktemp("build")
    source = work / "crowdveil"
    heavy = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                   ".hypothesis", "demo", "out", "node_modules")
    shutil.copytree(REPO, source, ignore=heavy, symlinks=True)
    result = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(work / "dist"), str(source)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wheels = list((work / "dist").glob("crowdveil-*.whl"))
    sdists = list((work / "dist").glob("crowdveil-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    return wheels[0], sdists[0]


def _package_files() -> set[str]:
    """Every file the installed package needs: its modules and its data, as they lie in src/."""
    return {str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")}


def test_the_wheel_holds_the_package_with_its_data_and_licences(built):
    wheel, _ = built
    assert wheel.name == f"crowdveil-{crowdveil.__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    package = {n for n in names if n.startswith("crowdveil/")}
    missing = _package_files() - package
    assert not missing, f"the wheel lacks {sorted(missing)}"
    for data in ("crowdveil/detect/models/candidate_classifier.onnx", "crowdveil/studio/static/index.html",
                 "crowdveil/studio/static/studio.js", "crowdveil/i18n/cli/en.json", "crowdveil/i18n/studio/zh-CN.json"):
        assert data in names
    info = f"crowdveil-{crowdveil.__version__}.dist-info"
    assert {f"{info}/licenses/LICENSE", f"{info}/licenses/NOTICE"} <= names
    metadata = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata and f"Version: {crowdveil.__version__}" in metadata
    assert "crowdveil = crowdveil.cli:main" in zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    top = {n.split("/")[0] for n in names}
    assert top == {"crowdveil", info}, f"the wheel installs more than crowdveil: {sorted(top)}"
    assert not {n for n in names if Path(n).suffix.lower() in MEDIA}
    for shipped in (weights.CANDIDATE_CLASSIFIER, weights.CLOSER_LOOK):
        raw = zipfile.ZipFile(wheel).read(f"crowdveil/{shipped.relative_path}")
        assert hashlib.sha256(raw).hexdigest() == shipped.sha256


def test_the_sdist_holds_the_source_and_licences_but_no_tests_or_data(built):
    _, sdist = built
    root = f"crowdveil-{crowdveil.__version__}"
    with tarfile.open(sdist) as archive:
        names = {m.name for m in archive.getmembers() if m.isfile()}
    for needed in ("LICENSE", "NOTICE", "CHANGELOG.md", "README.md", "pyproject.toml", "MANIFEST.in"):
        assert f"{root}/{needed}" in names
    inside = {n[len(root) + 1:] for n in names}
    assert not {n for n in inside if Path(n).suffix.lower() in MEDIA}
    beside_the_package = {n for n in inside if not n.startswith(("src/crowdveil/", "src/crowdveil.egg-info/"))}
    assert beside_the_package <= {"LICENSE", "NOTICE", "CHANGELOG.md", "README.md", "pyproject.toml", "MANIFEST.in",
                                  "PKG-INFO", "setup.cfg"}, "no tests, training code, docs or data in the sdist"
    assert {n for n in inside if n.startswith("src/crowdveil/")} == {f"src/{f}" for f in _package_files()}
