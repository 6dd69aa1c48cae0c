"""The outbox: an e-mail is a row written in the same transaction as the change it tells of,
then handed to the queue once that transaction is committed.

A row holds the template, the recipient and ids only. What the message says is composed when
it is sent (``dsar.mail.compose``), so nothing secret waits in the database or Redis; the
sending itself is ``dsar.mail.sending``. This module knows neither, so that every service can
queue an e-mail without importing what the e-mails talk about.
"""

from __future__ import annotations

from dsar import pipeline
from dsar.extensions import db
from dsar.models import Case, MailTemplate, OutboundEmail, StaffUser


def queue_email(case: Case | None, template: MailTemplate, *, staff: StaffUser | None = None,
                payload: dict | None = None) -> OutboundEmail:
    """Add an e-mail to the outbox in the current transaction (ids only in ``payload``);
    ``staff`` addresses it to a staff member instead of the requester. Hand the row to
    :func:`commit_and_send`."""
    outbound = OutboundEmail(case=case, template=template, recipient_staff=staff,
                             payload=payload or {})
    db.session.add(outbound)
    db.session.flush()
    return outbound


def commit_and_send(*outbound: OutboundEmail) -> None:
    """Commit, then enqueue the sending of the outbox e-mails. After the commit: the worker
    must find the row; if Redis is down the row stays pending and the sweep enqueues it."""
    ids = [item.id for item in outbound]  # read before the commit expires the rows
    db.session.commit()
    for outbound_id in ids:
        pipeline.enqueue_email(outbound_id)
