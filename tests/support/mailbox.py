"""What the tests' real SMTP server (aiosmtpd, in-process) received."""

from __future__ import annotations

import re
from pathlib import Path

from dsar.demo.mailcatcher import read_messages


def body_of(message) -> str:
    """The plain-text body of an e-mail."""
    return message.get_body(preferencelist=("plain",)).get_content()


class Mailbox:
    """The messages a real SMTP server (aiosmtpd, in-process) received."""

    def __init__(self, directory: Path, port: int):
        self.directory = directory
        self.port = port

    def messages(self):
        """Every message received, oldest first."""
        return read_messages(self.directory)

    def clear(self) -> None:
        """Forget every message (after a test)."""
        for sub in ("new", "cur", "tmp"):
            for path in (self.directory / sub).glob("*"):
                path.unlink()

    def last_to(self, address: str):
        """The newest message to ``address`` (fails the test if there is none)."""
        matching = [m for m in self.messages() if m["To"] == address]
        assert matching, f"no e-mail to {address}"
        return matching[-1]

    @staticmethod
    def links(message) -> list[str]:
        """The links in the message's plain-text body."""
        return re.findall(r"https?://\S+", body_of(message))
