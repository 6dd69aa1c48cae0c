"""Which workers are alive, which job each is running, and whether Redis lost its data: what
the sweep needs to tell work in flight from work lost (docs/architecture.md, "how a job stays
exactly-once").

Each worker beats from a thread every ``WORKER_HEARTBEAT_SECONDS``: RQ's own heartbeat on its
worker key, and a key of dsar's, ``dsar:worker:<name>``, naming the job it runs and expiring
after three missed beats. RQ's heartbeat alone cannot say a worker died mid-job: a worker
running a job in its own process beats once when the job starts, its key then living the
job's whole time limit. dsar's key also comes back within one beat after a ``FLUSHALL``, so a
job in flight is never taken for lost.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

WORKER_KEY_PREFIX = "dsar:worker:"
#: Set by the sweep when it first finds it missing: Redis was emptied (``FLUSHALL``) or
#: restarted without its data. Holds the time it was set.
EPOCH_KEY = "dsar:queue-epoch"
#: A worker missing this many beats is dead.
BEATS_TO_DEATH = 3
#: After Redis lost its data, every live worker has named its job again within one beat;
#: two leave a margin (a beat late under load) yet stay under the sweep's interval.
BEATS_TO_SETTLE = 2


def worker_key(name: str) -> str:
    """The liveness key of the worker called ``name``."""
    return f"{WORKER_KEY_PREFIX}{name}"


class Heartbeat:
    """A daemon thread that says, every ``interval`` seconds, that worker ``name`` is alive
    and which job it runs. A beat that fails (Redis down) is logged once and tried again at
    the next one: the thread never stops the worker."""

    def __init__(self, connection: Redis, name: str, interval: float, rq_worker=None):
        self.connection = connection
        self.key = worker_key(name)
        self.interval = interval
        self.rq_worker = rq_worker
        self._job_id = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{name}",
                                        daemon=True)
        self._failing = False

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and remove the key: a worker that stops cleanly is not dead."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval + 1)
        with contextlib.suppress(RedisError):
            self.connection.delete(self.key)

    def running(self, job_id: str | None) -> None:
        """Say now (not at the next beat) that the worker runs ``job_id`` (None: no job)."""
        self._job_id = job_id or ""
        self.beat()

    def beat(self) -> None:
        try:
            ttl_ms = int(self.interval * BEATS_TO_DEATH * 1000)
            with self.connection.pipeline() as pipe:
                pipe.hset(self.key, mapping={"current_job": self._job_id,
                                             "beat_at": datetime.now(UTC).isoformat()})
                pipe.pexpire(self.key, ttl_ms)
                pipe.execute()
            if self.rq_worker is not None:
                # RQ's own key and its last_heartbeat (its monitoring reads them).
                self.rq_worker.heartbeat()
        except RedisError as exc:
            if not self._failing:
                logger.warning("worker heartbeat failed (%s); retrying", type(exc).__name__)
            self._failing = True
            return
        if self._failing:
            logger.info("worker heartbeat back")
        self._failing = False

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()


def worker_alive(connection: Redis, name: str | None) -> bool:
    """Whether the worker called ``name`` beat within its last three beats."""
    return bool(name) and bool(connection.exists(worker_key(name)))


def live_workers(connection: Redis) -> list[str]:
    """The names of the workers whose liveness key is still there (beat within three beats)."""
    return sorted(key.decode()[len(WORKER_KEY_PREFIX):]
                  for key in connection.scan_iter(match=f"{WORKER_KEY_PREFIX}*", count=100))


def running_jobs(connection: Redis) -> dict[str, str]:
    """The jobs live workers say they run: job id → worker name."""
    running = {}
    for key in connection.scan_iter(match=f"{WORKER_KEY_PREFIX}*", count=100):
        job_id = connection.hget(key, "current_job")
        if job_id:
            name = key.decode()[len(WORKER_KEY_PREFIX):]
            running[job_id.decode()] = name
    return running


def redis_emptied_at(connection: Redis, now: datetime) -> datetime:
    """When the sweep last found Redis emptied (``FLUSHALL``, or a restart without its data):
    every job queued before then is lost. The first call after such a loss records ``now``;
    on a fresh install that is the first sweep."""
    connection.set(EPOCH_KEY, now.isoformat(), nx=True)
    raw = connection.get(EPOCH_KEY)
    return datetime.fromisoformat(raw.decode()) if raw else now
