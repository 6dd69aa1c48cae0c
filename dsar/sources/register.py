"""The records of processing (GDPR Art. 30), read from ``instance/register.toml``.

They feed the Art. 15 information of every access answer: for the sources where a person's data
was found, the purposes, legal bases, categories, recipients by name, retention, origin,
automated decisions and transfers outside the EU. The format is in docs/sources.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsar.sources.base import SourceConfigError
from dsar.sources.config import NAME_RE, read_toml

LEGAL_BASES = ("consent", "contract", "legal_obligation", "vital_interests", "public_task",
               "legitimate_interests")
TOP_LEVEL_KEYS = frozenset({"controller", "categories", "recipients", "processing"})


def _bilingual(raw: Mapping[str, Any], key: str) -> dict[str, str]:
    french = raw.get(key)
    return {"fr": french, "en": raw.get(f"{key}_en") or french}


@dataclass(frozen=True)
class Category:
    name: str
    labels: Mapping[str, str]

    def label(self, language: str = "fr") -> str:
        return self.labels.get(language) or self.labels["fr"]


@dataclass(frozen=True)
class Recipient:
    name: str  # the key in the file
    legal_name: str
    roles: Mapping[str, str]
    country: str | None
    #: Where the notice of an erasure is e-mailed (Art. 19); None: decided by staff.
    notify_email: str | None = None


@dataclass(frozen=True)
class Transfer:
    recipient: str
    country: str
    safeguards: Mapping[str, str]


@dataclass(frozen=True)
class Processing:
    name: str
    purposes: Mapping[str, str]
    legal_basis: str
    categories: tuple[str, ...]
    recipients: tuple[str, ...]
    retention: Mapping[str, str]
    origin: Mapping[str, str]
    sources: tuple[str, ...]
    automated_decision: bool
    logic: Mapping[str, str]
    transfers: tuple[Transfer, ...] = ()


@dataclass(frozen=True)
class Register:
    """The whole register; empty when the file does not exist."""

    controller: Mapping[str, str] = field(default_factory=dict)
    categories: Mapping[str, Category] = field(default_factory=dict)
    recipients: Mapping[str, Recipient] = field(default_factory=dict)
    processing: Mapping[str, Processing] = field(default_factory=dict)

    def for_sources(self, source_names: Iterable[str]) -> list[Processing]:
        """The processing entries that use any of ``source_names`` (the Art. 15 letter is
        written from these)."""
        wanted = set(source_names)
        return [p for p in self.processing.values() if wanted & set(p.sources)]

    def category_label(self, name: str, language: str = "fr") -> str:
        category = self.categories.get(name)
        return category.label(language) if category else name


class _Reader:
    """Checks one file, raising :class:`SourceConfigError` with the dotted key at fault."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, fault: str) -> SourceConfigError:
        return SourceConfigError(self.path, key, fault)

    def table(self, key: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return value

    def text(self, key: str, value: Any, *, required: bool = True) -> str | None:
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "missing" if value is None else "must be non-empty text")
        return value

    def names(self, key: str, value: Any, known: Mapping[str, Any], what: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"must be a list of {what} names")
        for item in value:
            if item not in known:
                raise self.fail(key, f"unknown {what} {item!r}")
        return tuple(value)

    def keys(self, key: str, raw: Mapping[str, Any], allowed: Iterable[str]) -> None:
        allowed = set(allowed)
        for name in raw:
            if name not in allowed:
                raise self.fail(f"{key}.{name}",
                                f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def bilingual(self, key: str, raw: Mapping[str, Any], name: str) -> dict[str, str]:
        self.text(f"{key}.{name}", raw.get(name))
        self.text(f"{key}.{name}_en", raw.get(f"{name}_en"), required=False)
        return _bilingual(raw, name)


def load_register(path: Path, source_names: Iterable[str] | None = None) -> Register:
    """Read and check ``register.toml``. With ``source_names`` (the sources of
    ``sources.toml``), also check that every source named exists and every source is used."""
    if not path.exists():
        if source_names:
            raise SourceConfigError(path, "(file)", "missing: sources are declared, so the "
                                    "records of processing must say why their data is held")
        return Register()
    data = read_toml(path)
    r = _Reader(path)
    r.keys("(top level)", data, TOP_LEVEL_KEYS)
    controller = r.table("controller", data.get("controller", {}))
    r.text("controller.name", controller.get("name"))
    categories = {}
    for name, raw in r.table("categories", data.get("categories", {})).items():
        key = f"categories.{name}"
        r.table(key, raw)
        r.keys(key, raw, ("label", "label_en"))
        categories[name] = Category(name, r.bilingual(key, raw, "label"))
    recipients = {}
    for name, raw in r.table("recipients", data.get("recipients", {})).items():
        key = f"recipients.{name}"
        r.table(key, raw)
        r.keys(key, raw, ("name", "role", "role_en", "country", "notify_email"))
        notify = r.text(f"{key}.notify_email", raw.get("notify_email"), required=False)
        if notify is not None and "@" not in notify:
            raise r.fail(f"{key}.notify_email", "must be an e-mail address")
        recipients[name] = Recipient(name, r.text(f"{key}.name", raw.get("name")),
                                     r.bilingual(key, raw, "role"),
                                     r.text(f"{key}.country", raw.get("country"), required=False),
                                     notify)
    processing = {}
    for name, raw in r.table("processing", data.get("processing", {})).items():
        processing[name] = _processing(r, name, raw, categories, recipients)
    register = Register(controller=controller, categories=categories, recipients=recipients,
                        processing=processing)
    if source_names is not None:
        _cross_check_sources(r, register, set(source_names))
    return register


def _processing(r: _Reader, name: str, raw: Any, categories: Mapping[str, Category],
                recipients: Mapping[str, Recipient]) -> Processing:
    key = f"processing.{name}"
    if not NAME_RE.match(name):
        raise r.fail(key, "a processing name is lower-case letters, digits, _")
    r.table(key, raw)
    r.keys(key, raw, ("purpose", "purpose_en", "legal_basis", "categories", "recipients",
                      "retention", "retention_en", "origin", "origin_en", "sources",
                      "automated_decision", "logic", "logic_en", "transfers"))
    basis = raw.get("legal_basis")
    if basis not in LEGAL_BASES:
        raise r.fail(f"{key}.legal_basis",
                     f"must be one of {', '.join(LEGAL_BASES)} (got {basis!r})")
    automated = raw.get("automated_decision", False)
    if not isinstance(automated, bool):
        raise r.fail(f"{key}.automated_decision", "must be true or false")
    logic = {"fr": None, "en": None}
    if automated:
        logic = r.bilingual(key, raw, "logic")
    transfers = []
    raw_transfers = raw.get("transfers", [])
    if not isinstance(raw_transfers, list):
        raise r.fail(f"{key}.transfers", "must be an array of tables ([[...transfers]])")
    for index, item in enumerate(raw_transfers):
        tkey = f"{key}.transfers[{index}]"
        r.table(tkey, item)
        r.keys(tkey, item, ("recipient", "country", "safeguard", "safeguard_en"))
        recipient = r.text(f"{tkey}.recipient", item.get("recipient"))
        if recipient not in recipients:
            raise r.fail(f"{tkey}.recipient", f"unknown recipient {recipient!r}")
        transfers.append(Transfer(recipient, r.text(f"{tkey}.country", item.get("country")),
                                  r.bilingual(tkey, item, "safeguard")))
    return Processing(
        name=name,
        purposes=r.bilingual(key, raw, "purpose"),
        legal_basis=basis,
        categories=r.names(f"{key}.categories", raw.get("categories"), categories, "category"),
        recipients=r.names(f"{key}.recipients", raw.get("recipients", []), recipients,
                           "recipient"),
        retention=r.bilingual(key, raw, "retention"),
        origin=r.bilingual(key, raw, "origin"),
        sources=tuple(raw.get("sources") or ()),
        automated_decision=automated,
        logic=logic,
        transfers=tuple(transfers),
    )


def _cross_check_sources(r: _Reader, register: Register, source_names: set[str]) -> None:
    used: set[str] = set()
    for name, entry in register.processing.items():
        key = f"processing.{name}.sources"
        if not isinstance(entry.sources, tuple) or not all(isinstance(s, str)
                                                            for s in entry.sources):
            raise r.fail(key, "must be a list of source names")
        for source in entry.sources:
            if source not in source_names:
                raise r.fail(key, f"unknown source {source!r} (not in sources.toml)")
        used.update(entry.sources)
    for source in sorted(source_names - used):
        raise r.fail("processing", f"no processing uses source {source!r}: the answer to an "
                     "access request could not say why its data is held")
