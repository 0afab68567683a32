"""A router that keeps several PolicyServer replicas (all Ray actors) serving, and lends them.

The router is the control plane, not a hop on the way: a caller (an MCTS worker, an evaluator,
a math solver) asks it once for a ``Lease`` on a ready replica, the one with the fewest
leases, and then sends its batches straight to that replica (``depo_ray.serving.client``).
All of a caller's trees use one replica, so their branches share its prefix cache.

Faults: the router checks every ready replica's health; one that dies, stops answering its
checks, or that a caller reports (a call failed, a batch timed out) is killed and replaced by
a fresh actor, and the caller gets a lease on a live replica to send its batch again (up to
``max_attempts`` tries per batch). A replica that fails to start ``max_start_failures`` times
in a row will not start (a broken checkpoint): the router stops starting it, and once every
replica is given up, a lease raises ``ReplicaFailed`` with the start errors. ``start_router``
refuses, before any actor, a model whose files already say it cannot be served. An error of a
request itself goes straight back to the caller. A batch is never dropped silently: it
returns or raises.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

import ray

from depo_ray.models.checks import serving_problem
from depo_ray.serving.config import ServingConfig
from depo_ray.serving.server import PolicyServer
from depo_ray.serving.swap import shares_engine

log = logging.getLogger(__name__)


def choose_replica(leases: list[int], ready: list[bool]) -> int | None:
    """The ready replica with the fewest leases (lowest index on ties); None when no replica
    is ready."""
    candidates = [i for i, ok in enumerate(ready) if ok]
    return min(candidates, key=lambda i: leases[i]) if candidates else None


class ReplicaFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Lease:
    """A replica lent to one caller: where to send its batches, and how patiently."""

    index: int
    generation: int
    """The replica's incarnation in its slot: a failure reported for an older one replaces nothing."""
    handle: object
    """The PolicyServer actor."""
    request_timeout_s: float
    max_attempts: int


@dataclass
class _Slot:
    handle: object = None
    ready: bool = False
    leases: int = 0
    """Callers sending to this slot's replica."""
    generation: int = 0
    """Bumped on every replacement, so a late failure of an old actor replaces nothing."""
    awaited: bool = False
    """Whether a task is waiting for this actor to become ready."""
    start_failures: int = 0
    """Failed starts since this slot's replica was last ready."""
    gave_up: str | None = None
    """Why no more replicas are started in this slot."""


