"""The keys of an ``http`` source and its collections in ``sources.toml``, read and checked:
a fault names the file, the key and what is wrong (``SourceConfigError``), at start-up."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from dsar.sources.base import FLAG_ACTIONS, CollectionConfig, SourceConfig
from dsar.sources.config import NAME_RE, unliftable, values_fault
from dsar.sources.http_client import Pagination, parse_pagination

ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: An HTTP header name (RFC 9110 token).
HEADER_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
AUTH_KEYS = {"bearer": ("token_env",), "header": ("header", "token_env"),
             "basic": ("username_env", "password_env")}
#: The operations a collection may declare, the methods each may use (anonymising and
#: updating send the fields, so never DELETE), and each one's keys. ``restrict``,
#: ``lift_restriction``, ``unsubscribe``: a ``body`` to send (never with DELETE), or none.
_FLAG = (("DELETE", "PATCH", "PUT", "POST"), ("method", "path", "item", "body"))
OPERATION_METHODS = {"delete": ("DELETE", "PATCH", "PUT", "POST"),
                     "anonymize": ("PATCH", "PUT", "POST"),
                     # Only the fields that differ are sent: a PUT would replace the record
                     # with them, wiping the rest of it.
                     "update": ("PATCH", "POST"),
                     **dict.fromkeys(FLAG_ACTIONS, _FLAG[0])}
OPERATION_KEYS = {"delete": ("method", "path"), "anonymize": ("method", "path", "item"),
                  "update": ("method", "path", "item"), **dict.fromkeys(FLAG_ACTIONS, _FLAG[1])}


@dataclass(frozen=True)
class AuthSpec:
    """Which environment variables hold the credentials (never the credentials)."""

    type: str
    header: str = ""
    token_env: str = ""
    username_env: str = ""
    password_env: str = ""


@dataclass(frozen=True)
class HttpSettings:
    """A source's own keys, checked, with their defaults."""

    base_url: str
    auth: AuthSpec | None = None
    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5
    max_retry_after: float = 30.0
    rate_limit: float | None = None


@dataclass(frozen=True)
class OperationSpec:
    """How the API carries out one operation on one record: ``method`` on ``path`` (holding
    ``{key}``, the record's key); for ``anonymize`` and ``update`` (and an operation with a
    ``body``), ``item`` is the dotted key of the record in the answer to ``GET path`` (None:
    the body itself). ``body``: the fields ``restrict``… sets (None: a request alone)."""

    action: str
    method: str
    path: str
    item: str | None = None
    body: Mapping[str, Any] | None = None

    @property
    def template(self) -> str:
        """``DELETE /contacts/{key}``: names the request in messages, never the key."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class HttpCollection:
    """A collection's own keys, checked, with the one identifier type it is searched by."""

    config: CollectionConfig
    path: str
    identifier_type: str
    key: str
    params: Mapping[str, Any] = field(default_factory=dict)
    items: str | None = None
    pagination: Pagination = field(default_factory=Pagination)
    #: Operation name (``delete``, ``anonymize``, ``update``, ``restrict``…) -> how the API
    #: does it.
    operations: Mapping[str, OperationSpec] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The collection's name."""
        return self.config.name


