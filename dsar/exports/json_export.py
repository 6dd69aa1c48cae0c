"""``export.json``: the whole answer, machine-readable, conforming to
``dsar/exports/schema/export.schema.json`` (docs/export-schema.md).

The document is written incrementally: the case, the information and each source's description
are small and dumped whole; the records are read from the stored results and written one by one,
a line each, so memory stays flat whatever their number.
"""

from __future__ import annotations

import io
import json
import logging
import math
from dataclasses import asdict
from typing import IO, Any

from dsar.exports.content import CollectionContent, ExportContent, ExportRecord, SourceContent
from dsar.exports.supplementary import StatementContent

logger = logging.getLogger(__name__)

FORMAT = "dsar-export"
#: Bytes gathered before a write to the stream (small writes to a ZIP member are slow).
CHUNK = 64 * 1024


class TextSink:
    """Buffers text and writes it to a text or a binary stream (UTF-8): a writer's output
    goes out in chunks, never held whole."""

    def __init__(self, stream: IO):
        self.stream = stream
        self.binary = not isinstance(stream, io.TextIOBase)
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> None:
        """Queue ``text``; write the queue out once it reaches :data:`CHUNK`."""
        self.parts.append(text)
        self.size += len(text)
        if self.size >= CHUNK:
            self.flush()

    def flush(self) -> None:
        """Write out what is queued."""
        data = "".join(self.parts)
        self.parts, self.size = [], 0
        if data:
            self.stream.write(data.encode("utf-8") if self.binary else data)


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as strings (strict JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def dumps(value: Any, **options: Any) -> str:
    """Strict JSON text of ``value`` (UTF-8 characters kept as they are)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, **options)
    except ValueError:
        return json.dumps(_finite(value), ensure_ascii=False, allow_nan=False, **options)


def _coded(item) -> dict[str, str]:
    return {"code": item.code, "label": item.label}


def header(content: ExportContent, *, redactions: bool = True) -> dict[str, Any]:
    """Everything before the sources: format, case, controller, information, the person's
    supplementary statements, limitations (with the list of redactions last; without it if
    ``redactions`` is false)."""
    case = content.case
    info = content.information
    return {
        "format": FORMAT,
        "version": content.version,
        "scope": content.scope,
        "language": content.language,
        "generated_at": content.generated_at.isoformat().replace("+00:00", "Z"),
        "case": {
            "reference": case.reference,
            "kind": _coded(case.kind),
            "received_on": case.received_on.isoformat(),
            "due_on": case.due_on.isoformat(),
            "extended": case.extended,
            "requester_name": case.requester_name,
            "representative_name": case.representative_name,
        },
        "controller": asdict(content.controller),
        "summary": {
            "sources": len(content.sources),
            "sources_with_data": sum(1 for s in content.sources if s.record_count),
            "sources_not_searched": sorted(s.name for s in content.sources
                                           if s.status not in ("done", "skipped")),
            "records": content.record_count,
        },
        "information": {
            "found": info.found,
            "processing": [asdict(p) for p in info.processing],
            "categories": [_coded(c) for c in info.categories],
            "recipients": [asdict(r) for r in info.recipients],
            "rights": [asdict(r) for r in info.rights],
            "exercise": info.exercise,
            "complaint": asdict(info.complaint),
            "automated_decisions": info.automated_decisions,
        },
        "supplementary_statements": [statement_json(s) for s in content.statements],
        "limitations": {
            "retained": [asdict(r) for r in content.limitations.retained],
            "partial_refusal": content.limitations.partial_refusal,
            "redaction_marker": (content.limitations.redaction_marker
                                 if content.limitations.redactions else None),
            "redaction_notice": content.limitations.redaction_notice,
        } | ({"redactions": [asdict(r) for r in content.limitations.redactions]}
             if redactions else {}),
    }


def statement_json(statement: StatementContent) -> dict[str, Any]:
    """A supplementary statement (GDPR Art. 16) as the document holds it."""
    return asdict(statement) | {"recorded_on": statement.recorded_on.isoformat()}


def source_header(source: SourceContent) -> dict[str, Any]:
    """A source without its collections."""
    return {"name": source.name, "label": source.label, "kind": source.kind,
            "status": source.status, "notice": source.notice,
            "record_count": source.record_count}


def collection_header(collection: CollectionContent) -> dict[str, Any]:
    """A collection without its records."""
    def fields(items):
        return [{"name": f.name, "category": _coded(f.category)} for f in items]
    return {"name": collection.name, "record_count": collection.record_count,
            "fields": fields(collection.fields), "withheld_fields": fields(collection.withheld),
            "categories": [_coded(c) | {"records": n} for c, n in collection.categories],
            "erasure": collection.erasure, "retain_basis": collection.retain_basis,
            "retain_until": collection.retain_until}


def record_json(record: ExportRecord) -> dict[str, Any]:
    """One record as the document holds it."""
    return {"key": record.key, "fields": record.fields}


def _open(obj: dict[str, Any], key: str, depth: int, opener: str = "[") -> str:
    """``obj`` dumped with indentation at ``depth``, left open on a last member ``key``, an
    array to be filled (or whatever ``opener`` starts)."""
    pad = "  " * depth
    text = dumps(obj, indent=2)[:-1].rstrip().replace("\n", "\n" + pad)
    return f"{text}{',' if obj else ''}\n{pad}  {dumps(key)}: {opener}"


def _write_head(content: ExportContent, out: TextSink) -> None:
    """Everything before the sources, the redactions listed one by one (the records are read
    again to find them: they are never held)."""
    head = header(content, redactions=False)
    limitations = head.pop("limitations")
    out.write(_open(head, "limitations", 0, opener=""))
    out.write(_open(limitations, "redactions", 1))
    count = 0
    for redaction in content.limitations.redactions:
        out.write(("," if count else "") + "\n      " + dumps(asdict(redaction)))
        count += 1
    if count != len(content.limitations.redactions):
        raise ValueError(f"{count} redactions listed, {len(content.limitations.redactions)} "
                         "counted")
    out.write("\n    ]\n  },\n  \"sources\": [" if count else "]\n  },\n  \"sources\": [")


def write_json(content: ExportContent, stream: IO, *, what: str = "export.json") -> int:
    """Write ``export.json`` for ``content`` to ``stream`` (binary: UTF-8; or text), reading
    the records one by one. Returns the number of records written. Does not close the stream.
    ``what`` names the copy in the log (the package's file, or the PDF's attachment): each
    log line says one thing once."""
    out = TextSink(stream)
    _write_head(content, out)
    written = 0
    for s_index, source in enumerate(content.sources):
        out.write(("," if s_index else "") + "\n    " + _open(source_header(source),
                                                            "collections", 2))
        for c_index, (collection, records) in enumerate(source.grouped()):
            out.write(("," if c_index else "") + "\n        "
                      + _open(collection_header(collection), "records", 4))
            count = 0
            for record in records:
                out.write(("," if count else "") + "\n            " + dumps(record_json(record)))
                count += 1
            if count != collection.record_count:
                # The stored result changed between the count and the writing.
                raise ValueError(f"source {source.name}, collection {collection.name}: "
                                 f"{count} records written, {collection.record_count} counted")
            written += count
            out.write("\n          ]\n        }")
        out.write("\n      ]\n    }")
    out.write("\n  ]\n}\n")
    out.flush()
    logger.info("%s written: %d sources, %d records", what, len(content.sources), written)
    return written
