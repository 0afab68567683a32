"""The in-process engine's thread (``depo_ray/serving/in_process.py``) around a stand-in for
vLLM's ``LLMEngine``: requests finish after a number of steps. The real engine behind it is
tested in test_vllm_cpu.py (the module's PolicyServer runs on it)."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from depo_ray.serving.in_process import ENGINE_THREAD, EngineDied, InProcessEngine


class SteppedEngine:
    """A request (params: {"steps": n}) finishes at its n-th step after it was added; every
    call records the thread it ran on."""

    def __init__(self, fail_at_step: int | None = None):
        self.engine_core = SimpleNamespace(shutdown=lambda: None)  # what LLMEngine's shutdown goes through
        self.left: dict[str, int] = {}
        self.aborted: list[str] = []
        self.steps, self.fail_at_step = 0, fail_at_step
        self.threads: set[str] = set()

    def _on_thread(self):
        self.threads.add(threading.current_thread().name)

    def add_request(self, request_id, prompt, params):
        self._on_thread()
        if params["steps"] < 1:
            raise ValueError("steps must be at least 1")
        self.left[request_id] = params["steps"]

    def abort_request(self, request_ids):
        self._on_thread()
        self.aborted += request_ids
        for request_id in request_ids:
            self.left.pop(request_id, None)

    def has_unfinished_requests(self):
        return bool(self.left)

    def step(self):
        self._on_thread()
        self.steps += 1
        if self.steps == self.fail_at_step:
            raise RuntimeError("the model's forward pass failed")
        time.sleep(0.002)
        finished = []
        for request_id in list(self.left):
            self.left[request_id] -= 1
            if not self.left[request_id]:
                del self.left[request_id]
                finished.append(SimpleNamespace(request_id=request_id, finished=True, prompt=None))
        return finished

    def collective_rpc(self, method, args=()):
        self._on_thread()
        return [f"{method}{args}"]

    def reset_prefix_cache(self):
        return True


async def answer(engine: InProcessEngine, request_id: str, steps: int):
    async for output in engine.generate({"prompt_token_ids": [1]}, {"steps": steps}, request_id):
        return output.request_id


@pytest.fixture
def stepped():
    model = SteppedEngine()
    engine = InProcessEngine(model)
    yield model, engine
    engine.shutdown()


def test_requests_in_flight_together_each_get_their_own_answer_and_the_engine_is_only_touched_by_its_thread(stepped):
    model, engine = stepped

    async def many():
        return await asyncio.gather(*(answer(engine, f"r{i}", 1 + i % 7) for i in range(40)))

    assert asyncio.run(many()) == [f"r{i}" for i in range(40)]
    assert engine.get_num_unfinished_requests() == 0 and not model.left
    assert model.threads == {"vllm-engine"}
    assert asyncio.run(engine.collective_rpc("load_policy", args=("folder",))) == ["load_policy('folder',)"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the OS thread name is read from /proc")
def test_the_engine_thread_carries_its_name_in_the_os_so_its_cpu_can_be_told_apart(stepped):
    _, engine = stepped
    asyncio.run(answer(engine, "r0", 1))  # the thread has named itself once it has answered
    comm = Path(f"/proc/self/task/{engine._thread.native_id}/comm").read_text().strip()
    assert comm == ENGINE_THREAD and comm != Path("/proc/self/comm").read_text().strip()


def test_a_request_its_caller_gave_up_on_is_aborted_in_the_engine(stepped):
    model, engine = stepped

    async def give_up_then_ask_again():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(answer(engine, "slow", 10**9), timeout=0.2)
        return await answer(engine, "next", 2)

    assert asyncio.run(give_up_then_ask_again()) == "next"
    assert model.aborted == ["slow"] and not model.left and engine.get_num_unfinished_requests() == 0


def test_a_bad_request_fails_alone(stepped):
    model, engine = stepped

    async def both():
        return await asyncio.gather(answer(engine, "bad", 0), answer(engine, "good", 3), return_exceptions=True)

    bad, good = asyncio.run(both())
    assert isinstance(bad, ValueError) and good == "good"
    assert engine.get_num_unfinished_requests() == 0
    asyncio.run(engine.check_health())


def test_an_engine_that_fails_fails_every_request_in_flight_and_every_later_one_at_once():
    engine = InProcessEngine(SteppedEngine(fail_at_step=3))

    async def in_flight():
        requests = asyncio.gather(*(answer(engine, f"r{i}", 100) for i in range(5)), return_exceptions=True)
        return await asyncio.wait_for(requests, timeout=30)  # a failure left unsettled would hang here

    failures = asyncio.run(in_flight())
    assert all(isinstance(f, EngineDied) and "forward pass failed" in str(f) for f in failures)
    with pytest.raises(EngineDied):
        asyncio.run(engine.check_health())
    started = time.monotonic()
    with pytest.raises(EngineDied):
        asyncio.run(asyncio.wait_for(answer(engine, "later", 1), timeout=30))
    assert time.monotonic() - started < 5
