"""Translated user-facing text: one JSON catalog per domain and language.

Each domain (``cli``, ``studio``) is a folder of catalogs named by BCP 47 tag
(``en.json``, ``zh-CN.json``), each a flat object from a stable message id to
its text, with ``{name}`` fields filled by ``str.format``. English is the
reference: every id used in code must be in ``en.json``, and every other
catalog must hold every English id (``tests/test_i18n.py`` fails otherwise).
At run time a missing translation falls back to English rather than failing.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from importlib import resources

__all__ = ["DEFAULT", "LANGUAGES", "Catalog", "catalog", "language_from_environment", "negotiate"]

DEFAULT = "en"
LANGUAGES = ("en", "zh-CN")  # complete catalogs shipped; the test keeps this list true


class Catalog:
    """The messages of one domain in one language (English filling any gap)."""

    def __init__(self, domain: str, language: str) -> None:
        self.domain = domain
        self.language = language
        self._messages = {**_load(domain, DEFAULT), **_load(domain, language)}

    def __call__(self, message_id: str, /, **fields: object) -> str:
        return self._messages[message_id].format(**fields) if fields else self._messages[message_id]

    def messages(self) -> dict[str, str]:
        return dict(self._messages)


@lru_cache(maxsize=None)
def catalog(domain: str, language: str = DEFAULT) -> Catalog:
    return Catalog(domain, language if language in LANGUAGES else DEFAULT)


@lru_cache(maxsize=None)
def _load(domain: str, language: str) -> dict[str, str]:
    path = resources.files(__package__).joinpath(domain, f"{language}.json")
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _match(tag: str) -> str | None:
    """The shipped language for one tag (``zh_CN.UTF-8``, ``zh-Hans``, ``en-GB``…), or None."""
    tag = tag.split(".")[0].split("@")[0].replace("_", "-").strip().lower()
    if not tag or tag in ("c", "posix"):
        return None
    if tag.startswith("zh"):
        # Simplified Chinese is what ships; Traditional readers (zh-TW, zh-HK, zh-Hant) read it
        # better than English, and are offered the switch in the studio.
        return "zh-CN"
    base = tag.split("-")[0]
    for language in LANGUAGES:
        if language.lower() == tag or language.split("-")[0].lower() == base:
            return language
    return None


def language_from_environment(environ: dict[str, str] | None = None) -> str:
    """The CLI's language, from the POSIX locale variables in their order of precedence."""
    env = os.environ if environ is None else environ
    for name in ("CROWDVEIL_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        # LANGUAGE is a colon-separated preference list.
        for tag in value.split(":"):
            if (found := _match(tag)) is not None:
                return found
        if value and name != "LANGUAGE":
            break  # a set variable decides even when we do not ship its language
    return DEFAULT


def negotiate(accept_language: str | None) -> str:
    """The studio's language from a browser's ``Accept-Language`` header (q-values honoured)."""
    choices: list[tuple[float, int, str]] = []
    for order, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if (found := _match(tag)) is not None and q > 0:
            choices.append((-q, order, found))
    return min(choices)[2] if choices else DEFAULT
