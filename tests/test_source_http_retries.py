"""The ``http`` connector against a real JSON API on 127.0.0.1: waits, retries, timeouts and
the rate limit, failures that no retry mends, and logs that name nobody.

Configurations go through the real loader (a ``sources.toml`` written in ``tmp_path`` by the
``connect`` fixture). Waits are recorded through ``connector.sleep`` except where a test says it
really waits.
"""

from __future__ import annotations

import logging
import time
from email.utils import formatdate

import pytest

from dsar.sources.base import SourceError
from tests.support.http_source import CONTACTS, JEANNE, NOTES, contact, keys, ok
from tests.support.json_api import Hit
from tests.support.ports import free_port


def test_429_waits_what_retry_after_asks_then_succeeds(api, connect):
    later = formatdate(time.time() + 5, usegmt=True)
    answers = {1: (429, {}, {"Retry-After": "7"}), 2: (429, {}, {"Retry-After": later}),
               3: (429, {}, {})}
    api.route("/api/v1/contacts",
              lambda hit, n: answers.get(n) or ok({"data": [contact(1)]}))
    connector, waits = connect()
    assert keys(connector.discover(JEANNE)) == [("contacts", "1")]
    assert waits[0] == 7.0
    assert 3.5 <= waits[1] <= 5.0                    # an HTTP date, a few seconds from now
    assert 0.5 * 4 <= waits[2] <= 0.5 * 4 * 1.1      # none given: the back-off of attempt 3
    assert len(api.hits) == 4


def test_a_real_one_second_retry_after_is_really_waited(api, connect):
    api.route("/api/v1/contacts", lambda hit, n: (429, {"error": "slow down"},
                                                  {"Retry-After": "1"}) if n == 1
              else ok({"data": [contact(1)]}))
    connector, _ = connect(real_sleep=True)
    assert keys(connector.discover(JEANNE)) == [("contacts", "1")]
    first, second = api.hits
    assert 1.0 <= second.at - first.at < 3.0


def test_5xx_twice_then_success_backs_off_exponentially(api, connect):
    api.route("/api/v1/contacts", lambda hit, n: (503, {}, {}) if n <= 2
              else ok({"data": [contact(1)]}))
    connector, waits = connect()
    assert keys(connector.discover(JEANNE)) == [("contacts", "1")]
    assert len(api.hits) == 3
    assert 0.5 <= waits[0] <= 0.55 and 1.0 <= waits[1] <= 1.1


def test_a_5xx_that_lasts_fails_after_the_configured_attempts(api, connect):
    api.route("/api/v1/contacts", lambda hit, n: (503, b"<html>down</html>", {}))
    connector, waits = connect("retries = 2\n")
    with pytest.raises(SourceError) as failure:
        connector.discover(JEANNE)
    assert str(failure.value) == "HTTP 503 from /api/v1/contacts after 3 attempts"
    assert len(api.hits) == 3 and len(waits) == 2


def test_a_hanging_api_times_out(api, connect):
    def hang(hit: Hit, n: int):
        api.release.wait(10)
        return ok({"data": []})

    api.route("/api/v1/contacts", hang)
    connector, _ = connect("timeout = 0.3\nretries = 1\n")
    started = time.monotonic()
    with pytest.raises(SourceError) as failure:
        connector.discover(JEANNE)
    assert str(failure.value) == "timed out on /api/v1/contacts after 2 attempts"
    assert 0.6 <= time.monotonic() - started < 5
    assert len(api.hits) == 2


def test_an_unreachable_api_is_a_source_error(connect):
    port = free_port()  # nothing listens there
    connector, waits = connect("retries = 1\n", base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(SourceError) as failure:
        connector.discover(JEANNE)
    assert str(failure.value) == (f"connection to 127.0.0.1:{port} failed on /api/v1/contacts "
                                  "after 2 attempts")
    assert len(waits) == 1


@pytest.mark.parametrize(("status", "body", "message"), [
    (401, {}, "authentication refused by 127.0.0.1:{port} (HTTP 401 from /api/v1/contacts)"),
    (403, {}, "authentication refused by 127.0.0.1:{port} (HTTP 403 from /api/v1/contacts)"),
    (404, {}, "HTTP 404 from /api/v1/contacts"),  # no placeholder in the path: a fault
    (400, {}, "HTTP 400 from /api/v1/contacts"),
    (302, {}, "HTTP 302 from /api/v1/contacts (redirects are not followed)"),
    (429, {}, "HTTP 429 from /api/v1/contacts: the API asks to wait 120 s, more than "
              "max_retry_after (30 s)"),  # blocking a worker that long: no, RQ retries later
    (200, b"<html>login</html>", "the answer from /api/v1/contacts is not JSON (HTTP 200)"),
    (200, {"contacts": []}, "the answer from /api/v1/contacts holds no list at 'data'"),
    (200, b"not gzip at all", "DecodingError on /api/v1/contacts"),
])
def test_answers_that_no_retry_can_mend_fail_at_once(api, connect, status, body, message):
    headers = {"Location": "http://127.0.0.1:9/elsewhere", "Retry-After": "120"}
    if body == b"not gzip at all":
        headers["Content-Encoding"] = "gzip"
    api.route("/api/v1/contacts", lambda hit, n: (status, body, headers))
    connector, waits = connect()
    with pytest.raises(SourceError) as failure:
        connector.discover(JEANNE)
    port = api.base_url.rsplit(":", 1)[1]
    assert str(failure.value) == message.format(port=port)
    assert (len(api.hits), waits) == (1, [])


def test_the_rate_limit_spaces_requests(api, connect):
    api.route("/api/v1/contacts", lambda hit, n: ok({"data": [contact(n)] if n <= 5 else []}))
    paging = '\npagination = { type = "page", size = 1 }\n'
    connector, _ = connect("rate_limit = 10\n", CONTACTS + paging, real_sleep=True)
    started = time.monotonic()
    assert len(connector.discover(JEANNE).records) == 5
    assert time.monotonic() - started >= 5 * 0.1  # 6 requests: 5 intervals of 1/10 s
    times = [h.at for h in api.hits]
    assert len(times) == 6
    # As the API sees them (give or take each request's own latency): spread, not bunched.
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.05


def test_no_log_line_names_the_person(api, connect, caplog):
    api.route("/api/v1/contacts", lambda hit, n: (503, {}, {}) if n == 1
              else ok({"data": [contact("k9z7")]}))
    api.route("/api/v1/contacts/k9z7/notes", lambda hit, n: ok([]))
    caplog.set_level(logging.DEBUG)
    connector, _ = connect("", CONTACTS, NOTES)
    connector.discover(JEANNE)
    assert "503 from /api/v1/contacts" in caplog.text
    assert "jeanne" not in caplog.text.lower() and "k9z7" not in caplog.text
