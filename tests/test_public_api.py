"""The public surface is exactly ``crowdveil.__all__`` (httpx's rule)."""

import crowdveil
import crowdveil.errors


def test_all_names_exist_and_nothing_else_is_public():
    assert sorted(crowdveil.__all__) == sorted(set(crowdveil.__all__))
    for name in crowdveil.__all__:
        assert hasattr(crowdveil, name), name
    public = {n for n in dir(crowdveil) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(crowdveil, n)).__name__ == "module"}
    assert public - modules == set(crowdveil.__all__) - {"__version__"}


def test_every_error_is_a_crowdveil_error_with_a_hint():
    for name in crowdveil.errors.__all__:
        cls = getattr(crowdveil.errors, name)
        assert issubclass(cls, crowdveil.CrowdveilError)
        assert cls("x").hint
        assert name in crowdveil.errors.__doc__, f"{name} missing from the drawn exception tree"


TRAINING = {"torch", "torchvision"}
RECOGNIZERS = {"dlib", "face_recognition", "face_recognition_models", "insightface"}


def _imported_top_names(path) -> set[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add((node.module or "").split(".")[0])
    return names


def test_the_product_imports_no_training_or_recognition_library():
    """torch is for training only (training/, outside the package); no face recognizer ever ships.

    The one exception: ``crowdveil.bench`` (the ``bench`` extra) may import a
    recognizer, to measure whether blur and mosaic can be matched; nothing
    outside it may, and nothing outside it imports the benchmark's recognizer module.
    """
    from pathlib import Path

    package = Path(crowdveil.__file__).parent
    for path in package.rglob("*.py"):
        in_bench = path.relative_to(package).parts[0] == "bench"
        banned = TRAINING | (set() if in_bench else RECOGNIZERS)
        assert not _imported_top_names(path) & banned, f"{path} imports {_imported_top_names(path) & banned}"
        if not in_bench:
            assert "bench.recognition" not in path.read_text(encoding="utf-8"), f"{path} reaches the recognizer"


def test_the_recognizer_is_loaded_by_the_benchmark_only():
    """Importing the product (CLI included, which registers the bench commands) loads no recognizer."""
    import subprocess
    import sys

    code = ("import sys, crowdveil, crowdveil.cli, crowdveil.pipeline, crowdveil.bench.recognition; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in %r))" % (sorted(RECOGNIZERS | TRAINING),))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
