"""The dashboard's words (api/static/js/words.json) name every value the wire contract shows."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from api.app import STATIC_DIR
from gudang.wire import AlertKind, ContainerStatus, ScaleStatus, ScanResult

WORDS: dict[str, dict[str, Any]] = json.loads((Path(STATIC_DIR) / "js" / "words.json").read_text())


def keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    """Every key path of a nested word table, e.g. ``result.loaded``."""
    out = set()
    for k, v in tree.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= keys(v, f"{prefix}{k}.")
    return out


def test_both_languages_have_every_word() -> None:
    assert set(WORDS) == {"id", "en"}
    assert keys(WORDS["id"]) == keys(WORDS["en"])


@pytest.mark.parametrize("lang", ["id", "en"])
@pytest.mark.parametrize(
    ("table", "enum"),
    [
        ("result", ScanResult),
        ("scaleStatus", ScaleStatus),
        ("kinds", AlertKind),
        ("status", ContainerStatus),
    ],
)
def test_every_wire_value_has_words(lang: str, table: str, enum: type[StrEnum]) -> None:
    words = WORDS[lang][table]
    assert {e.value for e in enum} <= set(words), f"{lang}.{table} lacks words"
    assert all(isinstance(w, str) and w.strip() for w in words.values())
