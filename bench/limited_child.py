"""Run a command as a child under a 2 GiB address-space limit and a wall-clock deadline, and
measure it: the benchmarks of hostile inputs time backdrop this way (a case that would take the
machine's memory, or never end, is reported as such instead of hanging the benchmark)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from pathlib import Path

TWO_GIB = 2 * 1024**3


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (TWO_GIB, TWO_GIB))


def run_limited(
    argv: list[str], timeout: float, cwd: Path | None = None
) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak RSS in MiB, "exit N" or "timeout") of `argv`."""
    start = time.perf_counter()
    child = subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=limit_memory,
    )
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            child.send_signal(signal.SIGKILL)
            pid, status, usage = os.wait4(child.pid, 0)
            break
        time.sleep(0.02)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    outcome = "timeout" if code == -signal.SIGKILL else f"exit {code}"
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, outcome  # KiB on Linux
