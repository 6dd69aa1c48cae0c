"""The requester's download of the released answer, opened with a one-time code
(``dsar.delivery.download_codes``). Every download is counted and audited; a wrong or missing
code hands nothing over and changes nothing but the code's own try counter."""

from __future__ import annotations

import io
import logging

from dsar.core import storage
from dsar.core.audit import record_event
from dsar.delivery.download_codes import CodeRefused, check_code
from dsar.delivery.release import is_downloadable
from dsar.extensions import db
from dsar.models import ActorType, Case, ExportPackage

logger = logging.getLogger(__name__)


class PackageUnavailable(Exception):
    """The package's file cannot be opened (the code stays unspent): ``expired`` when it was
    purged meanwhile, so the download period is over; otherwise it cannot be read."""

    def __init__(self, *, expired: bool):
        super().__init__("expired" if expired else "unreadable")
        self.expired = expired


def open_download(case: Case, package: ExportPackage, session_nonce: str | None,
                  entered: str) -> io.BufferedIOBase:
    """Open the released ``package`` of ``case`` with the code the requester typed: the code
    is spent, the download counted and audited (committed), and the decrypting reader
    returned for streaming. Raises ``CodeRefused`` (a wrong try is counted and committed) or
    :class:`PackageUnavailable`."""
    try:
        spent = check_code(case, package, session_nonce, entered)
    except CodeRefused:
        db.session.commit()  # the try counter (and the audit of the failure) must stick
        raise
    try:
        reader = storage.reader(package.blob_id)
    except storage.BlobError:
        db.session.rollback()  # the code stays unspent
        db.session.refresh(package)
        if not is_downloadable(package):  # expired and purged meanwhile
            raise PackageUnavailable(expired=True) from None
        logger.error("case %s: package %s cannot be read", case.id, package.id)
        raise PackageUnavailable(expired=False) from None
    package.download_count += 1
    record_event("package.downloaded", case=case, actor_type=ActorType.REQUESTER,
                 payload={"package_id": package.id, "download_code_id": spent.id})
    db.session.commit()
    return reader
