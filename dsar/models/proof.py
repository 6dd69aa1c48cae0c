"""Documents a requester uploads to prove identity, a mandate, a death or heir status."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dsar.extensions import db
from dsar.models.enums import ProofKind
from dsar.models.types import UTCDateTime, enum_column_type, utcnow


class IdentityProof(db.Model):
    """An uploaded proof. The bytes live encrypted in the blob store; after the staff decision
    they are deleted and only ``decision_note`` ("checked on D by U, method M") remains."""

    __tablename__ = "identity_proofs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ProofKind] = mapped_column(enum_column_type(ProofKind, "proof_kind"))
    #: Blob-store id of the encrypted file; None once the document has been deleted.
    blob_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: The type found by reading the content (never the name the browser sent).
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    #: SHA-256 of the plaintext, hex.
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)

    case = relationship("Case", back_populates="proofs")
