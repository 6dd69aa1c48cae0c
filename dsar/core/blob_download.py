"""Sending a decrypted blob to a browser as a file, without holding it in memory."""

from __future__ import annotations

from flask import Response

CHUNK = 64 * 1024


def streamed_zip(reader, size: int, filename: str) -> Response:
    """A ZIP download read from ``reader`` (a ``storage.reader``, closed at the end) chunk by
    chunk; never cached by the browser or a proxy."""

    def chunks():
        with reader:
            while block := reader.read(CHUNK):
                yield block

    response = Response(chunks(), mimetype="application/zip")
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    response.headers["Content-Length"] = str(size)
    response.headers["Cache-Control"] = "no-store"
    return response
