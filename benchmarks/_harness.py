"""Measurement primitives and the results table: interleaved rounds, ratios pair by pair.

Every comparison is measured within one run: each round times the queuekit side and the
native side back to back (the order alternates round by round), and the ratio
queuekit/native is taken per round, then summarised as median (min-max). Absolute figures on
a shared machine move by tens of percent between rounds; the per-round ratio cancels most of
that (see ENGINE-NOTES: round-trip times are bimodal here).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: Rates: higher is better; times, latencies and memory: lower is better.
HIGHER, LOWER = "higher", "lower"


# -- statistics -----------------------------------------------------------------------------------


@dataclass
class Span:
    """Median, min and max of one figure over the rounds."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


def p99(values: Sequence[float]) -> float:
    """The 99th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))]


@dataclass
class Target:
    """The bar a row is held to: ``ratio`` (queuekit/native, per the row's direction) or
    ``absolute`` (queuekit's own median, in the row's unit)."""

    kind: str  # "ratio" | "absolute"
    value: float
    #: A second, looser bar (the enqueue ratio's 1.10 floor): shown as "floor" when only it holds.
    floor: float | None = None
    note: str = ""

    def describe(self, better: str, unit: str) -> str:
        op = ">=" if better == HIGHER else "<="
        if self.kind == "ratio":
            text = f"{op} {self.value:g}x"
            if self.floor is not None:
                text += f" (floor {self.floor:g}x)"
            return text
        return f"{op} {_fmt(self.value)} {unit}"

    def verdict(self, better: str, figure: float) -> str:
        """'met (+12%)', 'floor (+3% over)' or 'MISSED by 40%'."""

        def holds(bar: float) -> bool:
            return figure >= bar if better == HIGHER else figure <= bar

        margin = figure / self.value - 1 if better == HIGHER else 1 - figure / self.value
        if holds(self.value):
            return f"met ({margin:+.0%})"
        if self.floor is not None and holds(self.floor):
            return f"floor ({-margin:.0%} over {self.value:g}x)"
        return f"MISSED by {-margin:.0%}"


@dataclass
class Row:
    """One line of the table: a measure of one backend, queuekit against a baseline."""

    suite: str
    measure: str
    unit: str
    better: str
    ours: Span | None = None
    theirs: Span | None = None
    baseline: str = ""
    ratios: Span | None = None
    target: Target | None = None
    status: str = ""  # "", "skipped: ...", "error: ..."

    @property
    def verdict(self) -> str:
        if self.status:
            return self.status
        if self.target is None:
            return ""
        figure = self.ours if self.target.kind == "absolute" else self.ratios
        if figure is None:
            return ""
        return self.target.verdict(self.better, figure.median)


@dataclass
class Report:
    """Every row of a run, plus what the page needs to say about the machine."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row


def compare(
    report: Report,
    suite: str,
    measure: str,
    unit: str,
    better: str,
    ours: list[float],
    theirs: list[float] | None,
    baseline: str,
    target: Target | None = None,
) -> Row:
    """Add a row comparing two lists of per-round figures, pairing round i with round i."""
    row = Row(suite, measure, unit, better, Span(ours), None, baseline, None, target)
    if theirs:
        row.theirs = Span(theirs)
        # A round whose native figure is 0 (a drain too short for one clock tick of CPU time,
        # in quick mode) has no ratio; a row with none shows "-".
        ratios = [a / b for a, b in zip(ours, theirs, strict=True) if b]
        row.ratios = Span(ratios) if ratios else None
    return report.add(row)


# -- formatting -----------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _span(span: Span | None, ratio: bool = False) -> str:
    if span is None:
        return "-"
    fmt = (lambda v: f"{v:.2f}") if ratio else _fmt
    if len(span.values) == 1:
        return fmt(span.median)
    return f"{fmt(span.median)} ({fmt(span.low)}-{fmt(span.high)})"


COLUMNS = (
    "backend",
    "measure",
    "queuekit",
    "native",
    "baseline",
    "queuekit/native",
    "target",
    "verdict",
)


def cells(row: Row) -> list[str]:
    """A row as the table's text cells."""
    target = row.target.describe(row.better, row.unit) if row.target else ""
    if row.target is not None and row.target.note:
        target += f" {row.target.note}"
    return [
        row.suite,
        f"{row.measure}, {row.unit}",
        _span(row.ours),
        _span(row.theirs),
        row.baseline,
        _span(row.ratios, ratio=True),
        target,
        row.verdict,
    ]


def render_text(report: Report) -> str:
    """The table for a terminal: aligned columns."""
    table = [list(COLUMNS)] + [cells(row) for row in report.rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = []
    for index, line in enumerate(table):
        lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    """The table as Markdown, for docs/performance.md."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in report.rows:
        text = [c.replace("|", "\\|") for c in cells(row)]
        if row.verdict.startswith("MISSED"):
            text[-1] = f"**{text[-1]}**"
        lines.append("| " + " | ".join(text) + " |")
    return "\n".join(lines)


# -- timing ---------------------------------------------------------------------------------------


def interleave(
    sides: dict[str, Callable[[], float]], rounds: int, log: Callable[[str], None]
) -> dict[str, list[float]]:
    """Run each side once per round, alternating the order (A B, B A, ...); return each side's
    figures in round order, so that round i of one side pairs with round i of another."""
    names = list(sides)
    figures: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        order = names if index % 2 == 0 else names[::-1]
        for name in order:
            figures[name].append(sides[name]())
        shown = ", ".join(f"{name} {_fmt(figures[name][-1])}" for name in names)
        log(f"    round {index + 1}: {shown}")
    return figures


def timed(n: int, run: Callable[[], None]) -> float:
    """Seconds ``run`` took (it sends ``n`` jobs): returned as jobs per second."""
    start = time.perf_counter()
    run()
    return n / (time.perf_counter() - start)


# -- marks from jobs ------------------------------------------------------------------------------


class Marks:
    """A UDP socket the no-op job reports to: ``(tag, time the job started)`` datagrams."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]

    def clear(self) -> None:
        """Drop datagrams left over from an earlier measurement."""
        self.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                self.sock.recv(256)
        self.sock.setblocking(True)

    def wait(self, tag: int, timeout: float, alive: Callable[[], bool] | None = None) -> float:
        """The start time the job tagged ``tag`` reported; raise if it never comes."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"job {tag} did not report within {timeout:g} s")
            if alive is not None and not alive():
                raise RuntimeError("the worker exited before the job ran")
            self.sock.settimeout(min(remaining, 0.5))
            try:
                data = self.sock.recv(256)
            except TimeoutError:
                continue
            got, _, stamp = data.decode().partition(" ")
            if int(got) == tag:
                return float(stamp)

    def close(self) -> None:
        self.sock.close()


# -- worker processes -----------------------------------------------------------------------------


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker process: benchmarks/ and the checkout importable."""
    env = {**os.environ, **(extra or {})}
    # As installed: bytecode compiled once and cached (outside the checkout), even where the
    # environment says PYTHONDONTWRITEBYTECODE (this machine's does).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "queuekit-bench-pyc"))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


class Worker:
    """A worker subprocess; its stderr goes to a temporary file, shown if it fails."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.command = command
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  (open for the worker's life)
        self.process = subprocess.Popen(
            command,
            cwd=HERE,
            env=worker_env(env),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def rss_mib(self) -> float:
        """Resident memory of the worker and every process under it (Celery's pool), MiB."""
        return sum(_rss_kib(pid) for pid in _tree(self.process.pid)) / 1024

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the worker and every process under it have used so far,
        with its children that have ended."""
        return sum(_cpu_ticks(pid) for pid in _tree(self.process.pid)) / _TICKS

    def stop(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.log.close()


def _die_with_parent() -> None:
    """In the worker, before exec: SIGTERM when the harness dies (Linux), so a harness that is
    killed (a test's timeout, say) leaves no worker running."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree(pid: int) -> list[int]:
    children = _children()
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0
    # utime, stime, and cutime, cstime: children waited for (rq's work horses) count too.
    return sum(int(field) for field in fields[11:15])


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class WorkerRound:
    """What one worker run measured: drain rate, latencies (ms), idle RSS (MiB) and the
    worker's CPU time per job drained (us; None for a worker inside the harness)."""

    drain: float
    latencies: list[float]
    rss: float | None
    cpu: float | None = None


def worker_round(
    fill: Callable[[int, int], None],
    start: Callable[[], Any],
    probe: Callable[[int, int], None],
    marks: Marks,
    n: int,
    samples: int,
    rss: Callable[[Any], float | None],
    stop: Callable[[Any], None],
    alive: Callable[[Any], bool],
    cpu: Callable[[Any], float | None] = lambda worker: None,
) -> WorkerRound:
    """Queue ``n`` jobs (``fill(n, port)``: the first tagged 1, the last 2), start a worker,
    time the drain from the first job's start to the last's, then with the worker idle send
    ``samples`` probes one at a time (``probe(port, tag)``) and take enqueue-to-start latency,
    then the worker's resident memory. The worker's CPU time between the first job's start and
    the last's, per job, is what the drain costs whatever else the machine is doing."""
    marks.clear()
    fill(n, marks.port)
    worker = start()
    try:
        is_alive = lambda: alive(worker)  # noqa: E731
        first = marks.wait(1, 60, is_alive)
        cpu_first = cpu(worker)
        last = marks.wait(2, 60 + n / 20, is_alive)
        cpu_last = cpu(worker)
        drain = (n - 1) / max(last - first, 1e-9)
        per_job = None
        if cpu_first is not None and cpu_last is not None:
            per_job = (cpu_last - cpu_first) / (n - 1) * 1e6
        latencies = []
        time.sleep(0.2)
        for index in range(samples):
            tag = 1000 + index
            time.sleep(random.uniform(0.005, 0.02))  # the worker is back waiting, idle
            sent = time.time()
            probe(marks.port, tag)
            latencies.append((marks.wait(tag, 30, is_alive) - sent) * 1000)
        time.sleep(0.2)
        memory = rss(worker)
    except Exception as exc:
        detail = worker.output() if isinstance(worker, Worker) else ""
        raise RuntimeError(f"{exc}{': ' + detail if detail else ''}") from exc
    finally:
        stop(worker)
    return WorkerRound(drain, latencies, memory, per_job)


def subprocess_worker(
    command: list[str], env: dict[str, str] | None = None
) -> dict[str, Callable[..., Any]]:
    """``start``/``stop``/``alive``/``rss``/``cpu`` callables for a worker run as a subprocess."""
    return {
        "start": lambda: Worker(command, env),
        "stop": lambda w: w.stop(),
        "alive": lambda w: w.alive(),
        "rss": lambda w: w.rss_mib(),
        "cpu": lambda w: w.cpu_seconds(),
    }


def python() -> str:
    return sys.executable


@contextlib.contextmanager
def section(log: Callable[[str], None], title: str) -> Iterator[None]:
    start = time.perf_counter()
    log(f"  {title}")
    yield
    log(f"  {title}: {time.perf_counter() - start:.1f} s")
