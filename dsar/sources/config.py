"""Reading and checking ``instance/sources.toml``.

The keys every kind shares are checked here; each kind checks its own (``Connector.check_config``)
and lists them (``SOURCE_KEYS``, ``COLLECTION_KEYS``), so a misspelt key is an error rather than
a silently ignored setting. Every fault names the file, the dotted key and what is wrong.
``{instance}`` in a string option is replaced by the instance folder's path.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dsar.sources.base import CollectionConfig, ErasurePolicy, SourceConfig, SourceConfigError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ERASURE_STRATEGIES = ("delete", "anonymize", "retain")
SOURCE_COMMON_KEYS = frozenset({"kind", "label", "label_en", "collections"})
COLLECTION_COMMON_KEYS = frozenset({
    "fields", "match", "yields", "exclude", "erasure", "anonymize", "retain_basis",
    "retain_until", "provided", "third_party", "label", "label_en", "field_labels",
    "field_labels_en",
})


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning a syntax error into a :class:`SourceConfigError`."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SourceConfigError(path, "(syntax)", str(exc)) from None
    except OSError as exc:
        raise SourceConfigError(path, "(file)", exc.strerror or "cannot be read") from None


def load_sources(path: Path, kinds: Mapping[str, type], instance_path: str | os.PathLike
                 ) -> dict[str, SourceConfig]:
    """The sources declared in ``path``, checked. ``kinds`` maps a kind name to its connector
    class. A missing file means no source at all."""
    if not path.exists():
        return {}
    data = read_toml(path)
    unknown = set(data) - {"sources"}
    if unknown:
        raise SourceConfigError(path, sorted(unknown)[0], "unknown key (expected [sources.NAME])")
    table = data.get("sources", {})
    _require_table(path, "sources", table)
    sources = {}
    for name, raw in table.items():
        source = _parse_source(path, name, raw, kinds, str(instance_path))
        kinds[source.kind].check_config(source)
        sources[name] = source
    return sources


def _parse_source(path: Path, name: str, raw: Any, kinds: Mapping[str, type],
                  instance: str) -> SourceConfig:
    where = f"sources.{name}"
    if not NAME_RE.match(name):
        raise SourceConfigError(path, where, "a source name is lower-case letters, digits, _")
    _require_table(path, where, raw)
    kind = raw.get("kind")
    if kind not in kinds:
        raise SourceConfigError(path, f"{where}.kind",
                                f"must be one of {', '.join(sorted(kinds))} (got {kind!r})")
    connector = kinds[kind]
    allowed = SOURCE_COMMON_KEYS | connector.SOURCE_KEYS
    _no_unknown_keys(path, where, raw, allowed)
    label = _string(path, f"{where}.label", raw.get("label", name))
    labels = {"fr": label, "en": _string(path, f"{where}.label_en", raw.get("label_en", label))}
    collections_raw = raw.get("collections")
    if not collections_raw:
        raise SourceConfigError(path, f"{where}.collections",
                                "missing: declare at least one [sources.NAME.collections.X]")
    _require_table(path, f"{where}.collections", collections_raw)
    collections = {
        cname: _parse_collection(path, f"{where}.collections.{cname}", cname, craw,
                                 connector.COLLECTION_KEYS, instance)
        for cname, craw in collections_raw.items()
    }
    options = {k: _expand(v, instance) for k, v in raw.items()
               if k not in SOURCE_COMMON_KEYS}
    match_types = frozenset(t for c in collections.values() for t in c.match)
    return SourceConfig(name=name, kind=kind, labels=labels, options=options,
                        collections=collections, file=str(path), match_types=match_types)


def _parse_collection(path: Path, where: str, name: str, raw: Any, kind_keys: frozenset[str],
                      instance: str) -> CollectionConfig:
    if not NAME_RE.match(name):
        raise SourceConfigError(path, where, "a collection name is lower-case letters, digits, _")
    _require_table(path, where, raw)
    _no_unknown_keys(path, where, raw, COLLECTION_COMMON_KEYS | kind_keys)
    fields = _string_map(path, f"{where}.fields", raw.get("fields"), required=True)
    match = _string_map(path, f"{where}.match", raw.get("match", {}))
    yields = _string_map(path, f"{where}.yields", raw.get("yields", {}))
    exclude = raw.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
        raise SourceConfigError(path, f"{where}.exclude", "must be a list of field names")
    for key, mapping in (("match", match), ("yields", yields)):
        for kind, field_name in mapping.items():
            if not NAME_RE.match(kind):
                raise SourceConfigError(path, f"{where}.{key}.{kind}",
                                        "an identifier type is lower-case letters, digits, _")
            if field_name in exclude:
                raise SourceConfigError(path, f"{where}.{key}.{kind}",
                                        f"field {field_name!r} is also excluded")
    erasure = _parse_erasure(path, where, raw)
    provided = raw.get("provided", False)
    if not isinstance(provided, bool):
        provided = tuple(_declared_fields(path, f"{where}.provided", provided, fields, exclude))
    third_party = tuple(_declared_fields(path, f"{where}.third_party",
                                         raw.get("third_party", []), fields, exclude))
    options = {k: _expand(v, instance) for k, v in raw.items()
               if k not in COLLECTION_COMMON_KEYS}
    # What the person reads (the erasure certificate, the plan): a name in words, not the
    # table's; the table's name when none is given.
    label = _string(path, f"{where}.label", raw.get("label", name))
    labels = {"fr": label, "en": _string(path, f"{where}.label_en", raw.get("label_en", label))}
    field_labels = {}
    for language, key in (("fr", "field_labels"), ("en", "field_labels_en")):
        mapping = _string_map(path, f"{where}.{key}", raw.get(key, {}))
        for field_name in mapping:
            if field_name not in fields:
                raise SourceConfigError(path, f"{where}.{key}.{field_name}",
                                        "names a field the collection does not declare")
        field_labels[language] = mapping
    return CollectionConfig(name=name, fields=fields, match=match, yields=yields,
                            exclude=tuple(exclude), erasure=erasure, options=options,
                            where=where, provided=provided, third_party=third_party,
                            labels=labels, field_labels=field_labels)


def _declared_fields(path: Path, where: str, value: Any, fields: Mapping[str, str],
                     exclude: list[str]) -> list[str]:
    """A list of field names declared in ``fields`` and not excluded (``provided``,
    ``third_party``): a misspelt name must not silently select nothing."""
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise SourceConfigError(path, where, "must be a list of field names"
                                + (" (or true / false)" if where.endswith(".provided") else ""))
    for field_name in value:
        if field_name not in fields:
            raise SourceConfigError(path, where, f"field {field_name!r} is not declared in "
                                                 "fields")
        if field_name in exclude:
            raise SourceConfigError(path, where, f"field {field_name!r} is also excluded")
    return value


def _parse_erasure(path: Path, where: str, raw: Mapping[str, Any]) -> ErasurePolicy:
    strategy = raw.get("erasure")
    if strategy not in ERASURE_STRATEGIES:
        raise SourceConfigError(path, f"{where}.erasure",
                                f"must be one of {', '.join(ERASURE_STRATEGIES)} "
                                f"(got {strategy!r})")
    anonymize = _string_map(path, f"{where}.anonymize", raw.get("anonymize", {}))
    if strategy == "anonymize" and not anonymize:
        raise SourceConfigError(path, f"{where}.anonymize",
                                "missing: say what becomes of each field (null, hash, fixed:TEXT)")
    for field_name, action in anonymize.items():
        if action not in ("null", "hash") and not action.startswith("fixed:"):
            raise SourceConfigError(path, f"{where}.anonymize.{field_name}",
                                    f"must be null, hash or fixed:TEXT (got {action!r})")
    basis = raw.get("retain_basis")
    if strategy == "retain" and not (isinstance(basis, str) and basis.strip()):
        raise SourceConfigError(path, f"{where}.retain_basis",
                                "missing: a retained collection needs its legal basis")
    until = raw.get("retain_until")
    if until is not None and not isinstance(until, str):
        raise SourceConfigError(path, f"{where}.retain_until", "must be text")
    return ErasurePolicy(strategy=strategy, anonymize=anonymize, retain_basis=basis,
                         retain_until=until)


def values_fault(value: Any) -> tuple[str, str] | None:
    """What is wrong with a table of field -> value a change sets (a ``sql`` operation's
    ``set``, an ``http`` operation's ``body``), as (the key under it, fault), or None: it must
    be a non-empty table of text, numbers and true/false (compared, then written, as is)."""
    if not isinstance(value, dict):
        return "", "must be a table { field = value }"
    if not value:
        return "", "must name at least one field"
    for name, item in value.items():
        if not name.strip():
            return "", "a field name is non-empty text"
        if not isinstance(item, str | int | float | bool):
            return f".{name}", "must be text, a number or true/false"
    return None


def unliftable(operations: Mapping[str, Any]) -> bool:
    """Whether ``operations`` declare ``restrict`` without ``lift_restriction``: a restriction
    is lifted one day (Art. 18(3)), by the source's own means."""
    return "restrict" in operations and "lift_restriction" not in operations


def _require_table(path: Path, where: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise SourceConfigError(path, where, "must be a table")


def _no_unknown_keys(path: Path, where: str, raw: Mapping[str, Any], allowed: frozenset[str]
                     ) -> None:
    for key in raw:
        if key not in allowed:
            raise SourceConfigError(path, f"{where}.{key}",
                                    f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _string(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SourceConfigError(path, where, "must be non-empty text")
    return value


def _string_map(path: Path, where: str, value: Any, *, required: bool = False
                ) -> dict[str, str]:
    if value is None or value == {}:
        if required:
            raise SourceConfigError(path, where, "missing")
        return {}
    _require_table(path, where, value)
    for key, item in value.items():
        if not isinstance(item, str) or not item:
            raise SourceConfigError(path, f"{where}.{key}", "must be non-empty text")
    return dict(value)


def _expand(value: Any, instance: str) -> Any:
    """Replace ``{instance}`` in strings (recursively in lists and tables)."""
    if isinstance(value, str):
        return value.replace("{instance}", instance)
    if isinstance(value, list):
        return [_expand(v, instance) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, instance) for k, v in value.items()}
    return value
