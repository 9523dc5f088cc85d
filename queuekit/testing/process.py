"""Run ``queuekit worker`` in a child process for tests, and stop it the way an operator would."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path


@contextlib.contextmanager
def worker_process(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    stop_signal: int = signal.SIGTERM,
    stop_timeout: float = 30.0,
    cwd: str | os.PathLike[str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``python -m queuekit worker *args``; on exit send ``stop_signal`` and wait.

    The worker's log goes to a temporary file that is shown if it exits with an error.
    """
    log = Path(tempfile.mkstemp(prefix="queuekit-worker-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "queuekit", "worker", *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(stop_signal)
            try:
                process.wait(stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError(
                    f"worker did not stop within {stop_timeout} s:\n{log.read_text()}"
                ) from None
        output = log.read_text(errors="replace")
        log.unlink(missing_ok=True)
        if process.returncode not in (0, -stop_signal):
            raise AssertionError(f"worker exited with {process.returncode}:\n{output}")
