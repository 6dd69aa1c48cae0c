"""Staff search the dashboard by e-mail address without the address ever going into a URL
(issue 10, point 10 d): the search is a POST, the query stays in the staff member's session, and
every link of the result (filters, counters, next page) carries a random id instead."""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus

from dsar.models import CaseKind
from tests.support.forms import csrf_from
from tests.support.staff import login, make_case, make_staff

ADDRESS = "Camille.Martin@Example.fr"


def signed_in(app, role: str = "agent"):
    client = app.test_client()
    client.get("/language/en")
    login(client, make_staff(app, role))
    return client


def search(client, query: str, **filters):
    token = csrf_from(client.get("/staff/").get_data(as_text=True))
    return client.post("/staff/search", data={"csrf_token": token, "q": query, **filters})


def references(html: str) -> set[str]:
    return set(re.findall(r'data-reference="([^"]+)"', html))


def urls_in(html: str) -> list[str]:
    return re.findall(r'(?:href|action|src)="([^"]*)"', html)


def assert_no_address(text: str) -> None:
    lowered = text.lower()
    for form in (ADDRESS.lower(), quote(ADDRESS.lower()), quote_plus(ADDRESS.lower()),
                 "camille", "example.fr"):
        assert form not in lowered, form


def test_searching_by_email_finds_the_case_and_keeps_the_address_out_of_urls(app):
    mine = make_case(app, email=ADDRESS.lower())
    other = make_case(app, email="someone.else@example.org")
    client = signed_in(app)

    resp = search(client, ADDRESS)
    assert resp.status_code == 302
    assert_no_address(resp.location)
    page = client.get(resp.location)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert references(html) == {mine.reference}
    assert other.reference not in html
    for url in urls_in(html):
        assert_no_address(url)
    # The box still shows what was searched (in the page, not in a URL).
    assert f'value="{ADDRESS}"' in html


def test_filters_counters_and_pages_keep_the_search_without_the_address(app):
    app.config["DASHBOARD_PAGE_SIZE"] = 2
    erasures = [make_case(app, email=ADDRESS.lower(), kind=CaseKind.ERASURE) for _ in range(3)]
    access = make_case(app, email=ADDRESS.lower())
    make_case(app, email="someone.else@example.org", kind=CaseKind.ERASURE)
    client = signed_in(app)

    resp = search(client, ADDRESS, kind="erasure")
    assert_no_address(resp.location)
    first = client.get(resp.location).get_data(as_text=True)
    assert len(references(first)) == 2
    link = re.search(r'id="next-page" href="([^"]+)"', first)
    assert link, "no next page"
    next_url = link.group(1).replace("&amp;", "&")
    assert_no_address(next_url)
    second = client.get(next_url).get_data(as_text=True)
    assert references(first) | references(second) == {c.reference for c in erasures}
    assert access.reference not in first + second

    # A counter link (by status) keeps the search too.
    counter = re.search(r'href="([^"]+)" data-count="confirmed"', first)
    assert counter
    assert_no_address(counter.group(1))
    by_status = client.get(counter.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert references(by_status) <= {c.reference for c in erasures}


def test_searching_by_reference_and_clearing_the_search(app):
    wanted = make_case(app)
    make_case(app, email="someone.else@example.org")
    client = signed_in(app, "dpo")
    resp = search(client, f"  {wanted.reference.lower()} ")
    assert wanted.reference not in resp.location and wanted.reference.lower() not in resp.location
    assert references(client.get(resp.location).get_data(as_text=True)) == {wanted.reference}
    cleared = search(client, "")
    assert len(references(client.get(cleared.location).get_data(as_text=True))) == 2


def test_a_search_belongs_to_the_session_that_made_it(app):
    make_case(app, email=ADDRESS.lower())
    make_case(app, email="someone.else@example.org")
    client = signed_in(app)
    url = search(client, ADDRESS).location
    colleague = signed_in(app)
    html = colleague.get(url).get_data(as_text=True)
    assert len(references(html)) == 2  # the id means nothing elsewhere: no search applied
    assert ADDRESS not in html


def test_the_search_is_a_post_with_csrf(app):
    make_case(app, email=ADDRESS.lower())
    client = signed_in(app)
    assert client.post("/staff/search", data={"q": ADDRESS}).status_code == 400
    form = re.search(r'<form[^>]*class="filters"[^>]*>', client.get("/staff/").get_data(True))
    assert form and 'method="post"' in form.group(0)


def test_the_session_cookie_keeps_the_searched_address_sealed(app):
    """Flask's session is a signed, not encrypted, cookie: what it holds of a search must not
    be the address itself (a cookie is read in a browser's tools or by a proxy that logs it)."""
    make_case(app, email=ADDRESS.lower())
    client = signed_in(app)
    resp = search(client, ADDRESS)
    assert client.get(resp.location).status_code == 200
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    stored = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    assert_no_address(repr(stored))
    assert stored["dashboard_searches"]  # the search is kept, in a form only the server opens
