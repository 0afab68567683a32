"""Connecting to Ray: the running cluster if there is one (``ray job submit``, RAY_ADDRESS),
else a local one, with the worker environment the project needs on every node."""

from __future__ import annotations

import itertools
import os
import socket
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from depo_ray.processes import kill

# Ray loads on first use: the jobs and the pipeline's runner import this module before any
# cluster is up.

# Ray Data's Parquet reader starts 32 footer-reading actors by default; on a 2-core machine
# their start-up alone takes about a minute for a single small file.
WORKER_ENV = {"RAY_DATA_PARQUET_FOOTER_NUM_ACTORS": "2"}


def actor_names(role: str):
    """Names for the dashboard's Actors page: ``<role>-<n>-<run tag>``, numbered in the order
    they are asked for (a replacement gets the next number), with a tag that keeps two runs
    in one cluster apart."""
    tag, numbers = uuid.uuid4().hex[:6], itertools.count()
    return lambda: f"{role}-{next(numbers)}-{tag}"


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


class StorageNotShared(RuntimeError):
    """A node of the cluster does not see the run folder."""


def _holds(path: str, token: str) -> bool:
    try:
        return Path(path).read_text() == token
    except OSError:
        return False


def nodes_without(folder: Path, timeout_s: float = 120.0) -> list[str]:
    """The alive nodes of the connected cluster that do not see ``folder`` as the driver does
    ("<ip> (node <id>)"): the driver writes a marker into it and a task pinned to each node
    reads it back. Workers on every node write shards and checkpoints there and read each
    other's, so a run folder on a disk only some nodes see would lose them."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = uuid.uuid4().hex
    marker = Path(folder) / f".node-check-{token}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(token)
    try:
        holds = ray.remote(num_cpus=0)(_holds)
        nodes = [node for node in ray.nodes() if node["Alive"]]
        seen = ray.get([holds.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
                        .remote(str(marker.resolve()), token) for node in nodes], timeout=timeout_s)
    finally:
        marker.unlink(missing_ok=True)
    return [f"{node['NodeManagerAddress']} (node {node['NodeID'][:8]})" for node, ok in zip(nodes, seen) if not ok]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


TRAIN_ACTORS = ("TrainController", "RayTrainWorker")
"""The actors a Ray Train run starts (``outlived_actors_ended`` around each run)."""


@dataclass(frozen=True)
class ActorProcess:
    actor_id: str
    class_name: str
    state: str
    """ALIVE, DEAD, ..."""
    pid: int
    ended_s: float
    """When Ray marked it dead (seconds since the epoch; 0 while it lives)."""


def actor_ids(class_names: tuple[str, ...]) -> set[str]:
    """Ids of this node's actors of ``class_names`` in any state."""
    return {a.actor_id for a in _actors(class_names)}


def _actors(class_names: tuple[str, ...]) -> list[ActorProcess]:
    """This node's actors of ``class_names``, read from the connected cluster's GCS. (Ray's
    state API is not used: it resolves the cluster from RAY_ADDRESS, which "local" leaves
    ambiguous when another cluster runs on the machine.)"""
    import ray
    from ray._private.state import actors

    node = ray.get_runtime_context().get_node_id()
    return [ActorProcess(info["ActorID"], info["ActorClassName"], info["State"], info["Pid"], info["EndTime"] / 1000)
            for info in actors().values()
            if info["ActorClassName"] in class_names and info["Address"]["NodeID"] == node]


def end_outlived_actors(class_names: tuple[str, ...], started: set[str], settle_s: float = 10.0,
                        grace_s: float = 5.0) -> list[int]:
    """End this node's processes of ``class_names`` actors that Ray marks DEAD but that still
    run. Ray ends an actor gracefully when its last handle goes (a Train run's controller
    when ``fit`` returns); a process whose interpreter teardown then hangs lives on, holding
    its memory, and outlives even its cluster (Ray fixed that hang for its train workers in
    ray-project/ray#59872; Ray 2.60's controllers still meet it). Only the actors ``started``
    (ids; a run's own) are looked at, each waited for up to ``settle_s`` to be marked DEAD.
    Returns the pids ended."""
    deadline, actors = time.monotonic() + settle_s, _actors(class_names)
    while any(a.actor_id in started and a.state != "DEAD" for a in actors) and time.monotonic() < deadline:
        time.sleep(0.5)
        actors = _actors(class_names)
    hung = []
    for actor in (a for a in actors if a.actor_id in started and a.state == "DEAD" and a.pid):
        try:
            process = psutil.Process(actor.pid)
            # the actor's own process: its title, and started before Ray marked the actor dead (a
            # reused pid belongs to a process started later)
            if " ".join(process.cmdline()).startswith(f"ray::{actor.class_name}") and \
                    process.create_time() <= actor.ended_s + 1:
                hung.append(process)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(hung, timeout=grace_s)
    kill(alive, timeout_s=grace_s)
    if alive:
        print(f"ended {len(alive)} Ray process(es) that outlived their actor: {[p.pid for p in alive]}")
    return [p.pid for p in alive]


