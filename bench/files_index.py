"""Benchmark of the ``files`` connector's index on a large access log.

Generates a combined_visitor access log of ``--size-mb`` (default 1024) deterministically in a
temporary folder, then, each step in a child process (so its peak RSS is its own):

1. builds the index from nothing: time, MB/s, peak RSS, index size on disk;
2. searches 200 random visitors after a warm-up (``discover``, index check included): p50/p95,
   peak RSS;
3. appends 10 MB and times the catch-up (the next ``update_index``).

Goal: peak memory under 300 MB whatever the log size. The temporary folder is deleted at the
end (``--keep`` to keep it). Usage: ``.venv/bin/python bench/files_index.py [--size-mb 1024]``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_RSS_MB = 300
SOURCES_TOML = Path(__file__).resolve().parent / "data" / "files_index_sources.toml"
PATHS = ["/", "/catalogue", "/formations/python", "/formations/excel", "/panier", "/compte",
         "/recherche?q=management", "/static/app.css", "/static/app.js", "/contact"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148",
          "curl/8.5.0"]


def visitor(n: int) -> str:
    """The visitor id number ``n`` (the generator and the lookups agree on it)."""
    return f"v{n:09d}"


def generate(path: Path, size: int, visitors: int, seed: int, start: float) -> int:
    """Append about ``size`` bytes of combined_visitor lines to ``path``; returns lines."""
    rng = random.Random(seed)
    ips = [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
           for _ in range(visitors // 20)]  # shared addresses: 20 visitors an address
    written = lines = 0
    clock = start
    with path.open("ab") as handle:
        while written < size:
            chunk = []
            for _ in range(10_000):
                clock += rng.random() * 0.05
                n = rng.randrange(visitors)
                vid = visitor(n) if rng.random() > 0.1 else "-"
                stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(clock))
                chunk.append(
                    f'{ips[n % len(ips)]} - - [{stamp}] "GET {rng.choice(PATHS)} HTTP/1.1" '
                    f'{rng.choice((200, 200, 200, 304, 404))} {rng.randrange(100, 90_000)} '
                    f'"https://www.formaplus.example/" "{rng.choice(AGENTS)}" vid={vid}\n')
            data = "".join(chunk).encode()
            handle.write(data)
            written += len(data)
            lines += len(chunk)
    return lines


def _source(instance: Path):
    from dsar.sources.config import load_sources
    from dsar.sources.files import FilesConnector
    return load_sources(instance / "sources.toml", {"files": FilesConnector}, instance)["web"]


def child(step: str, instance: Path, visitors: int, searches: int) -> dict:
    """One step, run in its own process; returns its figures and its own peak RSS."""
    from dsar.sources.base import Identity
    from dsar.sources.files import FilesConnector, update_index
    source = _source(instance)
    figures: dict = {"rss_after_imports_mb":
                     resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    started = time.perf_counter()
    if step in ("build", "catchup"):
        figures["stats"] = update_index(source, instance)
        figures["seconds"] = time.perf_counter() - started
    else:
        rng = random.Random(7)
        timings, records = [], []
        for i in range(20 + searches):  # the first 20: warm-up, not counted
            identity = Identity.of(visitor_id=[visitor(rng.randrange(visitors))])
            began = time.perf_counter()
            with FilesConnector(source, instance_path=instance) as connector:
                found = connector.discover(identity)
            if i >= 20:
                timings.append((time.perf_counter() - began) * 1000)
                records.append(len(found.records))
        figures["ms"] = timings
        figures["records"] = records
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024
    figures["cpu_user"], figures["cpu_system"] = usage.ru_utime, usage.ru_stime
    return figures


def run_child(step: str, instance: Path, args: argparse.Namespace) -> dict:
    """Run ``step`` in a fresh interpreter and read its figures."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", step, "--instance", str(instance),
         "--visitors", str(args.visitors), "--searches", str(args.searches)],
        check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.splitlines()[-1])


def _disk_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.glob("*")) / 1e6


def main() -> int:
    """Run the benchmark and print its figures; 0 when the memory goal is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--visitors", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--instance")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.instance), args.visitors, args.searches)))
        return 0
    instance = Path(tempfile.mkdtemp(prefix="dsar-bench-files-"))
    try:
        (instance / "logs").mkdir()
        shutil.copyfile(SOURCES_TOML, instance / "sources.toml")
        log = instance / "logs" / "access.log"
        began = time.perf_counter()
        lines = generate(log, args.size_mb << 20, args.visitors, 1, 1_767_225_600.0)
        size_mb = log.stat().st_size / 1e6
        print(f"generated {size_mb:.0f} MB, {lines:,} lines, {args.visitors:,} visitors "
              f"in {time.perf_counter() - began:.1f} s")

        build = run_child("build", instance, args)
        index_dir = instance / "source-index"
        print(f"index build: {build['seconds']:.1f} s, {size_mb / build['seconds']:.1f} MB/s "
              f"(CPU: {build['cpu_user']:.1f} s user, {build['cpu_system']:.1f} s system), "
              f"{build['stats']['entries']:,} entries; peak RSS {build['peak_rss_mb']:.0f} MB "
              f"(after imports {build['rss_after_imports_mb']:.0f} MB); "
              f"index on disk {_disk_mb(index_dir):.0f} MB")

        search = run_child("search", instance, args)
        ms = sorted(search["ms"])
        p95 = ms[int(round(0.95 * (len(ms) - 1)))]
        print(f"discover, {len(ms)} random visitors: p50 {statistics.median(ms):.1f} ms, "
              f"p95 {p95:.1f} ms, max {ms[-1]:.1f} ms; "
              f"records per visitor {statistics.mean(search['records']):.1f} on average; "
              f"peak RSS {search['peak_rss_mb']:.0f} MB")

        began = time.perf_counter()
        generate(log, 10 << 20, args.visitors, 2, 1_767_225_600.0 + 86_400 * 30)
        print(f"appended 10 MB in {time.perf_counter() - began:.1f} s")
        catchup = run_child("catchup", instance, args)
        stats = catchup["stats"]
        print(f"catch-up: {catchup['seconds']:.2f} s (CPU {catchup['cpu_user']:.2f} s user, "
              f"{catchup['cpu_system']:.2f} s system), read {stats['bytes_read'] / 1e6:.1f}"
              f" MB, {stats['entries']:,} entries; "
              f"peak RSS {catchup['peak_rss_mb']:.0f} MB; "
              f"index on disk {_disk_mb(index_dir):.0f} MB")
        peak = max(build["peak_rss_mb"], search["peak_rss_mb"], catchup["peak_rss_mb"])
        verdict = "PASS" if peak < GOAL_RSS_MB else "FAIL"
        print(f"peak memory {peak:.0f} MB against a goal of {GOAL_RSS_MB} MB: {verdict}")
        return 0 if peak < GOAL_RSS_MB else 1
    finally:
        if args.keep:
            print(f"kept {instance}")
        else:
            shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
