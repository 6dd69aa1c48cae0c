"""The public portal under load: real HTTP against ``dsar serve`` (gunicorn) on this machine,
on PostgreSQL and on SQLite.

Two workloads, each first as fast as the server answers (throughput) and then paced at the
goal's rate (latency at that rate, counted from when each request was due, so a server or a
generator that falls behind shows as latency, not as fewer requests):

- **form submissions**: GET ``/request/access`` (the page, its CSRF token and session
  cookie), then the multipart POST of every field of the access-request form (an empty file
  part for the optional document, as a browser sends it): the case, its audit events and the
  confirmation e-mail written to the database (the outbox) and queued in Redis. A submission
  is the two requests; its latency, both. Goal: >= 200/s, p95 < 100 ms at 200/s.
- **status pages**: GET ``/status/<reference>`` with the session the e-mailed link opened
  (cases filed by the first workload, confirmed through their confirmation link, whose
  redirect to the status page is followed once, as a browser does). Goal:
  >= 500/s, p95 < 100 ms at 500/s.

Rate limits stay on, as deployed: the server trusts one proxy (``PROXY_FIX_X_FOR=1``, as behind
nginx) and every visitor comes from a client address of its own (``X-Forwarded-For``) with an
e-mail address of its own, so the per-address intake limit and the per-e-mail flag apply to
each visitor, as with real visitors behind nginx, rather than to the generator as a whole.
No worker runs: the e-mails wait in the outbox and the queue (the web server's work only).

When the server cannot reach a goal, a third phase is paced at 80% of what it reached: the
latency below saturation, for the record.

Afterwards: zero errors, every submission's case and e-mail in the database, and no link
token in the access log. The load generator (``bench/portal_client.py``, raw sockets in
threads) runs on the same two cores; its own CPU is printed with the figures, and so is the
CPU of the server's parts (``bench/portal_meter.py``: gunicorn's workers, the database's
backends, Redis) per action, with the capacity that makes on two idle cores, and on
PostgreSQL what the busy backends were waiting for. ``Lock:transactionid``/``Lock:tuple``
there are submissions queued behind one another on the audit chain's head row, which each
filing locks from its audit event until its commit.

    .venv/bin/python bench/portal.py \\
        --admin-url postgresql+psycopg://dsar:dsar@127.0.0.1:5432/postgres
    .venv/bin/python bench/portal.py --sqlite
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from redis import Redis
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gather_harness import (  # noqa: E402
    dsar_env,
    ensure_database,
    free_port,
    percentile,
    redis_server,
    wait_for_port,
)
from bench.portal_client import (  # noqa: E402
    Connection,
    HttpError,
    csrf_token,
    multipart,
    run_phase,
    session_cookie,
)
from bench.portal_meter import Meter  # noqa: E402

GOALS = {"submissions": 200, "status": 500, "p95_ms": 100}
DATABASE = "dsar_hA_bench"
HOST = "127.0.0.1"


def visitor_headers(n: int) -> dict[str, str]:
    """A visitor of its own: its client address, as nginx forwards it."""
    return {"X-Forwarded-For": f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}",
            "Accept-Language": "fr-FR,fr;q=0.9"}


def expect(response, status: int, what: str):
    if response.status != status:
        raise HttpError(f"{what}: {response.status}, not {status}")
    return response


def submit(conn: Connection, n: int, due: float) -> dict[str, float]:
    """One complete access request, as a browser files it."""
    headers = visitor_headers(n)
    page = expect(conn.request("GET", "/request/access", headers), 200, "form page")
    shown = time.perf_counter()
    content_type, body = multipart({
        "csrf_token": csrf_token(page), "full_name": f"Camille Martin {n}",
        "email": f"camille.martin.{n}@example.org", "customer_number": f"CUST-{n}",
        "phone": "06 12 34 56 78", "representative_name": "",
        "message": "Je souhaite une copie de mes données.", "declaration": "y",
    }, {"proof": ("", b"", "application/octet-stream")})
    cookie = session_cookie(page, None)
    sent = conn.request("POST", "/request/access", {**headers, "Cookie": cookie or "",
                                                    "Content-Type": content_type}, body)
    expect(sent, 302, "submission")
    if not sent.headers.get("location", "").endswith("/request/sent"):
        raise HttpError(f"submission: redirected to {sent.headers.get('location')}")
    done = time.perf_counter()
    return {"form page": shown - due, "POST": done - shown, "submission": done - due}


def status_reader(sessions: list[tuple[str, str, int]]):
    """The status-page scenario over ``sessions`` (reference, cookie, visitor)."""
    def read(conn: Connection, n: int, due: float) -> dict[str, float]:
        reference, cookie, visitor = sessions[n % len(sessions)]
        page = conn.request("GET", f"/status/{reference}",
                            {**visitor_headers(visitor), "Cookie": cookie})
        expect(page, 200, "status page")
        if reference.encode() not in page.body:
            raise HttpError("status page without its reference")
        return {"status page": time.perf_counter() - due}
    return read


def open_links(env: dict[str, str], port: int, limit: int) -> tuple[list, list[str]]:
    """Confirm up to ``limit`` filed cases through their e-mailed link, as their requesters
    do: the sessions the links open, and every token used (to look for in the access log)."""
    os.environ.update(env)
    from dsar import create_app
    from dsar.core.tokens import case_token
    from dsar.extensions import db

    app = create_app()
    with app.app_context():
        rows = db.session.execute(text(
            "SELECT reference, token_salt FROM cases ORDER BY id LIMIT :n"), {"n": limit}).all()
        links = [(reference, case_token(reference, salt, "confirm"),
                  case_token(reference, salt, "status")) for reference, salt in rows]
        db.engine.dispose()
    sessions, secrets = [], []
    conn = Connection(HOST, port)
    for visitor, (reference, token, status_token) in enumerate(links, start=9_000_000):
        secrets += [token, status_token]
        headers = visitor_headers(visitor)
        page = expect(conn.request("GET", f"/confirm/{reference}/{token}", headers), 200,
                      "confirmation page")
        cookie = session_cookie(page, None)
        body = f"csrf_token={csrf_token(page)}".encode()
        done = expect(conn.request("POST", f"/confirm/{reference}/{token}", {
            **headers, "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
            body), 302, "confirmation")
        # The browser follows the redirect to the status page, which shows the confirmation
        # once (a flash message) and answers with the session without it.
        cookie = session_cookie(done, cookie)
        shown = expect(conn.request("GET", f"/status/{reference}", {**headers, "Cookie": cookie}),
                       200, "status page after confirming")
        sessions.append((reference, session_cookie(shown, cookie), visitor))
    conn.close()
    return sessions, secrets


def phase(label: str, scenario, port: int, meter: Meter, args, *, rate: float | None,
          first: int, step: str, goal: float | None) -> tuple[int, bool, float]:
    """Run and print one phase; returns (actions completed, goals met, actions a second)."""
    with meter:
        tally, wall, cpu = run_phase(scenario, HOST, port, threads=args.concurrency,
                                     seconds=args.seconds, rate=rate, first_visitor=first)
    achieved = tally.completed / wall
    print(f"\n-- {label}: {tally.completed} in {wall:.1f} s = {achieved:,.0f}/s"
          f"{f' (paced at {rate:,.0f}/s)' if rate else ''}; errors {len(tally.errors)}; "
          f"generator {cpu / wall:.0%} of a core; load average {os.getloadavg()[0]:.1f}")
    for line in meter.describe(wall, tally.completed):
        print(line)
    for name, values in tally.latencies.items():
        print(f"   {name:12} p50 {percentile(values, 50) * 1000:6.1f} ms   "
              f"p95 {percentile(values, 95) * 1000:6.1f} ms")
    for error in sorted(set(tally.errors))[:5]:
        print(f"   error: {error} (x{tally.errors.count(error)})")
    ok = not tally.errors
    if rate is None and goal is not None:
        met = achieved >= goal
        print(f"   throughput goal >= {goal:,.0f}/s: {'PASS' if met else 'FAIL'}")
        ok &= met
    if rate is not None and tally.latencies.get(step):
        p95 = percentile(tally.latencies[step], 95) * 1000
        met = p95 < GOALS["p95_ms"] and achieved >= rate * 0.97
        if goal is not None:
            print(f"   p95 {step} at {rate:,.0f}/s < {GOALS['p95_ms']} ms: "
                  f"{'PASS' if met else 'FAIL'}")
            ok &= met
    return tally.completed, ok, achieved


def workload(name: str, scenario, port: int, meter: Meter, args, *, step: str, goal: float,
             first: int) -> tuple[int, bool]:
    """As fast as served (the throughput goal), then paced at the goal's rate (the latency
    goal); when the server cannot reach the goal, also paced at 80% of what it reached (for
    the record: the latency below saturation). Returns (actions completed, goals met)."""
    done, ok, top = phase(f"{name}, as fast as served", scenario, port, meter, args,
                          rate=None, first=first, step=step, goal=goal)
    count, met, _ = phase(f"{name} at the goal's rate", scenario, port, meter, args,
                          rate=goal, first=first + 100_000, step=step, goal=goal)
    done, ok = done + count, ok and met
    if top < goal:
        count, _, _ = phase(f"{name} at 80% of the rate reached (no goal)", scenario, port,
                            meter, args, rate=max(1.0, 0.8 * top), first=first + 200_000,
                            step=step, goal=None)
        done += count
    return done, ok


def run(label: str, database_url: str, workdir: Path, args) -> bool:
    """One database: a fresh instance, ``dsar serve``, the four phases, the checks."""
    print(f"\n== {label}")
    instance = workdir / f"instance-{label}"
    with redis_server(workdir) as redis_url:
        env = dsar_env(instance, database_url, redis_url, DSAR_PROXY_FIX_X_FOR="1",
                       DSAR_BASE_URL="http://127.0.0.1")
        done = subprocess.run([sys.executable, "-m", "dsar", "init"], env=env,
                              capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"dsar init failed:\n{done.stdout}{done.stderr}")
        port, access_log = free_port(), workdir / f"access-{label}.log"
        command = [sys.executable, "-m", "dsar", "serve", "--bind", f"{HOST}:{port}",
                   "--access-log", str(access_log), *shlex.split(args.serve_args)]
        print(f"   {' '.join(command[2:])}")
        with open(workdir / "serve.log", "ab") as errors:
            server = subprocess.Popen(command, env=env, stderr=errors)
        meter = Meter(server.pid, Redis.from_url(redis_url).info("server")["process_id"],
                      database_url, DATABASE if database_url.startswith("postgresql") else None)
        try:
            wait_for_port(port, server)
            # The workers boot after the port opens: the first answer waits for them.
            expect(Connection(HOST, port).request("GET", "/request/access"), 200, "first page")
            filed, _, _ = phase("warm-up (submissions)", submit, port, meter, args,
                                rate=None, first=0, step="submission", goal=None)
            count, ok = workload("submissions", submit, port, meter, args, step="submission",
                                 goal=GOALS["submissions"], first=1_000_000)
            filed += count
            sessions, secrets = open_links(env, port, args.cases)
            ok &= workload("status pages", status_reader(sessions), port, meter, args,
                           step="status page", goal=GOALS["status"], first=0)[1]
        finally:
            meter.close()
            server.terminate()
            server.wait(60)
    ok &= check_writes(database_url, filed, len(sessions))
    log = access_log.read_text()
    leaked = [s for s in secrets if s in log]
    print(f"   access log: {len(log.splitlines()):,} lines, "
          f"{len(re.findall(r'/confirm/[^/ ]+/.redacted.', log))} confirmation links "
          f"redacted, {len(leaked)} tokens written: {'PASS' if not leaked else 'FAIL'}")
    return ok and not leaked


def check_writes(database_url: str, filed: int, confirmed: int) -> bool:
    """Every submission a case and a confirmation e-mail in the outbox; every confirmation
    one more e-mail (the status link)."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        cases = conn.scalar(text("SELECT count(*) FROM cases"))
        emails = conn.scalar(text("SELECT count(*) FROM outbound_emails"))
    engine.dispose()
    ok = cases == filed and emails >= filed + confirmed
    print(f"\n   database: {cases:,} cases for {filed:,} submissions, {emails:,} e-mails in the "
          f"outbox: {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url",
                        default="postgresql+psycopg://dsar:dsar@127.0.0.1:5432/postgres",
                        help=f"a PostgreSQL role that may create {DATABASE} (dropped after)")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--seconds", type=float, default=10, help="each phase")
    parser.add_argument("--concurrency", type=int, default=12, help="client threads")
    parser.add_argument("--cases", type=int, default=300, help="status pages read in turn")
    parser.add_argument("--serve-args", default="",
                        help='more options for dsar serve, e.g. "--workers 5 --threads 2"')
    args = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dsar-portal-bench-") as tmp:
        workdir = Path(tmp)
        if args.sqlite:
            ok = run("sqlite", f"sqlite:///{workdir / 'portal.sqlite3'}", workdir, args)
        else:
            url = ensure_database(args.admin_url, DATABASE, fresh=True)
            try:
                ok = run("postgresql", url, workdir, args)
            finally:
                engine = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
                with engine.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
                engine.dispose()
    print(f"\nOverall: {'PASS' if ok else 'FAIL'} ({time.perf_counter() - began:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
