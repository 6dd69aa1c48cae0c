"""``report.pdf``: the answer a person reads, rendered with WeasyPrint from the export content.

It holds a cover letter with the Art. 15(1)(a)-(h) and 15(2) information (written from the
register, for the sources and categories actually found), a summary per source and category,
and the data in tables (at most :data:`ROW_CAP` records per collection, with a pointer to the
complete JSON and CSV), all in the case's language (French, or English). ``export.json`` is
attached inside the PDF. The PDF is tagged (PDF/UA-1: structure tags, language, title).

Usage, inside an app context::

    content = build_content(case)
    render_report(content, "report.pdf")             # a path, or any binary stream
    write_package(content, out, extra=[report_member(content)])

Nothing is fetched while rendering: the template and the stylesheet are read from the package,
fonts are system fonts named by family, and every URL WeasyPrint might ask for goes to
:class:`RefusingFetcher`, which serves nothing and stops the rendering. Record values are
escaped text (Jinja autoescaping), so a value holding markup cannot add an image or a link.

Time and memory: the records shown are held (at most ``row_cap`` per collection, fewer when
many collections share :data:`CELL_BUDGET`) and the rest are read past, one by one.
WeasyPrint holds the laid-out document (bounded by the budget) and reads the JSON attachment
whole: it is compressed into the PDF in memory. So export.json is attached only up to
``PDF_ATTACHMENT_MAX_BYTES`` (it is written into a buffer that gives up past that size); a
larger one stays next to the report in the package, and the letter says so. Memory is then
bounded whatever the number of records.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import IO, Any

from babel import Locale
from flask import render_template
from flask_babel import force_locale, format_date, gettext
from flask_babel import lazy_gettext as _l

from dsar.exports.content import CollectionContent, ExportContent, ExportRecord
from dsar.exports.csv_export import csv_name
from dsar.exports.package import EXPORT_JSON, PackageMember
from dsar.exports.pdf_attachment import json_attachment_of
from dsar.exports.pdf_rendering import (  # noqa: F401  (ReportError, FetchRefused: the API)
    FetchRefused,
    RefusingFetcher,
    ReportError,
    render_pdf,
)
from dsar.exports.redaction import ARTICLES

logger = logging.getLogger(__name__)

REPORT_PDF = "report.pdf"
TEMPLATE = "exports/report.html"
#: Records shown per collection at most; the rest is in the JSON and the CSV.
ROW_CAP = 200
#: Table cells laid out for the data, all collections together: WeasyPrint spends about a
#: millisecond and tens of kilobytes on each, so many long collections share this evenly
#: (each showing fewer rows) and the report's time and memory stay bounded.
CELL_BUDGET = 4000
#: Records shown per collection however many collections share the budget.
MIN_ROWS = 20
#: A collection with more fields than this is shown one record at a time (field | value):
#: a table that wide is unreadable even on a landscape page.
WIDE = 10
#: Characters of a value shown in a cell; a longer value is cut, and said to be.
VALUE_CAP = 1000
#: The data pages' width (A4 landscape less the margins of report.css), and what a character
#: of a 7pt cell takes in DejaVu Sans Condensed (bold for a header): for the column widths.
DATA_WIDTH_MM = 269
CHAR_MM, HEADER_MM, CELL_PADDING_MM = 1.35, 1.5, 3.5

#: The headings of the Art. 15 information, in the order of the letter.
HEADINGS = {
    "purposes": _l("Purposes of the processing and their legal basis (GDPR Art. 15(1)(a))"),
    "categories": _l("Categories of personal data concerned (GDPR Art. 15(1)(b))"),
    "recipients": _l("Recipients of your data (GDPR Art. 15(1)(c))"),
    "retention": _l("How long we keep your data (GDPR Art. 15(1)(d))"),
    "rights": _l("Your rights (GDPR Art. 15(1)(e))"),
    "complaint": _l("Your right to lodge a complaint with the CNIL (GDPR Art. 15(1)(f))"),
    "origin": _l("Where your data comes from (GDPR Art. 15(1)(g))"),
    "automated": _l("Automated decision-making, including profiling (GDPR Art. 15(1)(h))"),
    "transfers": _l("Transfers outside the European Union (GDPR Art. 15(2))"),
}


@dataclass(frozen=True)
class Report:
    """What :func:`render_report` wrote."""

    pages: int
    #: Records shown in the tables (at most ``row_cap`` per collection).
    rows: int
    #: (source, collection) of each collection shown in part.
    capped: tuple[tuple[str, str], ...]
    #: The records shown per collection at most (:func:`rows_shown`).
    row_cap: int


@dataclass(frozen=True)
class Table:
    """One collection as the template shows it: the header, at most ``row_cap`` rows of
    display strings, and what was left out."""

    source: str
    collection: CollectionContent
    columns: tuple[str, ...]
    #: The columns' headings: each field's name in words (``sources.toml``), else its name.
    headings: tuple[str, ...]
    #: Column widths in percent (the table has a fixed layout: fast, and long values wrap).
    widths: tuple[float, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]
    cards: bool
    truncated: bool
    csv: str

    @property
    def capped(self) -> bool:
        """Whether some records are only in the JSON and the CSV."""
        return len(self.rows) < self.collection.record_count


def cell(value: Any) -> tuple[str, bool]:
    """A JSON value as display text, and whether it was cut at :data:`VALUE_CAP`."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = gettext("yes") if value else gettext("no")
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False)
    if len(text) > VALUE_CAP:
        return text[:VALUE_CAP] + "…", True
    return text, False


