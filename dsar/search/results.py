"""What a search of one source found, as stored: canonical JSON lines in an encrypted blob (a
header with the identifiers the records carry and their count, then one record per line), and
reading it back whole or record by record."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

from dsar.core import storage
from dsar.models import SourceResult
from dsar.sources.base import Discovery, Identity


def result_lines(found: Discovery) -> Iterator[str]:
    """A search result as canonical JSON lines: a header (the identifiers the records carry,
    the record count), then one record per line. The same records give the same bytes, and a
    reader can go through 100,000 records without holding them."""
    yield _canonical({"identifiers": found.identifiers.to_json(),
                      "record_count": len(found.records)})
    for record in found.records:
        yield _canonical(record.to_json())


def _canonical(value: dict) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


def result_document(found: Discovery) -> bytes:
    """The bytes :func:`result_lines` stores (tests compare sums with it)."""
    return "".join(result_lines(found)).encode()


def result_of(row: SourceResult) -> dict:
    """The decrypted result of a finished search, whole: ``records`` and ``identifiers``
    (use :func:`iter_records` for large results)."""
    header, records, _ = _open_result(row)
    return {"identifiers": header.get("identifiers", {}), "records": list(records)}


def iter_records(row: SourceResult) -> Iterator[dict]:
    """The records of a finished search, one at a time (``collection``, ``key``, ``fields``),
    decrypted segment by segment: memory stays flat whatever their number."""
    return _open_result(row)[1]


def _open_result(row: SourceResult) -> tuple[dict, Iterator[dict], io.TextIOBase | None]:
    if not row.result_blob_id:
        return {}, iter(()), None
    text = io.TextIOWrapper(storage.reader(row.result_blob_id), encoding="utf-8")
    try:
        header = json.loads(text.readline() or "{}")
    except (ValueError, storage.BlobError):
        text.close()
        raise
    if isinstance(header.get("records"), list):  # a result stored whole (before JSON lines)
        text.close()
        return header, iter(header["records"]), None

    def records() -> Iterator[dict]:
        try:
            for line in text:
                yield json.loads(line)
        finally:
            text.close()

    return header, records(), text


def yielded_identifiers(row: SourceResult) -> Identity:
    header, _, text = _open_result(row)
    if text is not None:
        text.close()
    return Identity.from_json(header.get("identifiers", {}))
