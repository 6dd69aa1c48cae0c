"""The wire side of the ``http`` connector: requests with retries, Retry-After, a rate limit,
and one collection's series of pages.

Every message this module raises or logs names the *configured* path template
(``/api/v1/contacts/{crm_contact_id}/notes``), never the URL actually requested: that one holds
the person's identifier, in its path or its query string. For the same reason httpx's own
``HTTP Request: GET <url>`` log line is dropped (:class:`_DropRequestLines`), and exception
texts from httpx are never quoted.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx

from dsar.sources.base import SourceError

logger = logging.getLogger(__name__)

#: Pages read for one identifier before giving up (an API that ignores the page parameter
#: would otherwise be read forever).
MAX_PAGES = 1000
#: Share of random extra added to each back-off, so that workers do not retry in step.
JITTER = 0.1
_MISSING = object()
PAGINATION_KEYS = {"none": (), "page": ("param", "size_param", "size", "start"),
                   "cursor": ("param", "next")}


class _DropRequestLines(logging.Filter):
    """httpx logs every request URL at INFO; those URLs hold identifiers (personal data)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("HTTP Request:")


_HTTPX_LOGGER = logging.getLogger("httpx")
if not any(isinstance(f, _DropRequestLines) for f in _HTTPX_LOGGER.filters):
    _HTTPX_LOGGER.addFilter(_DropRequestLines())


def user_agent() -> str:
    """``dsar/<version>``, so an API's operator can tell who is calling."""
    try:
        return f"dsar/{version('dsar')}"
    except PackageNotFoundError:
        return "dsar/0"


@dataclass(frozen=True)
class Pagination:
    """How a collection's list is cut into pages: ``none``, ``page`` (numbered pages of
    ``size`` items; a short or empty page is the last) or ``cursor`` (each body gives the next
    cursor at the dotted key ``next``; absent or null on the last page)."""

    type: str = "none"
    param: str = ""
    size_param: str = ""
    size: int = 0
    start: int = 1
    next: str = ""

    def params(self) -> tuple[str, ...]:
        """The query parameters the pagination sets itself."""
        return tuple(p for p in (self.param, self.size_param) if p)


def parse_pagination(raw: Any, error: Callable[[str, str], Exception]) -> Pagination:
    """A collection's ``pagination`` table, checked; ``error(key, fault)`` builds the
    configuration error."""
    if raw is None:
        return Pagination()
    if not isinstance(raw, dict):
        raise error("pagination", 'must be a table, e.g. { type = "page" }')
    kind = raw.get("type")
    if kind not in PAGINATION_KEYS:
        raise error("pagination.type",
                    f"must be one of {', '.join(PAGINATION_KEYS)} (got {kind!r})")
    allowed = PAGINATION_KEYS[kind]
    for key in raw:
        if key != "type" and key not in allowed:
            raise error(f"pagination.{key}", f"unknown key for type {kind} (allowed: "
                                             f"{', '.join(allowed) or 'none'})")

    def text(key: str, default: str) -> str:
        value = raw.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise error(f"pagination.{key}", "must be non-empty text")
        return value

    def whole(key: str, default: int, minimum: int) -> int:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise error(f"pagination.{key}", f"must be a whole number, at least {minimum}")
        return value

    if kind == "page":
        pagination = Pagination("page", param=text("param", "page"),
                                size_param=text("size_param", "per_page"),
                                size=whole("size", 100, 1), start=whole("start", 1, 0))
        if pagination.param == pagination.size_param:
            raise error("pagination.size_param", "must differ from param")
        return pagination
    if kind == "cursor":
        return Pagination("cursor", param=text("param", "cursor"),
                          next=text("next", "next_cursor"))
    return Pagination()


@dataclass(frozen=True)
class Listing:
    """One request series: a collection's path for one identifier value, all pages."""

    #: The path as configured, for messages and logs (it names no one).
    template: str
    #: The path with the identifier, URL-encoded.
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    #: Dotted key of the list in the body; None: the body itself if a list, else ``data``.
    items: str | None = None
    pagination: Pagination = field(default_factory=Pagination)
    #: A 404 means "no such person here" (per-person paths), not a fault.
    missing_ok: bool = False


