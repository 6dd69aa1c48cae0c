"""The database models, one module per aggregate."""

from .audit import AuditEvent, AuditHead
from .case import Case, ClockPause
from .casework import CaseNote, InfoRequest
from .enums import (
    CLOCK_RUNNING_STATUSES,
    CLOSED_STATUSES,
    STAFF_TEMPLATES,
    ActorType,
    CaseKind,
    CaseStatus,
    Channel,
    IdentityMethod,
    MailStatus,
    MailTemplate,
    ProofKind,
    StaffRole,
)
from .gathering import FINISHED_GATHER_STATUSES, GatherStatus, SourceResult
from .outbox import OutboundEmail
from .package import (
    DownloadCode,
    ExportPackage,
    PackageStatus,
    Transmission,
    TransmissionStatus,
)
from .proof import IdentityProof
from .staff import StaffUser

__all__ = [
    "CLOCK_RUNNING_STATUSES",
    "CLOSED_STATUSES",
    "FINISHED_GATHER_STATUSES",
    "DownloadCode",
    "ExportPackage",
    "Transmission",
    "TransmissionStatus",
    "PackageStatus",
    "GatherStatus",
    "SourceResult",
    "STAFF_TEMPLATES",
    "CaseNote",
    "IdentityMethod",
    "InfoRequest",
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
