"""The demo organisation: reproducible data, the showcase people in every source, the two
APIs (secrets, fuzzy search, pages), the configuration files, and the real connectors finding
A's data and nobody else's."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from dsar.demo.org import SHOWCASE, VERSION, generate, read_manifest, write_config
from dsar.demo.org.names import FIRST_NAMES, LAST_NAMES
from dsar.demo.org.people import slug
from dsar.demo.services import crm_app, newsletter_app, serve
from dsar.sources.base import Identity

A, B, C, D, E = (SHOWCASE[k] for k in "ABCDE")
CRM_TOKEN, NEWSLETTER_KEY = "crm-secret-for-tests", "newsletter-secret-for-tests"


def rows(db: Path, sql: str, *params) -> list[tuple]:
    with closing(sqlite3.connect(db)) as con:
        return con.execute(sql, params).fetchall()


def tickets(org: Path) -> list[dict[str, str]]:
    with (org / "support" / "tickets.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def log_lines(org: Path) -> list[str]:
    return [line for path in sorted((org / "logs").glob("access.log*"))
            for line in path.read_text(encoding="utf-8").splitlines()]


def analytics(org: Path) -> list[dict]:
    return [json.loads(line) for path in sorted((org / "analytics").glob("events-*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def instance(tmp_path_factory) -> Path:
    """An instance folder with a generated organisation of 2,000 people in demo-org/."""
    folder = tmp_path_factory.mktemp("instance")
    generate(folder / "demo-org", 2000)
    return folder


@pytest.fixture(scope="module")
def org(instance) -> Path:
    return instance / "demo-org"


@pytest.fixture(scope="module")
def apis(org):
    """Both APIs on real local ports: {"crm": url, "newsletter": url}."""
    started = [serve(crm_app(org / "crm.sqlite", CRM_TOKEN)),
               serve(newsletter_app(org / "newsletter.sqlite", NEWSLETTER_KEY))]
    yield {"crm": f"http://127.0.0.1:{started[0][2]}",
           "newsletter": f"http://127.0.0.1:{started[1][2]}"}
    for server, thread, _port in started:
        server.shutdown()
        server.server_close()
        thread.join()


def test_same_seed_gives_the_same_bytes_and_another_seed_other_people(tmp_path):
    # The second run writes its sources in parallel processes, as big populations do.
    first, second, other = (generate(tmp_path / n, 50, seed=s, workers=w).target_dir
                            for n, s, w in (("a", 11, 1), ("b", 11, 2), ("c", 12, 1)))
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert {"platform.sqlite", "crm.sqlite", "newsletter.sqlite", "manifest.json",
            "support/tickets.csv", "logs/access.log", "logs/access.log.1"} <= set(map(str, files))
    assert any(str(p).startswith("analytics/events-") for p in files)
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    emails = "SELECT email FROM accounts ORDER BY id"
    assert rows(first / "platform.sqlite", emails) != rows(other / "platform.sqlite", emails)
    assert read_manifest(first) | {"counts": None} == {
        "generator": "dsar.demo.org", "version": VERSION, "people": 50, "seed": 11,
        "counts": None}
    # The showcase is there at the smallest size, whatever the seed.
    for folder in (first, other):
        assert rows(folder / "platform.sqlite", "SELECT id FROM accounts WHERE email = ?",
                    A["email"]) == [(A["customer_id"],)]


def test_fewer_than_fifty_people_is_refused(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path, 49)


def test_names_give_unique_addresses():
    """The e-mail construction is a bijection only if these spellings are all distinct."""
    firsts, lasts = [slug(n) for n, _ in FIRST_NAMES], [slug(n) for n in LAST_NAMES]
    assert len(set(firsts)) == len(firsts) and len(set(lasts)) == len(lasts)
    # "first<sep>last": split at the last separator, since no last name holds one.
    assert not any(sep in name for name in lasts for sep in ".-_")
    assert not any(sep in name for name in firsts for sep in "._")
    assert all(re.fullmatch(r"[a-z-]+", name) for name in firsts + lasts)


def test_platform_is_a_realistic_french_database_with_real_keys(org):
    db = org / "platform.sqlite"
    count, distinct = rows(db, "SELECT count(*), count(DISTINCT lower(email)) FROM accounts")[0]
    assert count == distinct == 2000
    names = [n for (n,) in rows(db, "SELECT first_name || last_name FROM accounts")]
    assert sum(any(ord(ch) > 127 for ch in n) for n in names) > 200  # Léa, Hélène, Lefèbvre…
    for phone, postal_code in rows(db, "SELECT phone, postal_code FROM accounts"):
        assert re.fullmatch(r"\+33 [1-9]( \d\d){4}", phone) and re.fullmatch(r"\d{5}",
                                                                               postal_code)
    assert rows(db, "PRAGMA foreign_key_check") == []
    assert [r[2] for r in rows(db, "PRAGMA foreign_key_list(attendance)")] == ["enrolments"]
    plan = rows(db, "EXPLAIN QUERY PLAN SELECT * FROM accounts WHERE lower(email) IN (?, ?)",
                "a@b", "c@d")
    assert "accounts_email_lower" in str(plan)
    for table in ("enrolments", "attendance", "level_tests", "invoices"):
        assert rows(db, f"SELECT count(*) FROM {table}")[0][0] > 100  # noqa: S608


def test_showcase_people_have_what_the_scenarios_need(org):
    platform, crm, newsletter = (org / f"{n}.sqlite" for n in ("platform", "crm", "newsletter"))
    # A and B: same name, two accounts; E's address contains A's.
    accounts = rows(platform, "SELECT id, first_name, last_name, email, visitor_id FROM "
                    "accounts WHERE last_name = 'Fontaine' AND email LIKE '%@example.fr'")
    assert {(a[0], a[3]) for a in accounts} >= {(A["customer_id"], A["email"]),
                                                (B["customer_id"], B["email"])}
    assert A["email"] in E["email"] and A["email"] != E["email"]
    for person in (A, B):
        assert rows(platform, "SELECT count(*) FROM enrolments WHERE account_id = ?",
                    person["customer_id"])[0][0] >= 1
        assert rows(platform, "SELECT count(*) FROM invoices WHERE account_id = ?",
                    person["customer_id"])[0][0] >= 1
    # CRM: A under her own address (with notes and deals) and under her work address,
    # linked by customer id only.
    contacts = rows(crm, "SELECT id, email, customer_id FROM contacts WHERE customer_id = ?",
                    str(A["customer_id"]))
    assert {c[1] for c in contacts} == {A["email"], A["work_email"]}
    own = next(c[0] for c in contacts if c[1] == A["email"])
    assert rows(crm, "SELECT count(*) FROM notes WHERE contact_id = ?", own)[0][0] >= 1
    assert rows(crm, "SELECT count(*) FROM deals WHERE contact_id = ?", own)[0][0] >= 1
    assert rows(crm, "SELECT count(*) FROM contacts WHERE email = ?", B["email"])[0][0] == 1
    # Newsletter: A's address as she typed it; B subscribed too.
    (contact_id, typed), = rows(newsletter, "SELECT id, email FROM contacts WHERE "
                                "lower(email) = ?", A["email"])
    assert typed == A["email_other_case"] != A["email"]
    assert rows(newsletter, "SELECT count(*) FROM events WHERE contact_id = ?",
                contact_id)[0][0] > 20
    assert rows(newsletter, "SELECT count(*) FROM list_memberships WHERE contact_id = ?",
                contact_id)[0][0] >= 2
    assert rows(newsletter, "SELECT count(*) FROM contacts WHERE email = ?", B["email"])
    # Analytics and logs carry A's and B's visitor ids.
    visitors = {event["visitor_id"] for event in analytics(org)}
    assert {A["visitor_id"], B["visitor_id"]} <= visitors
    lines = log_lines(org)
    for person in (A, B):
        assert any(line.endswith(f" vid={person['visitor_id']}") for line in lines)


def test_ip_addresses_are_shared_between_people(org):
    at_clinic = {line.rsplit(" vid=", 1)[1] for line in log_lines(org)
                 if line.startswith(A["office_ip"] + " ")}
    assert {A["visitor_id"], C["visitor_id"]} <= at_clinic


def test_support_tickets_cover_every_way_a_writes_and_d_mentions_her(org):
    found = tickets(org)
    mine = [(t["requester_email"], t["customer_id"]) for t in found
            if t["requester_email"].lower() == A["email"]
            or t["customer_id"] == str(A["customer_id"])]
    assert (A["email"], str(A["customer_id"])) in mine
    assert (A["email_other_case"], "") in mine  # her mailbox, other capitals, no id
    assert (A["work_email"], str(A["customer_id"])) in mine  # another address, her id
    d_ticket = next(t for t in found if t["requester_email"] == D["email"])
    assert A["email"] in d_ticket["body"] and "Léa Fontaine" in d_ticket["body"]
    assert d_ticket["customer_id"] == str(D["customer_id"])
    assert any("\n" in t["body"] for t in found)  # multi-line bodies, quoted
    assert any(t["customer_id"] == "" for t in found)


def test_apis_answer_401_without_their_secret(apis):
    with httpx.Client(timeout=5) as client:
        crm = f"{apis['crm']}/api/v1/contacts"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": CRM_TOKEN}):
            assert client.get(crm, params={"email": A["email"]}, headers=headers
                              ).status_code == 401
        assert client.get(crm, params={"email": A["email"]},
                          headers={"Authorization": f"Bearer {CRM_TOKEN}"}).status_code == 200
        news = f"{apis['newsletter']}/v3/contacts"
        for headers in ({}, {"api-key": "wrong"}, {"Authorization": f"Bearer {NEWSLETTER_KEY}"}):
            answer = client.get(news, params={"email": A["email"]}, headers=headers)
            assert answer.status_code == 401 and "contacts" not in answer.json()
        assert client.get(news, params={"email": A["email"]},
                          headers={"api-key": NEWSLETTER_KEY}).status_code == 200


def test_crm_search_is_fuzzy_like_a_real_crm_and_paginated(apis):
    with httpx.Client(base_url=apis["crm"], timeout=5,
                      headers={"Authorization": f"Bearer {CRM_TOKEN}"}) as client:
        found = client.get("/api/v1/contacts", params={"email": A["email"].upper()}).json()
        emails = {c["email"] for c in found["data"]}
        assert emails == {A["email"], E["email"]}  # "contains", whatever the case
        pages = [client.get("/api/v1/contacts", params={"email": A["email"], "per_page": 1,
                                                         "page": n}).json() for n in (1, 2, 3)]
        assert [len(p["data"]) for p in pages] == [1, 1, 0]
        assert [p["info"]["more_records"] for p in pages] == [True, False, False]
        linked = client.get("/api/v1/contacts",
                            params={"customer_id": A["customer_id"]}).json()["data"]
        assert {c["email"] for c in linked} == {A["email"], A["work_email"]}
        own = next(c for c in linked if c["email"] == A["email"])
        assert isinstance(own["id"], str) and own["customer_id"] == str(A["customer_id"])
        notes = client.get(f"/api/v1/contacts/{own['id']}/notes").json()["data"]
        assert notes and {n["contact_id"] for n in notes} == {own["id"]}
        assert client.get(f"/api/v1/contacts/{own['id']}/deals").json()["data"]
        assert client.get("/api/v1/contacts/1/notes").status_code == 404
        assert client.get("/api/v1/contacts").status_code == 400
        assert client.get("/api/v1/contacts", params={"email": "x@y", "page": "zero"}
                          ).status_code == 400


def test_newsletter_search_ignores_case_and_pages_events_by_cursor(apis, org):
    with httpx.Client(base_url=apis["newsletter"], timeout=5,
                      headers={"api-key": NEWSLETTER_KEY}) as client:
        body = client.get("/v3/contacts", params={"email": A["email"]}).json()
        (contact,) = body["contacts"]
        assert contact["email"] == A["email_other_case"] and body["next_cursor"] is None
        assert contact["email_blacklisted"] is False
        seen, cursor, pages = [], None, 0
        while True:
            page = client.get(f"/v3/contacts/{contact['id']}/events",
                              params={"cursor": cursor} if cursor else {}).json()
            seen += [event["id"] for event in page["events"]]
            pages, cursor = pages + 1, page["next_cursor"]
            if cursor is None:
                break
        stored = rows(org / "newsletter.sqlite", "SELECT id FROM events WHERE contact_id = ? "
                      "ORDER BY id", contact["id"])
        assert seen == [r[0] for r in stored] and pages >= 2
        lists = client.get(f"/v3/contacts/{contact['id']}/lists").json()["lists"]
        assert "Newsletter mensuelle" in {m["list_name"] for m in lists}
        assert client.get(f"/v3/contacts/{contact['id']}/events",
                          params={"cursor": "forged"}).status_code == 400
        assert client.get("/v3/contacts/999999/lists").status_code == 404


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_api_runs_as_a_process_and_stops_cleanly_on_sigterm(org):
    port = _free_port()
    command = [sys.executable, "-m", "dsar.demo.services", "crm", "--db",
               str(org / "crm.sqlite"), "--port", str(port)]
    env = {**os.environ, "HORIZON_CRM_TOKEN": CRM_TOKEN}
    missing = {k: v for k, v in env.items() if k != "HORIZON_CRM_TOKEN"}
    refused = subprocess.run(command, env=missing, capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2 and "HORIZON_CRM_TOKEN" in refused.stderr
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        with httpx.Client(timeout=2) as client:
            while True:
                try:
                    answer = client.get(f"http://127.0.0.1:{port}/api/v1/contacts",
                                        params={"email": A["email"]},
                                        headers={"Authorization": f"Bearer {CRM_TOKEN}"})
                    break
                except httpx.TransportError:
                    assert process.poll() is None and time.monotonic() < deadline
                    time.sleep(0.05)
        assert answer.status_code == 200 and answer.json()["data"]
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "Traceback" not in stderr and A["email"] not in stderr  # no request line logged


def _loaded(instance: Path):
    sql = pytest.importorskip("dsar.sources.sql")
    http = pytest.importorskip("dsar.sources.http")
    files = pytest.importorskip("dsar.sources.files")
    from dsar.sources.config import load_sources
    from dsar.sources.register import load_register

    kinds = {"sql": sql.SqlConnector, "http": http.HttpConnector, "files": files.FilesConnector}
    sources = load_sources(instance / "sources.toml", kinds, instance)
    return sources, load_register(instance / "register.toml", sources.keys())


def test_config_files_load_through_the_real_loaders(tmp_path):
    write_config(tmp_path, crm_url="http://127.0.0.1:8031", newsletter_url="http://127.0.0.1:8032")
    sources, register = _loaded(tmp_path)
    assert {n: s.kind for n, s in sources.items()} == {
        "platform": "sql", "crm": "http", "newsletter": "http", "analytics": "files",
        "access_logs": "files", "support": "files"}
    used = {c for s in sources.values() for coll in s.collections.values()
            for c in coll.fields.values()}
    assert used <= set(register.categories)
    accounts = sources["platform"].collections["accounts"]
    assert accounts.exclude == ("password_hash",) and accounts.erasure.strategy == "anonymize"
    assert dict(accounts.yields) == {"customer_id": "id", "visitor_id": "visitor_id"}
    assert "follow" not in sources["platform"].collections["attendance"].options
    invoices = sources["platform"].collections["invoices"].erasure
    assert invoices.strategy == "retain" and "L123-22" in invoices.retain_basis
    assert sources["access_logs"].collections["requests"].erasure.strategy == "delete"
    assert "ip" not in sources["access_logs"].collections["requests"].match.values()
    assert sources["crm"].options["base_url"] == "http://127.0.0.1:8031"
    bases = {name: p.legal_basis for name, p in register.processing.items()}
    assert bases == {"training": "contract", "invoicing": "legal_obligation",
                     "crm": "legitimate_interests", "newsletter": "consent",
                     "audience": "consent", "security_logs": "legitimate_interests",
                     "support": "contract"}
    audience = register.processing["audience"]
    assert audience.retention["fr"] == "13 mois" and audience.transfers[0].country == "US"
    assert register.controller["dpo_email"] == "dpo@horizon-formation.example"
    assert all(p.origin["en"] != p.origin["fr"] for p in register.processing.values())


def test_the_real_connectors_find_a_in_all_six_sources_and_nobody_else(instance, apis):
    write_config(instance, crm_url=apis["crm"], newsletter_url=apis["newsletter"])
    sources, _register = _loaded(instance)
    from dsar.sources.catalog import connector_classes

    environ = {"HORIZON_CRM_TOKEN": CRM_TOKEN, "HORIZON_NEWSLETTER_API_KEY": NEWSLETTER_KEY}
    identity, found = Identity.of(email=[A["email"]]), {}
    for _round in range(5):  # the pipeline's rounds: every source, until nothing new
        grown = identity
        for name, source in sources.items():
            connector = connector_classes()[source.kind](source, instance_path=instance,
                                                         environ=environ)
            with connector:
                found[name] = connector.discover(identity)
            grown = grown.union(found[name].identifiers)
        if grown == identity:
            break
        identity = grown
    assert all(found[name].records for name in sources), {n: len(d.records)
                                                          for n, d in found.items()}
    assert identity.get("customer_id") == {str(A["customer_id"])}
    assert identity.get("visitor_id") == {A["visitor_id"]}
    for name, discovery in found.items():  # every field handed over has its category
        for record in discovery.records:
            declared = sources[name].collections[record.collection].fields
            assert set(record.fields) <= set(declared), (name, record.collection)
    fields = {name: [r.fields for r in d.records] for name, d in found.items()}
    crm_emails = {f.get("email") for f in fields["crm"] if "email" in f}
    assert crm_emails == {A["email"], A["work_email"]}  # not Cléa (E), whom the API returned
    assert {f["requester_email"] for f in fields["support"]} == {
        A["email"], A["email_other_case"], A["work_email"]}  # not D's ticket naming her
    assert {f["visitor_id"] for f in fields["access_logs"] + fields["analytics"]} == {
        A["visitor_id"]}  # not C, though he shares her office IP address
    assert {f["id"] for f in fields["platform"] if "email" in f} == {A["customer_id"]}
    assert all("password_hash" not in f for f in fields["platform"])


def test_the_runner_regenerates_only_when_the_size_changes(tmp_path):
    from dsar.demo.runner import prepare_demo_org

    assert prepare_demo_org(tmp_path, 50) is True
    stamp = (tmp_path / "demo-org" / "platform.sqlite").stat().st_mtime_ns
    assert prepare_demo_org(tmp_path, 50) is False
    assert (tmp_path / "demo-org" / "platform.sqlite").stat().st_mtime_ns == stamp
    assert prepare_demo_org(tmp_path, 60) is True
    assert read_manifest(tmp_path / "demo-org")["people"] == 60
