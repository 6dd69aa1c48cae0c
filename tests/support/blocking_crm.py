"""A CRM over HTTP whose first search hangs until released: the worker that sent it is then
mid-search, for the tests that kill it there (``tests/data/gathering/crm.toml`` reads it)."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlparse

from tests.support.gathering import EMAIL
from tests.support.local_http import JsonHandler, LocalServer

#: The person, and a namesake whose address contains the person's: the CRM matches loosely,
#: the connector keeps the exact address only.
CONTACTS = [{"id": 7, "email": EMAIL, "name": "Camille Martin"},
            {"id": 8, "email": "camille.martin@autre.example", "name": "Camille Martin"}]


class BlockingCrm(LocalServer):
    """The CRM at :attr:`url`. Its first search sets :attr:`arrived`, then waits until
    :attr:`release` is set; :attr:`hits` counts the searches."""

    def __init__(self):
        self.arrived, self.hits = threading.Event(), 0
        crm = self

        class Handler(JsonHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                crm.hits += 1
                if crm.hits == 1:
                    crm.arrived.set()
                    crm.release.wait(120)
                wanted = parse_qs(urlparse(self.path).query).get("email", [""])[0].lower()
                self.answer(200, {"data": [c for c in CONTACTS
                                           if wanted in c["email"].lower()]})

        super().__init__(Handler)
