"""Processes that a test session started, found by its marker (``depo_ray.processes``)."""

from __future__ import annotations

import os
import re
import time

import psutil

from depo_ray.processes import marked

SESSION_MARKER = "DEPO_RAY_TEST_SESSION"
"""Set in the test session's environment (conftest.py) and so in every process it starts: what
is still alive with it at the end outlived its owner."""


def describe(process: psutil.Process) -> str:
    try:
        return f"pid {process.pid} (parent {process.ppid()}): {' '.join(process.cmdline())[:160]}"
    except psutil.Error:
        return f"pid {process.pid} (gone)"


def ends_with_this_process(process: psutil.Process) -> bool:
    """Python's multiprocessing resource tracker, started by this process: it lives exactly as
    long as its parent, so it is never an orphan."""
    try:
        return process.ppid() == os.getpid() and "multiprocessing.resource_tracker" in " ".join(process.cmdline())
    except psutil.Error:
        return False


def survivors(name: str, value: str, grace_s: float) -> list[psutil.Process]:
    """The marked processes still alive after ``grace_s`` (Ray and vLLM take seconds to exit),
    except those that end with this process."""
    deadline = time.monotonic() + grace_s
    while True:
        left = [p for p in marked(name, value) if not ends_with_this_process(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def wait_until_serving(url: str, server, log, timeout_s: float) -> None:
    """Poll ``url`` until it answers; fail with the end of ``log`` (a Path) if ``server`` (a
    Popen) exits first or ``timeout_s`` passes."""
    import urllib.request

    import pytest

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{url} did not start serving:\n{log.read_text()[-3000:]}")
            time.sleep(1)


_RAY_STREAMED_LINE = re.compile(r"^(?:\x1b\[[0-9;]*m)*\((?:raylet|gcs_server|[^)]*\bpid=\d+[^)]*)\)")
"""A line that Ray streams to a driver from its own processes (``(raylet) ...``, ``(Actor pid=7)
...``, colour codes first), at any time, so also after the job's own last word."""


def last_own_line(stderr: str) -> str:
    """The last line of a job's stderr that the job itself wrote, Ray's streamed lines aside."""
    own = [line for line in stderr.strip().splitlines() if not _RAY_STREAMED_LINE.match(line)]
    return own[-1] if own else ""
