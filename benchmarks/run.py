"""Run every benchmark and print one table: queuekit against each native engine.

    python -m benchmarks                      # full: the published figures (about 40 minutes)
    python -m benchmarks --quick              # CI smoke run: tiny sizes, seconds per backend
    python -m benchmarks --only sqlite,rq     # some backends (core = import time)
    python -m benchmarks --markdown out.md    # also write the table and the machine as Markdown

Every backend is measured against the same operation done with its native library, in
interleaved rounds (A B, B A, ...); each figure is the median (min-max) over the rounds and each
ratio queuekit/native is computed round by round. Backends whose package is not installed or
whose service does not answer are reported as skipped. Redis work uses database 6 and deletes
only its own keys; RabbitMQ queues are named bench-<random>-... and deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # the worker-side modules (_apps) load by their plain names
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import _suites  # noqa: E402
from _harness import Marks, Report, Row, render_markdown, render_text  # noqa: E402

NAMES = ["core", *(suite.name for suite in _suites.SUITES)]


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        "load average (1, 5, 15 min)": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    info.update(_suites.versions())
    info.update(_suites.server_versions())
    return info


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for CI smoke runs")
    parser.add_argument(
        "--only", help=f"comma-separated backends to run, of: {', '.join(NAMES)}", default=""
    )
    parser.add_argument("--rounds", type=int, help="rounds of every measure (default 5; quick 2)")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--quiet", action="store_true", help="print only the table")
    args = parser.parse_args(argv)
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in NAMES]
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    args.wanted = wanted or NAMES
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sizes = _suites.QUICK if args.quick else _suites.FULL
    if args.rounds:
        sizes = _suites.Sizes(
            **{**vars(sizes), "rounds": args.rounds, "worker_rounds": args.rounds}
        )

    def log(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    # SIGTERM unwinds like Ctrl-C, so every suite still deletes its queues and keys.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    token = uuid.uuid4().hex[:8]
    command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    before = machine()
    log(f"run {token}: {command.strip()}")
    log("  " + "; ".join(f"{k}: {v}" for k, v in before.items()))
    report = Report()
    started = time.perf_counter()
    marks = Marks()
    try:
        if "core" in args.wanted:
            _suites.run_import(sizes, report, log)
        for suite_class in _suites.SUITES:
            if suite_class.name not in args.wanted:
                continue
            with _suites.workdir() as path:
                suite = suite_class(token, path)
                reason = suite.missing()
                if reason is not None:
                    report.add(Row(suite.name, "all", "", "higher", status=f"skipped: {reason}"))
                    log(f"{suite.name}: skipped ({reason})")
                    continue
                _suites.run_suite(suite, sizes, report, log, marks)
    finally:
        marks.close()
    elapsed = time.perf_counter() - started
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(render_text(report))
    print(
        f"\n{len(report.rows)} rows in {elapsed:.0f} s; figures are medians (min-max) "
        f"over {sizes.rounds} rounds ({sizes.worker_rounds} for workers); ratios are "
        f"queuekit/native per round. Load average before: "
        f"{before['load average (1, 5, 15 min)']}, after: {load_after}."
    )
    if args.markdown is not None:
        lines = [
            f"Command: `{command.strip()}` (run {token}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"{elapsed / 60:.0f} min)",
            "",
            "| machine | |",
            "|---|---|",
            *(f"| {k} | {v} |" for k, v in before.items()),
            f"| load average after | {load_after} |",
            "",
            render_markdown(report),
            "",
        ]
        args.markdown.write_text("\n".join(lines))
    return 1 if any(row.status.startswith("error") for row in report.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
