"""E-mail addresses and phone numbers written in text: found, compared, and masked with the
display name written with them (for :mod:`.redaction`).

- **E-mail addresses**, compared without regard to letter case.
- **Phone numbers**: French ones (``06 12 48 90 37``, ``06.12.48.90.37``, ``+33 6 12 48 90 37``,
  ``0033 6…``, ``+33 (0)6…``, all the same number) and international ones written with ``+``;
  compared by their digits. A number inside a longer one, an invoice number, a date, an IP
  address or an id is not one.
- **The display name written with one**: ``Léa Fontaine (lea@…)``, ``"Léa Fontaine" <lea@…>``,
  ``lea@… (Léa Fontaine)``: capitalised words on the same line, with their particles; masked
  with the address as one piece, since they name the same person.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: Why a piece of a value was masked (``Redaction.reason``, ``export.json``).
EMAIL_REASON = "third_party_email"
PHONE_REASON = "third_party_phone"
REASONS = (EMAIL_REASON, PHONE_REASON)

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
