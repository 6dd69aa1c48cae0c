"""Small helpers shared by the tests."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

CSRF_PATTERN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                          r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_PATTERN.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


def access_form(**overrides) -> dict:
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
    """GET the form page for its CSRF token, then POST ``data`` (multipart)."""
    page = client.get(path)
    assert page.status_code == 200
    payload = {"csrf_token": csrf_from(page.get_data(as_text=True)), **data}
    return client.post(path, data=payload, content_type="multipart/form-data", **kwargs)


def path_of(url: str) -> str:
    return urlsplit(url).path
