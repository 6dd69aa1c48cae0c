"""A black hole: a TCP port on 127.0.0.1 where connections are made (the kernel completes them
into the listening socket's backlog) but nothing ever answers, as a database or a Redis on a
host that hangs, or behind a firewall that swallows the replies. A client without a timeout
waits there forever."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def black_hole() -> Iterator[int]:
    """The port of a socket listening on 127.0.0.1 that never accepts, until the block ends."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)  # room for every connection a test makes: none is refused
        yield listener.getsockname()[1]
    finally:
        listener.close()
