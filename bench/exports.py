"""How long the answer package takes to build, and how much memory the worker needs (issue 5's
benchmark).

The real path: two SQLite source databases (a training platform, a help desk) where chosen
people have an exact number of records over six collections; access cases gathered through
``dsar.search.gathering`` (the search results stored encrypted, as the workers store them); then the
package job (``workers.jobs.build_package``: content, export.json, CSVs, report.pdf with
WeasyPrint, ZIP, manifest, encryption) run in a fresh process that does nothing else: the
worker. Each package is then checked (record counts, sums, ZIP, PDF), so a fast broken build
cannot pass.

1. A person with 100 records: the time to a complete package, ``--runs`` cases one after the
   other in one worker process (the first pays the worker's first WeasyPrint rendering).
   Goal: under 3 s.
2. A person with 100,000 records: the build's time, the PDF's share of it, and the worker's
   peak memory (``ru_maxrss``) against its memory before the build. Goals: PDF under 30 s,
   peak under 300 MB, export.json and the CSVs streamed (the memory they add stays well under
   their size).

    .venv/bin/python bench/exports.py                 # about 3 minutes on 2 cores
    .venv/bin/python bench/exports.py --records-large 20000 --runs 3

The exit status is 0 only if every goal is met.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.exports_checks import check_package  # noqa: E402
from bench.exports_data import (  # noqa: E402
    Person,
    email_of,
    gathered_case,
    make_app,
    migrate,
    seed_sources,
    split,
    write_instance,
)
from bench.exports_worker import build_in_this_process  # noqa: E402

GOAL_SMALL_S = 3.0
GOAL_PDF_S = 30.0
GOAL_PEAK_MB = 300.0
#: A member is "streamed" when the memory the process gains while writing it stays under this
#: share of the member's size (holding it whole would add at least its size)...
STREAMED_SHARE = 0.25
#: ... or under this many MB (the allocator's own noise, for small members).
STREAMED_FLOOR_MB = 4.0


def run_child(step: str, instance: Path, args: argparse.Namespace, *extra: str) -> dict:
    """``step`` in a fresh interpreter; the JSON figures it prints last. Everything heavy runs
    in such children, so this process stays small (see ``build_in_this_process``)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", step, "--instance",
               str(instance), "--records-small", str(args.records_small), "--records-large",
               str(args.records_large), "--runs", str(args.runs), *extra]
    if args.no_breakdown:
        command.append("--no-breakdown")
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "DSAR_INSTANCE_PATH": str(instance)})
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-5000:])
        raise SystemExit(f"the {step} process failed (exit {done.returncode})")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["stderr"] = [line for line in done.stderr.splitlines() if line.strip()]
    return figures


def run_worker(instance: Path, args: argparse.Namespace, case_ids: list[int]) -> dict:
    """The package job for ``case_ids`` in a fresh process (the worker); its figures."""
    figures = run_child("build", instance, args, "--cases", ",".join(map(str, case_ids)))
    bad = [r for r in figures["runs"] if r["outcome"] != "built"]
    if bad:
        raise SystemExit(f"the package job did not build: {bad}")
    return figures


def people(args: argparse.Namespace) -> tuple[list[Person], Person]:
    """The people measured (the same in every process: derived from the arguments)."""
    small = [Person(email_of("small", i), split(args.records_small)) for i in range(args.runs)]
    return small, Person(email_of("large", 0), split(args.records_large))


def prepare(instance: Path, args: argparse.Namespace) -> dict:
    """(Child) the instance: source databases, dsar database, every case searched."""
    small, large = people(args)
    figures: dict = {}
    began = time.perf_counter()
    write_instance(instance)
    seed_sources(instance, [*small, large])
    figures["seed_s"] = time.perf_counter() - began
    app = make_app(instance)
    migrate(app)
    small_cases = [gathered_case(app, person) for person in small]
    large_case = gathered_case(app, large)
    return {**figures, "small": [c for c, _ in small_cases],
            "small_search_s": [s for _, s in small_cases],
            "large": large_case[0], "large_search_s": large_case[1]}


def check(instance: Path, args: argparse.Namespace, which: str, case_ids: list[int]) -> dict:
    """(Child) check each case's package against the person seeded for it."""
    small, large = people(args)
    persons = small if which == "small" else [large]
    app = make_app(instance)
    checked = {}
    for case_id, person in zip(case_ids, persons, strict=True):
        began = time.perf_counter()
        sizes = check_package(app, case_id, person, instance)
        checked[str(case_id)] = {**sizes, "seconds": time.perf_counter() - began}
    return checked


