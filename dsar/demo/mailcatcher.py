"""A real SMTP server that keeps every message in a Maildir instead of delivering it.

Used by the demo (so a tester can click the links offline) and by the tests (a real SMTP
conversation, in-process)."""

from __future__ import annotations

import mailbox
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller


class MaildirHandler:
    """aiosmtpd handler: store each accepted message in ``directory`` (a Maildir)."""

    def __init__(self, directory: str | Path):
        self.maildir = open_maildir(directory)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.maildir.add(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def open_maildir(directory: str | Path) -> mailbox.Maildir:
    """The Maildir at ``directory``, with its sub-folders created even if the folder exists."""
    for sub in ("new", "cur", "tmp"):
        (Path(directory) / sub).mkdir(parents=True, exist_ok=True)
    return mailbox.Maildir(str(directory), create=False)


def start_catcher(directory: str | Path, host: str = "127.0.0.1", port: int = 8025) -> Controller:
    """Start the SMTP catcher in a background thread; call ``.stop()`` on the result."""
    controller = Controller(MaildirHandler(directory), hostname=host, port=port)
    controller.start()
    return controller


def read_messages(directory: str | Path) -> list[EmailMessage]:
    """Every caught message, in the order they arrived (file time, then Maildir's unique
    name, which starts with the time): the Date header only has one-second resolution."""
    open_maildir(directory)
    files = [p for sub in ("new", "cur") for p in (Path(directory) / sub).iterdir() if p.is_file()]
    files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]
