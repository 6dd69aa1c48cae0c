"""The answer package of a case (issue 5): the ZIP of export.json, the CSVs, the schema and
the manifest, built when the search is over, stored encrypted, previewed by staff."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime, enum_column_type, utcnow


class PackageStatus(enum.StrEnum):
    """Where a package stands."""

    READY = "ready"  # built, waiting for review and release
    EXPIRED = "expired"  # its blob was deleted (too old, or replaced by a newer build)


class ExportPackage(db.Model):
    """One build of a case's answer. A new search result makes a new build; the old one's
    blob is deleted and it is kept as ``expired`` (what was built, when, its sum)."""

    __tablename__ = "export_packages"

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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case = relationship("Case")
