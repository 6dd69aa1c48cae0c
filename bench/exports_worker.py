"""The worker's side of ``bench/exports.py``: the package job run in a fresh process, each
step of the build timed and its memory read (wrapping the exports' functions, unchanged).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.exports_data import make_app


def rss_mb() -> float:
    """This process's resident memory now (Linux), in MB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def hwm_mb() -> float:
    """This process's peak resident memory so far (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def maxrss_mb() -> float:
    """``ru_maxrss`` of this process (getrusage), in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Phases:
    """Wall time, CPU time and resident memory of named phases of one build. No sampling
    thread (it would compete for the GIL): the process's peak so far (VmHWM) is read at each
    phase's end. It bounds the memory the phase reached, exactly when the phase raised it."""

    def __init__(self) -> None:
        self.figures: dict[str, dict] = {}
        self.order: list[str] = []

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        figure = self.figures.get(name)
        if figure is None:
            figure = self.figures[name] = {"seconds": 0.0, "cpu": 0.0, "calls": 0,
                                           "rss_start_mb": rss_mb(), "hwm_end_mb": 0.0,
                                           "set_peak": False}
            self.order.append(name)
        hwm_before = hwm_mb()
        began, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            figure["seconds"] += time.perf_counter() - began
            figure["cpu"] += time.process_time() - cpu
            figure["calls"] += 1
            figure["hwm_end_mb"] = hwm = hwm_mb()
            figure["set_peak"] |= hwm > hwm_before + 0.5

    def wrap(self, owner, attribute: str, name: str) -> bool:
        """Time every call of ``owner.attribute`` as phase ``name`` (False if it does not
        exist: the code measured changed). Iterators are not wrapped: only plain calls."""
        original = getattr(owner, attribute, None)
        if original is None:
            return False

        def timed(*args, **kwargs):
            with self.phase(name):
                return original(*args, **kwargs)

        timed.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(owner, attribute, timed)
        return True

    def report(self) -> list[dict]:
        return [{"name": n, **self.figures[n]} for n in self.order]


def instrument(phases: Phases) -> list[str]:
    """Wrap the steps of ``build_package`` so their time and memory show; returns the steps
    that could not be found (the exports code changed). Behaviour is unchanged: each wrapper
    calls the original with the same arguments."""
    import weasyprint
    import weasyprint.document

    from dsar.exports import build, package, pdf

    steps: list[tuple[object, str, str]] = [
        (build, "build_content", "content (first pass: fields, counts)"),
        (package, "write_json", "export.json member"),
        (package, "write_csv", "CSV members"),
        (pdf, "render_report", "report.pdf member"),
        (pdf, "_context", "  PDF: tables (records read, capped)"),
        (pdf, "json_attachment_of", "  PDF: export.json attachment (in memory)"),
        (weasyprint.HTML, "render", "  PDF: WeasyPrint layout"),
        (weasyprint.document.Document, "write_pdf", "  PDF: WeasyPrint write (+ attachment)"),
    ]
    return [f"{getattr(owner, '__name__', owner)}.{attribute}"
            for owner, attribute, name in steps if not phases.wrap(owner, attribute, name)]


def build_in_this_process(instance: Path, case_ids: list[int], instrumented: bool) -> dict:
    """Run the package job for each case, one after the other, in this (fresh) process; the
    figures and this process's own peak RSS. Called in the child process.

    ``ru_maxrss`` of a process that was exec'd carries the peak of the image it replaced (Linux
    keeps the larger): spawned from a parent of 300 MB, a new interpreter reports 300 MB before
    doing anything. The caller keeps its own memory small, and ``ru_maxrss`` is checked against
    ``VmHWM`` (this process's own address space only)."""
    figures: dict = {"rss_before_app_mb": rss_mb(), "maxrss_at_start_mb": maxrss_mb()}
    app = make_app(instance)
    import dsar.exports.build  # noqa: F401  (a worker has imported it after its first job)
    from dsar.pipeline.worker import run_jobs_in
    from workers import jobs

    run_jobs_in(app)
    phases = Phases() if instrumented else None
    missing = instrument(phases) if phases else []
    figures["baseline_rss_mb"] = rss_mb()
    figures["baseline_maxrss_mb"] = maxrss_mb()
    runs = []
    for case_id in case_ids:
        began, cpu = time.perf_counter(), time.process_time()
        outcome = jobs.build_package(case_id)
        runs.append({"case_id": case_id, "outcome": outcome,
                     "seconds": time.perf_counter() - began, "cpu": time.process_time() - cpu})
    figures["runs"] = runs
    figures["phases"] = phases.report() if phases else []
    figures["missing_steps"] = missing
    figures["peak_maxrss_mb"] = maxrss_mb()
    figures["peak_hwm_mb"] = hwm_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures["cpu_user"], figures["cpu_system"] = usage.ru_utime, usage.ru_stime
    return figures
