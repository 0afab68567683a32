"""Processes found by a marker in their environment: every child a process starts (Ray's
raylet and workers, vLLM engines, a `ray start` head) inherits it, even once orphaned. The
test session and the chaos benchmark find, and end, what they started this way."""

from __future__ import annotations

import os

import psutil


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


def kill(processes: list[psutil.Process], timeout_s: float = 10) -> None:
    """SIGKILL each (those already gone are skipped) and wait up to ``timeout_s`` for them."""
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(processes, timeout=timeout_s)
