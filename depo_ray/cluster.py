"""Connecting to Ray: the running cluster if there is one (``ray job submit``, RAY_ADDRESS),
else a local one, with the worker environment the project needs on every node."""

from __future__ import annotations

import os
import socket

# Ray Data's Parquet reader starts 32 footer-reading actors by default; on a 2-core machine
# their start-up alone takes about a minute for a single small file.
WORKER_ENV = {"RAY_DATA_PARQUET_FOOTER_NUM_ACTORS": "2"}


def connect(num_cpus: int | None = None, fresh: bool = False):
    """``ray.init`` once; later calls return the existing connection. ``fresh`` starts a
    private local instance even when a cluster is running (tests), with ``num_cpus``."""
    import ray

    if ray.is_initialized():
        return ray.get_runtime_context()
    for key, value in WORKER_ENV.items():
        os.environ.setdefault(key, value)
    address = os.environ.get("RAY_ADDRESS")
    kwargs = {"runtime_env": {"env_vars": dict(WORKER_ENV)}}
    if fresh:
        return ray.init(address="local", num_cpus=num_cpus, **kwargs)
    if address:
        return ray.init(address=address, **kwargs)
    return ray.init(num_cpus=num_cpus, **kwargs)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
