"""A CRM over HTTP whose first DELETE deletes the record, then hangs before answering until
released: the worker that sent it is then mid-step with the effect done and its answer not yet
received — the worst moment to die — for the test that kills it there. Searched by e-mail
loosely ("contains", as real CRMs do); each DELETE says 404 once the record is gone."""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qs, urlparse

from tests.support.local_http import JsonHandler, LocalServer

#: The source's block in sources.toml (``${crm_url}``: :attr:`BlockingDeleteApi.url`).
SOURCE = """
[sources.crm]
kind = "http"
label = "CRM"
base_url = "${crm_url}"
timeout = 60
retries = 0

[sources.crm.collections.contacts]
label = "Contacts"
path = "/contacts"
params = { email = "{email}" }
key = "id"
match = { email = "email" }
erasure = "delete"
operations.delete = { method = "DELETE", path = "/contacts/{key}" }
fields = { id = "identification", email = "contact", name = "identification" }
"""
_ONE = re.compile(r"^/contacts/(\d+)$")


class BlockingDeleteApi(LocalServer):
    """The CRM at :attr:`url`, holding ``contacts`` (dicts with an integer ``id``). Its first
    DELETE removes the record, sets :attr:`arrived`, then waits until :attr:`release` is set
    before answering. :attr:`deleted` lists the ids really removed, in order;
    :attr:`delete_requests` counts every DELETE."""

    def __init__(self, contacts: list[dict]):
        self.contacts = {c["id"]: dict(c) for c in contacts}
        self.arrived = threading.Event()
        self.deleted: list[int] = []
        self.delete_requests = 0
        lock = threading.Lock()
        api = self

        class Handler(JsonHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                wanted = parse_qs(urlparse(self.path).query).get("email", [""])[0].lower()
                with lock:
                    found = [c for c in api.contacts.values() if wanted in c["email"].lower()]
                self.answer(200, {"data": found})

            def do_DELETE(self):  # noqa: N802
                match = _ONE.match(urlparse(self.path).path)
                if match is None:
                    self.answer(404, {"error": "no such route"})
                    return
                with lock:
                    api.delete_requests += 1
                    first = api.delete_requests == 1
                    gone = api.contacts.pop(int(match.group(1)), None)
                    if gone is not None:
                        api.deleted.append(gone["id"])
                if first:  # done, and the answer held back: the caller may die now
                    api.arrived.set()
                    api.release.wait(120)
                if gone is None:
                    self.answer(404, {"error": "no such contact"})
                else:
                    self.answer(200, {"deleted": gone["id"]})

        super().__init__(Handler)