class PolicyRouter:
    """Wrap with ``ray.remote`` and build with ``start_router``; methods are async."""

    def __init__(self, model: str, config: ServingConfig, name: str = "policy-router"):
        """``name``: the router's actor name; its replicas are named after it, with their slot
        and incarnation (``<name>-replica-<slot>.<n>``)."""
        self.model, self.config, self.name = model, config, name
        self.slots = [_Slot() for _ in range(config.replicas)]
        self.replacements = 0
        self._changed: asyncio.Condition | None = None
        self._tasks: set[asyncio.Task] = set()
        self._watching = False
        self._all_started = False  # every replica has been ready (or given up) once: leases wait for it
        for index in range(config.replicas):
            self._launch(index)

    # -- public ------------------------------------------------------------------------------
    async def lease(self) -> Lease:
        """A ready replica for one caller. The first callers wait until every replica has
        started (or was given up), so callers that come while the replicas start are spread
        over all of them, not all lent the first one up; later, one ready replica is enough."""
        self._start_watching()
        if not self._all_started:
            await self._wait_all_started()
            self._all_started = True
        index = await self._pick()
        slot = self.slots[index]
        slot.leases += 1
        return Lease(index, slot.generation, slot.handle, self.config.request_timeout_s, self.config.max_attempts)

    def release(self, lease: Lease) -> None:
        """The caller is done with its replica."""
        slot = self.slots[lease.index]
        if slot.generation == lease.generation:
            slot.leases = max(0, slot.leases - 1)

    async def failed(self, lease: Lease, reason: str) -> Lease:
        """The caller's batch failed on its replica (dead, or too slow): replace that replica
        unless it already was, and lend the caller a live one."""
        self.release(lease)
        self._replace(lease.index, lease.generation, reason=reason)
        return await self.lease()

    async def wait_ready(self, timeout_s: float = 600.0) -> int:
        """Wait until every replica is ready or given up; returns how many are ready."""
        self._start_watching()
        await asyncio.wait_for(self._wait_all_started(), timeout_s)
        self._raise_if_gave_up()
        return sum(s.ready for s in self.slots)

    async def load(self, model: str) -> None:
        """Serve ``model`` from now on in the running replicas (``swap.shares_engine`` must hold;
        call it with no lease out): once every replica is ready, each loads its weights, and a
        replica started later starts from ``model``. One that fails to load is replaced."""
        await self.wait_ready()
        self.model = model
        for index, slot in enumerate(self.slots):
            if slot.ready:
                generation = slot.generation
                try:
                    await _await(slot.handle.load.remote(model))
                except Exception as error:
                    self._replace(index, generation, reason=f"loading {model} failed: {error!r}")

    def stats(self) -> dict:
        return {"ready": [s.ready for s in self.slots], "leases": [s.leases for s in self.slots],
                "replacements": self.replacements, "gave_up": [s.gave_up for s in self.slots]}

    async def prefix_cache(self) -> dict[str, int]:
        """Prefix-cache lookups and hits, in prompt tokens, summed over the ready replicas
        (a replaced replica's counts went with it)."""
        total = {"queries": 0, "hits": 0}
        for slot in self.slots:
            if slot.ready:
                counts = await asyncio.wait_for(_await(slot.handle.prefix_cache.remote()), self.config.health_timeout_s)
                total = {name: total[name] + counts[name] for name in total}
        return total

    def replica_handles(self) -> list:
        return [s.handle for s in self.slots]

    # -- internals ---------------------------------------------------------------------------
    def _raise_if_gave_up(self) -> None:
        """Raise when no replica is left to serve: every slot was given up."""
        if all(slot.gave_up for slot in self.slots):
            raise ReplicaFailed("; ".join(slot.gave_up for slot in self.slots))

    async def _wait_all_started(self) -> None:
        changed = self._condition()
        async with changed:
            while not all(s.ready or s.gave_up for s in self.slots):
                await changed.wait()

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _pick(self) -> int:
        changed = self._condition()
        async with changed:
            while True:
                self._raise_if_gave_up()
                index = choose_replica([s.leases for s in self.slots], [s.ready for s in self.slots])
                if index is not None:
                    return index
                await changed.wait()  # every replica is starting: wait for one

    def _launch(self, index: int) -> None:
        slot = self.slots[index]
        options = {"num_cpus": self.config.cpus_per_replica, "num_gpus": self.config.gpus_per_replica, "max_restarts": 0,
                   "name": f"{self.name}-replica-{index}.{slot.generation}"}
        slot.handle = ray.remote(PolicyServer).options(**options).remote(self.model, self.config.engine)
        slot.ready = slot.awaited = False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # constructor: _start_watching awaits it from the first request
        self._await_slot(index)

    def _await_slot(self, index: int) -> None:
        self.slots[index].awaited = True
        self._spawn(self._await_ready(index, self.slots[index].generation))

    async def _await_ready(self, index: int, generation: int) -> None:
        slot = self.slots[index]
        try:
            await _await(slot.handle.health.remote())
        except Exception as error:
            if slot.generation != generation:
                return  # an old actor, already replaced
            slot.start_failures += 1
            if slot.start_failures >= self.config.max_start_failures:
                slot.gave_up = f"policy replica {index} failed to start {slot.start_failures} times; last: {error!r}"
                log.error(slot.gave_up)
                ray.kill(slot.handle, no_restart=True)
                await self._notify()
                return
            # A pause before the next try, growing: a killed engine may still hold its memory.
            pause = min(60.0, 5.0 * 2 ** (slot.start_failures - 1))
            log.warning("replica %d failed to start: %r; starting another in %.0f s", index, error, pause)
            await asyncio.sleep(pause)
            self._replace(index, generation, reason=f"start failed: {error!r}")
            return
        if slot.generation == generation:
            slot.ready, slot.start_failures = True, 0
            await self._notify()

    def _replace(self, index: int, generation: int, reason: str) -> None:
        slot = self.slots[index]
        if slot.generation != generation:
            return  # already replaced
        log.warning("replacing policy replica %d: %s", index, reason)
        ray.kill(slot.handle, no_restart=True)  # a hung actor must not keep its resources
        slot.generation += 1
        slot.leases = 0  # its callers come back through ``failed`` for a new lease
        self.replacements += 1
        self._launch(index)

    async def _notify(self) -> None:
        changed = self._condition()
        async with changed:
            changed.notify_all()

    def _start_watching(self) -> None:
        for index, slot in enumerate(self.slots):
            if not slot.awaited:
                self._await_slot(index)
        if not self._watching:
            self._watching = True
            self._spawn(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.config.health_interval_s)
            for index, slot in enumerate(self.slots):
                if not slot.ready:
                    continue
                generation = slot.generation
                try:
                    await asyncio.wait_for(_await(slot.handle.health.remote()), self.config.health_timeout_s)
                except Exception as error:
                    self._replace(index, generation, reason=f"health check: {error!r}")

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _await(ref):
    return await ref


