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
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from dsar.demo.org.config import write_config
from dsar.demo.org.people import build_showcase
from dsar.demo.org.writer import WRITERS, write

logger = logging.getLogger(__name__)

__all__ = ["SHOWCASE", "VERSION", "OrgSummary", "generate", "read_manifest", "write_config"]

#: Bump when the generated data changes shape, so the demo regenerates old folders.
VERSION = 3
#: The smallest population: the showcase people use the first 50 account ids.
MIN_PEOPLE = 50
#: From this size the sources are written by parallel processes.
PARALLEL_FROM = 50_000
MANIFEST = "manifest.json"

#: The people always present: "A" (Léa Fontaine, data in all six sources), "B" (her
#: near-twin of the same name), "C" (shares A's office IP address), "D" (his ticket names A),
#: "E" (Cléa Fontaine, whose address contains A's), "F" and "G" (deceased, with and without
#: directives). Key -> first_name, last_name, email, customer_id, visitor_id, work_email, city
#: (A also: email_other_case, office_ip; F and G also: birth_date, died, relative).
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


def _in_process(name: str, target: Path, people: int, seed: int) -> dict[str, int]:
    """Write one source in a fresh interpreter (``python -m dsar.demo.org.writer``)."""
    done = subprocess.run(
        [sys.executable, "-m", "dsar.demo.org.writer", name, str(target), str(people),
         str(seed)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"writing the demo source {name} failed (exit {done.returncode}): "
                           f"{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["counts"]


def generate(target_dir: Path, people: int, seed: int = 2026, *,
             workers: int | None = None) -> OrgSummary:
    """Write the demo organisation's data into ``target_dir`` for ``people`` account holders
    (at least 50; prospects add a tenth). Deterministic: the same ``(people, seed)`` gives
    byte-identical files, however many ``workers`` (processes writing sources side by side;
    default: one per CPU from 50,000 people, else none). Memory stays flat whatever the
    size."""
    if people < MIN_PEOPLE:
        raise ValueError(f"people must be at least {MIN_PEOPLE} (the showcase needs them)")
    started = time.monotonic()
    target = Path(target_dir)
    target.mkdir(parents=True, exist_ok=True)
    (target / MANIFEST).unlink(missing_ok=True)  # an interrupted run leaves no valid folder
    if workers is None:
        workers = (os.cpu_count() or 1) if people >= PARALLEL_FROM else 1
    if workers > 1:
        # One process per source, longest first (threads only wait on the processes).
        with ThreadPoolExecutor(max_workers=min(workers, len(WRITERS))) as pool:
            futures = {name: pool.submit(_in_process, name, target, people, seed)
                       for name in WRITERS}
            results = [(name, future.result()) for name, future in futures.items()]
    else:
        results = [(name, write(name, target, people, seed)) for name in WRITERS]
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
