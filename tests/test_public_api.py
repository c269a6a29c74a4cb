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


def test_the_product_imports_no_training_or_recognition_library():
    """torch is for training only (training/, outside the package); no face recognizer ever ships."""
    import ast
    from pathlib import Path

    banned = {"torch", "torchvision", "dlib", "face_recognition", "face_recognition_models", "insightface"}
    for path in Path(crowdveil.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            assert not {n.split(".")[0] for n in names} & banned, f"{path} imports {names}"
