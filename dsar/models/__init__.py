"""The database models, one module per aggregate."""

from .audit import AuditEvent, AuditHead
from .case import Case, ClockPause
from .enums import (
    CLOSED_STATUSES,
    ActorType,
    CaseKind,
    CaseStatus,
    Channel,
    MailStatus,
    MailTemplate,
    ProofKind,
    StaffRole,
)
from .outbox import OutboundEmail
from .proof import IdentityProof
from .staff import StaffUser

__all__ = [
    "CLOSED_STATUSES",
    "ActorType",
    "AuditEvent",
    "AuditHead",
    "Case",
    "CaseKind",
    "CaseStatus",
    "Channel",
    "ClockPause",
    "IdentityProof",
    "MailStatus",
    "MailTemplate",
    "OutboundEmail",
    "ProofKind",
    "StaffRole",
    "StaffUser",
]