class Table:
    """The figures, each with its goal and verdict."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []
        self.ok = True

    def add(self, figure: str, value: str, goal: str = "", passed: bool | None = None) -> None:
        verdict = "" if passed is None else ("PASS" if passed else "FAIL")
        self.ok &= passed is not False
        self.rows.append((figure, value, goal, verdict))

    def print(self) -> None:
        widths = [max(len(r[i]) for r in self.rows) for i in range(3)]
        print()
        for figure, value, goal, verdict in self.rows:
            print(f"{figure:<{widths[0]}}  {value:>{widths[1]}}  {goal:<{widths[2]}}  "
                  f"{verdict}".rstrip())
        print(f"\nOverall: {'PASS' if self.ok else 'FAIL'}")


def print_steps(figures: dict, builds: int) -> None:
    """The build's steps: time per build, and the memory around them."""
    if figures["missing_steps"]:
        print("   not found, so not timed apart: " + ", ".join(figures["missing_steps"]))
    if not figures["phases"]:
        return
    per = " per build" if builds > 1 else ""
    print(f"   {'step':<42} {'wall s':>7} {'CPU s':>6} {'RSS in':>7}  {'peak after':>10}"
          f"{per}")
    for phase in figures["phases"]:
        print(f"   {phase['name']:<42} {phase['seconds'] / builds:7.2f} "
              f"{phase['cpu'] / builds:6.2f} {phase['rss_start_mb']:6.0f}M  "
              f"{phase['hwm_end_mb']:9.0f}M  {'(raised here)' if phase['set_peak'] else ''}")
    warnings = [line for line in figures["stderr"] if "WARNING" in line or "ERROR" in line]
    if warnings:
        print(f"   the worker logged {len(warnings)} warnings, first: {warnings[0][:150]}")


def print_worker(figures: dict) -> None:
    print(f"   the worker: ru_maxrss {figures['maxrss_at_start_mb']:.0f} MB at start, "
          f"RSS {figures['baseline_rss_mb']:.0f} MB with the app loaded (ru_maxrss "
          f"{figures['baseline_maxrss_mb']:.0f} MB), peak: ru_maxrss "
          f"{figures['peak_maxrss_mb']:.0f} MB, VmHWM {figures['peak_hwm_mb']:.0f} MB")


def small_scenario(instance: Path, args: argparse.Namespace, prepared: dict,
                   table: Table) -> None:
    cases = prepared["small"]
    print(f"\n== {args.records_small:,} records: {len(cases)} cases built one after the other "
          f"in one worker process", flush=True)
    figures = run_worker(instance, args, cases)
    times = [r["seconds"] for r in figures["runs"]]
    checked = run_child("check", instance, args, "--which", "small", "--cases",
                        ",".join(map(str, cases)))
    sizes = checked[str(cases[-1])]
    print(f"   checked {len(cases)} packages: ZIP {sizes['zip'] / 1e3:.0f} kB, "
          f"report.pdf {sizes['report.pdf'] / 1e3:.0f} kB, export.json "
          f"{sizes['export.json'] / 1e3:.0f} kB", flush=True)
    print("   each build: " + ", ".join(f"{t:.2f}" for t in times) + " s")
    print_worker(figures)
    print_steps(figures, len(times))
    label = f"{args.records_small:,} records"
    goal = f"< {GOAL_SMALL_S:g} s"
    table.add(f"{label}: first build in a fresh worker", f"{times[0]:.2f} s", goal,
              times[0] < GOAL_SMALL_S)
    table.add(f"{label}: median of {len(times)} builds", f"{statistics.median(times):.2f} s",
              goal, statistics.median(times) < GOAL_SMALL_S)
    table.add(f"{label}: max of {len(times)} builds", f"{max(times):.2f} s", goal,
              max(times) < GOAL_SMALL_S)


def _phase(figures: dict, prefix: str) -> dict | None:
    for phase in figures["phases"]:
        if phase["name"].strip().startswith(prefix):
            return phase
    return None


def _gained(phase: dict) -> float:
    """At most what the process gained during the phase (the peak after it, less the memory
    before it)."""
    return max(0.0, phase["hwm_end_mb"] - phase["rss_start_mb"])


