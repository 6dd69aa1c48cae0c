"""The demo's pieces: sample cases, the demo mailbox page (only when configured)."""

from __future__ import annotations

from sqlalchemy import func, select

from dsar import create_app
from dsar.core.audit import verify_chain
from dsar.demo.cases import SAMPLES, seed_sample_cases
from dsar.extensions import db
from dsar.models import Case
from tests.support.app import app_config
from tests.support.forms import access_form, post_form


def test_sample_cases_are_seeded_once_through_the_workflow(app):
    with app.app_context():
        assert seed_sample_cases() == len(SAMPLES)
        assert seed_sample_cases() == 0
        assert db.session.scalar(select(func.count(Case.id))) == len(SAMPLES)
        assert verify_chain().ok


def test_mailbox_page_is_absent_outside_the_demo(client):
    assert client.get("/demo/mailbox").status_code == 404


def test_mailbox_page_shows_caught_mail_with_escaped_links(database_url, redis_url, key_file,
                                                           smtp_server, tmp_path, run_jobs, app):
    config = app_config(database_url, redis_url, key_file, tmp_path / "s", smtp_server.port)
    demo_app = create_app({**config, "DEMO_MAILBOX_DIR": str(smtp_server.directory)})
    client = demo_app.test_client()
    post_form(client, "/request/access", access_form())
    run_jobs()
    html = client.get("/demo/mailbox", headers={"Accept-Language": "en"}).get_data(as_text=True)
    with demo_app.app_context():
        db.engine.dispose()  # its own pool: close it now, not at garbage collection
    assert '<a href="http://localhost/confirm/' in html


def test_mailbox_links_escape_everything_else():
    from dsar.demo.mailbox import linkify

    html = str(linkify('<script>x</script> see http://localhost/status/A/b"c'))
    assert "<script>" not in html and "&lt;script&gt;" in html
    # The quote stays escaped inside the link: it cannot close the attribute.
    assert '<a href="http://localhost/status/A/b&#34;c">' in html
