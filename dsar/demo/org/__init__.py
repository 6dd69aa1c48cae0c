"""The demo organisation, "Académie Horizon Formation", a French online training platform,
and its six data sources, generated with realistic, reproducible French data.

- ``platform.sqlite``: the training platform's database (source ``platform``, kind sql);
- ``crm.sqlite``: the CRM's database, served by :func:`dsar.demo.services.crm_app`
  (source ``crm``, kind http);
- ``newsletter.sqlite``: the newsletter provider's, served by
  :func:`dsar.demo.services.newsletter_app` (source ``newsletter``, kind http);
- ``analytics/events-YYYY-MM.jsonl``: the audience-measurement export (``analytics``);
- ``logs/access.log``, ``logs/access.log.1``: the web server's access logs (``access_logs``);
- ``support/tickets.csv``: the helpdesk export (``support``).

``generate(target, people)`` writes them; the same ``(people, seed)`` always gives the same
bytes. :data:`SHOWCASE` names the people who are always there (see :mod:`.showcase`).
:func:`write_config` writes the matching ``sources.toml`` and ``register.toml``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from .config import write_config
from .crm import write_crm
from .newsletter import write_newsletter
from .people import build_showcase
from .platform import write_platform
from .support import write_support
from .traffic import write_traffic

logger = logging.getLogger(__name__)

__all__ = ["SHOWCASE", "VERSION", "OrgSummary", "generate", "read_manifest", "write_config"]

#: Bump when the generated data changes shape, so the demo regenerates old folders.
VERSION = 1
#: The smallest population: the showcase people use the first 50 account ids.
MIN_PEOPLE = 50
#: From this size the sources are written by parallel processes.
PARALLEL_FROM = 50_000
MANIFEST = "manifest.json"

#: The people always present: "A" (Léa Fontaine, data in all six sources), "B" (her
#: near-twin of the same name), "C" (shares A's office IP address), "D" (his ticket names A),
#: "E" (Cléa Fontaine, whose address contains A's). Key -> first_name, last_name, email,
#: customer_id, visitor_id, work_email, city (A also: email_other_case, office_ip).
SHOWCASE: dict[str, dict] = build_showcase()


@dataclass(frozen=True)
class OrgSummary:
    """What :func:`generate` wrote."""

    target_dir: Path
    people: int
    seed: int
    #: Rows or lines per table or file (``platform.accounts``, ``crm.contacts``…).
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _jobs(target: Path, people: int, seed: int) -> list[tuple[str, object, tuple]]:
    return [
        ("platform", write_platform, (target / "platform.sqlite", people, seed)),
        ("traffic", write_traffic, (target, people, seed)),
        ("crm", write_crm, (target / "crm.sqlite", people, seed)),
        ("newsletter", write_newsletter, (target / "newsletter.sqlite", people, seed)),
        ("support", write_support, (target / "support" / "tickets.csv", people, seed)),
    ]


def _run(job: tuple) -> tuple[str, dict[str, int]]:
    name, writer, args = job
    return name, writer(*args)


def generate(target_dir: Path, people: int, seed: int = 2026, *,
             workers: int | None = None) -> OrgSummary:
    """Write the demo organisation's data into ``target_dir`` for ``people`` account holders
    (at least 50; prospects add a tenth). Deterministic: the same ``(people, seed)`` gives
    byte-identical files. Memory stays flat whatever the size; from 50,000 people the
    sources are written in parallel (``workers`` processes, default: the CPU count)."""
    if people < MIN_PEOPLE:
        raise ValueError(f"people must be at least {MIN_PEOPLE} (the showcase needs them)")
    started = time.monotonic()
    target = Path(target_dir)
    target.mkdir(parents=True, exist_ok=True)
    (target / MANIFEST).unlink(missing_ok=True)  # an interrupted run leaves no valid folder
    jobs = _jobs(target, people, seed)
    workers = workers or (os.cpu_count() or 1)
    if people >= PARALLEL_FROM and workers > 1:
        # spawn, not fork: the caller may run threads (a test's HTTP server, Flask).
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                                 mp_context=get_context("spawn")) as pool:
            results = list(pool.map(_run, jobs))
    else:
        results = [_run(job) for job in jobs]
    counts = {f"{name}.{key}": value for name, part in results for key, value in part.items()}
    manifest = {"generator": "dsar.demo.org", "version": VERSION, "people": people,
                "seed": seed, "counts": counts}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                   encoding="utf-8")
    seconds = time.monotonic() - started
    logger.info("demo organisation generated: %d people in %.1f s", people, seconds)
    return OrgSummary(target_dir=target, people=people, seed=seed, counts=counts,
                      seconds=seconds)


def read_manifest(target_dir: Path) -> dict | None:
    """The manifest of a generated folder, or None when there is none (or it is unreadable):
    the runner regenerates when it is missing or names another size, seed or version."""
    try:
        return json.loads((Path(target_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
