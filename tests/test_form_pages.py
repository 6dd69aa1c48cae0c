"""The empty request forms kept by the process (``dsar.portal.form_pages``): every visitor
still gets a token of their own that works only with their session, in their language, and
anything but the plain empty form is rendered afresh."""

from __future__ import annotations

from sqlalchemy import func, select
from werkzeug.test import encode_multipart

from dsar.extensions import db
from dsar.models import Case
from dsar.portal.form_pages import TOKEN_PLACEHOLDER
from tests.support.forms import access_form, csrf_from


def post_with(client, token: str, email: str):
    boundary, body = encode_multipart({**access_form(email=email), "csrf_token": token})
    return client.post("/request/access", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def cases(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Case.id)))


def test_each_visitor_gets_a_token_of_their_own_that_files(app):
    first, second = app.test_client(), app.test_client()
    pages = [c.get("/request/access").get_data(as_text=True) for c in (first, second)]
    tokens = [csrf_from(page) for page in pages]
    assert tokens[0] != tokens[1]
    assert all(TOKEN_PLACEHOLDER not in page for page in pages)
    # The second page came from the kept one: the same page but for the token.
    assert pages[0].replace(tokens[0], "") == pages[1].replace(tokens[1], "")

    # One visitor's token does not file with another's session.
    assert post_with(second, tokens[0], "a@example.fr").status_code == 400
    assert cases(app) == 0
    assert post_with(first, tokens[0], "a@example.fr").status_code == 302
    assert post_with(second, tokens[1], "b@example.fr").status_code == 302
    assert cases(app) == 2


def test_the_kept_page_speaks_the_visitors_language(app):
    french, english = app.test_client(), app.test_client()
    french.get("/request/access")  # kept in French first
    english.get("/language/en")
    page = english.get("/request/access").get_data(as_text=True)
    assert '<html lang="en">' in page and "Send my request" in page
    assert "Envoyer ma demande" in french.get("/request/access").get_data(as_text=True)


def test_a_form_with_errors_is_not_the_kept_page(app):
    client = app.test_client()
    empty = client.get("/request/access").get_data(as_text=True)
    boundary, body = encode_multipart({**access_form(email="not an address"),
                                       "csrf_token": csrf_from(empty)})
    wrong = client.post("/request/access", data=body,
                        content_type=f"multipart/form-data; boundary={boundary}")
    assert wrong.status_code == 400
    shown = wrong.get_data(as_text=True)
    assert 'id="form-errors"' in shown and "Camille Martin" in shown
    # ... and the empty page served after it has neither the errors nor the typed name.
    again = client.get("/request/access").get_data(as_text=True)
    assert 'id="form-errors"' not in again and "Camille Martin" not in again


def test_a_changed_setting_shows_on_the_page(app):
    client = app.test_client()
    client.get("/request/access")
    app.config["DPO_EMAIL"] = "nouveau.dpo@example.fr"
    assert "nouveau.dpo@example.fr" in client.get("/request/access").get_data(as_text=True)
