"""Erasure on a ``files`` source: the person's lines rewritten with their values masked, on real
files: every format kept valid, nothing else touched, twice the same, the index right after,
and a failure or a live writer leaving the files as they were."""

from __future__ import annotations

import csv
import gzip
import io
import json
import multiprocessing
import os
import re
import resource
import signal
import sqlite3
from pathlib import Path

import pytest

from dsar.sources import files_changes
from dsar.sources.base import Identity, Operation, OperationUnsupported, SourceError
from dsar.sources.config import load_sources
from dsar.sources.files import LOG_FORMATS, FilesConnector, update_index
from dsar.sources.files_masking import MASK
from tests.support.data import data_text
from tests.support.files_source import (
    ACCESS,
    ACCOUNTS,
    EVENTS,
    discover,
    filler_log,
    load,
    log_line,
)

HER = "Jeanne.Martin@EXAMPLE.fr"
FILES = ("data/accounts.csv", "data/events.jsonl", "logs/access.log")


def plan(instance: Path, source, **identifiers) -> list[Operation]:
    """What the plan sends: per collection found, ``redact`` of the keys the search found,
    with the identifiers the source was searched with."""
    keys: dict[str, list[str]] = {}
    for record in discover(instance, source, **identifiers).records:
        keys.setdefault(record.collection, []).append(record.key)
    identity = Identity.of(**identifiers)
    return [Operation(name, "redact", tuple(found), identity=identity)
            for name, found in sorted(keys.items())]


def carry_out(instance: Path, source, operations) -> dict[str, tuple[int, int, str]]:
    with FilesConnector(source, instance_path=instance) as connector:
        results = connector.carry_out(operations, hash_key=b"k" * 32)
    return {r.collection: (r.changed, r.absent, r.details) for r in results}


def snapshot(instance: Path) -> dict[str, tuple[bytes, int]]:
    return {name: ((instance / name).read_bytes(), (instance / name).stat().st_ino)
            for name in FILES}


def test_her_lines_are_masked_in_every_format_and_nothing_else(shop):
    instance, source = shop
    operations = plan(instance, source, email=[HER])
    assert carry_out(instance, source, operations) == {
        "access": (2, 0, ""), "accounts": (1, 0, ""), "events": (2, 0, "")}

    # CSV: her id and e-mail (the yields and match fields) masked; the namesake with another
    # address, the colleague, the header, the quoted multi-line address: as they were.
    accounts = (instance / "data" / "accounts.csv").read_text()
    assert accounts == ACCOUNTS.replace("1;jeanne.martin@example.fr;", f"{MASK};{MASK};")
    assert [len(row) for row in csv.reader(io.StringIO(accounts), delimiter=";")] == [6] * 4

    # JSON lines: her customer and visitor ids masked (a number becomes the mask string),
    # the rest of her lines byte for byte; the other customer's note naming her untouched.
    events = (instance / "data" / "events.jsonl").read_text().splitlines()
    assert events[0] == json.dumps({**EVENTS[0], "customer": MASK, "visitor": MASK},
                                   ensure_ascii=False)
    assert events[1:3] == ["{not json", json.dumps(EVENTS[1])]
    assert events[3] == json.dumps({**EVENTS[2], "customer": MASK}, ensure_ascii=False)

    # The log: her visitor id masked, still the log's format; the colleague behind the same IP
    # address (her e-mail in his query string) and the anonymous visit untouched.
    access = (instance / "logs" / "access.log").read_text()
    assert access == "".join([ACCESS[0].replace("vid=v0001", f"vid={MASK}"), ACCESS[1],
                              ACCESS[2], ACCESS[3].replace("vid=v0001", f"vid={MASK}")])
    pattern = re.compile(LOG_FORMATS["combined_visitor"])
    assert all(pattern.match(line) for line in access.splitlines())

    # The verification finds nothing of hers; the others are found as they were.
    assert discover(instance, source, email=[HER]).records == []
    colleague = discover(instance, source, visitor_id=["v0002"]).records
    assert [r.fields["request"] for r in colleague] == [
        "GET /compte?email=jeanne.martin@example.fr HTTP/1.1"]
    namesake = discover(instance, source, email=["jeanne.martin@example.com"]).records
    assert [r.fields["address"] for r in namesake if r.collection == "accounts"] == [
        "3 quai Bas"]


