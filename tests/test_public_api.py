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
