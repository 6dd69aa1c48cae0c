"""How long the requester's e-mailed links last, and their revocation by the DPO.

A confirmation or status link opens its case while the case is open, then for the download
period (``EXPORT_DAYS``) after it closes, to the end of that last day, Paris time, as the answer
package itself (``dsar.delivery.release.download_deadline``). Past that, a link has nothing
left to do and must not stay a key to the case in someone's mailbox.

Revoking gives the case a new token salt: every link sent so far stops working, and every
browser session a link let in loses the case (``dsar.core.tokens.session_mark``); the requester gets
a new link by e-mail.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from dsar.cases.refusals import ActionRefused
from dsar.core.audit import record_event
from dsar.core.tokens import check_case_token, new_token_salt, normalise_reference
from dsar.delivery.release import download_deadline
from dsar.extensions import db
from dsar.mail.outbox import commit_and_send, queue_email
from dsar.models import ActorType, Case, MailTemplate, StaffUser
from dsar.models.types import utcnow

logger = logging.getLogger(__name__)


def case_for_link(reference: str, token: str, purpose: str) -> Case | None:
    """The case an e-mailed link names, if its ``token`` is right for ``purpose`` (``confirm``,
    ``status``); None otherwise, whichever part is wrong. An unknown reference is checked
    against a dummy, so that both failures take the same time. Whether the link has ended is
    :func:`links_alive`."""
    case = db.session.scalar(select(Case).where(Case.reference == normalise_reference(reference)))
    salt = case.token_salt if case else "0" * 32
    valid = check_case_token(case.reference if case else "DSR-0000-0000", salt, purpose, token)
    return case if case is not None and valid else None


def links_expire_at(case: Case) -> datetime | None:
    """When the case's links stop working; None while the case is open (they work until then)."""
    if case.status.is_open or case.closed_at is None:
        return None
    return download_deadline(case.closed_at, int(current_app.config["EXPORT_DAYS"]))


def links_alive(case: Case, now: datetime | None = None) -> bool:
    """Whether the case's links (and the sessions they opened) still open it."""
    ends = links_expire_at(case)
    return ends is None or (now or utcnow()) <= ends


def revoke_links(case: Case, staff: StaffUser) -> None:
    """Kill every link of ``case`` and e-mail the requester a new one (the DPO's action: the
    caller checks the role). Audited with ids only; commits, then queues the e-mail."""
    if not links_alive(case):
        raise ActionRefused(_l("The links of this case have already expired: the requester "
                               "can no longer open it, and no new link can be sent."))
    case.token_salt = new_token_salt()
    # The e-mail is rendered when it is sent, from the salt of that moment: always the new link.
    outbound = queue_email(case, MailTemplate.LINKS_RENEWED)
    record_event("case.links_revoked", case=case, actor_type=ActorType.STAFF,
                 actor_id=staff.id, payload={"email_id": outbound.id})
    commit_and_send(outbound)
    logger.info("case %s: requester links revoked", case.id)
