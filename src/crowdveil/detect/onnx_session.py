"""One place that turns verified weight bytes into an onnxruntime session.

Which device runs inference is a per-process choice (``use_device``): the
detectors keep one session per process (``session_key``), a Ray actor is a
process, so "one session per actor" is one call to ``use_device`` in the actor.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..errors import DeviceUnavailable, ModelError

DEVICES = ("auto", "cpu", "cuda")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

_LOCK = threading.Lock()


@dataclass
class _Settings:
    device: str = "auto"
    threads: int | None = None


_settings = _Settings()
# The providers the sessions made in this process actually run on (what the report says).
_providers_used: set[str] = set()


def use_device(device: str = "auto", *, threads: int | None = None) -> None:
    """Where this process's sessions run from now on, and onnxruntime's intra-op threads.

    ``threads`` matters in a worker: Ray sets only ``OMP_NUM_THREADS``, which
    onnxruntime's own thread pool ignores; without it each actor starts one
    thread per core of the whole node. ``None`` keeps ``CROWDVEIL_THREADS``
    or onnxruntime's default.

    Raises:
        DeviceUnavailable: ``cuda`` asked for and onnxruntime has no CUDA provider.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, not {device!r}")
    if device == "cuda":
        check_cuda_available()
    with _LOCK:
        _settings.device = device
        _settings.threads = threads


def current_device() -> str:
    return _settings.device


def session_key(name: str) -> tuple:
    """The cache key of a detector's per-process session: a new device or thread count means a new session."""
    return (name, _settings.device, _settings.threads)


_SHARED: dict[tuple, Any] = {}  # key → onnxruntime.InferenceSession
_SHARED_LOCK = threading.RLock()


def shared_session(key: tuple, build: Callable[[], Any]) -> Any:
    """The process's one session for ``key``, made by ``build`` on first use and shared by every
    thread (onnxruntime's run() is thread-safe): loading, hashing and rewriting a graph costs
    tens to hundreds of milliseconds. ``key`` starts with ``session_key(name)`` where the
    session should follow ``use_device``.
    """
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = build()
        return _SHARED[key]


def providers_used() -> list[str]:
    """The execution providers of every session this process made, e.g. ``["CPUExecutionProvider"]``."""
    return sorted(_providers_used)


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def check_cuda_available() -> None:
    """Raise ``DeviceUnavailable`` unless the installed onnxruntime has a CUDA provider."""
    if CUDA not in available_providers():
        raise DeviceUnavailable(
            "--device cuda: the installed onnxruntime has no CUDA provider (it is the CPU-only build, "
            f"providers: {', '.join(available_providers())})"
        )


def wanted_providers(device: str) -> list[str]:
    if device == "cpu":
        return [CPU]
    if device == "cuda":
        return [CUDA, CPU]
    return [p for p in (CUDA, CPU) if p in available_providers()]


# While a large photo is processed (``large_photo``), network inputs of more pixels than this
# run in a session without onnxruntime's memory arena (``run_large``): the arena keeps what its
# largest run took, per session, for the life of the process: a 48 MP photo's passes left
# ~0.6 GB held through the rest of it (1.9 GiB peak with the arena, 0.87 without). Other
# photos and video frames keep the arena: without it a 0.7 MP WIDER photo's detection ran at
# 0.94 images/s instead of 1.58. The kernels, and so the results, are the same.
LARGE_INPUT_PIXELS = 600_000
LARGE_PHOTO_PIXELS = 24_000_000  # above a 12-20 MP phone photo, below a 48 MP one
_large_photos = 0  # photos of more than LARGE_PHOTO_PIXELS being processed now, in any thread


@contextmanager
def large_photo(pixels: int) -> Iterator[None]:
    """Within it, when ``pixels`` > ``LARGE_PHOTO_PIXELS``, big network inputs run without the arena.

    A count, not a flag: with several photos at once (the studio, a batch), a
    small one beside a large one only runs slower, and the large one is never
    run with the arena.
    """
    global _large_photos
    large = pixels > LARGE_PHOTO_PIXELS
    if large:
        with _LOCK:
            _large_photos += 1
    try:
        yield
    finally:
        if large:
            with _LOCK:
                _large_photos -= 1


def without_arena(input_pixels: int) -> bool:
    """Whether a network input of ``input_pixels`` runs in the arena-less session (``run_large``)."""
    return _large_photos > 0 and input_pixels > LARGE_INPUT_PIXELS


_malloc_trim: list[Callable[[int], int]] | None = None  # glibc's, found on first use; empty: none


def run_large(session, output_names, feeds: dict):
    """``session.run`` for a session made with ``arena=False``, its freed memory returned to the system after.

    glibc keeps freed blocks under 32 MB in its heap, where a run's
    activations leave them scattered: ~150 MB stayed resident after each
    whole-photo pass. ``malloc_trim`` gives them back (a few ms).
    """
    try:
        return session.run(output_names, feeds)
    finally:
        _trim_heap()


def _trim_heap() -> None:
    global _malloc_trim
    if _malloc_trim is None:
        import ctypes
        import ctypes.util

        try:
            _malloc_trim = [ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim]
        except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to give back this way
            _malloc_trim = []
    for trim in _malloc_trim:
        trim(0)



def make_session(model_bytes: bytes, *, rewrite: Callable | None = None, arena: bool = True):
    """Create an InferenceSession on the device chosen with ``use_device``.

    ``rewrite`` may edit the parsed ``onnx.ModelProto`` first (e.g. make a
    fixed input size dynamic). ``arena=False`` for the sessions of large
    inputs (``LARGE_INPUT_PIXELS``).

    Raises:
        ModelError: onnxruntime cannot load the model.
        DeviceUnavailable: ``cuda`` asked for and the session fell back to the CPU
            (onnxruntime does so silently when CUDA or cuDNN libraries are missing).
    """
    import onnxruntime as ort

    if rewrite is not None:
        import onnx

        model_bytes = rewrite(onnx.load_from_string(model_bytes)).SerializeToString()
    device, threads = _settings.device, _settings.threads
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the CenterFace graph warns about unused initializers
    # Idle worker threads sleep instead of spinning: on 2 cores the spinning took the CPU
    # the video encoder and decoder run on beside detection (a 720p video pass ran ~1.4×
    # slower with it). A lone 2048-px photo inference measured the same; a lone 640-px
    # one ~15 % slower, which the overlap in the video pipeline more than pays back.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.enable_cpu_mem_arena = arena
    threads_text = str(threads) if threads else os.environ.get("CROWDVEIL_THREADS")
    if threads_text:
        options.intra_op_num_threads = int(threads_text)
    if device == "cuda":
        check_cuda_available()
        _preload_cuda_libraries(ort)
    try:
        session = ort.InferenceSession(model_bytes, sess_options=options, providers=wanted_providers(device))
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"could not load the detector model: {exc}") from exc
    running = list(session.get_providers())
    if device == "cuda" and CUDA not in running:
        raise DeviceUnavailable(
            "--device cuda: onnxruntime-gpu is installed but the session fell back to the CPU "
            "(CUDA or cuDNN libraries missing or no GPU visible)"
        )
    with _LOCK:
        _providers_used.add(running[0] if running else CPU)
    return session


def _preload_cuda_libraries(ort) -> None:
    # onnxruntime-gpu ≥ 1.21 can load the CUDA/cuDNN libraries of the nvidia-* wheels itself.
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        try:
            preload()
        except Exception:  # noqa: BLE001 - a missing library shows up as the fallback checked after
            pass