def test_a_second_run_changes_nothing_and_reports_the_same_totals(shop):
    instance, source = shop
    operations = plan(instance, source, email=[HER])
    carry_out(instance, source, operations)
    before = snapshot(instance)
    assert carry_out(instance, source, operations) == {
        "access": (0, 2, ""), "accounts": (0, 1, ""), "events": (0, 2, "")}
    assert snapshot(instance) == before  # not even rewritten (same inodes)


def test_the_index_is_right_after_the_rewrite(shop):
    instance, source = shop
    log = instance / "logs" / "access.log"
    log.write_text("".join(filler_log(50) + [ACCESS[0]] + filler_log(50) + [ACCESS[1]]))
    carry_out(instance, source, plan(instance, source, email=[HER]))

    # Already brought up to date by the run: nothing left to read.
    stats = update_index(source, instance)
    assert stats["files_reset"] == 0 and stats["bytes_read"] == 0
    data = log.read_bytes()
    with sqlite3.connect(instance / "source-index" / "shop.sqlite") as db:
        spans = db.execute("SELECT e.offset, e.length FROM entries e JOIN files f "
                           "ON f.id = e.file_id WHERE f.collection = 'access'").fetchall()
    db.close()
    assert len(spans) == 102  # every line's visitor id, hers masked included
    for offset, length in spans:  # each entry is a whole line of the new file
        assert (offset == 0 or data[offset - 1:offset] == b"\n")
        assert data[offset + length - 1:offset + length] == b"\n"

    colleague = discover(instance, source, visitor_id=["v0002"]).records
    assert [r.key for r in colleague] == [f"access.log:{data.index(ACCESS[1].encode())}"]
    assert discover(instance, source, visitor_id=["v0001"]).records == []


def test_free_text_is_masked_only_where_her_values_appear(tmp_path):
    support = tmp_path / "support"
    support.mkdir()
    tickets = (
        "ticket_id,requester_email,customer_id,phone,subject,body\r\n"
        'T1,Jeanne.Martin@example.fr,1042,0612489037,"Facture, question","Rappelez-moi au '
        '06 12 48 90 37. Paul Durand (paul.durand@example.fr) est en copie."\r\n'
        "T2,paul.durand@example.fr,2001,,Compte,Ma collègue jeanne.martin@example.fr a le même"
        " souci\r\n"
        "T3,jeanne.martin@example.com,3003,,Homonyme,Rien à voir\r\n")
    (support / "tickets.csv").write_bytes(tickets.encode())
    chat = ('\ufeff{"from": "jeanne.martin@example.fr", "text": "Au +33 6 12 48 90 37, '
            'merci \\u00e0 vous"}\r\n'
            '{"from": "paul.durand@example.fr", "text": "voir jeanne.martin@example.fr"}\r\n')
    (support / "chat.jsonl").write_bytes(chat.encode())
    audit = "2025-10-01 uid=1042 login\n2025-10-01 uid=2001 login\n"
    (support / "audit.log").write_text(audit)
    source = load(tmp_path, data_text("files_changes/helpdesk.toml"))["helpdesk"]
    operations = plan(tmp_path, source, email=[HER])
    assert carry_out(tmp_path, source, operations) == {
        "tickets": (1, 0, ""), "chat": (1, 0, ""), "audit": (1, 0, "")}

    # Her ticket: her address, id and phone masked, in their cells and in the body; the
    # colleague named in it keeps his address; the subject keeps its quotes; CRLF kept.
    # The colleague's ticket naming her, and the namesake's: untouched.
    masked = tickets.replace(
        "T1,Jeanne.Martin@example.fr,1042,0612489037,",
        f"T1,{MASK},{MASK},{MASK},").replace("au 06 12 48 90 37.", f"au {MASK}.")
    assert (support / "tickets.csv").read_bytes() == masked.encode()
    rows = list(csv.reader(io.StringIO(masked, newline="")))
    assert [len(row) for row in rows] == [6] * 4

    # Chat: the byte-order mark and the escapes kept (the line's own style), valid JSON.
    lines = (support / "chat.jsonl").read_bytes().decode().split("\r\n")
    assert lines[0] == ('\ufeff{"from": "[effac\\u00e9]", "text": "Au [effac\\u00e9], merci '
                        '\\u00e0 vous"}')
    assert json.loads(lines[0].lstrip("\ufeff"))["text"] == f"Au {MASK}, merci à vous"
    assert lines[1] == '{"from": "paul.durand@example.fr", "text": "voir jeanne.martin@example.fr"}'

    # A pattern whose field takes digits only: "-" (no value) keeps the line a record.
    assert (support / "audit.log").read_text() == audit.replace("uid=1042", "uid=-")
    assert discover(tmp_path, source, email=[HER]).records == []
    assert len(discover(tmp_path, source, email=["paul.durand@example.fr"]).records) == 3


