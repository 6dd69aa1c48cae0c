"""Periodic jobs, declared as data (Redash habit) and run by RQ's CronScheduler
(``dsar scheduler``). Each entry names its job by dotted path, its queue and its interval."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    func: str
    queue: str
    #: Seconds, or the name of the setting that holds them.
    interval: int | str

    def interval_seconds(self, config) -> int:
        """The interval, read from ``config`` when it names a setting."""
        return int(config[self.interval]) if isinstance(self.interval, str) else self.interval

    @property
    def job_id(self) -> str:
        """One id per periodic job: a run still queued or running is not queued again."""
        return f"periodic-{self.name}"


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob("expire-unconfirmed", "workers.jobs.expire_unconfirmed_cases", "maintenance", 3600),
    # Recovery after a fault waits for this one (docs/architecture.md): every few seconds.
    PeriodicJob("sweep-lost-work", "workers.jobs.sweep_lost_work", "maintenance",
                "SWEEP_INTERVAL_SECONDS"),
    # Hourly, but each reminder and each day's digest is sent once (see dsar.cases.reminders).
    PeriodicJob("deadline-reminders", "workers.jobs.send_deadline_reminders", "maintenance",
                3600),
    PeriodicJob("overdue-digest", "workers.jobs.send_overdue_digest", "maintenance", 3600),
    # Searches index what is new themselves; this keeps that to minutes of logs, not days.
    PeriodicJob("file-indexes", "workers.jobs.update_file_indexes", "maintenance", 600),
    # Identity documents are deleted as soon as they have served; this purges what is left.
    PeriodicJob("purge-proofs", "workers.jobs.purge_identity_documents", "maintenance", 3600),
    # A package is downloadable for EXPORT_DAYS days: deleted within the hour after.
    PeriodicJob("purge-exports", "workers.jobs.purge_expired_exports", "maintenance", 900),
    # A restriction is lifted on the date the person was told of (Art. 18(3)).
    PeriodicJob("lift-restrictions", "workers.jobs.lift_due_restrictions", "maintenance", 3600),
    # A closed case's personal data goes after CASE_RETENTION_YEARS (counted in days: daily).
    PeriodicJob("purge-closed-cases", "workers.jobs.purge_closed_cases", "maintenance", 86400),
)
