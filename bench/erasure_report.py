"""What ``bench/erasure.py`` prints: the figures against the goals, and where one case's time
goes, read from RQ's records of its jobs (kept ``RESULT_TTL`` seconds) and from the bench's own
stamps (the DPO's approval)."""

from __future__ import annotations

import os
import statistics
from datetime import UTC

from bench.erasure_measure import Figures
from bench.gather_harness import percentile

#: Goals (issue 13), ms and MB.
GOALS = {"verified_p50": 400, "verified_p95": 600, "certificate_p50": 1500, "memory_mb": 300}


def _at(moment) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def job_steps(app, figures: Figures, source: str) -> dict[str, float]:
    """The median of each step of the timed cases: the staff action until the search is
    queued, each job's wait in its queue and its run, the DPO's approval (the bench's own
    stamps), and the gaps the notifications show."""
    from sqlalchemy import select

    from dsar import pipeline
    from dsar.extensions import db
    from dsar.models import MailTemplate, OutboundEmail

    samples: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        samples.setdefault(name, []).append(seconds)

    with app.app_context():
        for case_id, line in figures.timed.items():
            mails = db.session.scalars(select(OutboundEmail.id).where(
                OutboundEmail.case_id == case_id,
                OutboundEmail.template == MailTemplate.RECIPIENT_NOTICE)).all()
            jobs = {"search": pipeline.gather_job_id(case_id, source),
                    "fan-in (plan drafted)": pipeline.collect_job_id(case_id, 1),
                    "step (carry out)": pipeline.step_job_id(case_id, source),
                    "verification": pipeline.verify_job_id(case_id),
                    **{f"notice e-mail {n + 1}": pipeline.mail_job_id(m)
                       for n, m in enumerate(sorted(mails))},
                    "certificate": pipeline.certificate_job_id(case_id)}
            records = {name: pipeline.fetch_job(job_id) for name, job_id in jobs.items()}
            if any(r is None or r.ended_at is None for r in records.values()):
                continue
            add("staff action, until the search is queued",
                _at(records["search"].enqueued_at) - line.wall)
            for name, record in records.items():
                if name == "step (carry out)":
                    add("DPO's approval (bench: load, approve, commit, queue)",
                        line.approved - line.approving)
                add(f"{name}: waits", _at(record.started_at) - _at(record.enqueued_at))
                add(f"{name}: runs", _at(record.ended_at) - _at(record.started_at))
        db.session.remove()
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def _verdict(value: float, goal: float, unit: str = "ms") -> tuple[bool, str]:
    ok = value < goal
    return ok, f"  (goal < {goal:,} {unit})  {'PASS' if ok else 'FAIL'}"


def report(label: str, figures: Figures, peak_mb: float) -> bool:
    """Print the figures against the goals; True if every goal is met."""
    ok = not figures.remains
    print(f"\n== {label}")
    print(f"   one at a time: {len(figures.timed)} cases; burst: {figures.burst} cases")
    rows = [("start -> plan drafted (search)", "began", "drafted", None),
            ("DPO's approval (bench)", "approving", "approved", None),
            ("approved -> step done", "approved", "executed", None),
            ("step done -> plan verified", "executed", "verified", None),
            ("start -> plan verified", "began", "verified", "verified"),
            ("plan verified -> certificate", "verified", "certificate", "certificate"),
            ("start -> certificate", "began", "certificate", None)]
    for name, start, end, goal in rows:
        values = figures.series(start, end)
        for q in (50, 95):
            value = percentile(values, q) * 1000
            line = f"   {name:32} p{q}: {value:7.1f} ms"
            wanted = GOALS.get(f"{goal}_p{q}") if goal else None
            if wanted is not None:
                met, text = _verdict(value, wanted)
                ok &= met
                line += text
            print(line)
    if figures.burst:
        print(f"   burst, two workers: {figures.verified_per_minute:5.0f} erasures verified per"
              f" minute, {figures.certificates_per_minute:5.0f} certificates per minute")
    met, text = _verdict(peak_mb, GOALS["memory_mb"], "MB")
    ok &= met
    print(f"   peak memory of a worker: {peak_mb:6.0f} MB{text}")
    if figures.remains:
        print(f"   FAIL: the verification found records left for cases {figures.remains}")
    print(f"   workers' CPU per case: {figures.cpu_ms_per_case:.0f} ms one at a time, "
          f"{figures.burst_cpu_ms_per_case:.0f} ms in the burst; load average "
          f"{figures.load[0]:.1f} at the start, {figures.load[1]:.1f} at the end "
          f"({os.cpu_count()} CPUs)")
    if figures.steps:
        print("   one at a time, where the time goes (medians, from RQ's job records):")
        for name, ms in figures.steps.items():
            print(f"      {name:52} {ms:7.1f} ms")
    return ok
