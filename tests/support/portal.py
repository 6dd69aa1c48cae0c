"""The requester's side through the portal: filing a request and confirming it from the
e-mailed link."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from dsar.extensions import db
from dsar.models import Case, IdentityProof, OutboundEmail
from tests.support.casework import PDF
from tests.support.forms import access_form, csrf_from, path_of, post_form


def nothing_stored(app) -> bool:
    """No case, proof or e-mail was kept (a refused form)."""
    with app.app_context():
        return all(db.session.scalar(select(func.count()).select_from(model)) == 0
                   for model in (Case, IdentityProof, OutboundEmail))


def execution_documents(*, heir: bool = True) -> dict:
    """The labelled documents of a request to exercise a deceased person's rights."""
    documents = {"death_certificate": (io.BytesIO(PDF), "acte-de-deces.pdf"),
                 "requester_identity": (io.BytesIO(PDF), "ma-piece-d-identite.pdf")}
    if heir:
        documents["heir_document"] = (io.BytesIO(PDF), "acte-de-notoriete.pdf")
    return documents


def file_and_confirm(app, client, run_jobs, smtp_server, email="camille.martin@example.fr"):
    """File an access request, confirm it through the e-mailed link; returns the case and the
    acknowledgement e-mail's status link path."""
    post_form(client, "/request/access", access_form(email=email))
    assert run_jobs() == 0
    confirm = next(u for u in smtp_server.links(smtp_server.last_to(email)) if "/confirm/" in u)
    page = client.get(path_of(confirm))
    assert page.status_code == 200
    resp = client.post(path_of(confirm), data={"csrf_token": csrf_from(page.get_data(True))})
    assert resp.status_code == 302
    assert run_jobs() == 0
    ack = smtp_server.last_to(email)
    status_link = next(u for u in smtp_server.links(ack) if "/status/" in u)
    with app.app_context():
        case = db.session.scalars(select(Case).where(Case.email_normalized == email)).one()
        db.session.expunge(case)
    return case, path_of(status_link), ack
