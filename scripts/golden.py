"""Record what the pipeline produces for a fixed set of inputs: output sha256 and the report.

Refactors must not change behaviour: run this before and after and compare
(``python scripts/golden.py OUT.json [INPUTS_DIR]`` before and after, then
``--compare A.json B.json``).
Inputs: the bundled demo photo, clips made the way tests/test_video.py makes
them, and, when ../shared/data exists, a few real photos and clips.
Timings, paths and the version are left out of the comparison; all else counts.
"""

from __future__ import annotations

import json
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


def record(out: Path, inputs_dir: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_video import make_clip  # the tests' own clip maker

    from crowdveil import Config, anonymize
    from crowdveil.demo import write_demo

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs: list[tuple[str, Path, Config]] = []
        # Made once and kept: x264 under load does not always give the same source bytes.
        inputs_dir.mkdir(parents=True, exist_ok=True)
        demo, clip, turned = inputs_dir / "demo.jpg", inputs_dir / "clip.mp4", inputs_dir / "turned.mov"
        if not demo.exists():
            write_demo(demo)
        if not clip.exists():
            make_clip(clip)
        if not turned.exists():
            make_clip(turned, rotation=90, metadata={"location": "+48.85+002.35/"})
        inputs += [("demo default", demo, Config()), ("demo fast", demo, Config(preset="fast")),
                   ("clip default", clip, Config()), ("turned fast", turned, Config(preset="fast")),
                   ("clip audio", clip, Config(keep_audio=True))]
        for rel in REAL:
            p = SHARED / rel
            if p.exists():
                inputs.append((rel, p, Config()))
        for i, (name, src, config) in enumerate(inputs):
            dst = work / f"out{i}{src.suffix}"
            try:
                report = anonymize(src, dst, config)
                d = _stable(report.to_dict())
            except Exception as e:  # a failure is behaviour too
                d = {"raised": type(e).__name__, "message": str(e)}
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
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compare"]:
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    # python scripts/golden.py OUT.json [INPUTS_DIR]: inputs are made in INPUTS_DIR once and reused.
    record(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.gettempdir()) / "crowdveil-golden-inputs")
