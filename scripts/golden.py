"""Record what the pipeline produces for a fixed set of inputs: output sha256 and the report.

Refactors must not change behaviour: run this before and after and compare
(``python scripts/golden.py OUT.json [INPUTS_DIR]`` before and after, then
``--compare A.json B.json``).
Inputs: the bundled demo photo, clips made the way tests/test_video.py makes
them, and, when ../shared/data exists, a few real photos and clips.
Timings, paths and the version are left out of the comparison; all else counts.

x264 is not deterministic with its default threads: the same frames and
timestamps give other bytes (and other decoded pixels) about one run in
eight or more on a loaded machine, and with one thread never (checked with
identical encoder inputs, 16 runs each). So each video's record also holds
``encoder_inputs_sha256``, one digest per encode (the first pass, a repaint,
a GOP splice) of the painted frames and timestamps handed to the encoder:
what the pipeline decides. ``--deterministic-encoder`` runs x264 on one
thread and each input in a fresh process (one-thread x264 still varies once
a photo ran in the same process), so the output bytes themselves can be
compared too (``python scripts/golden.py --deterministic-encoder OUT.json [INPUTS_DIR]``).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
REAL = [
    "metadata_samples/ianare_exif-samples/jpg/gps/DSCN0010.jpg",
    "metadata_samples/bigcat88_pillow_heif/tests/images/heif_other/L_exif_xmp_iptc.heic",
    "metadata_samples/drewnoakes_metadata-extractor/Tests/Data/photoshop-8x12-rgb24-all-metadata.png",
    "video_samples/intel-iot-devkit_sample-videos/asl_gestures/bird.mkv",
    "video_samples/drewnoakes_metadata-extractor-dotnet/MetadataExtractor.Tests/Data/with-gps.mov",
]


def _stable(report: dict) -> dict:
    d = dict(report)
    for key in ("timings_ms", "source", "destination", "version"):
        d.pop(key, None)
    d["video"] = {k: v for k, v in d.get("video", {}).items() if k != "processing_fps"}
    return d


def _watch_encoders(deterministic: bool) -> list[list]:
    """Hash what every encode gets (pixels and pts); ``deterministic``: x264 on one thread."""
    import numpy as np

    from crowdveil.io import animation, video

    encodes: list[list] = [[]]  # per input: one sha256 per encode

    def digest_of(writer) -> "hashlib._Hash":
        if getattr(writer, "_golden_sha", None) is None:
            writer._golden_sha = hashlib.sha256()
            encodes[-1].append(writer._golden_sha)
        return writer._golden_sha

    def hashing(write):
        def write_video(self, rgb, pts):
            digest_of(self).update(np.ascontiguousarray(rgb).tobytes() + str(pts).encode())
            return write(self, rgb, pts)
        return write_video

    for cls in (video.CleanMp4Writer, animation.CleanAnimationWriter):
        cls.write_video = hashing(cls.write_video)
    splice = video.GopSplicer.write

    def spliced(self, path, redo, frames):
        sha = hashlib.sha256(repr(sorted(redo)).encode())
        encodes[-1].append(sha)

        def seen():
            for pts, rgb in frames:
                sha.update(np.ascontiguousarray(rgb).tobytes() + str(pts).encode())
                yield pts, rgb
        return splice(self, path, redo, seen())

    video.GopSplicer.write = spliced
    if deterministic:
        options = video.EncoderSettings.options
        video.EncoderSettings.options = lambda self: {**options(self), "threads": "1"}
    return encodes


def _decoded_sha256(path: Path) -> str:
    import av

    h = hashlib.sha256()
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            h.update(frame.to_ndarray(format="rgb24").tobytes())
    return h.hexdigest()


def _run_one(src: Path, dst: Path, settings: dict, encodes: list[list]) -> dict:
    from crowdveil import Config, anonymize

    encodes.append([])
    try:
        report = anonymize(src, dst, Config(**settings))
        d = _stable(report.to_dict())
        if report.media == "video":
            d["encoder_inputs_sha256"] = [sha.hexdigest() for sha in encodes[-1]]
            d["decoded_frames_sha256"] = _decoded_sha256(Path(report.destination))
    except Exception as e:  # a failure is behaviour too
        d = {"raised": type(e).__name__, "message": str(e)}
    return d


def record(out: Path, inputs_dir: Path, deterministic: bool = False) -> None:
    encodes = _watch_encoders(deterministic)
    sys.path.insert(0, str(ROOT / "tests"))
    from test_video import make_clip  # the tests' own clip maker

    from crowdveil.demo import write_demo

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs: list[tuple[str, Path, dict]] = []
        # Made once and kept: x264 under load does not always give the same source bytes.
        inputs_dir.mkdir(parents=True, exist_ok=True)
        demo, clip, turned = inputs_dir / "demo.jpg", inputs_dir / "clip.mp4", inputs_dir / "turned.mov"
        if not demo.exists():
            write_demo(demo)
        if not clip.exists():
            make_clip(clip)
        if not turned.exists():
            make_clip(turned, rotation=90, metadata={"location": "+48.85+002.35/"})
        inputs += [("demo default", demo, {}), ("demo fast", demo, {"preset": "fast"}),
                   ("clip default", clip, {}), ("turned fast", turned, {"preset": "fast"}),
                   ("clip audio", clip, {"keep_audio": True})]
        for rel in REAL:
            p = SHARED / rel
            if p.exists():
                inputs.append((rel, p, {}))
        for i, (name, src, settings) in enumerate(inputs):
            dst = work / f"out{i}{src.suffix}"
            if deterministic:
                # Each in a fresh process: one-thread x264 still gives other bytes for the same frames once
                # a photo has run in the process before (checked on main), so nothing runs before it.
                run = subprocess.run([sys.executable, __file__, "--one", str(src), str(dst), json.dumps(settings)],
                                     capture_output=True, text=True, check=True)
                d = json.loads(run.stdout.strip().splitlines()[-1])
            else:
                d = _run_one(src, dst, settings, encodes)
            results[name] = d
            print(name, d.get("output_sha256") or d.get("raised") or d.get("error"), file=sys.stderr)
    out.write_text(json.dumps(results, indent=1, sort_keys=True))


def compare(a: Path, b: Path) -> int:
    x, y = json.loads(a.read_text()), json.loads(b.read_text())
    bad = 0
    for name in sorted(set(x) | set(y)):
        if x.get(name) != y.get(name):
            bad += 1
            print(f"DIFFERS: {name}")
            for k in sorted(set(x.get(name, {})) | set(y.get(name, {}))):
                if x.get(name, {}).get(k) != y.get(name, {}).get(k):
                    print(f"  {k}: {str(x.get(name, {}).get(k))[:200]} != {str(y.get(name, {}).get(k))[:200]}")
    print(f"{len(set(x) | set(y)) - bad} of {len(set(x) | set(y))} identical")
    for name in sorted(set(x) & set(y)):
        a, b = x[name], y[name]
        if a != b and "encoder_inputs_sha256" in a and a.get("encoder_inputs_sha256") == b.get("encoder_inputs_sha256"):
            print(f"  {name}: the encoder was handed the same frames; the difference is the encoder's")
        elif a != b and a.get("encoder_inputs_sha256", [None])[:1] == b.get("encoder_inputs_sha256", [0])[:1]:
            print(f"  {name}: the first encode was handed the same frames; the later ones follow what the "
                  "verifier read in the encoder's output")
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compare"]:
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    if sys.argv[1:2] == ["--one"]:  # one input in this process, x264 on one thread (see --deterministic-encoder)
        print(json.dumps(_run_one(Path(sys.argv[2]), Path(sys.argv[3]), json.loads(sys.argv[4]),
                                  _watch_encoders(True))))
        sys.exit(0)
    # python scripts/golden.py [--deterministic-encoder] OUT.json [INPUTS_DIR]: inputs are made in INPUTS_DIR
    # once and reused.
    args = sys.argv[1:]
    deterministic = args[:1] == ["--deterministic-encoder"]
    args = args[1:] if deterministic else args
    record(Path(args[0]), Path(args[1]) if len(args) > 1 else Path(tempfile.gettempdir()) / "crowdveil-golden-inputs",
           deterministic)
