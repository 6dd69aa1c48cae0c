"""The ``sql`` connector's database engines: how a search reaches a source's database.

A server database (PostgreSQL, MySQL…) is reached through one engine per URL and per worker
process, whose pool keeps one connection open between searches: checked before each use (the
database may have restarted), and replaced after :data:`POOL_RECYCLE` seconds. Opening a
PostgreSQL connection per search (TCP, authentication, a server process forked, the dialect's
first-connect queries) cost 20-25 ms, for a search of 4 ms (``bench/gather.py``).

A SQLite file is opened per search (NullPool), as before: that costs next to nothing, and a
file replaced on disk is then always the one read.
"""

from __future__ import annotations

import os

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

#: Seconds after which a pooled connection is closed and opened again on its next use.
POOL_RECYCLE = 600

#: Engines of server databases, by URL, for the life of the process (a forked child starts
#: with none: it must not share its parent's sockets).
_ENGINES: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """The engine a search of ``url`` uses: the process's pooled one for a server database, a
    new NullPool one for SQLite (dispose of it after the search). Raises SQLAlchemy's
    ``ArgumentError`` or ``ImportError`` for a URL it cannot use."""
    if url in _ENGINES:
        return _ENGINES[url]
    if make_url(url).get_backend_name() == "sqlite":
        return create_engine(url, poolclass=NullPool, hide_parameters=True)
    # One search at a time per worker: one pooled connection (a few more if threads search).
    engine = create_engine(url, pool_size=1, max_overflow=4, pool_pre_ping=True,
                           pool_recycle=POOL_RECYCLE, hide_parameters=True)
    _ENGINES[url] = engine
    return engine


def is_kept(engine: Engine) -> bool:
    """Whether ``engine`` is one the process keeps (not to be disposed of after a search)."""
    return any(engine is kept for kept in _ENGINES.values())


def _forget_after_fork() -> None:
    for engine in _ENGINES.values():
        engine.dispose(close=False)  # the parent's connections stay the parent's
    _ENGINES.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
