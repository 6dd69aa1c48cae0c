"""report.pdf, read back with pypdf: a demo person's case gathered through the real pipeline
(real workers, the demo's CRM and newsletter APIs over HTTP) gives a letter with every Art. 15
heading, her reference on every page with the page numbers, a known value from each of the six
sources, the register's categories and recipients, in French and in English, with export.json
attached; a long collection is capped with a pointer to the complete files; nothing is ever
fetched, not even when a record's value holds markup asking for a file or a URL."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from datetime import date

import pytest
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from pypdf import PdfReader
from weasyprint import HTML

from dsar.core import storage
from dsar.demo.org import SHOWCASE
from dsar.demo.services import serve
from dsar.exports.content import build_content
from dsar.exports.json_export import write_json
from dsar.exports.package import write_package
from dsar.exports.pdf import (
    HEADINGS,
    MIN_ROWS,
    REPORT_PDF,
    FetchRefused,
    RefusingFetcher,
    render_report,
    report_member,
    rows_shown,
)
from dsar.extensions import db
from dsar.models import Case, CaseStatus, GatherStatus, SourceResult
from dsar.search import gathering
from dsar.sources.base import Discovery, Record
from tests.support.app import dispose
from tests.support.exports import NonSeekable, collection, gathered_case
from tests.support.gathering import SHOP_SOURCE, app_with_sources, write_config
from tests.support.staff import make_case

LEA = SHOWCASE["A"]


@pytest.fixture
def web_server():
    """A real HTTP server on 127.0.0.1 that records every request it gets (none may come)."""
    hits: list[str] = []

    def wsgi(environ, start_response):
        hits.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/css")])
        return [b"body { color: red }"]

    server, thread, port = serve(wsgi)
    yield f"http://127.0.0.1:{port}", hits
    server.shutdown()
    server.server_close()
    thread.join(10)


def squeeze(text: str) -> str:
    """``text`` without any whitespace: a value wrapped in a table cell reads back whole."""
    return "".join(text.split())


def read_pdf(data: bytes) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(io.BytesIO(data))
    return reader, [page.extract_text() for page in reader.pages]


def rendered(app, case_id: int, **options) -> tuple[bytes, bytes, object, object]:
    """The case's report.pdf, its export.json as write_json writes it, the content, and what
    render_report returned."""
    with app.app_context():
        content = build_content(db.session.get(Case, case_id))
        pdf, document = io.BytesIO(), io.BytesIO()
        report = render_report(content, pdf, **options)
        write_json(content, document)
    return pdf.getvalue(), document.getvalue(), content, report


def in_locale(app, language: str, *messages) -> list[str]:
    """Lazy ``messages`` as the case's language shows them (before and after the catalog
    has their French)."""
    with app.app_context(), force_locale(language):
        return [str(m) for m in messages]


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_report_of_a_demo_person_holds_the_art_15_letter_and_her_data(demo, language):
    case_id = gathered_case(demo, LEA["email"], language=language)
    pdf, document, content, report = rendered(demo, case_id)
    reader, pages = read_pdf(pdf)
    text = squeeze("\n".join(pages))
    reference = content.case.reference

    # Every Art. 15 heading, in the case's language, and the reference.
    headings = in_locale(demo, language, *HEADINGS.values())
    assert len(headings) == 9
    for heading in headings:
        assert squeeze(heading) in text, heading
    assert reference in text
    # The register's texts for what was found: categories, recipients by name, transfers.
    info = content.information
    for item in (*info.categories, *info.processing):
        assert squeeze(getattr(item, "label", None) or item.purpose) in text
    for recipient in info.recipients:
        assert squeeze(recipient.name) in text
    assert {"OVH SAS", "Zoho Corporation B.V.", "Stripe Payments Europe, Ltd."} <= {
        r.name for r in info.recipients}
    assert squeeze("3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07") in text
    assert "www.cnil.fr" in text and "dpo@horizon-formation.example" in text
    assert squeeze("Académie Horizon Formation SAS") in text
    if language == "fr":
        assert squeeze("Exécution d’un contrat (RGPD, art. 6(1)(b))") in text
        assert squeeze("13 mois") in text and squeeze("Inde (IN)") in text
        # Her account's fields in words (sources.toml's field_labels), not their names.
        assert squeeze("Adresse électronique") in text and squeeze("Date de naissance") in text
    else:
        assert squeeze("Your rights (GDPR Art. 15(1)(e))") in text
        assert squeeze("Contact details (e-mail address, telephone, postal address)") in text
        assert squeeze("13 months") in text and squeeze("India (IN)") in text
        assert squeeze("Training platform") in text
        assert squeeze("Date of birth") in text and squeeze("Last sign-in") in text

    # A known value of hers from each of the six sources.
    for value in ("+33 6 12 48 90 37", "1988-04-12", LEA["work_email"],
                  LEA["email_other_case"], LEA["visitor_id"]):
        assert squeeze(value) in text, value
    export = json.loads(document)
    firsts = {s["name"]: s["collections"][0]["records"][0]["fields"] for s in export["sources"]}
    assert list(firsts) == ["platform", "crm", "newsletter", "analytics", "access_logs",
                            "support"]
    assert squeeze(firsts["access_logs"]["request"]) in text
    assert squeeze(firsts["access_logs"]["user_agent"]) in text
    assert squeeze(firsts["support"]["subject"]) in text
    # The credential is named (not shown: the export never holds it).
    assert "password_hash" in text

    # The summary per source and category, with counts.
    summary = squeeze(in_locale(demo, language, _l("Summary of the data found"))[0])
    after = text[text.index(summary):]
    events = content.sources[3].collection("events")
    assert squeeze(f"events{events.record_count}{events.categories[0][0].label}"
                   f"({events.record_count})") in after

    # The footer on every page: reference, date and "page n / N".
    page_word = in_locale(demo, language, _l("Page"))[0]
    assert len(pages) == report.pages > 10
    for number, page in enumerate(pages, start=1):
        assert reference in page and squeeze(f"{page_word} {number} / {len(pages)}") in squeeze(
            page), number

    # Tagged, with its language and title; export.json inside, byte for byte.
    root = reader.trailer["/Root"]
    assert root["/Lang"] == language and root["/MarkInfo"]["/Marked"]
    assert "/StructTreeRoot" in root and b"pdfuaid:part" in root["/Metadata"].get_data()
    assert reference in reader.metadata.title
    assert reader.attachments["export.json"] == [document]
    assert report.capped == () and report.rows == content.record_count


RECORDS = 60
HOSTILE = {
    "name": '<img src="file:///etc/passwd"> <link rel="stylesheet" href="{url}/leak.css">',
    "email": '<style>@import url("{url}/import.css");</style>',
    "note": '<a href="file:///etc/shadow">x</a><iframe src="{url}/frame"></iframe>',
}


@pytest.fixture
def shop_case(app, tmp_path, database_url, redis_url, key_file, smtp_server, web_server):
    """A case whose shop search found 60 customers, stored encrypted as a search stores them;
    the first one's values are markup pointing at a file and at the web server."""
    url, _ = web_server
    write_config(tmp_path, {"shop": SHOP_SOURCE})
    shop = app_with_sources(database_url, redis_url, key_file, smtp_server, tmp_path)
    case = make_case(shop, status=CaseStatus.REVIEW)
    records = [Record("customers", f"{i:04d}", {
        "id": i, "email": f"client{i:04d}@example.fr", "name": f"N{i:04d}X",
        "note": "line one\nline two"}) for i in range(RECORDS)]
    records[0].fields.update({k: v.format(url=url) for k, v in HOSTILE.items()})
    with shop.app_context():
        with storage.text_writer() as out:
            for line in gathering.result_lines(Discovery(records=records)):
                out.write(line)
        db.session.add(SourceResult(
            case_id=case.id, source="shop", status=GatherStatus.DONE, round=1,
            result_blob_id=out.blob.blob_id, record_count=RECORDS,
            counts={"customers": RECORDS}))
        db.session.commit()
    yield shop, case.id
    dispose(shop)


