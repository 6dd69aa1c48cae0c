"""export.json as an attachment inside report.pdf, within a memory limit.

WeasyPrint reads an attachment whole and pydyf compresses it in memory, so export.json is
attached only up to ``PDF_ATTACHMENT_MAX_BYTES``: it is written into a buffer that gives up past
that size, and a larger one stays next to the report in the package (the letter says so).
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

from flask import current_app
from flask_babel import gettext
from weasyprint import Attachment
from weasyprint.urls import URLFetcher

from dsar.exports.content import ExportContent
from dsar.exports.json_export import write_json
from dsar.exports.package import EXPORT_JSON

logger = logging.getLogger(__name__)


class _TooLarge(Exception):
    """export.json is larger than the attachment limit."""


class _CappedBuffer(io.BytesIO):
    """An in-memory file that refuses to grow past ``limit`` bytes."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def write(self, data) -> int:
        if self.tell() + len(data) > self.limit:
            raise _TooLarge()
        return super().write(data)


def json_attachment_of(content: ExportContent, json_attachment: bytes | str | os.PathLike | None,
                fetcher: URLFetcher) -> Attachment | None:
    """``export.json`` as a PDF attachment: the bytes or file given, else written here; None
    when it is larger than ``PDF_ATTACHMENT_MAX_BYTES`` (it stays next to the report)."""
    options = dict(name=EXPORT_JSON, url_fetcher=fetcher, relationship="Data",
                   description=gettext("Your complete data, machine-readable (JSON)"),
                   created=content.generated_at, modified=content.generated_at)
    if isinstance(json_attachment, str | os.PathLike):
        return Attachment(filename=Path(json_attachment), **options)
    if json_attachment is None:
        # WeasyPrint reads an attachment whole: written to memory, not to a plaintext file,
        # and only up to the limit, so memory stays bounded.
        buffer = _CappedBuffer(int(current_app.config["PDF_ATTACHMENT_MAX_BYTES"]))
        try:
            write_json(content, buffer, what="export.json attached to report.pdf")
        except _TooLarge:
            logger.info("export.json larger than the attachment limit: not attached")
            return None
        json_attachment = buffer.getvalue()
    return Attachment(string=bytes(json_attachment), **options)
