"""One CSV file per (source, collection) where records were found, for spreadsheets.

Choices, for a person opening their own data in a spreadsheet:

- **UTF-8 with a byte-order mark.** Excel opens a CSV without BOM in the machine's legacy code
  page (Windows-1252 in France) and turns "Léa" into "LÃ©a"; with the BOM it reads UTF-8.
  LibreOffice, Google Sheets, Python (``utf-8-sig``) and pandas read it too.
- **The delimiter of the case's language**: ";" for French, "," for English. A French Excel
  splits columns on ";" when a file is double-clicked (the comma is the decimal separator
  there) and shows a comma-separated file in a single column. Quoting is RFC 4180 (double
  quotes, doubled inside), lines end with CRLF; the JSON file is the format for programs.
- **A stable header**: ``_key`` (the record's key in export.json), then the fields in the
  collection's order (:attr:`CollectionContent.fields`), whatever the records hold.
- **Values**: text as is, numbers in JSON notation, ``true``/``false``, null as an empty cell,
  objects and arrays as JSON.
- **No formulas**: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
  (after any leading spaces) is prefixed with an apostrophe, so a spreadsheet shows it as text
  instead of running it. A person's own data can hold such text (a phone number "+33 …", a
  bio, a URL someone typed); plain numbers such as "-12.50" are left alone.

Rows are written one by one (streamed).
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Iterable
from typing import IO, Any

from dsar.exports.content import CollectionContent, ExportRecord
from dsar.exports.json_export import TextSink

logger = logging.getLogger(__name__)

BOM = "\ufeff"
KEY_COLUMN = "_key"
DELIMITERS = {"fr": ";", "en": ","}
#: First characters a spreadsheet may take for a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


def csv_name(source: str, collection: str) -> str:
    """The file's path inside the package (source and collection names are ``[a-z0-9_]``)."""
    return f"csv/{source}/{collection}.csv"


def csv_delimiter(language: str) -> str:
    """The delimiter the person's spreadsheet expects for their language."""
    return DELIMITERS.get(language, ",")


def neutralise(text: str) -> str:
    """``text`` made safe to show in a spreadsheet: never read as a formula."""
    stripped = text.lstrip(" ")
    if stripped.startswith(FORMULA_STARTS) and not NUMBER.match(stripped):
        return "'" + text
    return text


def cell(value: Any) -> str:
    """A JSON value as a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return neutralise(value)
    return neutralise(json.dumps(value, ensure_ascii=False, sort_keys=True))


def write_csv(collection: CollectionContent, records: Iterable[ExportRecord], stream: IO, *,
              delimiter: str = ",", bom: bool = True) -> int:
    """Write one collection's CSV to ``stream`` (binary: UTF-8; or text). Returns the number
    of rows (the header excluded). Does not close the stream."""
    sink = TextSink(stream)
    if bom:
        sink.write(BOM)
    writer = csv.writer(sink, delimiter=delimiter, quotechar='"', quoting=csv.QUOTE_MINIMAL,
                        lineterminator="\r\n")
    names = [f.name for f in collection.fields]
    writer.writerow([KEY_COLUMN, *(neutralise(n) for n in names)])
    rows = 0
    for record in records:
        values = record.fields
        writer.writerow([neutralise(record.key), *(cell(values.get(n)) for n in names)])
        rows += 1
    sink.flush()
    logger.debug("csv %s: %d rows", collection.name, rows)
    return rows
