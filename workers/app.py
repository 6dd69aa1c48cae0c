"""The Flask app a worker process runs its jobs in.

``dsar worker`` (and the tests) install their app with ``set_app``; otherwise the first job
builds one with ``create_app()``. A forked work-horse must not reuse the parent's database
connections, so the pool is disposed (without closing the parent's sockets) after a fork.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask

_app: Flask | None = None
_pid: int | None = None


def set_app(app: Flask) -> None:
    """Use ``app`` for every job run in this process (and its forks)."""
    global _app, _pid
    _app, _pid = app, os.getpid()


@contextmanager
def app_context() -> Iterator[Flask]:
    """An application context for one job, with a database session closed afterwards."""
    global _pid
    if _app is None:
        from dsar import create_app

        set_app(create_app())
    assert _app is not None
    with _app.app_context():
        from dsar.extensions import db

        if _pid != os.getpid():
            db.engine.dispose(close=False)
            _pid = os.getpid()
        try:
            yield _app
        finally:
            db.session.remove()
