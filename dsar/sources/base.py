"""What every connector shares: the person's identifiers, the records found, the errors.

A connector searches one source for a person. It is given an :class:`Identity` (identifier
type -> values, for instance ``email`` -> {"jeanne.martin@example.fr"}) and returns a
:class:`Discovery`: the records that match, and the further identifiers those records carry
(the platform's customer id, an analytics visitor id…), which the pipeline then uses to search
the other sources. A connector only matches on the identifier types its configuration names,
so a search never strays onto someone else's records through a loose field (a shared IP
address, a name, free text mentioning somebody).

Values are always compared as normalised strings (:func:`normalize_identifier`): an e-mail
address is matched without regard to letter case, since every mail provider delivers
``Jeanne.Martin@`` and ``jeanne.martin@`` to the same mailbox, the one whose control the
requester proved.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

# Re-exported: every connector takes the person's identifiers from here.
from dsar.sources.identity import (  # noqa: F401
    CASE_INSENSITIVE_TYPES,
    Identity,
    normalize_identifier,
)


@dataclass
class Record:
    """One row, document or log line found about the person.

    ``key`` is stable and unique within the collection (a primary key, an API id, a file
    position), so the same search run twice gives the same records in the same order.
    ``fields`` hold JSON values only (str, int, float, bool, None; dates as ISO strings)."""

    collection: str
    key: str
    fields: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"collection": self.collection, "key": self.key, "fields": self.fields}


@dataclass
class Discovery:
    """What one search of one source found."""

    records: list[Record] = field(default_factory=list)
    #: Identifiers carried by the records found (the collections' ``yields``).
    identifiers: Identity = field(default_factory=Identity)

    def sorted(self) -> Discovery:
        """The same discovery in a canonical order (idempotent results)."""
        records = sorted(self.records, key=lambda r: (r.collection, _sort_key(r.key)))
        return Discovery(records=records, identifiers=self.identifiers)


def _sort_key(key: str) -> tuple[int, int | str, str | int]:
    """Numbers in numeric order, "file:offset" keys by file then offset (log lines in time
    order), anything else as text."""
    if key.isdigit():
        return (0, int(key), "")
    head, _, tail = key.rpartition(":")
    if head and tail.isdigit():
        return (1, head, int(tail))
    return (2, key, "")


class SourceError(Exception):
    """A search failed in a way worth retrying (network, timeout, 5xx, database down).

    The message is shown to staff on the case page and logged, so it must name no person:
    say what failed (``HTTP 503 from /contacts``), never with which identifier."""


class SourceConfigError(Exception):
    """A configuration file is wrong: names the file, the key and the fault."""

    def __init__(self, file: str | os.PathLike, key: str, fault: str):
        self.file, self.key, self.fault = str(file), key, fault
        super().__init__(f"{self.file}: {key}: {fault}")


@dataclass(frozen=True)
class ErasurePolicy:
    """What the erasure issue does with a collection: ``delete``, ``anonymize`` (field ->
    "null" | "hash" | "fixed:TEXT") or ``retain`` (legal basis and retention end)."""

    strategy: str
    anonymize: Mapping[str, str] = field(default_factory=dict)
    retain_basis: str | None = None
    retain_until: str | None = None


@dataclass(frozen=True)
class CollectionConfig:
    """One table, API collection or file set of a source, as ``sources.toml`` declares it."""

    name: str
    #: Field -> data category (a key of ``register.toml``'s ``[categories]``).
    fields: Mapping[str, str]
    #: Identifier type -> the field holding it: a record matches when that field's value is
    #: one of the person's identifiers of that type.
    match: Mapping[str, str]
    #: Identifier type -> field: identifiers a matched record carries, to search further by.
    yields: Mapping[str, str]
    #: Fields never handed over (credentials, internal secrets): read for nothing, shown nowhere.
    exclude: tuple[str, ...]
    erasure: ErasurePolicy
    #: The connector kind's own keys (``table``, ``follow``, ``path``, ``format``…).
    options: Mapping[str, Any]
    #: Dotted position in the file, for error messages: ``sources.platform.collections.x``.
    where: str
    #: What the person provided (GDPR Art. 20 portability): every field handed over (True),
    #: only these fields (a tuple), or nothing (False, the default).
    provided: bool | tuple[str, ...] = False
    #: Fields that may hold other people's data: scanned for their e-mail addresses and phone
    #: numbers like free text, and never read as the person's own values (docs/sources.md).
    third_party: tuple[str, ...] = ()
    #: Names shown to the person by language (``label``, ``label_en``; the name by default).
    labels: Mapping[str, str] = field(default_factory=dict)
    #: Field names in words by language (``field_labels``, ``field_labels_en``): language ->
    #: field -> label; a field without one is shown by its name, as written.
    field_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def label(self, language: str = "fr") -> str:
        """The collection's name in words, in ``language``."""
        return self.labels.get(language) or self.labels.get("fr") or self.name

    def field_label(self, field_name: str, language: str = "fr") -> str:
        """A field's name in words, in ``language`` (its name when none is given)."""
        return (self.field_labels.get(language, {}).get(field_name)
                or self.field_labels.get("fr", {}).get(field_name) or field_name)

    def category(self, field_name: str) -> str:
        """The field's data category; ``unclassified`` for a field the file does not name."""
        return self.fields.get(field_name, "unclassified")

    def yielded(self, fields: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The (identifier type, value) pairs a matched record's ``fields`` carry."""
        return [(kind, fields.get(name)) for kind, name in self.yields.items()]

    def visible(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The record's fields without the excluded ones."""
        return {k: v for k, v in fields.items() if k not in self.exclude}

    def is_provided(self, field_name: str) -> bool:
        """Whether the person provided this field (it goes into a portability answer);
        an excluded field never does."""
        if field_name in self.exclude:
            return False
        if isinstance(self.provided, bool):
            return self.provided
        return field_name in self.provided


@dataclass(frozen=True)
class SourceConfig:
    """One source of ``sources.toml``."""

    name: str
    kind: str
    #: Names shown to staff and in the answer, by language ("fr", "en").
    labels: Mapping[str, str]
    #: The connector kind's own keys (``url``, ``base_url``, ``auth``, ``paths``…).
    options: Mapping[str, Any]
    collections: Mapping[str, CollectionConfig]
    #: The file it was read from, for error messages.
    file: str
    #: Identifier types any collection matches on (what the source can be searched by).
    match_types: frozenset[str] = frozenset()

    def label(self, language: str = "fr") -> str:
        return self.labels.get(language) or self.labels.get("fr") or self.name

    def error(self, key: str, fault: str) -> SourceConfigError:
        """A configuration error at ``sources.<name>.<key>``."""
        return SourceConfigError(self.file, f"sources.{self.name}.{key}", fault)


#: What a plan may ask of a collection. ``retain`` is never sent to a connector (nothing is
#: done); ``redact`` is the ``files`` kind's way to erase: the lines rewritten with the
#: person's values masked. ``update`` rectifies fields (Art. 16); the FLAG_ACTIONS (Art. 18,
#: 21) set the fields a collection declares for them (``operations.<action>``).
FLAG_ACTIONS = ("restrict", "lift_restriction", "unsubscribe")
OPERATION_ACTIONS = ("delete", "anonymize", "redact", "update", *FLAG_ACTIONS)


@dataclass(frozen=True)
class Operation:
    """One collection's part of an approved plan, for one source: what to do to the records
    the search found (``keys``: their ``Record.key``). ``anonymize`` maps a field to ``null``,
    ``hash`` (a keyed hash: the same value each time, so a second run changes nothing) or
    ``fixed:TEXT``. ``identity``: the person's identifiers (to mask in ``redact``).
    ``values``: for ``update`` only, record key -> {field: new value}."""

    collection: str
    action: str
    keys: tuple[str, ...]
    anonymize: Mapping[str, str] = field(default_factory=dict)
    identity: Identity = field(default_factory=Identity)
    values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass
class OperationResult:
    """What carrying out an :class:`Operation` did: ``changed`` records deleted, anonymised
    or redacted by this run, ``absent`` already gone or already in their final state (a
    second run reports the same totals: changed + absent = the keys asked for), ``details``
    a short text without personal data (e.g. a rotation date for a retained file)."""

    collection: str
    action: str
    changed: int = 0
    absent: int = 0
    details: str = ""
    #: Records of a ``delete`` the source had to keep (still referenced by retained records),
    #: anonymised when the operation carries a map: the verification expects to find them.
    kept: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"collection": self.collection, "action": self.action,
                "changed": self.changed, "absent": self.absent, "details": self.details,
                "kept": self.kept}


class OperationUnsupported(SourceError):
    """The connector cannot do this operation on this collection (reported to the DPO, never
    silently skipped): e.g. an ``http`` collection that declares no method for it."""


def record_matches(collection: CollectionConfig, fields: Mapping[str, Any],
                   identity: Identity) -> bool:
    """Whether a record's ``fields`` match one of ``identity``'s identifiers on one of the
    collection's ``match`` fields (the only way a record is the person's)."""
    return any(normalize_identifier(kind, fields.get(name)) in identity.get(kind)
               for kind, name in collection.match.items())


_HASH_RE = re.compile(r"^[0-9a-f]{64}$")


def is_anonymized(action: str, value: Any) -> bool:
    """Whether ``value`` already is what anonymising it with ``action`` gives (a keyed hash
    is 64 lower-case hexadecimal digits)."""
    if action == "null":
        return value is None
    if action == "hash":
        return value is None or (isinstance(value, str) and bool(_HASH_RE.match(value)))
    return value is not None and str(value) == action.removeprefix("fixed:")


def anonymized_value(action: str, value: Any, hash_key: bytes) -> Any:
    """The value a field takes when anonymised: ``null`` → None, ``hash`` → a keyed
    HMAC-SHA-256 (hex, 64 characters; stable for the same value), ``fixed:TEXT`` → TEXT."""
    if action == "null":
        return None
    if action == "hash":
        if value is None:
            return None
        return hmac.new(hash_key, str(value).encode(), hashlib.sha256).hexdigest()
    if action.startswith("fixed:"):
        return action.removeprefix("fixed:")
    raise ValueError(f"unknown anonymisation {action!r}")


class Connector:
    """Base of the connector kinds. A connector is built per job, used for one search, and
    closed; it must not keep personal data beyond the call.

    Subclasses set ``kind``, implement :meth:`discover`, and check their own configuration keys
    in :meth:`check_config` (called at start-up, so a bad file stops the app before any job).
    ``erase``, ``rectify`` and ``restrict`` belong to the erasure and rectification work and
    use each collection's ``erasure`` policy.
    """

    kind: ClassVar[str] = ""
    #: The kind's own keys allowed in ``[sources.NAME]`` and in its collections (besides the
    #: shared ones); any other key is a configuration error (a typo must not pass silently).
    SOURCE_KEYS: ClassVar[frozenset[str]] = frozenset()
    COLLECTION_KEYS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, source: SourceConfig, *, instance_path: str | os.PathLike,
                 environ: Mapping[str, str] | None = None):
        self.source = source
        self.instance_path = Path(instance_path)
        self.environ = os.environ if environ is None else environ

    @classmethod
    def check_config(cls, source: SourceConfig) -> None:
        """Raise :class:`SourceConfigError` for a missing or malformed kind-specific key."""

    @classmethod
    def supports(cls, source: SourceConfig, collection: CollectionConfig, action: str) -> bool:
        """Whether this kind can do ``action`` (of :data:`OPERATION_ACTIONS`) on ``collection``,
        from the configuration alone (no connection)."""
        return False

    def discover(self, identity: Identity) -> Discovery:
        """Every record of this source that matches ``identity``, and the identifiers they
        carry. Raises :class:`SourceError` on a failure worth retrying."""
        raise NotImplementedError

    def carry_out(self, operations: list[Operation], *, hash_key: bytes) -> list[OperationResult]:
        """Carry out an approved plan's operations on this source, all or nothing where the
        kind allows it (``sql``: one transaction, children before parents). Idempotent: run
        again, it changes nothing and reports the same totals. Raises
        :class:`OperationUnsupported` for an operation the kind cannot do, :class:`SourceError`
        on a failure worth retrying."""
        raise OperationUnsupported(f"the {self.kind} connector cannot change data")

    def remaining(self, operations: list[Operation]) -> dict[str, int]:
        """After :meth:`carry_out`: per collection, how many of the records the operations
        named are still there unchanged (deleted ones still present, anonymised ones whose
        fields kept a value; for ``redact``, any line of the person found again). The
        verification of a plan. By default a new search with the operations' identifiers;
        a kind that can look records up by key does so (a search by e-mail no longer reaches
        what was found through a record whose e-mail was just anonymised)."""
        identity = operations[0].identity if operations else Identity()
        by_collection = {o.collection: o for o in operations}
        counts: dict[str, int] = {}
        for record in self.discover(identity).records:
            operation = by_collection.get(record.collection)
            if operation is None:
                continue
            if operation.action != "redact" and record.key not in operation.keys:
                continue  # lines move when a file is rewritten; records elsewhere do not
            if operation.action == "anonymize" and all(
                    is_anonymized(action, record.fields.get(name))
                    for name, action in operation.anonymize.items()):
                continue
            counts[record.collection] = counts.get(record.collection, 0) + 1
        return counts

    def close(self) -> None:
        """Release connections and files."""

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