def large_scenario(instance: Path, args: argparse.Namespace, prepared: dict,
                   table: Table) -> None:
    case_id = prepared["large"]
    print(f"\n== {args.records_large:,} records: one case, one worker process "
          f"(searched in {prepared['large_search_s']:.1f} s)", flush=True)
    figures = run_worker(instance, args, [case_id])
    [run] = figures["runs"]
    checked = run_child("check", instance, args, "--which", "large", "--cases", str(case_id))
    sizes = checked[str(case_id)]
    print(f"   checked the package in {sizes['seconds']:.1f} s: ZIP "
          f"{sizes['zip'] / 1e6:.1f} MB (stored encrypted {sizes['stored'] / 1e6:.1f} MB), "
          f"export.json {sizes['export.json'] / 1e6:.1f} MB, CSVs {sizes['csv'] / 1e6:.1f} MB, "
          f"report.pdf {sizes['report.pdf'] / 1e6:.1f} MB", flush=True)
    print(f"   build: {run['seconds']:.1f} s, CPU {run['cpu']:.1f} s")
    print_worker(figures)
    print_steps(figures, 1)

    label = f"{args.records_large:,} records"
    table.add(f"{label}: package build, total", f"{run['seconds']:.1f} s")
    pdf = _phase(figures, "report.pdf")
    if pdf is not None:
        table.add(f"{label}: report.pdf part", f"{pdf['seconds']:.1f} s", f"< {GOAL_PDF_S:g} s",
                  pdf["seconds"] < GOAL_PDF_S)
    elif figures["phases"]:
        table.add(f"{label}: report.pdf part", "not found", f"< {GOAL_PDF_S:g} s", False)
    table.add(f"{label}: worker RSS before the build", f"{figures['baseline_rss_mb']:.0f} MB")
    # ru_maxrss as asked; VmHWM as a check of it (they agree when this process is small).
    peak = max(figures["peak_maxrss_mb"], figures["peak_hwm_mb"])
    table.add(f"{label}: worker peak RSS (ru_maxrss)", f"{figures['peak_maxrss_mb']:.0f} MB",
              f"< {GOAL_PEAK_MB:g} MB", peak < GOAL_PEAK_MB)
    for prefix, size_key, what in (("export.json member", "export.json", "export.json"),
                                   ("CSV members", "csv", "CSVs")):
        phase = _phase(figures, prefix)
        if phase is None:
            if figures["phases"]:
                table.add(f"{label}: {what} streamed", "not found", "", False)
            continue
        size = sizes[size_key] / 2**20
        limit = max(STREAMED_SHARE * size, STREAMED_FLOOR_MB)
        table.add(f"{label}: {what} streamed (RSS gained at most / size)",
                  f"{_gained(phase):.0f} / {size:.0f} MB", f"< {limit:.0f} MB",
                  _gained(phase) < limit)
    attachment = _phase(figures, "PDF: export.json attachment")
    if attachment is not None:
        table.add(f"{label}: PDF's export.json attachment (RSS gained)",
                  f"{_gained(attachment):.0f} MB", "held whole (pdf.py)")


def child(step: str, args: argparse.Namespace) -> dict:
    cases = [int(c) for c in args.cases.split(",")] if args.cases else []
    if step == "prepare":
        return prepare(args.instance, args)
    if step == "build":
        return build_in_this_process(args.instance, cases, not args.no_breakdown)
    return check(args.instance, args, args.which, cases)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records-small", type=int, default=100)
    parser.add_argument("--records-large", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5, help="builds of the small case")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--no-breakdown", action="store_true",
                        help="build without timing the steps apart (no wrappers)")
    parser.add_argument("--child", choices=["prepare", "build", "check"], help=argparse.SUPPRESS)
    parser.add_argument("--instance", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cases", help=argparse.SUPPRESS)
    parser.add_argument("--which", choices=["small", "large"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args)))
        return 0

    instance = Path(tempfile.mkdtemp(prefix="dsar-bench-exports-"))
    print(f"dsar exports benchmark: {args.records_small:,} records x {args.runs} builds, then "
          f"{args.records_large:,} records; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}; {instance}", flush=True)
    try:
        began = time.perf_counter()
        prepared = run_child("prepare", instance, args)
        print(f"   prepared in {time.perf_counter() - began:.1f} s: source databases written "
              f"in {prepared['seed_s']:.1f} s; {args.runs} + 1 cases searched through "
              f"dsar.search.gathering"
              f" (the largest in {prepared['large_search_s']:.1f} s)", flush=True)
        table = Table()
        small_scenario(instance, args, prepared, table)
        large_scenario(instance, args, prepared, table)
        table.print()
        return 0 if table.ok else 1
    finally:
        if args.keep:
            print(f"kept {instance}")
        else:
            shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
