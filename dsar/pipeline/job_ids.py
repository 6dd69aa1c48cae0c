"""Every job dsar queues: the function it names and its id, built here and nowhere else. The ids
are deterministic, so queuing the same work twice names the same job."""

from __future__ import annotations

#: The only module whose functions a job may name.
JOBS_MODULE = "workers.jobs"

MAIL_JOB = f"{JOBS_MODULE}.send_email"
GATHER_JOB = f"{JOBS_MODULE}.gather_source"
COLLECT_JOB = f"{JOBS_MODULE}.collect_gathering"
PACKAGE_JOB = f"{JOBS_MODULE}.build_package"
TRANSMIT_JOB = f"{JOBS_MODULE}.transmit_package"
STEP_JOB = f"{JOBS_MODULE}.carry_out_step"
VERIFY_JOB = f"{JOBS_MODULE}.verify_plan"
CERTIFICATE_JOB = f"{JOBS_MODULE}.build_certificate"


def mail_job_id(outbound_id: int) -> str:
    """Id of the job sending outbox e-mail ``outbound_id``."""
    return f"mail-{outbound_id}"


def gather_job_id(case_id: int, source: str, round_: int = 1) -> str:
    """Deterministic id of a search job (``case-<id>-gather-<source>``; later rounds
    add ``-r<n>``)."""
    base = f"case-{case_id}-gather-{source}"
    return base if round_ == 1 else f"{base}-r{round_}"


def collect_job_id(case_id: int, round_: int) -> str:
    """Deterministic id of the fan-in job of a round."""
    return f"case-{case_id}-collect-r{round_}"


def package_job_id(case_id: int, results_digest: str) -> str:
    """Id of the build of a case's answer package from the search results of this digest
    (``dsar.exports.build.results_digest``): the same results name the same job, so a build
    is queued once; new results (a source searched again) name a new one, not held back by
    a build of the old ones still running."""
    return f"case-{case_id}-package-{results_digest[:16]}"


def transmit_job_id(package_id: int) -> str:
    """Id of the direct transmission of a released portability package."""
    return f"package-{package_id}-transmit"


def step_job_id(case_id: int, source: str) -> str:
    """Id of the job carrying out a case's approved plan in one source."""
    return f"case-{case_id}-change-{source}"


def verify_job_id(case_id: int) -> str:
    """Id of the job verifying a case's plan once every step is finished."""
    return f"case-{case_id}-verify"


def certificate_job_id(case_id: int) -> str:
    """Id of the build of a case's erasure certificate."""
    return f"case-{case_id}-certificate"
