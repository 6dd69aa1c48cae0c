"""The files under ``tests/data`` (TOML configurations the tests write into an instance
folder), read as text."""

from __future__ import annotations

from pathlib import Path
from string import Template

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def data_text(name: str) -> str:
    """The text of ``tests/data/<name>``, placeholders (``${key}``) left as they are."""
    return (DATA_DIR / name).read_text(encoding="utf-8")


def fill(text: str, **values) -> str:
    """``text`` with its ``${key}`` placeholders replaced by ``values`` (every one must be
    given: a forgotten value is an error, not a silent ``${key}`` in a configuration)."""
    return Template(text).substitute({k: str(v) for k, v in values.items()})
