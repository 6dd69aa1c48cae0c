"""Where a phase of ``bench/portal.py`` spent the machine: CPU seconds of the web server's
workers, of the database's backends (PostgreSQL: the server processes of the bench's
database) and of Redis, read from ``/proc``; and, on PostgreSQL, what the backends were
waiting for, sampled every 20 ms (a row lock: writers queued behind one another)."""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, text

TICK = os.sysconf("SC_CLK_TCK")


def ticks(pid: int) -> int:
    """User and system clock ticks of ``pid`` (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(fields[11]) + int(fields[12])


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


class Meter:
    """CPU of each part of the server side over a phase, and PostgreSQL's waits."""

    def __init__(self, server_pid: int, redis_pid: int | None, database_url: str,
                 database: str | None):
        self.server_pid, self.redis_pid, self.database = server_pid, redis_pid, database
        self.engine = create_engine(database_url) if database else None
        self.waits: Counter = Counter()
        self.samples = 0
        self._stop = threading.Event()

    def _backends(self) -> list[int]:
        if self.engine is None:
            return []
        with self.engine.connect() as conn:
            return list(conn.scalars(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> "
                "pg_backend_pid()"), {"d": self.database}))

    def _snapshot(self) -> dict[str, int]:
        return {"web workers": sum(ticks(p) for p in children(self.server_pid)),
                "database": sum(ticks(p) for p in self._backends()),
                "redis": ticks(self.redis_pid) if self.redis_pid else 0}

    def _sample(self) -> None:
        with self.engine.connect() as conn:
            while not self._stop.wait(0.02):
                rows = conn.execute(text(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU') "
                    "FROM pg_stat_activity WHERE datname = :d AND state = 'active' "
                    "AND pid <> pg_backend_pid()"), {"d": self.database}).scalars().all()
                conn.rollback()
                self.samples += 1
                self.waits.update(rows)

    def __enter__(self) -> Meter:
        self.before = self._snapshot()
        self.waits.clear()
        self.samples = 0
        self._stop.clear()
        self.sampler = None
        if self.engine is not None:
            self.sampler = threading.Thread(target=self._sample, daemon=True)
            self.sampler.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.sampler is not None:
            self.sampler.join()
        after = self._snapshot()
        # The database's backends outlive a phase (pooled): a difference per group holds.
        self.cpu = {name: max(0, after[name] - self.before[name]) / TICK for name in after}

    def describe(self, wall: float, actions: int) -> list[str]:
        """The phase's CPU per part (share of one core, and milliseconds per action), and the
        database's commonest waits (backends busy on average)."""
        if not actions:
            return []
        parts = ", ".join(f"{name} {seconds / wall:.0%}" for name, seconds in self.cpu.items()
                          if seconds or name == "web workers")
        total = sum(self.cpu.values())
        lines = [f"   CPU (of one core): {parts}; {total / actions * 1000:.1f} ms per action on "
                 f"the server side -> about {2 / (total / actions):,.0f}/s on two idle cores"]
        if self.samples:
            common = ", ".join(f"{name} {count / self.samples:.1f}"
                               for name, count in self.waits.most_common(4))
            lines.append(f"   database backends active (average): {common or 'none'}")
        return lines

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
