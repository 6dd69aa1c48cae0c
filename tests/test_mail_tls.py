"""E-mail leaves over TLS with the server's certificate and name checked: STARTTLS and implicit
TLS, against a real SMTP server on 127.0.0.1 whose certificate a throwaway CA signed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dsar.cli import main
from dsar.extensions import db
from dsar.models import MailStatus, OutboundEmail
from tests.support.forms import access_form, post_form
from tests.support.pki import make_pki
from tests.support.tls_servers import tls_smtp_server

MODES = {"starttls": {"SMTP_STARTTLS": True}, "implicit": {"SMTP_SSL": True}}


@pytest.fixture(scope="module")
def pkis(tmp_path_factory):
    """Three certificates for 127.0.0.1: one from the CA the app is told to trust, one from a
    CA it does not know, and one from the trusted CA but for another host name."""
    base = tmp_path_factory.mktemp("pki")
    trusted = make_pki(base / "trusted")
    return {
        "trusted": trusted,
        "unknown-ca": make_pki(base / "unknown"),
        "other-host": make_pki(base / "other", names=("mail.other.example",), ips=()),
        "ca_file": str(trusted.ca_file),
    }


def send_one(app, client, run_jobs, mailbox_port: int, settings: dict) -> OutboundEmail:
    """A request's confirmation e-mail, sent through the server on ``mailbox_port``."""
    app.config.update(SMTP_PORT=mailbox_port, **settings)
    post_form(client, "/request/access", access_form())
    run_jobs()
    with app.app_context():
        outbound = db.session.scalars(select(OutboundEmail)).one()
        db.session.expunge(outbound)
        return outbound


@pytest.mark.parametrize("mode", MODES)
def test_mail_to_a_server_the_configured_ca_vouches_for_is_delivered(
        mode, pkis, app, client, run_jobs, tmp_path):
    with tls_smtp_server(pkis["trusted"], tmp_path / "mail",
                         implicit=mode == "implicit") as server:
        outbound = send_one(app, client, run_jobs, server.port,
                            {**MODES[mode], "SMTP_CA_FILE": pkis["ca_file"]})
        messages = server.messages()
    assert outbound.status is MailStatus.SENT and outbound.last_error is None
    assert [m["To"] for m in messages] == [access_form()["email"]]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("certificate", ["unknown-ca", "other-host"])
def test_mail_is_not_sent_to_a_server_whose_certificate_does_not_check_out(
        mode, certificate, pkis, app, client, run_jobs, tmp_path):
    # An unknown CA is what an interceptor on the path presents; a certificate for another
    # name is a real server that is not the one configured.
    with tls_smtp_server(pkis[certificate], tmp_path / "mail",
                         implicit=mode == "implicit") as server:
        outbound = send_one(app, client, run_jobs, server.port,
                            {**MODES[mode], "SMTP_CA_FILE": pkis["ca_file"]})
        messages = server.messages()
    assert messages == []
    assert outbound.status is MailStatus.PENDING and outbound.sent_at is None
    assert outbound.attempts == 1
    assert outbound.last_error == "SSLCertVerificationError"


def test_starttls_without_the_private_ca_trusts_only_the_system_cas(
        pkis, app, client, run_jobs, tmp_path):
    """Without SMTP_CA_FILE, a certificate from a private CA is refused too."""
    with tls_smtp_server(pkis["trusted"], tmp_path / "mail", implicit=False) as server:
        outbound = send_one(app, client, run_jobs, server.port, {"SMTP_STARTTLS": True})
        assert server.messages() == []
    assert outbound.status is MailStatus.PENDING
    assert outbound.last_error == "SSLCertVerificationError"


def test_starttls_and_implicit_tls_together_are_refused(pkis, app, client, run_jobs, tmp_path):
    with tls_smtp_server(pkis["trusted"], tmp_path / "mail", implicit=True) as server:
        outbound = send_one(app, client, run_jobs, server.port,
                            {"SMTP_SSL": True, "SMTP_STARTTLS": True,
                             "SMTP_CA_FILE": pkis["ca_file"]})
        assert server.messages() == []
    assert outbound.status is MailStatus.PENDING
    assert outbound.last_error == "SmtpConfigError"
    # The worker says so at start, instead of failing every e-mail.
    result = app.test_cli_runner().invoke(main, ["worker", "--burst"])
    assert result.exit_code != 0
    assert "SMTP_SSL" in result.output and "SMTP_STARTTLS" in result.output