def start_router(model: str, config: ServingConfig, name: str | None = None):
    """The router actor (it starts the replicas), named ``name`` (default: policy-router plus
    a unique suffix). Leases can be asked for at once: the first wait until every replica has
    started once.
    Raises ValueError, before any actor starts, when the model's files say it cannot be
    served (``depo_ray.models.checks.serving_problem``)."""
    if problem := serving_problem(model, on_gpu=config.gpus_per_replica > 0):
        raise ValueError(f"cannot serve the policy: {problem}")
    name = name or f"policy-router-{uuid.uuid4().hex[:8]}"
    options = {"num_cpus": 0, "max_concurrency": 1000, "name": name}
    return ray.remote(PolicyRouter).options(**options).remote(model, config, name)


@contextmanager
def serving(model: str, config: ServingConfig, name: str, router=None):
    """A router serving ``model`` while the block runs: ``router`` as given (one the caller
    already started and stops), or one started here, named ``name`` plus a unique suffix, and
    killed with its replicas when the block ends, however it ends."""
    if router is not None:
        yield router
        return
    router = start_router(model, config, name=f"{name}-{uuid.uuid4().hex[:8]}")
    try:
        yield router
    finally:
        stop_router(router)


class ServingInTurn:
    """Routers for policies served one after another (``serve``): a policy that can share the
    served one's engines (``swap.shares_engine``) is loaded into its replicas, any other gets
    a router of its own; ``close`` stops the last router."""

    def __init__(self, config: ServingConfig, name: str):
        self.config, self.name = config, name
        self.router, self.model = None, None

    def serve(self, model: str):
        if self.router is not None and shares_engine(self.model, model):
            if model != self.model:
                ray.get(self.router.load.remote(model))
        else:
            self.close()
            self.router = start_router(model, self.config, name=f"{self.name}-{uuid.uuid4().hex[:8]}")
        self.model = model
        return self.router

    def close(self) -> None:
        if self.router is not None:
            stop_router(self.router)
            self.router = None


@contextmanager
def serving_in_turn(config: ServingConfig, name: str):
    """A ``ServingInTurn`` whose router is stopped when the block ends, however it ends."""
    turns = ServingInTurn(config, name)
    try:
        yield turns
    finally:
        turns.close()


def stop_router(router) -> None:
    """Kill the router and every replica it started (they are not its children in Ray)."""
    for handle in ray.get(router.replica_handles.remote()):
        ray.kill(handle)
    ray.kill(router)
