"""Checking an uploaded proof by what it contains, not by what it is called."""

from __future__ import annotations

import io
import warnings

from PIL import Image

#: The accepted document types, each with the file extension it is downloaded under.
ACCEPTED_TYPES = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


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


def check_upload(data: bytes, *, max_bytes: int) -> str:
    """Return the content type of an acceptable upload, or raise ``UploadRejected``."""
    if not data:
        raise UploadRejected("empty")
    if len(data) > max_bytes:
        raise UploadRejected("too_large")
    content_type = sniff_content_type(data)
    if content_type is None:
        raise UploadRejected("bad_type")
    return content_type
