"""Processes that a test session started, found by a marker in their environment: every child
(Ray's raylet and workers, vLLM engines, a `ray start` head) inherits it, even once orphaned."""

from __future__ import annotations

import os
import time

import psutil

SESSION_MARKER = "DEPO_RAY_TEST_SESSION"
"""Set in the test session's environment (conftest.py) and so in every process it starts: what
is still alive with it at the end outlived its owner."""


def marked(name: str, value: str, titles: tuple[str, ...] = ()) -> list[psutil.Process]:
    """Live processes other than this one whose environment has ``name=value`` (and whose
    command line starts with one of ``titles`` when given: Ray names an actor's process
    ``ray::ClassName``)."""
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if (process.environ().get(name) == value and process.status() != psutil.STATUS_ZOMBIE
                    and (not titles or " ".join(process.cmdline()).startswith(titles))):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def describe(process: psutil.Process) -> str:
    try:
        return f"pid {process.pid} (parent {process.ppid()}): {' '.join(process.cmdline())[:160]}"
    except psutil.Error:
        return f"pid {process.pid} (gone)"


def survivors(name: str, value: str, grace_s: float) -> list[psutil.Process]:
    """The marked processes still alive after ``grace_s`` (Ray and vLLM take seconds to exit)."""
    deadline = time.monotonic() + grace_s
    while (left := marked(name, value)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def kill(processes: list[psutil.Process]) -> None:
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(processes, timeout=10)