def test_a_long_collection_is_capped_and_markup_in_values_is_text_never_fetched(
        shop_case, web_server, tmp_path):
    shop, case_id = shop_case
    url, hits = web_server
    fetcher = RefusingFetcher()
    with shop.app_context():
        content = build_content(db.session.get(Case, case_id))
        json_path = tmp_path / "export.json"
        with json_path.open("wb") as out:
            write_json(content, out)
        stream = NonSeekable()
        report = render_report(content, stream, row_cap=50, json_attachment=json_path,
                               fetcher=fetcher)
        pointer = in_locale(shop, "fr", _l(
            "Only the first %(shown)d of the %(total)d records are shown here. All of them are "
            "in the file %(file)s attached to this document and in %(csv)s in the package.",
            shown=50, total=RECORDS, file="export.json", csv="csv/shop/customers.csv"))[0]
    reader, pages = read_pdf(stream.buffer.getvalue())
    text = squeeze("\n".join(pages))

    # The cap: records 0-49 shown, 50-59 only in the JSON and the CSV, and the person is told.
    assert report.rows == 50 and report.capped == (("shop", "customers"),)
    assert "N0049X" in text and "client0049@example.fr" in text
    assert "N0050X" not in text and "N0059X" not in text
    assert squeeze(pointer) in text
    assert reader.attachments["export.json"] == [json_path.read_bytes()]
    assert b"N0059X" in json_path.read_bytes()

    # The hostile values are printed as they are; nothing was asked of the fetcher or the server.
    for value in HOSTILE.values():
        assert squeeze(value.format(url=url)) in text
    assert fetcher.refused == [] and hits == []
    assert all(not page.images for page in reader.pages)
    assert "lineone" in text and "linetwo" in text


