"""How one line of a ``files`` source is masked for an erasure (:mod:`.files_changes`).

In the person's lines only, each occurrence of their values is replaced by :data:`MASK`:

- the whole value of the collection's *structured* fields: its ``match`` and ``yields`` fields
  and its fields of category ``contact`` or ``identification`` (not ``third_party`` ones), the
  fields docs/sources.md calls the person's own;
- in any other text: their e-mail addresses (also written with ``%40``, as in a query string),
  their phone numbers (:mod:`dsar.exports.contacts`: any spelling of the same number, with the
  display name written with it), and their other identifiers (customer, visitor ids) of
  :data:`MIN_ID_IN_TEXT` characters or more as whole words. A shorter id in text cannot be told
  from a quantity or a status code, and stays.

Other people's values in the same line stay as they are. The line keeps its format: a JSON
line stays one JSON object (only the masked tokens change; a masked number becomes the mask
string), a CSV record keeps its columns (only the masked cells change, quoted when needed), a
log line still matches its pattern (a masked field the pattern would refuse gets ``-``).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from dsar.exports.contacts import mask_text, own_values, text_values
from dsar.sources.base import CollectionConfig, Identity, Record

#: What replaces each of the person's values (in the organisation's files, in French).
MASK = "[effacé]"
#: The same for a file whose encoding has no "é".
ASCII_MASK = "[efface]"
#: Identifiers other than e-mail addresses and phone numbers masked in text from this length.
MIN_ID_IN_TEXT = 8
#: Categories of the fields that hold the person's own contact details or identify them.
OWN_CATEGORIES = frozenset({"contact", "identification"})

_JSON_TOKEN = re.compile(r'\s+|"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')


class CannotMask(Exception):
    """The person's line could not be masked keeping its format (says nothing of the line)."""


def structured_fields(collection: CollectionConfig) -> frozenset[str]:
    """The fields whose whole value is masked in the person's lines: her own contact and
    identification fields, the match and yields fields, and every field the collection's
    ``anonymize`` map names (a line of a file cannot hold a keyed hash or a fixed text in place
    of a free-text field without the risk of breaking its format: the field is masked whole)."""
    own = {name for name, code in collection.fields.items()
           if code in OWN_CATEGORIES and name not in collection.third_party}
    return frozenset(own | set(collection.match.values()) | set(collection.yields.values())
                     | set(collection.erasure.anonymize))


class Masker:
    """Masks one person's values in their lines, whatever the collection."""

    def __init__(self, identity: Identity, records: Iterable[Record],
                 collections: Mapping[str, CollectionConfig]):
        values: set[str] = set()
        ids: set[str] = set()
        for kind, found in identity.values.items():
            for value in found:
                if "mail" in kind or "phone" in kind:
                    values |= own_values(value)
                else:
                    values |= text_values(value)
                    if len(value) >= MIN_ID_IN_TEXT:
                        ids.add(value)
        for record in records:  # the values of their own structured fields are theirs too
            collection = collections.get(record.collection)
            for name in structured_fields(collection) if collection else ():
                if record.fields.get(name) is not None:
                    values |= own_values(record.fields[name])
        self.values = frozenset(values)
        emails = sorted(v.replace("@", "%40") for v in values if "@" in v)
        self._encoded = _words(emails, re.IGNORECASE)
        self._ids = _words(sorted(ids), 0)

    def text(self, text: str, mask: str) -> str:
        """``text`` with the person's e-mail addresses, phone numbers and long ids masked."""
        text = mask_text(text, self.values, mask)[0]
        for pattern in (self._encoded, self._ids):
            if pattern is not None and pattern.search(text):
                text = pattern.sub(mask, text)
        return text


def _words(values: list[str], flags: int) -> re.Pattern[str] | None:
    if not values:
        return None
    alternatives = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
    return re.compile(rf"(?<![\w.%+-])(?:{alternatives})(?![\w-])", flags)


def mask_for(encoding: str) -> str:
    """The mask, in a form the file's encoding can write."""
    try:
        MASK.encode(codecs.lookup(encoding).name)
    except UnicodeEncodeError:
        return ASCII_MASK
    return MASK


def mask_line(parser: Any, collection: CollectionConfig, masker: Masker, raw: bytes,
              header: tuple[str, ...] | None) -> bytes:
    """The bytes of the person's line (``raw``, as :class:`~dsar.sources.files.LineParser`
    reads it) with their values masked; its byte-order mark and line ending kept. Raises
    :class:`CannotMask` when the line is not a record of the format any more."""
    text = raw.decode(parser.encoding, "surrogateescape")
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):].rstrip("\r\n")
    ending = text[len(bom) + len(body):]
    fields, mask = structured_fields(collection), mask_for(parser.encoding)
    if parser.format == "jsonl":
        masked = _mask_json(body, fields, masker, mask)
    elif parser.format == "csv":
        masked = _mask_csv(body, header or (), parser.delimiter, fields, masker, mask)
    else:
        masked = _mask_log(body, parser.regex, fields, masker, mask)
    return (bom + masked + ending).encode(parser.encoding, "surrogateescape")


