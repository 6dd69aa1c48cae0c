"""The person's identifiers, as every connector is given them: identifier type -> normalised
values. Values are always compared as normalised strings (:func:`normalize_identifier`): an
e-mail address is matched without regard to letter case, since every mail provider delivers
``Jeanne.Martin@`` and ``jeanne.martin@`` to the same mailbox, the one whose control the
requester proved."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Identifier types whose values are compared case-insensitively.
CASE_INSENSITIVE_TYPES = frozenset({"email"})


def normalize_identifier(kind: str, value: Any) -> str | None:
    """The comparable form of an identifier value, or None for an empty one."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    if not text:
        return None
    return text.lower() if kind in CASE_INSENSITIVE_TYPES else text


@dataclass(frozen=True)
class Identity:
    """The identifiers known for one person: type -> set of normalised values."""

    values: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, **kinds: Iterable[Any]) -> Identity:
        """``Identity.of(email=["a@b.fr"], customer_id=[42])``, normalising every value."""
        return cls.from_pairs((k, v) for k, values in kinds.items() for v in values)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, Any]]) -> Identity:
        found: dict[str, set[str]] = {}
        for kind, value in pairs:
            normal = normalize_identifier(kind, value)
            if normal is not None:
                found.setdefault(kind, set()).add(normal)
        return cls({k: frozenset(v) for k, v in found.items()})

    def get(self, kind: str) -> frozenset[str]:
        """The values of one identifier type (empty when none is known)."""
        return self.values.get(kind, frozenset())

    def union(self, other: Identity) -> Identity:
        kinds = set(self.values) | set(other.values)
        return Identity({k: self.get(k) | other.get(k) for k in kinds})

    def restricted(self, kinds: Iterable[str]) -> Identity:
        """Only the identifier types in ``kinds`` (what one source can be searched by)."""
        return Identity({k: self.values[k] for k in kinds if self.values.get(k)})

    def to_json(self) -> dict[str, list[str]]:
        return {k: sorted(v) for k, v in sorted(self.values.items()) if v}

    @classmethod
    def from_json(cls, data: Mapping[str, Iterable[str]]) -> Identity:
        return cls.from_pairs((k, v) for k, values in data.items() for v in values)

    def digest(self, key: bytes) -> str:
        """A keyed hash of the identifiers: lets the database say what a source was searched
        with, without storing the identifiers in clear."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()

    def __bool__(self) -> bool:
        return any(self.values.values())
