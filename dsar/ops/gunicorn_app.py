"""Gunicorn embedded: ``dsar serve`` runs gunicorn's arbiter in its own process, on the app the
command line has just made (no ``gunicorn module:app`` string, no second configuration).

The app is made once, in the arbiter, before the workers are forked: a bad configuration stops
the command with one line instead of workers failing one after the other, and the workers share
the memory of the loaded code. Each worker then drops the database connections it inherited
(:func:`_post_fork`) so no two processes ever talk on one socket.
"""

from __future__ import annotations

import gc
import os

from flask import Flask
from gunicorn.app.base import BaseApplication

#: What one request writes in the access log: the client (after the app's ProxyFix, when
#: PROXY_FIX_X_FOR is set), the time, the method, the *path without its query string* (a query
#: may carry anything a visitor typed; the path's link tokens are hidden by
#: ``dsar.web.access_log``), the status, the bytes sent and the time taken in milliseconds.
#: No referrer (a page opened from a link names the link) and no cookies.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'


def default_workers() -> int:
    """One worker process per CPU core this process may use, plus one (3 on 2 cores).

    Gunicorn's rule of thumb is two per core plus one, for workers that wait on I/O as long as
    they compute. The portal's pages mostly compute: a status page waits on the database for
    a fraction of a millisecond, and a form is buffered by nginx before it reaches a worker.
    Measured with ``bench/portal.py`` on two cores (PostgreSQL, back to back): 3 workers serve
    583 status pages and 140 submissions a second, 5 workers 505 and 127: more processes than
    cores only take turns on them."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return cores + 1


#: The worker's youngest-generation threshold for the cyclic garbage collector (Python's
#: default is 700 allocations): a page allocates thousands of short-lived objects, and
#: collecting every 700 cost a few percent of a status page's CPU.
WORKER_GC_THRESHOLD = (10_000, 10, 10)


def _pre_fork(server, worker) -> None:
    """In the arbiter, before a worker is forked: the loaded app's objects are moved out of
    the garbage collector's sight (``gc.freeze``), so the workers' collections never walk
    them again (and, on Python 3.12 and later, whose frozen objects are immortal, share more
    of their memory with the arbiter)."""
    gc.freeze()


def _post_fork(server, worker) -> None:
    """In each new worker: forget (without closing) the database connections of the arbiter's
    pool, as SQLAlchemy asks of a forked process; the worker opens its own. Then collect less
    often (``WORKER_GC_THRESHOLD``)."""
    from dsar.extensions import db

    app = server.app.wsgi()
    with app.app_context():
        db.engine.dispose(close=False)
    gc.set_threshold(*WORKER_GC_THRESHOLD)


def server_options(*, bind: list[str], workers: int, threads: int, timeout: int,
                   graceful_timeout: int, access_log: str | None, log_level: str) -> dict:
    """Gunicorn's settings for ``dsar serve``."""
    return {
        "bind": bind,
        "workers": workers,
        # One thread: the sync worker, one request at a time per process (nginx in front
        # buffers slow clients). More: gthread, which also keeps connections alive.
        "worker_class": "gthread" if threads > 1 else "sync",
        "threads": threads,
        "timeout": timeout,
        # SIGTERM (systemd's stop) lets requests under way finish for this long.
        "graceful_timeout": graceful_timeout,
        "keepalive": 5,
        # The workers' heartbeat files in memory: on a disk, a slow write could make the
        # arbiter think a busy worker hung.
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,  # noqa: S108
        "accesslog": access_log,
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",
        "loglevel": log_level.lower(),
        "preload_app": True,
        "pre_fork": _pre_fork,
        "post_fork": _post_fork,
        "proc_name": "dsar-serve",
        # No control socket (gunicornc) in the home folder: two servers on one machine would
        # fight over it, and systemd's signals are how this server is managed.
        "control_socket_disable": True,
        # The forwarded headers are the app's business alone (werkzeug's ProxyFix, set by
        # PROXY_FIX_X_FOR, reads X-Forwarded-For and X-Forwarded-Proto): gunicorn trusts no
        # peer to set the scheme or override SCRIPT_NAME/PATH_INFO, so the two never
        # disagree about a request (nor refuse one whose headers they read differently).
        "forwarded_allow_ips": "",
        "secure_scheme_headers": {},
        "forwarder_headers": "",
    }


class GunicornServer(BaseApplication):
    """Gunicorn's arbiter serving ``app`` with ``options`` (gunicorn setting names)."""

    def __init__(self, app: Flask, options: dict):
        self.app, self.options = app, options
        super().__init__(prog="dsar serve")

    def load_config(self) -> None:
        """Set each option (gunicorn validates it; a bad one ends the command)."""
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        """The app the command line made."""
        from dsar.web import access_log

        access_log.init_app(self.app)  # already done by create_app; the log depends on it
        return self.app