def parse_source(source: SourceConfig) -> HttpSettings:
    """The source's keys, or :class:`SourceConfigError` naming the faulty one."""
    options = source.options
    base_url = options.get("base_url")
    if base_url is None:
        raise source.error("base_url", "missing: the API's address (https://…)")
    if not isinstance(base_url, str):
        raise source.error("base_url", "must be text (an http:// or https:// address)")
    parts = urlsplit(base_url.strip())
    try:
        parts.port  # noqa: B018 -- raises ValueError for a malformed port
    except ValueError:
        raise source.error("base_url", "malformed port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise source.error("base_url", "must be an http:// or https:// address")
    if "@" in parts.netloc:
        # Never quote the address: it holds a password.
        raise source.error("base_url", "no credentials in the address: use auth (environment "
                                       "variables)")
    if parts.query or parts.fragment:
        raise source.error("base_url", "no query or fragment (query parameters go in a "
                                       "collection's params)")

    def number(key: str, default: Any, ok: Any, fault: str) -> Any:
        if key not in options:
            return default
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not ok(value):
            raise source.error(key, fault)
        return value

    return HttpSettings(
        base_url=base_url.strip(), auth=_auth(source),
        timeout=float(number("timeout", 10.0, lambda v: 0 < v <= 600,
                             "must be a number of seconds, above 0 (at most 600)")),
        retries=number("retries", 3, lambda v: isinstance(v, int) and 0 <= v <= 10,
                       "must be a whole number from 0 to 10"),
        backoff=float(number("backoff", 0.5, lambda v: 0 <= v <= 60,
                             "must be a number of seconds from 0 to 60")),
        max_retry_after=float(number("max_retry_after", 30.0, lambda v: 0 <= v <= 600,
                                     "must be a number of seconds from 0 to 600")),
        rate_limit=number("rate_limit", None, lambda v: 0 < v <= 10_000,
                          "must be a number of requests per second, above 0"))


def _auth(source: SourceConfig) -> AuthSpec | None:
    raw = source.options.get("auth")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise source.error("auth", 'must be a table, e.g. { type = "bearer", token_env = "VAR" }')
    kind = raw.get("type")
    if kind not in AUTH_KEYS:
        raise source.error("auth.type", f"must be one of {', '.join(AUTH_KEYS)} (got {kind!r})")
    allowed = AUTH_KEYS[kind]
    for key in raw:
        if key != "type" and key not in allowed:
            raise source.error(f"auth.{key}", f"unknown key for type {kind} (allowed: "
                                              f"{', '.join(allowed)}; secrets come from "
                                              "environment variables only)")
    for key in allowed:
        value = raw.get(key)
        if value is None:
            raise source.error(f"auth.{key}", "missing")
        if key == "header":
            if not isinstance(value, str) or not HEADER_RE.match(value):
                raise source.error("auth.header", "must be an HTTP header name")
        elif not isinstance(value, str) or not ENV_RE.match(value):
            # Never quote it: someone may have pasted the secret itself here.
            raise source.error(f"auth.{key}", "must be the name of an environment variable "
                                              "(not the secret itself)")
    return AuthSpec(type=kind, **{k: raw[k] for k in allowed})


def parse_collection(source: SourceConfig, collection: CollectionConfig) -> HttpCollection:
    """A collection's keys, or :class:`SourceConfigError` naming the faulty one."""
    options = collection.options

    def error(key: str, fault: str) -> Exception:
        return source.error(f"collections.{collection.name}.{key}", fault)

    path = options.get("path")
    if path is None:
        raise error("path", "missing: the API path, e.g. /api/v1/contacts")
    if (not isinstance(path, str) or not path.startswith("/") or path.startswith("//")
            or any(c in path for c in "?# \t\r\n")):
        raise error("path", "must be a path on the API starting with / (query parameters go "
                            "in params)")
    types = _placeholders(path, collection, lambda fault: error("path", fault))
    params = options.get("params", {})
    if not isinstance(params, dict):
        raise error("params", "must be a table of query parameters")
    for name, value in params.items():
        if isinstance(value, str):
            types |= _placeholders(value, collection,
                                   lambda fault, n=name: error(f"params.{n}", fault))
        elif not isinstance(value, int | float):
            raise error(f"params.{name}", "must be text, a number or true/false")
    if not types:
        raise error("path", "no placeholder: the path or params must hold one, e.g. {email}, "
                            "so that the API is asked about this person only")
    if len(types) > 1:
        raise error("path", "placeholders of one identifier type only (got "
                            f"{', '.join(sorted(types))})")
    items = options.get("items")
    if items is not None and (not isinstance(items, str)
                              or not all(p.strip() for p in items.split("."))):
        raise error("items", "must be the (dotted) key of the list in the answer")
    key = options.get("key")
    if key is None:
        raise error("key", "missing: the item field holding its stable id")
    if not isinstance(key, str) or not key.strip():
        raise error("key", "must be non-empty text")
    if key in collection.exclude:
        raise error("key", f"field {key!r} is also excluded")
    pagination = parse_pagination(options.get("pagination"), error)
    for name in pagination.params():
        if name in params:
            raise error(f"params.{name}", "set by the pagination")
    return HttpCollection(config=collection, path=path, identifier_type=types.pop(), key=key,
                          params=dict(params), items=items, pagination=pagination,
                          operations=_operations(options.get("operations", {}), error))


def _operations(raw: Any, error: Any) -> dict[str, OperationSpec]:
    """A collection's ``operations`` table: ``{ delete = { method = "DELETE", path =
    "/contacts/{key}" } }``."""
    if not isinstance(raw, dict):
        raise error("operations", 'must be a table, e.g. { delete = { method = "DELETE", '
                                  'path = "/contacts/{key}" } }')
    found = {}
    for name, spec in raw.items():
        where = f"operations.{name}"
        if name not in OPERATION_METHODS:
            raise error(where, "unknown operation (an http collection may declare "
                               f"{', '.join(OPERATION_METHODS)})")
        if not isinstance(spec, dict):
            raise error(where, 'must be a table, e.g. { method = "DELETE", path = '
                               '"/contacts/{key}" }')
        for key in spec:
            if key not in OPERATION_KEYS[name]:
                raise error(f"{where}.{key}", "unknown key (allowed: "
                                              f"{', '.join(OPERATION_KEYS[name])})")
        method, allowed = spec.get("method"), OPERATION_METHODS[name]
        if not isinstance(method, str) or method.upper() not in allowed:
            raise error(f"{where}.method", f"must be one of {', '.join(allowed)} "
                                           f"(got {method!r})")
        path = spec.get("path")
        if (not isinstance(path, str) or not path.startswith("/") or path.startswith("//")
                or any(c in path for c in "?# \t\r\n")):
            raise error(f"{where}.path", "must be a path on the API starting with /, holding "
                                         "{key}, e.g. /contacts/{key}")
        rest = PLACEHOLDER_RE.sub("", path)
        if PLACEHOLDER_RE.findall(path) != ["key"] or "{" in rest or "}" in rest:
            raise error(f"{where}.path", "must hold {key} (the record's key) once, and no "
                                         "other placeholder")
        item = spec.get("item")
        if item is not None and (not isinstance(item, str)
                                 or not all(p.strip() for p in item.split("."))):
            raise error(f"{where}.item", "must be the (dotted) key of the record in the answer")
        body = spec.get("body")
        if body is not None:
            wrong = values_fault(body)
            if wrong:
                raise error(f"{where}.body{wrong[0]}", wrong[1])
            if method.upper() == "DELETE":
                raise error(f"{where}.body", "a body is sent with PATCH, PUT or POST")
        elif item is not None and name in FLAG_ACTIONS:
            raise error(f"{where}.item", "only read with a body (to compare the record)")
        found[name] = OperationSpec(name, method.upper(), path, item, body)
    if unliftable(found):
        raise error("operations.lift_restriction", "missing: a restriction must be liftable "
                                                   "(declare lift_restriction next to restrict)")
    return found


def _placeholders(text: str, collection: CollectionConfig, error: Any) -> set[str]:
    found = set(PLACEHOLDER_RE.findall(text))
    for name in sorted(found):
        if not NAME_RE.match(name) or name not in collection.match:
            have = ", ".join(sorted(collection.match)) or "none"
            raise error(f"placeholder {{{name}}} is not an identifier type of match "
                        f"(match has: {have})")
    rest = PLACEHOLDER_RE.sub("", text)
    if "{" in rest or "}" in rest:
        raise error("unbalanced { or }")
    return found