class HttpClient:
    """One API: one ``httpx.Client`` with time-out, retries and an optional rate limit.

    ``sleep`` is called for every wait (back-off, Retry-After, rate limit) so tests can record
    the waits; ``clock`` is the monotonic clock the rate limit counts with."""

    def __init__(self, base_url: str, *, timeout: float, retries: int, backoff: float,
                 max_retry_after: float, rate_limit: float | None,
                 sleep: Callable[[float], None], clock: Callable[[], float] = time.monotonic):
        self.client = httpx.Client(
            base_url=base_url, timeout=timeout, follow_redirects=False,
            headers={"User-Agent": user_agent(), "Accept": "application/json"})
        self.host = self.client.base_url.netloc.decode("ascii", "replace")
        self.retries = retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.interval = 1.0 / rate_limit if rate_limit else 0.0
        self.sleep = sleep
        self.clock = clock
        #: Requests sent (every attempt counts), for the connector's log line.
        self.requests = 0
        self._next_slot = 0.0

    def authenticate(self, headers: Mapping[str, str], basic: tuple[str, str] | None) -> None:
        """Send these headers (and HTTP basic credentials) with every request."""
        self.client.headers.update(headers)
        self.client.auth = httpx.BasicAuth(*basic) if basic else None

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def fetch_all(self, listing: Listing) -> list[dict[str, Any]]:
        """Every item of every page of ``listing`` (empty for a 404 on a per-person path)."""
        pagination = listing.pagination
        found: list[dict[str, Any]] = []
        page, cursor, cursors = pagination.start, None, set()
        for _ in range(MAX_PAGES):
            params = dict(listing.params)
            if pagination.type == "page":
                params[pagination.param] = page
                params[pagination.size_param] = pagination.size
            elif pagination.type == "cursor" and cursor is not None:
                params[pagination.param] = cursor
            body = self.get_json(listing.template, listing.path, params,
                                 missing_ok=listing.missing_ok)
            if body is None:
                return found
            batch = extract_items(body, listing.items, listing.template)
            found.extend(batch)
            if pagination.type == "page":
                if len(batch) < pagination.size:
                    return found
                page += 1
            elif pagination.type == "cursor":
                cursor = dotted(body, pagination.next) if isinstance(body, dict) else None
                if cursor is None or cursor is _MISSING or cursor == "":
                    return found
                if not isinstance(cursor, str | int) or isinstance(cursor, bool):
                    raise SourceError(f"the next cursor from {listing.template} is not text")
                if cursor in cursors:
                    # An API handing back a cursor already used would loop forever.
                    raise SourceError(f"the API repeats a cursor on {listing.template}")
                cursors.add(cursor)
            else:
                return found
        raise SourceError(f"more than {MAX_PAGES} pages from {listing.template}")

    def get_json(self, template: str, path: str, params: Mapping[str, Any], *,
                 missing_ok: bool = False) -> Any:
        """The parsed JSON body of ``GET path``, retried on 429, 5xx, time-outs and
        connection errors; None for a 404 when ``missing_ok``. Raises :class:`SourceError`."""
        response = self.request("GET", template, path, params=params,
                                missing=(404,) if missing_ok else ())
        return None if response is None else _json(response, template)

    def request(self, method: str, template: str, path: str, *,
                params: Mapping[str, Any] | None = None, body: Any = None,
                missing: tuple[int, ...] = ()) -> httpx.Response | None:
        """``method path`` (``body`` sent as JSON unless None), retried on 429, 5xx,
        time-outs and connection errors; the 2xx response, or None when the status is one of
        ``missing`` (no such record). ``template`` names the request in messages and logs
        (never ``path``, which may hold an identifier). Raises :class:`SourceError`."""
        attempts = self.retries + 1
        for attempt in range(attempts):
            self._throttle()
            self.requests += 1
            wait: float | None = None
            try:
                response = self.client.request(method, path, params=params, json=body)
            except httpx.TimeoutException:
                failure = f"timed out on {template}"
            except httpx.TransportError:
                failure = f"connection to {self.host} failed on {template}"
            except httpx.HTTPError as exc:
                # A body that does not decode, say: retrying would not mend it. Never quote
                # the exception, whose text may hold the URL (and so an identifier).
                raise SourceError(f"{type(exc).__name__} on {template}") from None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return response
                if status in missing:
                    return None
                failure = f"HTTP {status} from {template}"
                if status == 429:
                    wait = self._retry_after(response, template)
                elif status < 500:
                    raise SourceError(self._refusal(status, template))
            if attempt + 1 == attempts:
                raise SourceError(f"{failure} after {attempts} attempts")
            if wait is None:
                wait = self.backoff * 2 ** attempt * (1 + random.uniform(0, JITTER))
            logger.warning("%s (attempt %d of %d); retrying in %.2f s", failure, attempt + 1,
                           attempts, wait)
            self.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _throttle(self) -> None:
        """Wait for the next request slot when the source has a ``rate_limit``."""
        if not self.interval:
            return
        now = self.clock()
        if now < self._next_slot:
            self.sleep(self._next_slot - now)
            now = self._next_slot
        self._next_slot = now + self.interval

    def _retry_after(self, response: httpx.Response, template: str) -> float | None:
        wait = retry_after_seconds(response.headers.get("Retry-After"), time.time())
        if wait is not None and wait > self.max_retry_after:
            # Blocking a worker for minutes helps nobody: the job is retried later instead.
            raise SourceError(f"HTTP 429 from {template}: the API asks to wait {wait:.0f} s, "
                              f"more than max_retry_after ({self.max_retry_after:g} s)")
        return wait

    def _refusal(self, status: int, template: str) -> str:
        if status in (401, 403):
            return f"authentication refused by {self.host} (HTTP {status} from {template})"
        if 300 <= status < 400:
            return f"HTTP {status} from {template} (redirects are not followed)"
        return f"HTTP {status} from {template}"


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """The wait a ``Retry-After`` header asks for (seconds or an HTTP date, relative to the
    epoch time ``now``), or None when absent or unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def dotted(body: Any, key: str, default: Any = _MISSING) -> Any:
    """``body["a"]["b"]`` for ``key = "a.b"``; ``default`` when a step is missing."""
    value = body
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


def extract_items(body: Any, key: str | None, template: str) -> list[dict[str, Any]]:
    """The list of items in a page's body: at ``key``, or the body itself when it is a list,
    else at ``data``. A null list is an empty one."""
    if key is None and isinstance(body, list):
        found: Any = body
    else:
        key = key or "data"
        found = dotted(body, key)
        if found is None:
            return []
        if found is _MISSING or not isinstance(found, list):
            raise SourceError(f"the answer from {template} holds no list at {key!r}")
    if not all(isinstance(item, dict) for item in found):
        raise SourceError(f"the list from {template} holds something other than JSON objects")
    return found


def _json(response: httpx.Response, template: str) -> Any:
    try:
        # NaN and Infinity are no JSON values: kept as text rather than as floats.
        return response.json(parse_constant=str)
    except ValueError:
        raise SourceError(f"the answer from {template} is not JSON "
                          f"(HTTP {response.status_code})") from None
