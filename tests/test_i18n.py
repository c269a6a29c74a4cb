"""Every message used in code is in the English catalog, and every shipped language has all of them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from crowdveil import i18n

ROOT = Path(i18n.__file__).parent
SRC = ROOT.parent
DOMAINS = sorted(p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith("_"))
# Catalog(...) calls in Python (t("id"...)/_("id"...)) and data-i18n="id" / t("id") in the studio page.
_USES = re.compile(r"""(?:\b_|\bt)\(\s*["']([a-z][a-z0-9_.]+)["']|data-i18n(?:-[a-z]+)?=["']([a-z][a-z0-9_.]+)["']""")


def _catalog(domain: str, language: str) -> dict[str, str]:
    return json.loads((ROOT / domain / f"{language}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_language_has_every_english_message(domain, language):
    english, other = _catalog(domain, "en"), _catalog(domain, language)
    assert not sorted(set(english) - set(other)), f"{domain}/{language}.json misses messages"
    assert not sorted(set(other) - set(english)), f"{domain}/{language}.json has messages English lacks"
    for key, text in english.items():
        assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", other[key])), (domain, language, key)


def test_every_message_used_in_code_is_in_the_english_catalog():
    known = set().union(*(_catalog(d, "en") for d in DOMAINS)) if DOMAINS else set()
    missing = []
    for path in [*SRC.rglob("*.py"), *SRC.rglob("*.js"), *SRC.rglob("*.html")]:
        for match in _USES.finditer(path.read_text(encoding="utf-8")):
            key = match.group(1) or match.group(2)
            if key not in known:
                missing.append(f"{path.relative_to(SRC)}: {key}")
    assert not missing


@pytest.mark.parametrize(("header", "expected"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"), ("en-US,en;q=0.9", "en"), ("zh-TW", "zh-CN"),
    ("fr-FR, en;q=0.5", "en"), ("", "en"), (None, "en"), ("en;q=0.2, zh-Hans;q=0.9", "zh-CN"),
])
def test_browser_language_is_negotiated(header, expected):
    assert i18n.negotiate(header) == expected


@pytest.mark.parametrize(("env", "expected"), [
    ({"LANG": "zh_CN.UTF-8"}, "zh-CN"), ({"LANG": "en_US.UTF-8"}, "en"), ({}, "en"),
    ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "en"), ({"LANGUAGE": "fr:zh_CN", "LANG": "en_US"}, "zh-CN"),
    ({"CROWDVEIL_LANG": "zh-CN", "LANG": "en_US.UTF-8"}, "zh-CN"),
])
def test_cli_language_comes_from_the_locale(env, expected):
    assert i18n.language_from_environment(env) == expected
