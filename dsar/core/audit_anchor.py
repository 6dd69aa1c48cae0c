"""Anchors of the audit trail outside the database (``dsar audit anchor``).

The signed head stops anyone without the key from re-pointing it, but not from putting back an
earlier copy of the database, or emptying the trail and letting the application start a new
one. An anchor is the head as it stood at a time, written where the database's writers cannot
reach (an append-only file on another machine's mount, the system log), with an HMAC under its
own audit sub-key so that no one without the key can write or change a line.
``dsar audit verify --anchor FILE`` then checks that every anchored event is still in the
chain, at the same position, with the same hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from datetime import UTC, datetime
from logging.handlers import SysLogHandler

from dsar.core.audit import HEAD_ID, Anchor, audit_subkey, head_signed
from dsar.extensions import db
from dsar.models import AuditHead

logger = logging.getLogger(__name__)

#: Where ``--syslog`` sends its line (the local syslog daemon's socket).
SYSLOG_ADDRESS = "/dev/log"
#: The tag in front of each line in the system log (``grep`` for it to make an anchor file).
SYSLOG_TAG = "dsar-audit-anchor: "


class AnchorError(Exception):
    """The head cannot be anchored, or the anchor could not be written."""


def head_line() -> tuple[str, AuditHead]:
    """The current head as one JSON line (time, count, last event id, last hash, MAC), and the
    head. Refused for a head the application did not sign: an anchor must not vouch for it."""
    head = db.session.get(AuditHead, HEAD_ID)
    if head is None:
        raise AnchorError("the chain head is missing: nothing to anchor "
                          "(run `dsar audit verify`)")
    if head.signature is None:
        raise AnchorError("the chain head is not signed: check the trail with "
                          "`dsar audit verify`, then `dsar audit seal`")
    if not head_signed(head):
        raise AnchorError("the chain head's signature is wrong: nothing to anchor "
                          "(run `dsar audit verify`)")
    fields = {
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "count": head.count,
        "last_event_id": head.last_event_id,
        "last_hash": head.last_hash,
    }
    fields["mac"] = _mac(fields)
    return json.dumps(fields), head


def _mac(fields: dict) -> str:
    message = json.dumps([fields["at"], fields["count"], fields["last_event_id"],
                          fields["last_hash"]], separators=(",", ":"))
    return hmac.new(audit_subkey("audit-anchor"), message.encode(), hashlib.sha256).hexdigest()


def append_to_file(path: str | os.PathLike, line: str) -> None:
    """Append ``line`` to ``path`` (created 0600), in one write, flushed to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


class _RaisingSysLogHandler(SysLogHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        raise  # inside emit's except: the operator must know it failed


def send_to_syslog(line: str) -> None:
    """Send ``line`` to the local syslog daemon (user.info, tagged ``dsar-audit-anchor``).
    What happens to it next (kept, forwarded to a log host) is the daemon's configuration."""
    try:
        handler = _RaisingSysLogHandler(address=SYSLOG_ADDRESS)
    except OSError as exc:
        raise AnchorError(f"cannot reach syslog at {SYSLOG_ADDRESS} ({exc.strerror}): "
                          "use --file") from None
    handler.ident = SYSLOG_TAG
    try:
        handler.emit(logging.LogRecord(__name__, logging.INFO, __file__, 0, line, None, None))
    except OSError as exc:
        raise AnchorError(f"syslog at {SYSLOG_ADDRESS} refused the line ({exc.strerror})") \
            from None
    finally:
        handler.close()


def read_anchors(path: str | os.PathLike) -> tuple[list[Anchor], list[str]]:
    """The anchors of an anchor file and the faults of its lines (unreadable, or altered:
    MAC wrong). Text before a line's JSON (a syslog prefix) is ignored; so are blank lines."""
    anchors: list[Anchor] = []
    faults: list[str] = []
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                fields, _ = decoder.raw_decode(text, text.index("{"))
                anchor = Anchor(line=number, at=str(fields["at"]), count=int(fields["count"]),
                                last_event_id=int(fields["last_event_id"]),
                                last_hash=str(fields["last_hash"]))
                mac = str(fields["mac"])
            except (ValueError, KeyError, TypeError):
                faults.append(f"line {number} of the anchor file is not an anchor")
                continue
            if not hmac.compare_digest(mac, _mac(fields)):
                faults.append(f"the anchor of {anchor.at} (line {number}) was altered (its "
                              "MAC does not match: changed, or written with another key)")
                continue
            anchors.append(anchor)
    return anchors, faults
