"""One place that turns verified weight bytes into an onnxruntime session."""

from __future__ import annotations

import os
from typing import Callable

from ..errors import ModelError


def make_session(model_bytes: bytes, *, rewrite: Callable | None = None):
    """Create an InferenceSession; CUDA when onnxruntime-gpu finds a GPU, else CPU.

    ``rewrite`` may edit the parsed ``onnx.ModelProto`` first (e.g. make a
    fixed input size dynamic).
    """
    import onnxruntime as ort

    if rewrite is not None:
        import onnx

        model_bytes = rewrite(onnx.load_from_string(model_bytes)).SerializeToString()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the CenterFace graph warns about unused initializers
    # Idle worker threads sleep instead of spinning: on 2 cores the spinning took the CPU
    # the video encoder and decoder run on beside detection (a 720p video pass ran ~1.4×
    # slower with it). A lone 2048-px photo inference measured the same; a lone 640-px
    # one ~15 % slower, which the overlap in the video pipeline more than pays back.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    threads = os.environ.get("CROWDVEIL_THREADS")
    if threads:
        options.intra_op_num_threads = int(threads)
    wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    providers = [p for p in wanted if p in ort.get_available_providers()]
    try:
        return ort.InferenceSession(model_bytes, sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"could not load the detector model: {exc}") from exc