def test_many_long_collections_share_the_cell_budget_evenly():
    """WeasyPrint's time and memory grow with the cells laid out: the rows shown per
    collection shrink, alike for all, so that the tables together stay within the budget."""
    wide = replace(collection(*(f"f{i}" for i in range(9))), record_count=10_000)
    assert rows_shown([wide], 200, 4000) == 200
    assert rows_shown([wide] * 10, 200, 4000) == 40  # 10 collections x 40 rows x 10 cells
    assert rows_shown([wide] * 100, 200, 4000) == MIN_ROWS  # never fewer
    # A short collection leaves the rest of its share to the long ones.
    assert rows_shown([wide, replace(wide, record_count=5)], 200, 1000) == 95
    # A record shown field by field (more than WIDE fields) counts a row per field.
    cards = replace(collection(*(f"f{i}" for i in range(15))), record_count=10_000)
    assert rows_shown([cards], 200, 3200) == 100


def test_the_report_goes_into_the_package_listed_in_the_manifest(shop_case, web_server):
    shop, case_id = shop_case
    out = io.BytesIO()
    with shop.app_context():
        content = build_content(db.session.get(Case, case_id))
        manifest = write_package(content, out, extra=[report_member(content, row_cap=10)])
    with zipfile.ZipFile(out) as archive:
        pdf, document = archive.read(REPORT_PDF), archive.read("export.json")
    assert manifest.file(REPORT_PDF).size == len(pdf)
    reader, pages = read_pdf(pdf)
    assert reader.attachments["export.json"] == [document]
    assert content.case.reference in pages[0]
    assert web_server[1] == []


def test_the_fetcher_refuses_files_and_urls_directly_and_inside_weasyprint(web_server):
    url, hits = web_server
    fetcher = RefusingFetcher()
    asked = ["file:///etc/passwd", f"{url}/style.css", "https://www.cnil.fr/logo.png",
             "data:text/css,body{}", "ftp://127.0.0.1/x"]
    for target in asked:
        with pytest.raises(FetchRefused):
            fetcher.fetch(target)
    assert fetcher.refused == asked

    # Markup that does ask: the rendering stops at the first request, nothing is read.
    for markup in (f'<img src="{url}/pixel.png">', '<img src="file:///etc/passwd">',
                   f'<link rel="stylesheet" href="{url}/s.css"><p>x</p>',
                   '<style>@import url("file:///etc/passwd");</style><p>x</p>',
                   f'<p style="background: url({url}/bg.png)">x</p>'):
        fetcher = RefusingFetcher()
        with pytest.raises(FetchRefused):
            HTML(string=markup, url_fetcher=fetcher).write_pdf()
        assert len(fetcher.refused) == 1, markup
    assert hits == []


def test_when_nothing_is_found_the_letter_says_so_and_still_states_the_rights(
        app, tmp_path, database_url, redis_url, key_file, smtp_server):
    write_config(tmp_path, {"shop": SHOP_SOURCE})
    shop = app_with_sources(database_url, redis_url, key_file, smtp_server, tmp_path)
    case = make_case(shop, status=CaseStatus.REVIEW, received_on=date(2026, 3, 2))
    with shop.app_context():
        db.session.add(SourceResult(case_id=case.id, source="shop", status=GatherStatus.DONE,
                                    round=1, record_count=0, counts={}))
        db.session.commit()
    try:
        pdf, document, content, report = rendered(shop, case.id)
        expected = in_locale(shop, "fr", _l(
            "We searched every system where we hold personal data: we hold no personal data "
            "about you."), HEADINGS["rights"], HEADINGS["complaint"],
            _l("Summary of the data found"), HEADINGS["purposes"])
    finally:
        dispose(shop)
    reader, pages = read_pdf(pdf)
    text = squeeze("\n".join(pages))
    assert content.information.found is False and report.rows == 0
    assert squeeze(expected[0]) in text and squeeze("2 mars 2026") in text
    assert squeeze(expected[1]) in text and squeeze(expected[2]) in text
    assert squeeze(expected[3]) not in text and squeeze(expected[4]) not in text
    assert reader.attachments["export.json"] == [document]


def test_an_export_json_over_the_limit_stays_next_to_the_report(shop_case):
    """WeasyPrint holds an attachment whole in memory: past the limit the report points to the
    file in the package instead, so memory stays bounded whatever the size."""
    shop, case_id = shop_case
    shop.config["PDF_ATTACHMENT_MAX_BYTES"] = 2048  # the shop's export.json is ~10 KB
    pdf, document, content, _ = rendered(shop, case_id, row_cap=10)
    reader, pages = read_pdf(pdf)
    assert len(document) > 2048
    assert "export.json" not in reader.attachments
    text = squeeze(" ".join(pages))
    assert "ZIP" in text and "export.json" in text and content.case.reference in text
