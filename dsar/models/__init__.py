"""The database models, one module per aggregate."""

from dsar.models.audit import AuditEvent, AuditHead
from dsar.models.blobs import blob_chunks
from dsar.models.case import Case, ClockPause
from dsar.models.casework import CaseNote, InfoRequest
from dsar.models.changes import (
    FINISHED_STEP_STATUSES,
    ChangePlan,
    ChangeStep,
    NoticeStatus,
    PlanStatus,
    RecipientNotice,
    StepStatus,
)
from dsar.models.directives import DeceasedMatch, DirectiveKey, DirectiveStatus, DirectiveVersion
from dsar.models.enums import (
    CHANGE_KINDS,
    CLOCK_RUNNING_STATUSES,
    CLOSED_STATUSES,
    INFO_RESUME_STATUSES,
    STAFF_TEMPLATES,
    STANDING_STATUSES,
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
from dsar.models.gathering import FINISHED_GATHER_STATUSES, GatherStatus, SourceResult
from dsar.models.outbox import OutboundEmail
from dsar.models.package import (
    DownloadCode,
    ExportPackage,
    PackageScope,
    PackageStatus,
    Transmission,
    TransmissionStatus,
)
from dsar.models.proof import IdentityProof
from dsar.models.registers import RestrictionEntry, SupplementaryStatement
from dsar.models.staff import StaffUser
from dsar.models.suppression import SuppressionEntry, SuppressionKind

__all__ = [
    "CHANGE_KINDS",
    "FINISHED_STEP_STATUSES",
    "ChangePlan",
    "ChangeStep",
    "DeceasedMatch",
    "DirectiveKey",
    "DirectiveStatus",
    "DirectiveVersion",
    "RestrictionEntry",
    "SupplementaryStatement",
    "NoticeStatus",
    "RecipientNotice",
    "PlanStatus",
    "StepStatus",
    "CLOCK_RUNNING_STATUSES",
    "CLOSED_STATUSES",
    "INFO_RESUME_STATUSES",
    "STANDING_STATUSES",
    "FINISHED_GATHER_STATUSES",
    "DownloadCode",
    "ExportPackage",
    "Transmission",
    "TransmissionStatus",
    "PackageScope",
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
    "SuppressionEntry",
    "SuppressionKind",
    "blob_chunks",
]
