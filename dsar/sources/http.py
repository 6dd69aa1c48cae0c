"""The ``http`` connector kind: a JSON REST API (see docs/sources.md).

```toml
[sources.crm]
kind = "http"
base_url = "https://crm.example.fr"
auth = { type = "bearer", token_env = "CRM_TOKEN" }   # or header / basic, see below
timeout = 10            # seconds per request
retries = 3             # attempts beyond the first (429, 5xx, time-outs, connection errors)
backoff = 0.5           # base of the exponential back-off, seconds
max_retry_after = 30    # a longer Retry-After fails the search (the job is retried later)
rate_limit = 5          # at most 5 requests per second (optional)

[sources.crm.collections.contacts]
path = "/api/v1/contacts"
params = { email = "{email}" }          # placeholders are identifier types of `match`
items = "data"                          # dotted key of the list (default: body or "data")
key = "id"                              # the item's stable id
pagination = { type = "page", param = "page", size_param = "per_page", size = 100, start = 1 }
match = { email = "email" }
yields = { crm_contact_id = "id" }

[sources.crm.collections.notes]
path = "/api/v1/contacts/{crm_contact_id}/notes"   # searched once contacts gave the id
key = "id"
pagination = { type = "cursor", param = "cursor", next = "meta.next_cursor" }
match = { crm_contact_id = "contact_id" }

[sources.crm.collections.contacts.operations]   # what erasure may do (optional)
delete = { method = "DELETE", path = "/api/v1/contacts/{key}" }
anonymize = { method = "PATCH", path = "/api/v1/contacts/{key}" }  # item = "data": see below
```

``auth`` is ``{ type = "bearer", token_env = "VAR" }``, ``{ type = "header", header =
"X-Api-Key", token_env = "VAR" }`` or ``{ type = "basic", username_env = "VAR1", password_env =
"VAR2" }``: secrets only ever come from environment variables, read when searching.

Each collection's path and parameters use placeholders of exactly one identifier type, one its
``match`` names: one request series (all pages) per known value of that type. The API's own
search may be fuzzy, so every item is checked again here: kept only when a ``match`` field
equals one of the person's identifiers (e-mails without regard to case). A 404 on a path
holding a placeholder means "nobody here". Collections searched by an identifier another
collection yields (contacts -> notes) are searched again, round after round, until nothing new
appears.

``operations`` declares how the API deletes or anonymises one record, ``{key}`` being the
record's key (:mod:`dsar.sources.http_changes` says how each is carried out): ``method`` one of
DELETE, PATCH, PUT, POST (anonymize: not DELETE), ``path`` holding ``{key}`` and no other
placeholder; for ``anonymize``, ``item`` is the dotted key of the record in the answer to
``GET path`` (default: the body). An operation a collection does not declare is reported as
unsupported when a plan asks for it, never skipped. ``update``, ``restrict``,
``lift_restriction`` and ``unsubscribe`` (rectification, restriction, objection) are declared
the same way (:mod:`dsar.sources.http_rights`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from dsar.sources import http_rights
from dsar.sources.base import (
    FLAG_ACTIONS,
    CollectionConfig,
    Connector,
    Discovery,
    Identity,
    Operation,
    OperationResult,
    Record,
    SourceConfig,
    SourceError,
    normalize_identifier,
)
from dsar.sources.http_changes import carry_out, checked_steps, safe_path_segment
from dsar.sources.http_client import HttpClient, Listing
from dsar.sources.http_config import (
    OPERATION_METHODS,
    AuthSpec,
    HttpCollection,
    parse_collection,
    parse_source,
)

logger = logging.getLogger(__name__)

#: Rounds of the internal fixpoint (identifiers yielded, then searched again).
MAX_ROUNDS = 10
#: What a verification reads back by key rather than by a new search.
SETTING_ACTIONS = ("update", *FLAG_ACTIONS)


class HttpConnector(Connector):
    """Searches the collections of one JSON REST API for a person (``kind = "http"``)."""

    kind = "http"
    SOURCE_KEYS = frozenset({"base_url", "auth", "timeout", "retries", "backoff",
                             "max_retry_after", "rate_limit"})
    COLLECTION_KEYS = frozenset({"path", "params", "items", "key", "pagination",
                                 "operations"})

    def __init__(self, source: SourceConfig, **kwargs: Any):
        super().__init__(source, **kwargs)
        self.settings = parse_source(source)
        self.collections = [parse_collection(source, c)
                            for _, c in sorted(source.collections.items())]
        #: Every wait goes through here (tests record the waits instead of sleeping).
        self.sleep = time.sleep
        self.client = HttpClient(
            self.settings.base_url, timeout=self.settings.timeout,
            retries=self.settings.retries, backoff=self.settings.backoff,
            max_retry_after=self.settings.max_retry_after, rate_limit=self.settings.rate_limit,
            sleep=lambda seconds: self.sleep(seconds))

    @classmethod
    def check_config(cls, source: SourceConfig) -> None:
        """Every key of the source and its collections well typed; placeholders of exactly
        one identifier type per collection, one its ``match`` names."""
        parse_source(source)
        for _, collection in sorted(source.collections.items()):
            parse_collection(source, collection)

    def discover(self, identity: Identity) -> Discovery:
        """The items of every collection that belong to the person, and what they yield."""
        self._authenticate()
        sent_before = self.client.requests
        fetched: dict[str, list[dict[str, Any]]] = {c.name: [] for c in self.collections}
        searched: dict[str, set[str]] = {c.name: set() for c in self.collections}
        known = identity
        for _ in range(MAX_ROUNDS):
            matched = self._matched(fetched, known)
            grown = known.union(_yields(matched))
            pending = [(c, value) for c in self.collections
                       for value in sorted(grown.get(c.identifier_type) - searched[c.name])]
            if grown.to_json() == known.to_json() and not pending:
                break
            known = grown
            for collection, value in pending:
                searched[collection.name].add(value)
                fetched[collection.name].extend(self.client.fetch_all(_listing(collection,
                                                                               value)))
        else:
            logger.warning("source %s: search stopped after %d rounds with new identifiers "
                           "left", self.source.name, MAX_ROUNDS)
        matched = self._matched(fetched, known)
        records: dict[tuple[str, str], Record] = {}
        for collection, item in matched:
            key = _record_key(collection, item)
            records.setdefault((collection.name, key),
                               Record(collection.name, key, collection.config.visible(item)))
        logger.info("source %s: %d request(s), %s", self.source.name,
                    self.client.requests - sent_before,
                    ", ".join(f"{c.name}={sum(1 for n, _ in records if n == c.name)}"
                              for c in self.collections))
        return Discovery(records=list(records.values()),
                         identifiers=_yields(matched)).sorted()

    def carry_out(self, operations: list[Operation], *, hash_key: bytes
                  ) -> list[OperationResult]:
        """Each operation through the endpoint its collection declares (``operations`` in
        sources.toml; :mod:`dsar.sources.http_changes`), with the searches' credentials and
        retries. Every operation is checked before the first request (one not declared:
        :class:`OperationUnsupported`); there is no transaction across requests, so a failure
        mid-way leaves what was done, which a second run counts as absent."""
        steps = checked_steps(self.source.name, self.collections, operations)
        if any(operation.keys for operation in operations):
            self._authenticate()
        return carry_out(self.client, self.source.name, steps, hash_key)

    @classmethod
    def supports(cls, source: SourceConfig, collection: CollectionConfig, action: str) -> bool:
        """Whether the collection declares ``operations.<action>`` (checked at start-up)."""
        return action in OPERATION_METHODS and action in (
            collection.options.get("operations") or {})

    def remaining(self, operations: list[Operation]) -> dict[str, int]:
        """Deletes and anonymisations: a new search (:meth:`Connector.remaining`). Updates,
        restrictions…: each record read again by key (``GET`` the operation's path), counted
        when a field does not hold its wanted value; without a body, nothing to read."""
        setting = [o for o in operations if o.action in SETTING_ACTIONS]
        erasing = [o for o in operations if o.action not in SETTING_ACTIONS]
        counts = super().remaining(erasing) if erasing else {}
        if any(o.keys for o in setting):
            steps = checked_steps(self.source.name, self.collections, setting)
            self._authenticate()
            for name, count in http_rights.remaining(self.client, steps).items():
                counts[name] = counts.get(name, 0) + count
        return counts

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()

    def _authenticate(self) -> None:
        """Read the credentials from the environment (never from the file)."""
        auth: AuthSpec | None = self.settings.auth
        if auth is None:
            return
        if auth.type == "basic":
            self.client.authenticate({}, (self._secret(auth.username_env, "username_env"),
                                          self._secret(auth.password_env, "password_env")))
        elif auth.type == "bearer":
            token = self._secret(auth.token_env, "token_env")
            self.client.authenticate({"Authorization": f"Bearer {token}"}, None)
        else:
            self.client.authenticate({auth.header: self._secret(auth.token_env, "token_env")},
                                     None)

    def _secret(self, variable: str, key: str) -> str:
        value = self.environ.get(variable, "").strip()
        if not value:
            # Name the variable, never a value (this message is shown and logged).
            raise SourceError(f"source {self.source.name!r}: the environment variable "
                              f"{variable} (auth.{key}) is not set")
        return value

    def _matched(self, fetched: dict[str, list[dict[str, Any]]], known: Identity
                 ) -> list[tuple[HttpCollection, dict[str, Any]]]:
        """The items fetched that really are the person's, checked here whatever the API's
        own search did: a ``match`` field equal to one of the known identifiers."""
        return [(c, item) for c in self.collections for item in fetched[c.name]
                if _is_theirs(c.config, item, known)]


def _listing(collection: HttpCollection, value: str) -> Listing:
    """The request series for one identifier value: URL-encoded in the path, given as is to
    the query parameters (httpx encodes those). A value that would change which path is
    requested is refused (``SourceError``), whoever supplied it."""
    placeholder = "{" + collection.identifier_type + "}"
    if placeholder in collection.path and not safe_path_segment(value):
        # Not skipped silently: the person's data in this collection would go unsearched.
        raise SourceError(f"an identifier searched in {collection.path} cannot be put in the "
                          "path (empty, '.', '..' or holding a slash); nothing was requested "
                          "with it")
    params = {name: v.replace(placeholder, value) if isinstance(v, str) else v
              for name, v in collection.params.items()}
    return Listing(template=collection.path,
                   path=collection.path.replace(placeholder, quote(value, safe="")),
                   params=params, items=collection.items, pagination=collection.pagination,
                   missing_ok=placeholder in collection.path)


def _is_theirs(config: CollectionConfig, item: dict[str, Any], known: Identity) -> bool:
    for kind, field_name in config.match.items():
        value = normalize_identifier(kind, item.get(field_name))
        if value is not None and value in known.get(kind):
            return True
    return False


def _yields(matched: Iterable[tuple[HttpCollection, dict[str, Any]]]) -> Identity:
    return Identity.from_pairs(pair for c, item in matched for pair in c.config.yielded(item))


def _record_key(collection: HttpCollection, item: dict[str, Any]) -> str:
    value = item.get(collection.key)
    if value is None or isinstance(value, dict | list | bool) or value == "":
        raise SourceError(f"an item of {collection.path} has no usable {collection.key!r} "
                          f"(the collection's key)")
    return str(value)