def test_lines_moved_since_the_search_are_masked_and_compressed_files_reported(shop):
    instance, source = shop
    operations = plan(instance, source, email=[HER])
    logs = instance / "logs"
    # Rotated after the search: her lines are now in access.log.1, then she came back.
    os.rename(logs / "access.log", logs / "access.log.1")
    (logs / "access.log").write_text(log_line("x0001") + log_line("v0001", "/retour"))
    with gzip.open(logs / "access.log.2.gz", "wt") as old:
        old.write(log_line("v0001", "/ancien"))
    results = carry_out(instance, source, operations)
    # The keys point into the new access.log, at lines that are not hers: absent.
    changed, absent, details = results["access"]
    assert (changed, absent) == (0, 2)
    assert details == ("3 more line(s) of the person, found since the search at other "
                       "positions (appended, rotated, or moved by another rewrite), masked "
                       "too; 1 compressed file(s) not searched, kept as they are until the "
                       "rotation deletes them")
    assert "v0001" not in (logs / "access.log.1").read_text()
    assert (logs / "access.log").read_text() == log_line("x0001") + log_line(MASK, "/retour")
    assert discover(instance, source, email=[HER]).records == []


def test_the_file_keeps_its_mode_and_a_dead_run_s_leftover_goes(shop):
    instance, source = shop
    log = instance / "logs" / "access.log"
    log.write_text(ACCESS[1] + ACCESS[0].rstrip("\n"))  # her line last, no newline yet
    log.chmod(0o640)
    leftover = instance / "logs" / ".dsar-redact-shop-dead.tmp"
    leftover.write_text(ACCESS[0])
    carry_out(instance, source, plan(instance, source, visitor_id=["v0001"]))
    assert log.stat().st_mode & 0o777 == 0o640
    assert log.read_text() == ACCESS[1] + ACCESS[0].replace("v0001", MASK).rstrip("\n")
    assert not leftover.exists()
    assert sorted(p.name for p in log.parent.iterdir()) == ["access.log"]


def test_a_file_open_for_writing_stops_the_run_before_any_change(shop):
    instance, source = shop
    operations = plan(instance, source, email=[HER])
    before = snapshot(instance)
    with (instance / "logs" / "access.log").open("a"):
        if not files_changes._open_for_writing(str(instance / "logs" / "access.log")):
            pytest.skip("no read leases here (not Linux, or not on this file system)")
        with pytest.raises(SourceError) as raised:
            carry_out(instance, source, operations)
    assert "open for writing" in str(raised.value) and "jeanne" not in str(raised.value)
    assert snapshot(instance) == before
    assert carry_out(instance, source, operations)["access"] == (2, 0, "")