def _widths(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> tuple[float, ...]:
    """Column widths in percent of a landscape page: each header on one line if the page
    allows, then the room left shared by the length of most values (bounded, so that one
    long column does not starve the others)."""
    least, wanted = [], []
    for index, name in enumerate(columns):
        lengths = sorted(len(r[index]) for r in rows)
        typical = lengths[int(len(lengths) * 0.9)] if lengths else 0
        least.append(len(name) * HEADER_MM + CELL_PADDING_MM)
        wanted.append(max(least[-1], min(typical, 40) * CHAR_MM + CELL_PADDING_MM))
    if sum(wanted) <= DATA_WIDTH_MM or sum(least) >= DATA_WIDTH_MM:
        widths = wanted if sum(least) < DATA_WIDTH_MM else least
    else:
        share = (DATA_WIDTH_MM - sum(least)) / (sum(wanted) - sum(least))
        widths = [lo + (w - lo) * share for lo, w in zip(least, wanted, strict=True)]
    total = sum(widths)
    return tuple(round(100 * w / total, 2) for w in widths)


def _table(source: str, collection: CollectionContent, records: Iterator[ExportRecord],
           row_cap: int) -> Table:
    names = tuple(f.name for f in collection.fields)
    rows, truncated = [], False
    for record in islice(records, row_cap):
        values = []
        for name in names:
            text, cut = cell(record.fields.get(name))
            values.append(text)
            truncated |= cut
        rows.append((record.key, tuple(values)))
    cards = len(names) > WIDE
    headings = tuple(f.label or f.name for f in collection.fields)
    # Each column as wide as its heading and values need: the heading is what must not split.
    columns = ("_key", *headings)
    widths = () if cards else _widths(columns, [(k, *v) for k, v in rows])
    return Table(source, collection, names, headings, widths, tuple(rows), cards, truncated,
                 csv_name(source, collection.name))


def _cells_per_row(collection: CollectionContent) -> int:
    fields = len(collection.fields)
    return 2 * fields + 2 if fields > WIDE else fields + 1


def rows_shown(collections: Iterable[CollectionContent], row_cap: int = ROW_CAP,
               cell_budget: int = CELL_BUDGET) -> int:
    """The records shown per collection: ``row_cap``, or less when the collections together
    would lay out more than ``cell_budget`` cells (the same cap for all, at least
    :data:`MIN_ROWS`)."""
    collections = list(collections)

    def cells(cap: int) -> int:
        return sum(min(c.record_count, cap) * _cells_per_row(c) for c in collections)

    low, high = 0, row_cap
    while low < high:  # the largest cap within the budget
        middle = (low + high + 1) // 2
        low, high = (middle, high) if cells(middle) <= cell_budget else (low, middle - 1)
    return max(low, min(MIN_ROWS, row_cap))


def _tables(content: ExportContent, row_cap: int) -> dict[str, list[Table]]:
    """Source name -> its tables; one pass over each stored result, records past the cap
    read and dropped one by one."""
    return {source.name: [_table(source.name, c, records, row_cap)
                          for c, records in source.grouped()]
            for source in content.sources if source.record_count}


@dataclass(frozen=True)
class RedactedPlaces:
    """The pieces of other people's data masked in one collection, as the letter lists them."""

    source_label: str
    collection: str
    fields: tuple[str, ...]
    count: int


def redacted_places(content: ExportContent) -> list[RedactedPlaces]:
    """The redactions counted by source and collection, in the order of the records (the
    complete list, piece by piece, is in export.json)."""
    labels = {s.name: s.label for s in content.sources}
    groups: dict[tuple[str, str], tuple[list[str], list[int]]] = {}
    for c in content.limitations.redactions.counts:
        fields, count = groups.setdefault((c.source, c.collection), ([], [0]))
        if c.field not in fields:
            fields.append(c.field)
        count[0] += c.count
    return [RedactedPlaces(labels.get(source, source), collection, tuple(fields), count[0])
            for (source, collection), (fields, count) in groups.items()]


def _country(code: str | None, language: str) -> str:
    if not code:
        return ""
    name = Locale.parse(language).territories.get(code.upper())
    return f"{name} ({code})" if name else code


def _context(content: ExportContent, row_cap: int, cell_budget: int) -> dict[str, Any]:
    """What the template needs, in the case's language (call inside ``force_locale``)."""
    row_cap = rows_shown((c for s in content.sources for c in s.collections), row_cap,
                         cell_budget)
    language = content.language
    labels = {s.name: s.label for s in content.sources}
    info = content.information
    purposes = {p.name: p.purpose for p in info.processing}
    # A right that applies to every processing concerned needs no list of them.
    rights = [(r, [purposes.get(n, n) for n in r.processing]
               if set(r.processing) != set(purposes) else [])
              for r in info.rights]
    transfers: dict[tuple[str, str, str], list[str]] = {}
    for p in info.processing:
        for t in p.transfers:
            transfers.setdefault((t.recipient_name, t.country, t.safeguard), []).append(
                p.purpose)
    recipients = [(r, [p.purpose for p in info.processing
                       if any(x.code == r.code for x in p.recipients)])
                  for r in info.recipients]
    return {
        "content": content,
        "case": content.case,
        "info": info,
        "headings": {k: str(v) for k, v in HEADINGS.items()},
        "language": language,
        "date": format_date(content.generated_at.date(), "long"),
        "received_on": format_date(content.case.received_on, "long"),
        "source_labels": labels,
        "purposes": purposes,
        "rights": rights,
        "recipients": recipients,
        "transfers": [(*key, purposes_) for key, purposes_ in transfers.items()],
        "country": lambda code: _country(code, language),
        "incomplete": [s.label for s in content.sources if s.status not in ("done", "skipped")],
        "tables": _tables(content, row_cap),
        "row_cap": row_cap,
        "value_cap": VALUE_CAP,
        "export_json": EXPORT_JSON,
        "redacted": redacted_places(content),
        "redaction_article": str(ARTICLES[content.scope]),
        # Art. 16: each statement with its date and both values as display text.
        "statements": [(st, format_date(st.recorded_on, "long"), cell(st.old)[0], cell(st.new)[0])
                       for st in content.statements],
    }


def render_report(content: ExportContent, target: IO[bytes] | str | os.PathLike, *,
                  json_attachment: bytes | str | os.PathLike | None = None,
                  row_cap: int = ROW_CAP, cell_budget: int = CELL_BUDGET,
                  fetcher: RefusingFetcher | None = None) -> Report:
    """Write ``report.pdf`` for ``content`` to ``target`` (a path, or a binary stream that
    need not seek; not closed), in the content's language. Needs an app context.

    ``json_attachment`` is ``export.json`` as bytes or a file path, attached inside the PDF;
    when None it is written from ``content`` (the same bytes :func:`write_json` writes).
    ``row_cap`` bounds the records shown per collection, lowered evenly (to no less than
    :data:`MIN_ROWS`) when all the tables together would exceed ``cell_budget`` cells
    (:func:`rows_shown`). ``fetcher`` (default: a new
    :class:`RefusingFetcher`) is where WeasyPrint's URL requests go; any request stops the
    rendering with :class:`ReportError`."""
    fetcher = fetcher or RefusingFetcher()
    with force_locale(content.language):
        attachment = json_attachment_of(content, json_attachment, fetcher)
        context = _context(content, row_cap, cell_budget)
        context["json_attached"] = attachment is not None
        html = render_template(TEMPLATE, **context)
    attachments = [attachment] if attachment is not None else []
    if isinstance(target, str | os.PathLike):
        # Personal data: readable by its owner only.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "wb") as out:
            document = render_pdf(html, out, fetcher=fetcher, attachments=attachments)
    else:
        # pydyf counts the bytes it writes itself: the stream need not seek or tell.
        document = render_pdf(html, target, fetcher=fetcher, attachments=attachments)
    tables = [t for ts in context["tables"].values() for t in ts]
    report = Report(len(document.pages), sum(len(t.rows) for t in tables),
                    tuple((t.source, t.collection.name) for t in tables if t.capped),
                    context["row_cap"])
    logger.info("report.pdf written: %d pages, %d rows shown, %d collections capped",
                report.pages, report.rows, len(report.capped))
    return report


def report_member(content: ExportContent, **options: Any) -> PackageMember:
    """``report.pdf`` as an extra member of :func:`~.package.write_package` (``options`` go to
    :func:`render_report`)."""
    return PackageMember(REPORT_PDF, "application/pdf",
                         lambda stream: render_report(content, stream, **options))

