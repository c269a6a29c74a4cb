"""crowdveil's version: one definition, read by the package, the reports and
``pyproject.toml`` (``[tool.setuptools.dynamic]``). Bump it with an entry in
CHANGELOG.md."""

__version__ = "0.1.0"