@contextmanager
def outlived_actors_ended(class_names: tuple[str, ...]):
    """Around work that starts ``class_names`` actors (a Ray Train ``fit``): afterwards, end
    those of its actors that Ray marks dead but whose processes still run
    (``end_outlived_actors``). Reading the actor table is a safeguard here, never a reason to
    fail the work: a failure prints one warning."""
    def ids() -> set[str] | None:
        try:
            return actor_ids(class_names)
        except Exception as error:
            print(f"warning: cannot read Ray's actors ({type(error).__name__}: {error}); hung ones are not ended")
            return None

    before = ids()
    try:
        yield
    finally:
        after = ids() if before is not None else None
        if after is not None:
            try:
                end_outlived_actors(class_names, started=after - before)
            except Exception as error:
                print(f"warning: could not end outlived actors ({type(error).__name__}: {error})")


def in_batches(items: list, size: int) -> list[list]:
    """``items`` in order, cut into lists of ``size`` (the last may be shorter): the units of
    work ``map_on_replaceable_actors`` hands out when one actor keeps several in flight."""
    return [items[i:i + size] for i in range(0, len(items), size)]


class ActorsKeepDying(RuntimeError):
    """A pool's actors died more often than it may replace them."""


class ReplaceableActors:
    """The actors of one pool, started by name (``actor_names(role)``) and replaced when they
    die, up to ``max_replacements`` times in all: actors that keep dying (a constructor that
    crashes its process, a node that keeps running out of memory) stop the work with
    ``ActorsKeepDying`` instead of being started forever. Callers replace on death only (Ray's
    ``RayActorError``): an exception raised inside a call would repeat on a new actor, so it
    is raised."""

    def __init__(self, role: str, start, max_replacements: int = 3):
        """``start(name)``: starts one actor named ``name`` and returns what the caller keeps
        of it (its handle, or the handle with its first call)."""
        self.role, self.max_replacements, self.replacements = role, max_replacements, 0
        self._start, self._name = start, actor_names(role)

    def start(self):
        """A new actor that replaces none (one of the pool's first, or one for new work)."""
        return self._start(self._name())

    def replace(self, cause: BaseException):
        """A new actor in place of one that died of ``cause``; raises ``ActorsKeepDying``
        (from ``cause``) instead once the cap is passed."""
        self.replacements += 1
        if self.replacements > self.max_replacements:
            raise ActorsKeepDying(f"{self.role} actors died {self.replacements} times, more than the "
                                  f"{self.max_replacements} replacements allowed; the last death: "
                                  f"{type(cause).__name__}: {cause}") from cause
        return self.start()


def map_on_replaceable_actors(actors: ReplaceableActors, call, items: list, workers: int):
    """Yield ``call(actor, item)``'s result for every item once, as they finish, on at most
    ``workers`` actors of ``actors``. An actor that dies (its process killed, its node lost)
    is replaced and its item queued again, within the pool's cap; an exception raised inside
    a call is not retried: it would repeat."""
    import ray
    from ray.exceptions import RayActorError

    queue, idle = list(range(len(items))), [actors.start() for _ in range(min(workers, len(items)))]
    running: dict = {}  # future -> (actor, item index)
    while queue or running:
        while queue and idle:
            actor, index = idle.pop(), queue.pop(0)
            running[call(actor, items[index])] = (actor, index)
        [ready], _ = ray.wait(list(running), num_returns=1)
        actor, index = running.pop(ready)
        try:
            result = ray.get(ready)
        except RayActorError as death:
            queue.append(index)
            idle.append(actors.replace(death))
            continue
        idle.append(actor)
        yield result
