"""The answer package of a case (issue 5): the ZIP of export.json, the CSVs, the schema and
the manifest, built when the search is over, stored encrypted, previewed by staff."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dsar.extensions import db
from dsar.models.checks import value_check
from dsar.models.types import UTCDateTime, enum_column_type, utcnow


class PackageStatus(enum.StrEnum):
    """Where a package stands."""

    READY = "ready"  # built, waiting for review and release
    RELEASED = "released"  # released by the DPO: the person may download it until expires_at
    EXPIRED = "expired"  # its blob was deleted (too old, or replaced by a newer build)


class PackageScope(enum.StrEnum):
    """What a package holds (``docs/export-schema.md``)."""

    ACCESS = "access"  # everything found (Art. 15)
    PORTABILITY = "portability"  # what the person provided, in a reusable form (Art. 20)
    ERASURE = "erasure"  # the erasure certificate: what was erased, anonymised and kept
    RECTIFICATION = "rectification"  # the answer letter: what was corrected where (Art. 16)
    RESTRICTION = "restriction"  # where the restriction holds (Art. 18)
    OBJECTION = "objection"  # what was stopped, or the grounds to go on (Art. 21)
    #: A deceased person's rights carried out (LIL art. 85): the letter, and the copy handed
    #: over when the directives or the heirs' requests call for one.
    POSTMORTEM_EXECUTION = "postmortem_execution"


class ExportPackage(db.Model):
    """One build of a case's answer. A new search result makes a new build; the old one's
    blob is deleted and it is kept as ``expired`` (what was built, when, its sum)."""

    __tablename__ = "export_packages"
    __table_args__ = (
        value_check("package_scope", "scope", PackageScope),
        # One package waiting for review per case: of two builds racing, one lands
        # (dsar.exports.build).
        Index("uq_export_packages_one_ready", "case_id", unique=True,
              sqlite_where=text("status = 'ready'"),
              postgresql_where=text("status = 'ready'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    status: Mapped[PackageStatus] = mapped_column(
        enum_column_type(PackageStatus, "package_status"), default=PackageStatus.READY)
    #: Encrypted blob of the ZIP; None once expired.
    blob_id: Mapped[str | None] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer, default=0)
    #: SHA-256 of the ZIP as the person receives it.
    sha256: Mapped[str] = mapped_column(String(64))
    #: Keyed digest of the search results it was built from: a rebuild of the same results is
    #: skipped (idempotent job).
    results_digest: Mapped[str] = mapped_column(String(64))
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    #: A :class:`PackageScope` value (a plain string column: its CHECK is in ``__table_args__``).
    scope: Mapped[str] = mapped_column(String(20), default=PackageScope.ACCESS.value)
    #: Pieces of other people's data masked in it (reported to the person).
    redaction_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: Seconds the build took, from reading the results to the stored ZIP (the metrics'
    #: build durations); None for packages built before it was recorded.
    build_seconds: Mapped[float | None] = mapped_column(Float)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    #: The end of the download period (``EXPORT_DAYS`` after release); the purge job deletes
    #: the blob after it.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    download_count: Mapped[int] = mapped_column(Integer, default=0)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case = relationship("Case")
    released_by = relationship("StaffUser")


class DownloadCode(db.Model):
    """A one-time code e-mailed to the requester to download a released package. Only a keyed
    hash is compared; the code itself is sealed for the e-mail, which the worker renders, and
    wiped once sent is no longer needed (when used, locked or expired)."""

    __tablename__ = "download_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    package_id: Mapped[int] = mapped_column(
        ForeignKey("export_packages.id", ondelete="CASCADE"), index=True)
    #: HMAC-SHA256 of the code (compared in constant time).
    code_hash: Mapped[str] = mapped_column(String(64))
    #: The code sealed (AES-GCM, bound to this row) for the e-mail; None once spent.
    sealed_code: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: A random value kept in the browser session that asked: the code works there only.
    session_nonce: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TransmissionStatus(enum.StrEnum):
    """How a direct transmission to another controller (Art. 20(2)) went."""

    SENT = "sent"  # the receiver answered 2xx
    REFUSED = "refused"  # the address is not allowed (not https, private, loopback…)
    FAILED = "failed"  # network error or a non-2xx answer


class Transmission(db.Model):
    """One attempt to send a portability package straight to the receiving controller."""

    __tablename__ = "transmissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    package_id: Mapped[int] = mapped_column(
        ForeignKey("export_packages.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    #: The receiving host (an organisation's, not the person's); the full URL stays in the case.
    host: Mapped[str] = mapped_column(String(255))
    status: Mapped[TransmissionStatus] = mapped_column(
        enum_column_type(TransmissionStatus, "transmission_status"))
    http_status: Mapped[int | None] = mapped_column(Integer)
    #: Why it was refused or failed: a short code, never a response body.
    detail: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
