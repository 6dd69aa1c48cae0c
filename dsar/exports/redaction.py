"""Other people's data in an answer: recognised, masked, and reported (GDPR Art. 15(4) and
20(4); LEGAL.md §4: "Other people's data is redacted and the redaction reported").

A person's records are theirs by construction (the search matches exact identifiers only), but
the text in them may name someone else: a support ticket quoting a colleague's address, a
note with a relative's phone number. What is recognised, in text:

- **e-mail addresses**, compared without regard to letter case;
- **phone numbers**: French ones (``06 12 48 90 37``, ``06.12.48.90.37``, ``+33 6 12 48 90 37``,
  ``0033 6…``, ``+33 (0)6…``, all equal) and international ones written with ``+``; compared by
  their digits;
- **the display name written with an address or number**: ``Léa Fontaine (lea@…)``,
  ``"Léa Fontaine" <lea@…>``, ``lea@… (Léa Fontaine)``: the whole is masked as one piece,
  since the name is the same third party's.

A value is masked when it is not one of the person's own: the e-mail address whose control
they proved, the identifiers they gave and those their records yielded, and the values of the
structured fields of their own records that hold their contact details or identify them
(:data:`OWN_CATEGORIES`, and the ``match`` and ``yields`` fields). Text is scanned in the
fields of category :data:`FREE_TEXT`, in unclassified fields and in the fields a collection
lists as ``third_party`` (docs/sources.md); the other structured fields are the person's own
and are left as they are. Anything else in prose (a bare customer number, a first name alone)
cannot be told apart from the person's own words, and is not touched.

Masking is deterministic: the same record, the same values to mask and the same marker give
the same output, so the count taken before writing (:func:`redactions_of`) is what every
writer then shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext, ngettext

from .. import gathering
from ..models import Case, SourceResult
from ..sources.base import CollectionConfig

#: The category of fields whose text is scanned (besides unclassified and ``third_party``).
FREE_TEXT = "free_text"
UNCLASSIFIED = "unclassified"
#: Categories of structured fields whose values are the person's own contact details and
#: identifiers (with each collection's ``match`` and ``yields`` fields).
OWN_CATEGORIES = frozenset({"contact", "identification"})

#: Why a piece of a value was masked (``Redaction.reason``, ``export.json``).
EMAIL_REASON = "third_party_email"
PHONE_REASON = "third_party_phone"
REASONS = (EMAIL_REASON, PHONE_REASON)
#: What allows the masking, by scope: the rights and freedoms of others.
ARTICLES = {"access": lazy_gettext("GDPR Art. 15(4)"),
            "portability": lazy_gettext("GDPR Art. 20(4)")}

EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+@[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)*"
    r"\.[^\W\d_]{2,}(?![\w-])")
_SEP = r"[ \u00a0.-]?"
PHONE = re.compile(
    r"(?<![\w+/@-])(?:"
    rf"(?:\+|00){_SEP}33{_SEP}(?:\(0\){_SEP})?[1-9](?:{_SEP}\d){{8}}"  # +33 6 12 48 90 37
    rf"|0[1-9](?:{_SEP}\d){{8}}"  # 06 12 48 90 37
    rf"|\+(?!33)[1-9]\d{{0,2}}{_SEP}(?:\(\d{{1,4}}\){_SEP})?\d(?:{_SEP}\d){{7,13}}"  # +44 20…
    r")(?![\w/-]|[.,]\d)")
#: A phone number stored bare in a structured field: 33612489037, 612489037.
_BARE_PHONE = re.compile(r"^(?:33[1-9]\d{8}|[1-9]\d{8})$")
#: A word of a display name, capitalised (``Léa``, ``Saint-Roch``, ``d'Ormesson``, ``J.``).
_NAME_WORD = re.compile(r"(?:[dDlL]['’])?([^\W\d_])[\w'’.-]*")
_PARTICLES = frozenset({"de", "du", "des", "d'", "d’", "van", "von", "der", "den", "la", "le",
                        "di", "da", "del", "dos", "ben", "bin", "el", "al"})
_QUOTES = "\"'“”«»‘’"
_BRACKETS = {"(": ")", "<": ">", "[": "]"}
_AFTER = re.compile(r"[ \t\u00a0]*\(([^()\n]{1,80})\)")
#: Words of a display name taken at most.
NAME_WORDS = 4


def normal_email(text: str) -> str:
    """An e-mail address as compared (every provider delivers any letter case alike)."""
    return text.strip().lower()


def normal_phone(text: str) -> str:
    """A phone number as compared: French numbers as ten national digits (``0612489037``),
    whatever the prefix; others as ``+`` and their digits."""
    digits = re.sub(r"\D", "", text)
    international = text.lstrip().startswith("+") or digits.startswith("00")
    if digits.startswith("00"):
        digits = digits[2:]
    if international and digits.startswith("33"):
        national = digits[2:]
        return "0" + (national[1:] if national.startswith("0") else national)
    return ("+" + digits) if international else digits


@dataclass(frozen=True)
class Hit:
    """An e-mail address or phone number found in a text."""

    value: str  # normalised
    reason: str
    start: int
    end: int


def contacts_in(text: str) -> list[Hit]:
    """The e-mail addresses and phone numbers in ``text``, in order (digits inside an address
    are part of the address)."""
    hits = []
    if "@" in text:
        hits = [Hit(normal_email(m.group()), EMAIL_REASON, m.start(), m.end())
                for m in EMAIL.finditer(text)]
    if "0" in text or "+" in text:
        for m in PHONE.finditer(text):
            if not any(h.start < m.end() and m.start() < h.end for h in hits):
                hits.append(Hit(normal_phone(m.group()), PHONE_REASON, m.start(), m.end()))
        hits.sort(key=lambda h: h.start)
    return hits


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def text_values(value: Any) -> set[str]:
    """The normalised e-mail addresses and phone numbers written in a value (its strings)."""
    return {h.value for text in _strings(value) for h in contacts_in(text)}


def own_values(value: Any) -> set[str]:
    """The e-mail addresses and phone numbers a structured value of the person's own holds:
    those written in it, or the whole value as a bare phone number (``33612489037``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    found = text_values(value)
    if isinstance(value, str):
        bare = value.strip()
        if _BARE_PHONE.match(bare):
            found.add(normal_phone("+" + bare if bare.startswith("33") else "0" + bare))
        elif (not found and re.fullmatch(r"\+?[\d ().-]+", bare)
              and 9 <= sum(c.isdigit() for c in bare) <= 15):
            found.add(normal_phone(bare))
    return found


class FieldRoles:
    """Which fields of a collection are scanned for other people's data, and which hold the
    person's own values (``config`` None: a collection no longer configured, all scanned)."""

    def __init__(self, config: CollectionConfig | None):
        self.config = config
        if config is None:
            self.own: frozenset[str] = frozenset()
            return
        self.own = frozenset(
            name for name, code in config.fields.items()
            if name not in config.third_party and code != FREE_TEXT
            and (code in OWN_CATEGORIES or name in config.match.values()
                 or name in config.yields.values()))

    def scanned(self, name: str) -> bool:
        """Whether the text of field ``name`` is scanned for other people's data."""
        config = self.config
        if config is None:
            return True
        code = config.fields.get(name, UNCLASSIFIED)
        return code in (FREE_TEXT, UNCLASSIFIED) or name in config.third_party


def person_values(case: Case, rows: Iterable[SourceResult]) -> set[str]:
    """The person's own e-mail addresses and phone numbers among their identifiers: the
    address of the case, the identifiers given (checked by staff when verifying the
    identity) and those the search yielded (read from each result's header)."""
    values: list[Any] = [case.email_normalized, case.requester_email,
                         *(case.identifiers or {}).values()]
    for row in rows:
        if row.result_blob_id:
            values += [v for vs in gathering.yielded_identifiers(row).values.values()
                       for v in vs]
    found: set[str] = set()
    for value in values:
        found |= own_values(value)
    return found


def resolve(candidates: set[str], sources: Iterable[tuple[Mapping[str, FieldRoles],
                                                          Iterable[Mapping[str, Any]]]]
            ) -> frozenset[str]:
    """The ``candidates`` (values found in scanned text) that are not the person's: those no
    structured field of theirs holds. ``sources`` gives, per source, each collection's roles
    and its stored records (read one by one; stops early once every candidate is theirs)."""
    left = set(candidates)
    for roles, records in sources:
        if not left:
            break
        for raw in records:
            field_roles = roles.get(raw["collection"])
            if field_roles is None or not field_roles.own:
                continue
            fields = raw.get("fields") or {}
            for name in field_roles.own:
                if fields.get(name) is not None:
                    left -= own_values(fields[name])
            if not left:
                break
    return frozenset(left)


def _name_start(text: str, bracket: int) -> int:
    """Where a display name written right before ``bracket`` starts (``bracket`` if none):
    capitalised words on the same line, with their particles and quotes."""
    end = bracket
    while end > 0 and text[end - 1] in " \t\u00a0":
        end -= 1
    line = text.rfind("\n", 0, end) + 1
    start, capitals, quoted = bracket, 0, text[end - 1:end] in _QUOTES
    for word in reversed(list(re.finditer(r"\S+", text[line:end]))):
        token = word.group().strip(_QUOTES)
        name = _NAME_WORD.fullmatch(token)
        if name and name.group(1).isupper():
            capitals += 1
            start = line + word.start()
            if capitals == NAME_WORDS or (quoted and word.group()[0] in _QUOTES):
                break  # a quoted name ends at its opening quote
        elif token.lower() not in _PARTICLES or not capitals:
            break
    return start


def _is_name(text: str) -> bool:
    words = [w.strip(_QUOTES) for w in text.split()]
    capitals = [w for w in words if (m := _NAME_WORD.fullmatch(w)) and m.group(1).isupper()]
    return 0 < len(capitals) <= NAME_WORDS and all(
        w in capitals or w.lower() in _PARTICLES for w in words)


def _widen(text: str, hit: Hit) -> tuple[int, int]:
    """The piece to mask for ``hit``: the address or number, with its brackets and the
    display name written with it."""
    start, end = hit.start, hit.end
    if start and end < len(text) and _BRACKETS.get(text[start - 1]) == text[end]:
        return _name_start(text, start - 1), end + 1
    after = _AFTER.match(text, end)
    if after and _is_name(after.group(1)):
        return start, after.end()
    return start, end


def mask_text(text: str, masked: frozenset[str], marker: str) -> tuple[str, list[str]]:
    """``text`` with each address or number in ``masked`` (and its display name) replaced by
    ``marker``; and the reason of each piece masked."""
    parts, reasons, last = [], [], 0
    for hit in contacts_in(text):
        if hit.value not in masked or hit.start < last:
            continue  # the person's own, or inside the piece just masked
        start, end = _widen(text, hit)
        parts += [text[last:max(start, last)], marker]
        reasons.append(hit.reason)
        last = end
    if not reasons:
        return text, []
    parts.append(text[last:])
    return "".join(parts), reasons


def mask_value(value: Any, masked: frozenset[str], marker: str) -> tuple[Any, list[str]]:
    """A JSON value with its strings masked (:func:`mask_text`), and the reasons."""
    if isinstance(value, str):
        return mask_text(value, masked, marker)
    if isinstance(value, list | dict):
        reasons: list[str] = []
        items = value.items() if isinstance(value, dict) else enumerate(value)
        out = {} if isinstance(value, dict) else []
        for key, item in items:
            new, found = mask_value(item, masked, marker)
            reasons += found
            if isinstance(out, dict):
                out[key] = new
            else:
                out.append(new)
        return (out, reasons) if reasons else (value, [])
    return value, []


@dataclass(frozen=True)
class Redactor:
    """Masks other people's data in the records of one collection."""

    roles: FieldRoles
    #: The normalised addresses and numbers that are not the person's.
    masked: frozenset[str]
    #: What replaces each piece, in the answer's language.
    marker: str

    def apply(self, fields: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The record's fields with other people's data masked, and (field, reason) for each
        piece masked."""
        out, pieces = {}, []
        for name, value in fields.items():
            if self.roles.scanned(name) and value is not None:
                value, reasons = mask_value(value, self.masked, self.marker)
                pieces += [(name, r) for r in reasons]
            out[name] = value
        return out, pieces


@dataclass(frozen=True)
class Redaction:
    """A piece of another person's data masked in a record (reported as a partial refusal):
    where, and why (:data:`REASONS`), never the value."""

    source: str
    collection: str
    key: str
    field: str
    reason: str


@dataclass(frozen=True)
class RedactedCount:
    """How many pieces were masked in one field of one collection, and why."""

    source: str
    collection: str
    field: str
    reason: str
    count: int


def _pieces(sources: Iterable[Any]) -> Iterator[Redaction]:
    """Every piece masked in ``sources`` (``content.SourceContent``), in the order of the
    records, found by the very calls the writers' masking makes."""
    for source in sources:
        masking = {c.name: c for c in source.collections if c.redactor is not None}
        if not masking:
            continue
        for raw in source.stored():
            collection = masking.get(raw["collection"])
            if collection is not None:
                _, pieces = collection.redactor.apply(collection.selected(raw))
                for name, why in pieces:
                    yield Redaction(source.name, collection.name, str(raw["key"]), name, why)


class Redactions:
    """The pieces of other people's data masked in an answer: counted when the content is
    built (:meth:`count`: what the letter and the package row say), listed one by one on
    demand by reading the records again (``export.json`` lists them): a person's records may
    quote others on every line, and the list is never held."""

    def __init__(self, sources: Iterable[Any] = (), counts: tuple[RedactedCount, ...] = ()):
        self._sources = tuple(sources)
        #: Per source, collection, field and reason, in the order of the records.
        self.counts = counts

    @classmethod
    def count(cls, sources: Iterable[Any]) -> Redactions:
        """Read the records of ``sources`` where something is masked, and count."""
        sources = tuple(s for s in sources
                        if any(c.redactor is not None for c in s.collections))
        counts: dict[tuple[str, str, str, str], int] = {}
        for piece in _pieces(sources):
            where = (piece.source, piece.collection, piece.field, piece.reason)
            counts[where] = counts.get(where, 0) + 1
        return cls(sources, tuple(RedactedCount(*where, n) for where, n in counts.items()))

    def __iter__(self) -> Iterator[Redaction]:
        if self.counts:
            yield from _pieces(self._sources)

    def __len__(self) -> int:
        return sum(c.count for c in self.counts)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def __repr__(self) -> str:
        return f"Redactions({len(self)} pieces)"


def redaction_notice(count: int, scope: str, marker: str, complaint_url: str) -> str:
    """The partial refusal the redactions are, for the person: why, how they show, and the
    remedies (call inside the case's locale)."""
    return ngettext(
        "To protect the rights and freedoms of other people (%(article)s), we masked their "
        "data written in your records (an e-mail address or a phone number, with the name "
        "written with it) in %(num)d place. It is replaced by “%(marker)s” and listed here. "
        "This is a partial refusal of your request: you may lodge a complaint with the CNIL "
        "(%(url)s) and bring an action before the courts (GDPR Art. 79).",
        "To protect the rights and freedoms of other people (%(article)s), we masked their "
        "data written in your records (e-mail addresses or phone numbers, with the names "
        "written with them) in %(num)d places. Each is replaced by “%(marker)s” and listed "
        "here. This is a partial refusal of your request: you may lodge a complaint with the "
        "CNIL (%(url)s) and bring an action before the courts (GDPR Art. 79).",
        count, article=str(ARTICLES[scope]), marker=marker, url=complaint_url)