def test_what_the_plan_cannot_ask_of_files_is_unsupported(shop):
    instance, source = shop
    before = snapshot(instance)
    her = Identity.of(email=[HER])
    for operation in (Operation("accounts", "delete", ("accounts.csv:52",), identity=her),
                      Operation("invoices", "redact", ("invoices.csv:10",), identity=her),
                      Operation("accounts", "redact", ("accounts.csv:52",))):
        with pytest.raises(OperationUnsupported):
            carry_out(instance, source, [operation])
    assert snapshot(instance) == before


def _carry_out_limited(instance: str, limit: int, operations, results) -> None:
    """Child process: carry out with files limited to ``limit`` bytes (a disk filling up)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    source = load_sources(Path(instance) / "sources.toml", {"files": FilesConnector},
                          instance)["shop"]
    try:
        carry_out(Path(instance), source, operations)
        results.put("done")
    except SourceError as exc:
        results.put(str(exc))


def _in_child(instance: Path, limit: int, operations) -> str:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_carry_out_limited,
                            args=(str(instance), limit, operations, results))
    child.start()
    outcome = results.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0
    return outcome


def test_a_failure_while_writing_leaves_the_original_file(shop):
    instance, source = shop
    log = instance / "logs" / "access.log"
    log.write_text("".join(filler_log(400) + ACCESS + filler_log(400)))  # about 90 KB
    operations = plan(instance, source, visitor_id=["v0001"])
    before = snapshot(instance)
    assert "File too large" in _in_child(instance, 60_000, operations)
    assert snapshot(instance) == before  # same bytes, same inode
    assert sorted(p.name for p in log.parent.iterdir()) == ["access.log"]
    assert carry_out(instance, source, operations)["access"] == (2, 0, "")


def test_a_run_stopped_midway_is_completed_by_a_retry(shop):
    instance, source = shop
    accounts = instance / "data" / "accounts.csv"
    filler = "".join(f"{n};client{n}@example.org;A;B;\"rue {n}\";x\n" for n in range(10, 3000))
    accounts.write_text(ACCOUNTS + filler)  # about 100 KB: the only file past the limit
    operations = plan(instance, source, email=[HER])
    before = snapshot(instance)
    assert "File too large" in _in_child(instance, 60_000, operations)
    # The visits and events (found through the account) first; the account, which leads to
    # them, left as it was for the retry.
    after = snapshot(instance)
    assert after["data/accounts.csv"] == before["data/accounts.csv"]
    assert b"v0001" not in after["logs/access.log"][0]
    assert b'"visitor": "v0001"' not in after["data/events.jsonl"][0]
    assert carry_out(instance, source, operations) == {
        "access": (0, 2, ""), "accounts": (1, 0, ""), "events": (0, 2, "")}
    assert discover(instance, source, email=[HER]).records == []


def _carry_out_at_once(instance: str, identifiers: dict, start, results) -> None:
    source = load_sources(Path(instance) / "sources.toml", {"files": FilesConnector},
                          instance)["shop"]
    operations = plan(Path(instance), source, **identifiers)
    start.wait(timeout=60)
    try:
        results.put(carry_out(Path(instance), source, operations)["access"])
    except SourceError as exc:
        results.put((-1, -1, str(exc)))


def test_two_erasures_in_one_log_at_once_keep_each_other_s_masks(shop):
    instance, _source = shop
    log = instance / "logs" / "access.log"
    log.write_text("".join(filler_log(20_000) + ACCESS + filler_log(20_000)))
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    children = [context.Process(target=_carry_out_at_once,
                                args=(str(instance), ids, start, results))
                for ids in ({"email": [HER]}, {"visitor_id": ["v0002"]})]
    for child in children:
        child.start()
    outcomes = sorted(results.get(timeout=120) for _ in children)
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    # The second to run finds a key moved by the first one's mask: counted absent, and the
    # line masked where it now is.
    assert sorted(changed + absent for changed, absent, _ in outcomes) == [1, 2]
    assert sum(changed for changed, _, _ in outcomes) == 2
    assert any(details.startswith("1 more line(s)") for _, _, details in outcomes)
    text = log.read_text()
    assert "vid=v0001" not in text and "vid=v0002" not in text
    assert text.count(f"vid={MASK}") == 3
