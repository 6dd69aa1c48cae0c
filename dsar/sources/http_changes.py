"""Carrying out an approved plan on an ``http`` source: the operations each collection declares
in ``sources.toml`` (``HttpConnector.carry_out``; see docs/sources.md).

```toml
[sources.crm.collections.contacts.operations]
delete = { method = "DELETE", path = "/api/v1/contacts/{key}" }
anonymize = { method = "PATCH", path = "/api/v1/contacts/{key}", item = "data" }
```

- ``delete``: ``method path`` for each key. A 2xx answer counts the record as changed; 404
  or 410 as absent (already gone: a second run reports every key absent).
- ``anonymize``: ``GET path`` first (``item``: where the record is in the answer; a list of
  one record there is taken as the record). 404 or 410: absent. The fields of the collection's
  ``anonymize`` policy get their final value (``null``, ``fixed:TEXT``, or the keyed hash of
  the current value); when every one already holds it the record is counted absent and
  nothing is sent, else ``method path`` sends them all as a JSON object and the record counts
  as changed. A field the answer omits is taken as null (many APIs leave nulls out). A value
  already shaped like the keyed hash (64 lower-case hexadecimal digits) is taken as hashed
  and kept: hashing it again would change it at every run.
- ``update``, ``restrict``, ``lift_restriction``, ``unsubscribe``: :mod:`.http_rights`.

Every request goes through the connector's client: the same credentials, TLS checks,
time-outs, rate limit, retries (429, 5xx, time-outs, connection errors) and back-off as its
searches. A key goes into the path URL-encoded; one that would change which path is
requested (``..``, a slash) is refused before any request. Messages and logs name the
request by its configured template (``DELETE /api/v1/contacts/{key}``), never the key, which
may be an identifier.

Collections are worked through children first: one searched by an identifier another
collection yields (a contact's notes, by the contact id) before that collection, so an API
that refuses to delete a record with related records still in place (HTTP 409) is asked in
an order it accepts. Results come back in the order of the operations given. A record two
collections list (the same contact found by e-mail and by customer id) is sent one request,
and counted changed in both when that request changed it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from dsar.sources.base import (
    Operation,
    OperationResult,
    OperationUnsupported,
    anonymized_value,
)
from dsar.sources.http_client import HttpClient
from dsar.sources.http_config import OPERATION_METHODS, HttpCollection, OperationSpec
from dsar.sources.http_rights import GONE, check_update, read_record, set_fields

logger = logging.getLogger(__name__)

#: What ``anonymized_value(action="hash")`` gives: HMAC-SHA-256 in hexadecimal.
HASHED_RE = re.compile(r"[0-9a-f]{64}")


def safe_path_segment(value: str) -> bool:
    """Whether ``value``, once URL-encoded, stays one path segment on any server. ``.`` and
    ``..`` are collapsed by clients and servers (``/contacts/../notes`` is ``/notes``), and
    many servers decode ``%2F`` and ``%5C`` back into separators before routing."""
    return value.strip() not in ("", ".", "..") and not any(c in value for c in "/\\")


def checked_steps(source: str, collections: list[HttpCollection], operations: list[Operation]
                  ) -> list[tuple[int, Operation, HttpCollection, OperationSpec]]:
    """(position in ``operations``, operation, collection, how the API does it), children
    first. Raises :class:`OperationUnsupported` before anything is sent when an operation is
    not declared, or a key cannot be put in the path."""
    by_name = {c.name: c for c in collections}
    depth = _depths(collections)
    steps = []
    for index, operation in enumerate(operations):
        collection = by_name.get(operation.collection)
        if collection is None:
            raise OperationUnsupported(f"source {source!r} has no collection "
                                       f"{operation.collection!r}")
        if operation.action not in OPERATION_METHODS:
            raise OperationUnsupported(f"the http connector cannot {operation.action!r} "
                                       f"(collection {operation.collection!r} of source "
                                       f"{source!r})")
        spec = collection.operations.get(operation.action)
        if spec is None:
            declared = ", ".join(sorted(collection.operations)) or "none"
            raise OperationUnsupported(
                f"collection {operation.collection!r} of source {source!r} declares no "
                f"{operation.action!r} operation in sources.toml (declared: {declared})")
        if operation.action == "anonymize" and not operation.anonymize:
            raise OperationUnsupported(f"anonymize on collection {operation.collection!r} of "
                                       f"source {source!r} names no field")
        if operation.action == "update":
            check_update(source, collection, operation)
        if not all(safe_path_segment(key) for key in operation.keys):
            # Not skipped silently: the record would stay. The key itself is never quoted.
            raise OperationUnsupported(
                f"a key of collection {operation.collection!r} cannot be put in "
                f"{spec.path} (empty, '.', '..' or holding a slash); nothing was sent")
        steps.append((index, operation, collection, spec))
    steps.sort(key=lambda step: (-depth[step[2].name], step[0]))
    return steps


def carry_out(client: HttpClient, source: str,
              steps: list[tuple[int, Operation, HttpCollection, OperationSpec]],
              hash_key: bytes) -> list[OperationResult]:
    """Send every step's requests; one result per operation, in the operations' order.
    Raises :class:`SourceError` (without personal data) when the API fails; what was done
    stays done, and a second run counts it absent."""
    results: dict[int, OperationResult] = {}
    # Two collections may list the same record (contacts found by e-mail and by customer
    # id): the request is sent once, and each counts what this run did to it.
    outcomes: dict[tuple[Any, ...], bool] = {}
    for index, operation, _collection, spec in steps:
        result = OperationResult(operation.collection, operation.action,
                                 details=spec.template)
        policy = tuple(sorted(operation.anonymize.items()))
        for key in operation.keys:
            path = spec.path.replace("{key}", quote(key, safe=""))
            values = json.dumps(operation.values.get(key), sort_keys=True, default=str)
            request = (operation.action, spec.method, path, policy, values)
            if request not in outcomes:
                if operation.action == "delete":
                    done = client.request(spec.method, spec.template, path, missing=GONE)
                elif operation.action == "anonymize":
                    done = _anonymize(client, spec, path, operation.anonymize, hash_key)
                else:  # update, restrict, lift_restriction, unsubscribe
                    done = set_fields(client, operation, spec, key, path)
                outcomes[request] = done is not None
            if outcomes[request]:
                result.changed += 1
            else:
                result.absent += 1
        results[index] = result
        logger.info("source %s: %s on %s: %d changed, %d absent", source, operation.action,
                    operation.collection, result.changed, result.absent)
    return [results[i] for i in sorted(results)]


def _anonymize(client: HttpClient, spec: OperationSpec, path: str, policy: Mapping[str, str],
               hash_key: bytes) -> Any:
    """Read the record, send its anonymised fields if one differs; None when the record is
    gone or already anonymised (nothing sent), else the API's answer."""
    record = read_record(client, spec, path)
    if record is None:
        return None
    target = anonymized_fields(record, policy, hash_key)
    if all(record.get(name) == value for name, value in target.items()):
        return None
    return client.request(spec.method, spec.template, path, body=target, missing=GONE)


def anonymized_fields(record: Mapping[str, Any], policy: Mapping[str, str], hash_key: bytes
                      ) -> dict[str, Any]:
    """The final value of each field of ``policy`` for ``record`` (a field it lacks is null).
    A value already shaped like the keyed hash is kept, so a second run changes nothing."""
    target = {}
    for name, action in policy.items():
        value = record.get(name)
        if action == "hash" and isinstance(value, str) and HASHED_RE.fullmatch(value):
            target[name] = value
        else:
            target[name] = anonymized_value(action, value, hash_key)
    return target


def _depths(collections: list[HttpCollection]) -> dict[str, int]:
    """How far down each collection is: 0 when searched by an identifier no other collection
    yields (an e-mail address), else one more than the deepest collection yielding it."""
    parents = {c.name: {o.name for o in collections
                        if o.name != c.name and c.identifier_type in o.config.yields}
               for c in collections}

    def depth(name: str, seen: frozenset[str]) -> int:
        # ``seen`` breaks cycles (two collections yielding each other's identifier).
        above = parents[name] - seen
        return 1 + max(depth(p, seen | {name}) for p in above) if above else 0

    return {name: depth(name, frozenset()) for name in parents}
