"""Checking an uploaded proof by what it contains, not by what it is called."""

from __future__ import annotations

import io
import re
import warnings

from PIL import Image

#: The accepted document types, each with the file extension it is downloaded under.
ACCEPTED_TYPES = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
#: An e-mail as saved by a mail client (RFC 5322, ``.eml``): accepted only where staff attach
#: the e-mail a request came in (``check_upload(..., email=True)``), never from the portal.
EMAIL_TYPE = "message/rfc822"
#: Every type a stored document can have, with the extension it is downloaded under.
STORED_TYPES = {**ACCEPTED_TYPES, EMAIL_TYPE: "eml"}

#: A header line: a field name (printable ASCII but the colon), a colon.
_HEADER = re.compile(rb"^[!-9;-~]+:")
#: The header section read, at most: a real one is a few kilobytes.
_EMAIL_HEAD_MAX = 256 * 1024


class UploadRejected(ValueError):
    """The upload is not an accepted document. ``code`` says why (for the user's message)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def sniff_content_type(data: bytes) -> str | None:
    """The accepted type the bytes really are, or None. Images are decoded to be sure."""
    if data.startswith(b"%PDF-"):
        return "application/pdf" if b"%%EOF" in data[-2048:] else None
    if data.startswith(b"\xff\xd8\xff"):
        expected = "JPEG"
        mime = "image/jpeg"
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        expected = "PNG"
        mime = "image/png"
    else:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format != expected:
                    return None
                image.verify()
    except Exception:  # any decoding failure means "not a usable image"
        return None
    return mime


def looks_like_email(data: bytes) -> bool:
    """Whether ``data`` is an e-mail message (RFC 5322): a header section of well-formed
    lines (a mail client's ``From `` separator line allowed first), ended by an empty line,
    with the two headers every message has (``From`` and ``Date``). Read by its headers,
    never by its name."""
    end = data.find(b"\n\n", 0, _EMAIL_HEAD_MAX)
    end_crlf = data.find(b"\r\n\r\n", 0, _EMAIL_HEAD_MAX)
    ends = [e for e in (end, end_crlf) if e >= 0]
    if not ends or b"\0" in data[:min(ends)]:
        return False
    lines = data[:min(ends)].replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]  # the mbox separator some clients keep in a saved message
    if not lines or not _HEADER.match(lines[0]):
        return False
    names = set()
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            continue  # a folded header's continuation
        if not _HEADER.match(line):
            return False
        names.add(line.split(b":", 1)[0].lower())
    return {b"from", b"date"} <= names


def check_upload(data: bytes, *, max_bytes: int, email: bool = False) -> str:
    """Return the content type of an acceptable upload, or raise ``UploadRejected``;
    ``email`` also accepts an e-mail message (``EMAIL_TYPE``)."""
    if not data:
        raise UploadRejected("empty")
    if len(data) > max_bytes:
        raise UploadRejected("too_large")
    if email and looks_like_email(data):
        return EMAIL_TYPE
    content_type = sniff_content_type(data)
    if content_type is None:
        raise UploadRejected("bad_type")
    return content_type
