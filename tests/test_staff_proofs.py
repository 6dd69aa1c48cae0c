"""The back office's responses stay out of every cache, and the requesters' documents reach staff
as downloads that the browser cannot run as a page of the app (issue 10, points 5 and 6)."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select
from weasyprint import HTML

from dsar.extensions import db
from dsar.models import Case, IdentityProof
from tests.support.casework import add_proof
from tests.support.forms import access_form, post_form
from tests.support.staff import login, make_case, make_staff


def english_staff(app, role: str):
    staff = make_staff(app, role)
    client = app.test_client()
    client.get("/language/en")
    login(client, staff)
    return staff, client


def test_every_staff_page_is_kept_out_of_caches(app):
    case = make_case(app)
    anonymous = app.test_client()
    pages = {"/staff/login": anonymous.get("/staff/login")}
    _, dpo = english_staff(app, "dpo")
    for path in ("/staff/", f"/staff/cases/{case.reference}", "/staff/audit"):
        pages[path] = dpo.get(path)
    pages["/staff/ (signed out)"] = anonymous.get("/staff/")  # the redirect to the login page
    for path, resp in pages.items():
        assert resp.status_code in (200, 302), path
        assert resp.headers.get("Cache-Control") == "no-store", path


def real_pdf() -> bytes:
    return HTML(string="<h1>Carte nationale d'identité</h1><p>Camille Martin</p>").write_pdf()


def upload_proof(app, pdf: bytes) -> tuple[str, int]:
    """A requester files a request with a PDF through the real form."""
    requester = app.test_client()
    resp = post_form(requester, "/request/access",
                     access_form(proof=(io.BytesIO(pdf), "ma carte <script>.pdf")))
    assert resp.status_code == 302
    with app.app_context():
        proof = db.session.scalars(select(IdentityProof)).one()
        case = db.session.get(Case, proof.case_id)
        return case.reference, proof.id


@pytest.mark.parametrize("role", ["agent", "dpo"])
def test_an_uploaded_pdf_is_served_as_an_attachment_in_a_sandbox(app, role):
    pdf = real_pdf()
    reference, proof_id = upload_proof(app, pdf)
    _, client = english_staff(app, role)

    page = client.get(f"/staff/cases/{reference}").get_data(as_text=True)
    link = re.search(r'<a href="([^"]+)"[^>]*class="proof-link"[^>]*>([^<]+)</a>', page)
    assert link, "no link to the document on the case page"
    assert link.group(2).startswith("Download")
    assert 'target="_blank"' not in link.group(0)

    resp = client.get(link.group(1))
    assert resp.status_code == 200
    assert resp.data == pdf
    assert resp.mimetype == "application/pdf"
    disposition = resp.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="{reference}-document-{proof_id}.pdf"'
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    policy = [p.strip() for p in resp.headers["Content-Security-Policy"].split(";")]
    assert policy[0] == "sandbox" and "default-src 'none'" in policy
    assert resp.headers["Cache-Control"] == "no-store"


def test_an_image_proof_gets_its_own_extension(app):

    case = make_case(app)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # the type recorded at upload is what counts
    proof_id, _ = add_proof(app, case.id, png, "image/png")
    _, client = english_staff(app, "agent")
    resp = client.get(f"/staff/cases/{case.reference}/proofs/{proof_id}")
    assert resp.headers["Content-Disposition"] == (
        f'attachment; filename="{case.reference}-document-{proof_id}.png"')
    assert resp.headers["Content-Security-Policy"].startswith("sandbox")
