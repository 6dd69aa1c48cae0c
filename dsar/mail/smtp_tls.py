"""The connection to the SMTP server: plain, STARTTLS or implicit TLS, and whenever TLS is
used the server's certificate and host name are checked (a context from
``ssl.create_default_context``, with ``SMTP_CA_FILE`` trusted besides the system's CAs).

STARTTLS on a server that does not offer it fails (``SMTPNotSupportedError``): the message is
never sent in clear after asking for TLS.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping


class SmtpConfigError(ValueError):
    """The SMTP settings contradict each other."""


def check_smtp_config(config: Mapping) -> None:
    """Raise :class:`SmtpConfigError` unless the TLS settings make sense. SMTP_SSL (TLS from
    the first byte, port 465) and SMTP_STARTTLS (plain, then upgraded, port 587) are two
    ways to the same end: asking for both is a mistake, not a stronger setting."""
    if config.get("SMTP_SSL") and config.get("SMTP_STARTTLS"):
        raise SmtpConfigError("SMTP_SSL and SMTP_STARTTLS are exclusive: choose implicit TLS "
                              "(SMTP_SSL, usually port 465) or STARTTLS (usually port 587)")


def tls_context(config: Mapping) -> ssl.SSLContext:
    """A client context that verifies the certificate chain and the host name."""
    context = ssl.create_default_context()
    if config.get("SMTP_CA_FILE"):
        context.load_verify_locations(cafile=config["SMTP_CA_FILE"])
    return context


def open_smtp(config: Mapping) -> smtplib.SMTP:
    """A connected SMTP client, over TLS if configured (the caller closes it)."""
    check_smtp_config(config)
    host, port, timeout = config["SMTP_HOST"], int(config["SMTP_PORT"]), config["SMTP_TIMEOUT"]
    if config.get("SMTP_SSL"):
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=tls_context(config))
    smtp = smtplib.SMTP(host, port, timeout=timeout)
    if config.get("SMTP_STARTTLS"):
        try:
            smtp.starttls(context=tls_context(config))
        except BaseException:
            smtp.close()
            raise
    return smtp
