"""Forms through the real pages: the CSRF token of a page, a valid access request, a multipart
POST, and the path of an e-mailed link."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

CSRF_PATTERN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                          r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on the page."""
    match = CSRF_PATTERN.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


def access_form(**overrides) -> dict:
    """A valid access request form (Camille Martin); ``overrides`` replace fields, ``None``
    leaves a field out."""
    data = {
        "full_name": "Camille Martin",
        "email": "camille.martin@example.fr",
        "customer_number": "CUST-1042",
        "phone": "06 12 34 56 78",
        "message": "Je souhaite une copie de mes données.",
        "declaration": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post_form(client, path: str, data: dict, **kwargs):
    """GET the form page for its CSRF token, then POST ``data`` as multipart, encoded in memory
    (the test client would spool a large body to a temporary file it never closes). A file is
    given as ``(BytesIO, filename)``."""
    page = client.get(path)
    assert page.status_code == 200
    payload = {"csrf_token": csrf_from(page.get_data(as_text=True))}
    for name, value in data.items():
        if isinstance(value, tuple):
            value = FileStorage(value[0], filename=value[1])
        payload[name] = value
    boundary, body = encode_multipart(payload)
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}",
                       **kwargs)


def path_of(url: str) -> str:
    """The path of an e-mailed link, for the test client."""
    return urlsplit(url).path