def _mask_json(body: str, fields: frozenset[str], masker: Masker, mask: str) -> str:
    """Only the tokens holding the person's values change: the rest of the line, spacing and
    key order included, is written back byte for byte."""
    tokens = [m.group() for m in _JSON_TOKEN.finditer(body)]
    if "".join(tokens) != body:
        raise CannotMask("not JSON")
    out, depth, top_key = [], 0, None
    escaped = body.isascii() and "\\u" in body  # written with every non-ASCII escaped
    for i, token in enumerate(tokens):
        if token in ("{", "["):
            depth += 1
        elif token in ("}", "]"):
            depth -= 1
        elif not (token.isspace() or token in (":", ",")):
            after = next((t for t in tokens[i + 1:] if not t.isspace()), "")
            if after == ":":  # an object's key: kept (the top-level one names the field)
                if depth == 1:
                    top_key = json.loads(token)
            elif top_key in fields and depth >= 1 and token not in ("null", "true", "false"):
                token = json.dumps(mask, ensure_ascii=escaped)
            elif token.startswith('"'):
                value = json.loads(token)
                new = masker.text(value, mask)
                if new != value:
                    token = json.dumps(new, ensure_ascii=escaped)
        out.append(token)
    masked = "".join(out)
    try:
        valid = isinstance(json.loads(masked), dict)
    except ValueError:
        valid = False
    if not valid:
        raise CannotMask("not a JSON object once masked")
    return masked


def _mask_csv(body: str, header: tuple[str, ...], delimiter: str, fields: frozenset[str],
              masker: Masker, mask: str) -> str:
    """Only the cells holding the person's values change (quoted when they need it)."""
    cells = _csv_cells(body, delimiter)
    if [c[2] for c in cells] != _csv_row(body, delimiter):
        raise CannotMask("a CSV record this splitter reads otherwise")
    out, last = [], 0
    for index, (start, end, value, quoted) in enumerate(cells):
        name = header[index] if index < len(header) else None
        new = (mask if value else value) if name in fields else masker.text(value, mask)
        if new == value:
            continue
        if quoted or any(c in new for c in (delimiter, '"', "\r", "\n")):
            new = '"' + new.replace('"', '""') + '"'
        out += [body[last:start], new]
        last = end
    masked = "".join(out) + body[last:]
    if len(_csv_row(masked, delimiter)) != len(cells):
        raise CannotMask("a CSV record of another width once masked")
    return masked


def _csv_row(text: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    except csv.Error:
        raise CannotMask("not a CSV record") from None


def _csv_cells(text: str, delimiter: str) -> list[tuple[int, int, str, bool]]:
    """(start, end, value, quoted) of each cell of one CSV record, as the csv module reads it
    (doubled quotes inside quotes; text after a closing quote kept)."""
    cells, pos, size = [], 0, len(text)
    while True:
        start, quoted, parts = pos, pos < size and text[pos] == '"', []
        if quoted:
            pos += 1
            while pos < size:
                close = text.find('"', pos)
                if close < 0:
                    parts.append(text[pos:])
                    pos = size
                elif text.startswith('""', close):
                    parts.append(text[pos:close + 1])
                    pos = close + 2
                    continue
                else:
                    parts.append(text[pos:close])
                    pos = close + 1
                break
        end = text.find(delimiter, pos)
        end = size if end < 0 else end
        parts.append(text[pos:end])
        cells.append((start, end, "".join(parts), quoted))
        if end >= size:
            return cells
        pos = end + 1


def _mask_log(body: str, regex: re.Pattern[str], fields: frozenset[str], masker: Masker,
              mask: str) -> str:
    found = regex.match(body)
    if found is None:
        raise CannotMask("not a line of the log's format")
    spans = sorted(found.span(name) for name in regex.groupindex
                   if name in fields and found.group(name) not in (None, "", "-"))
    for field_mask in (mask, "-"):
        out, last = [], 0
        for start, end in spans:
            if start < last:
                continue  # a group inside one already masked
            out += [masker.text(body[last:start], mask), field_mask]
            last = end
        masked = "".join(out) + masker.text(body[last:], mask)
        if regex.match(masked) is not None:
            return masked
    # Neither fits the pattern (a field of digits only, say): masked all the same, the line
    # is no longer a record of the log, hence never found again.
    return masked
