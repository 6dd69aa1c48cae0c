"""The ``http`` connector's configuration: credentials from the environment, a bad key named
without quoting a secret, a base URL with a path prefix.

Configurations go through the real loader (a ``sources.toml`` written in ``tmp_path``, by the
``connect`` fixture or by the test).
"""

from __future__ import annotations

import base64

import pytest

from dsar.sources.base import SourceConfigError, SourceError
from dsar.sources.config import load_sources
from dsar.sources.http import HttpConnector
from tests.support.data import fill
from tests.support.http_source import CONTACTS, HEAD, JEANNE, NOTES, contact, keys, ok

# -- credentials ---------------------------------------------------------------------------

@pytest.mark.parametrize(("auth", "header", "expected"), [
    ('{ type = "bearer", token_env = "CRM_TOKEN" }', "Authorization", "Bearer s3cr3t"),
    ('{ type = "header", header = "X-Api-Key", token_env = "CRM_TOKEN" }', "X-Api-Key",
     "s3cr3t"),
    ('{ type = "basic", username_env = "CRM_USER", password_env = "CRM_TOKEN" }',
     "Authorization", "Basic " + base64.b64encode(b"alice:s3cr3t").decode()),
])
def test_credentials_come_from_the_environment(api, connect, auth, header, expected):
    api.route("/api/v1/contacts", lambda hit, n: ok({"data": []}))
    connector, _ = connect(f"auth = {auth}\n",
                           environ={"CRM_TOKEN": "s3cr3t", "CRM_USER": "alice"})
    connector.discover(JEANNE)
    assert api.hits[0].headers[header] == expected


def test_a_missing_variable_is_named_without_any_value(api, connect):
    auth = 'auth = { type = "basic", username_env = "CRM_USER", password_env = "CRM_PASS" }\n'
    connector, _ = connect(auth, environ={"CRM_USER": "alice"})
    with pytest.raises(SourceError) as failure:
        connector.discover(JEANNE)
    assert "CRM_PASS" in str(failure.value) and "alice" not in str(failure.value)
    assert api.hits == []


# -- configuration -------------------------------------------------------------------------

SRC = "backoff = 0.5"
KEY = 'key = "id"\nmatch = { email'


def _set(*pairs: tuple[str, str]) -> list[tuple[str, str]]:
    """Source keys put in place of ``backoff``; (old, new) pairs taken as they are."""
    return [(SRC, p) if isinstance(p, str) else p for p in pairs]


CONFIG_FAULTS = [
    ([('base_url = "${base_url}"\n', "")], "base_url"),
    ([("${base_url}", "ftp://crm.example.fr")], "base_url"),
    ([("${base_url}", "https://bob:hunter2@crm.example.fr")], "base_url"),
    (_set('timeout = "10"'), "timeout"),
    (_set("retries = -1"), "retries"),
    (_set("retries = 2.5"), "retries"),
    (_set("rate_limit = 0"), "rate_limit"),
    (_set('token = "hunter2"'), "token"),
    (_set('auth = { type = "oauth" }'), "auth.type"),
    (_set('auth = { type = "bearer" }'), "auth.token_env"),
    (_set('auth = { type = "bearer", token_env = "sk-hunter2" }'), "auth.token_env"),
    (_set('auth = { type = "bearer", token_env = "T", token = "hunter2" }'), "auth.token"),
    (_set('auth = { type = "header", token_env = "T" }'), "auth.header"),
    ([('path = "/api/v1/contacts"\n', "")], "collections.contacts.path"),
    ([("/api/v1/contacts", "https://elsewhere.example/c")], "collections.contacts.path"),
    ([("/api/v1/contacts", "//elsewhere.example/c")], "collections.contacts.path"),
    ([("/api/v1/contacts", "/api/v1/contacts?all=1")], "collections.contacts.path"),
    ([('params = { email = "{email}" }', "")], "collections.contacts.path"),
    ([('"{email}"', '"{phone}"')], "collections.contacts.params.email"),
    ([('"{email}"', '"{email"')], "collections.contacts.params.email"),
    ([('"{email}"', '["{email}"]')], "collections.contacts.params.email"),
    ([("/{crm_contact_id}/", "/{crm_contact_id}/{email}/"),
      ('{ crm_contact_id = "contact_id" }', '{ crm_contact_id = "contact_id", email = "e" }')],
     "collections.notes.path"),
    ([(KEY, "match = { email")], "collections.contacts.key"),
    ([(KEY, KEY.replace('"id"', '"password_hash"'))], "collections.contacts.key"),
    ([(KEY, "items = 3\n" + KEY)], "collections.contacts.items"),
    ([(KEY, 'pagination = { type = "offset" }\n' + KEY)],
     "collections.contacts.pagination.type"),
    ([(KEY, 'pagination = { type = "cursor", size = 10 }\n' + KEY)],
     "collections.contacts.pagination.size"),
    ([(KEY, 'pagination = { type = "page", size = 0 }\n' + KEY)],
     "collections.contacts.pagination.size"),
    ([('{ email = "{email}" }', '{ email = "{email}", page = 1 }'),
      (KEY, 'pagination = { type = "page" }\n' + KEY)], "collections.contacts.params.page"),
]


@pytest.mark.parametrize(("changes", "key"), CONFIG_FAULTS)
def test_a_bad_configuration_names_its_key(tmp_path, changes, key):
    text = HEAD + CONTACTS + NOTES
    for old, new in changes:
        assert old in text
        text = text.replace(old, new)
    text = fill(text, base_url="https://crm.example.fr")
    path = tmp_path / "sources.toml"
    path.write_text(text)
    with pytest.raises(SourceConfigError) as failure:
        load_sources(path, {"http": HttpConnector}, tmp_path)
    assert failure.value.key == f"sources.crm.{key}"
    assert str(failure.value).startswith(f"{path}: sources.crm.{key}: ")
    assert "hunter2" not in str(failure.value)  # a pasted secret is never quoted back


def test_a_base_url_with_a_path_prefix_is_kept(api, connect):
    api.route("/v2/api/v1/contacts", lambda hit, n: ok({"data": [contact(1)]}))
    connector, _ = connect(base_url=api.base_url + "/v2")
    assert keys(connector.discover(JEANNE)) == [("contacts", "1")]
    assert (connector.settings.timeout, connector.settings.retries,
            connector.settings.max_retry_after, connector.settings.rate_limit) == (
                10.0, 3, 30.0, None)
