"""What of a search result goes into an answer, by scope, and the first pass that counts it.

- ``access`` (GDPR Art. 15): every field of every collection, but the excluded ones
  (credentials).
- ``portability`` (Art. 20): only what the person provided, as ``sources.toml`` marks it
  (``provided = true`` or a list of fields, docs/sources.md), and only in sources used by a
  processing on consent or contract (Art. 20(1)(a), from ``register.toml``).

:func:`pre_pass` reads a stored result once, record by record, and learns per collection what
the answer will hold: the records, the field names, the records holding a value of each
category, and the e-mail addresses and phone numbers written in its scanned text that are not
among the person's identifiers (maybe other people's: :mod:`.redaction`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dsar.exports.contacts import text_values
from dsar.exports.information import UNCLASSIFIED
from dsar.exports.redaction import FieldRoles
from dsar.sources.base import CollectionConfig, SourceConfig
from dsar.sources.register import Register

logger = logging.getLogger(__name__)

SCOPES = ("access", "portability")
#: The legal bases under which the data a person provided is portable (GDPR Art. 20(1)(a)).
PORTABLE_BASES = frozenset({"consent", "contract"})


class ExportError(Exception):
    """A stored result cannot be exported as it is (names no person)."""


def handed_over(config: CollectionConfig | None, scope: str) -> Callable[[str], bool] | None:
    """Which fields of a collection an answer of ``scope`` hands over (None: none)."""
    if scope == "access":
        excluded = config.exclude if config else ()
        return lambda name: name not in excluded
    if config is None or not config.provided:
        return None
    return config.is_provided


def in_scope(register: Register, name: str, source: SourceConfig | None, scope: str) -> bool:
    """Whether anything of source ``name`` can go into an answer of ``scope``: for
    portability, some of it is provided and a processing on consent or contract uses it."""
    if scope == "access":
        return True
    if source is None or not any(c.provided for c in source.collections.values()):
        return False
    if any(p.legal_basis in PORTABLE_BASES for p in register.for_sources([name])):
        return True
    logger.warning("source %s: data marked provided, but no processing on consent or "
                   "contract uses the source: left out of portability answers", name)
    return False


@dataclass
class Tally:
    """What the first pass learns of one collection."""

    count: int = 0
    names: set[str] = field(default_factory=set)
    #: Category code -> records holding a value in one of its fields.
    categories: dict[str, int] = field(default_factory=dict)
    #: E-mail addresses and phone numbers written in its scanned text that are not among the
    #: person's identifiers (normalised): maybe someone else's.
    contacts: set[str] = field(default_factory=set)


def pre_pass(source: SourceConfig | None, records: Iterable[Mapping[str, Any]], scope: str,
             own: set[str]) -> dict[str, Tally]:
    """Collection -> what its records hold in the fields ``scope`` hands over (collections
    out of scope are left out), checking the stored order; ``own``: the person's identifiers
    (never collected as contacts)."""
    tallies: dict[str, Tally] = {}
    seen: set[str] = set()
    current = tally = config = handed = roles = None
    for raw in records:
        name = raw["collection"]
        if name != current:
            if name in seen:
                raise ExportError(f"source {source.name if source else '?'}: records are not "
                                  f"grouped by collection ({name!r} comes back)")
            seen.add(name)
            current = name
            config = source.collections.get(name) if source else None
            handed = handed_over(config, scope)
            roles = FieldRoles(config)
            tally = tallies[name] = Tally() if handed else None
        if tally is None:
            continue
        tally.count += 1
        held = set()
        for key, value in (raw.get("fields") or {}).items():
            if not handed(key):
                continue
            tally.names.add(key)
            if value is None or value == "":
                continue
            held.add(config.category(key) if config else UNCLASSIFIED)
            if roles.scanned(key) and isinstance(value, str | list | dict):
                tally.contacts |= text_values(value) - own
        for code in held:
            tally.categories[code] = tally.categories.get(code, 0) + 1
    return {name: tally for name, tally in tallies.items() if tally is not None}
