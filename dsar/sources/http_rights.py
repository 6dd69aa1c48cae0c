"""Rectification, restriction and objection on an ``http`` source: ``update``, ``restrict``,
``lift_restriction`` and ``unsubscribe``, as each collection declares them in
``sources.toml`` (docs/sources.md); dispatched by :mod:`.http_changes`.

```toml
[sources.crm.collections.contacts.operations]
update = { method = "PATCH", path = "/contacts/{key}", item = "data" }
restrict = { method = "PATCH", path = "/contacts/{key}", body = { restricted = true } }
lift_restriction = { method = "PATCH", path = "/contacts/{key}", body = { restricted = false } }
unsubscribe = { method = "POST", path = "/contacts/{key}/unsubscribe" }   # no body
```

- ``update``: ``GET path`` first (``item``: where the record is in the answer); 404 or 410:
  absent. Only the fields whose value differs from the new one are sent (``method path``, a
  JSON object); none differs: absent, nothing sent.
- with a ``body``: the same, the body's fields against the record; the whole body is sent
  when one differs.
- without a ``body``: ``method path`` is sent; 2xx changed, 404 or 410 absent.

Values are compared leniently (:func:`~.compare.same_value`: ``true`` = ``1`` = ``"1"``).
The verification (:func:`remaining`) reads each record again the same way; an operation
without a body cannot be read back, and counts nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from dsar.sources.base import Operation, OperationUnsupported, SourceError
from dsar.sources.compare import same_value
from dsar.sources.http_client import HttpClient, dotted
from dsar.sources.http_config import HttpCollection, OperationSpec

#: Statuses meaning "no such record": already deleted.
GONE = (404, 410)


def check_update(source: str, collection: HttpCollection, operation: Operation) -> None:
    """Refuse (:class:`OperationUnsupported`, before any request) an update that does not
    give new values for each of its keys and only for them, or names a field that is excluded
    or the collection's key. Names the field, never a value."""
    where = f"collection {operation.collection!r} of source {source!r}"
    if set(operation.values) != set(operation.keys) or not all(operation.values.values()):
        raise OperationUnsupported(f"update on {where} must give new values for each of its "
                                   "records, and only for them")
    for name in sorted({n for fields in operation.values.values() for n in fields}):
        if name in collection.config.exclude or name == collection.key or not name.strip():
            raise OperationUnsupported(f"field {name!r} of {where} cannot be updated "
                                       "(excluded, or the record's key)")


def wanted(operation: Operation, spec: OperationSpec, key: str) -> Mapping[str, Any] | None:
    """The fields record ``key`` must hold after the operation; None when it cannot be read
    back (an operation without a body)."""
    if operation.action == "update":
        return operation.values.get(key, {})
    return spec.body


def read_record(client: HttpClient, spec: OperationSpec, path: str) -> dict[str, Any] | None:
    """The record at ``GET path`` (``spec.item``: where it is in the answer; a list of one
    record there is taken as the record), None when the API says it is gone."""
    template = f"GET {spec.path}"
    answer = client.request("GET", template, path, missing=GONE)
    if answer is None:
        return None
    try:
        body = answer.json(parse_constant=str)
    except ValueError:
        raise SourceError(f"the answer from {template} is not JSON "
                          f"(HTTP {answer.status_code})") from None
    record = body if spec.item is None else dotted(body, spec.item, None)
    if isinstance(record, list) and len(record) == 1:
        record = record[0]
    if not isinstance(record, dict):
        where = f" at {spec.item!r}" if spec.item else ""
        raise SourceError(f"the answer from {template} holds no record{where}")
    return record


def differing(record: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``fields`` the record does not hold yet (a field it omits is null)."""
    return {name: value for name, value in fields.items()
            if not same_value(record.get(name), value)}


def set_fields(client: HttpClient, operation: Operation, spec: OperationSpec, key: str,
               path: str) -> Any:
    """Carry out ``update``, ``restrict``… on one record; the API's answer when it changed
    something, None when the record is gone or already as wanted (nothing sent)."""
    fields = wanted(operation, spec, key)
    if fields is None:  # a request alone: the API knows what it means
        return client.request(spec.method, spec.template, path, missing=GONE)
    record = read_record(client, spec, path)
    if record is None:
        return None
    changes = differing(record, fields)
    if not changes:
        return None
    # An update sends only what differs; a body is sent whole (the API's own unit).
    body = changes if operation.action == "update" else dict(fields)
    return client.request(spec.method, spec.template, path, body=body, missing=GONE)


def remaining(client: HttpClient,
              steps: list[tuple[int, Operation, HttpCollection, OperationSpec]]
              ) -> dict[str, int]:
    """Per collection, how many of the records the steps name do not hold their wanted
    fields (read again by ``GET path``); records gone, and operations without a body, count
    nothing."""
    counts: dict[str, int] = {}
    for _, operation, _collection, spec in steps:
        for key in operation.keys:
            fields = wanted(operation, spec, key)
            if fields is None:
                continue
            record = read_record(client, spec, spec.path.replace("{key}", quote(key, safe="")))
            if record is not None and differing(record, fields):
                counts[operation.collection] = counts.get(operation.collection, 0) + 1
    return counts
