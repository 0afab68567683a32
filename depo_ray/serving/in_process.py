"""A vLLM engine run inside the calling process, stepped by a thread of its own, with the part of
``AsyncLLM``'s interface that ``PolicyServer`` uses.

``AsyncLLM`` always runs vLLM's engine core (scheduler and model) in a process it spawns, which
imports vLLM and torch a second time: on 2 CPU cores that doubles a replica's start-up, and
every request and answer crosses a socket between the two processes. Here ``LLMEngine`` runs
with vLLM's multiprocessing off (the engine core and the model in this process), and one
thread owns it: every call into the engine (adding or aborting a request, loading weights)
is queued to that thread and runs between two ``step()`` calls, since vLLM's engine is not
thread-safe. The thread sleeps while no request is unfinished.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import queue
import sys
import threading
from concurrent.futures import Future
from contextlib import contextmanager


@contextmanager
def multiprocessing_off():
    """vLLM reads ``VLLM_ENABLE_V1_MULTIPROCESSING`` when an engine's config is made: off only
    meanwhile, so a ``vllm.LLM`` made later in this process keeps vLLM's default."""
    before = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING")
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("VLLM_ENABLE_V1_MULTIPROCESSING")
        else:
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = before


@contextmanager
def llvmlite_hidden():
    """Out of ``sys.modules`` while an engine starts: llvmlite's modules. vLLM 0.32 scans the
    attributes of every loaded module with ``vars()`` when it builds an engine, and llvmlite's
    ffi ``lib`` (loaded with numba, which bm25s, WebShop's search engine, uses) answers
    ``__dict__`` with one of its function wrappers, which fails the scan. AsyncLLM's engine
    core never met it: it starts in a fresh process."""
    hidden = {name: module for name, module in sys.modules.items() if name == "llvmlite" or name.startswith("llvmlite.")}
    for name in hidden:
        del sys.modules[name]
    try:
        yield
    finally:
        sys.modules.update(hidden)


class EngineDied(RuntimeError):
    """The engine's thread stopped on an error: every request in flight fails with it."""


def start_in_process(engine_arguments: dict) -> "InProcessEngine":
    """A vLLM ``LLMEngine`` built with multiprocessing off, stepped by its own thread."""
    from vllm import EngineArgs
    from vllm.v1.engine.llm_engine import LLMEngine

    with multiprocessing_off(), llvmlite_hidden():
        return InProcessEngine(LLMEngine.from_engine_args(EngineArgs(**engine_arguments)))


ENGINE_THREAD = "vllm-engine"
"""The engine thread's name, in Python and in the OS (``/proc/<pid>/task/<tid>/comm``)."""


def named_in_the_os(name: str) -> None:
    """Give the calling thread ``name`` where the OS shows it (Linux; at most 15 bytes), so
    ``top -H``, py-spy and a per-thread CPU count tell the engine's work from the server's."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # 15: PR_SET_NAME


class InProcessEngine:
    """``engine``: a vLLM ``LLMEngine`` (or anything with its add_request, abort_request, step,
    has_unfinished_requests, collective_rpc and reset_prefix_cache), owned by this object's
    thread from now on."""

    def __init__(self, engine):
        self._engine = engine
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._waiting: dict[str, Future] = {}  # request id -> the future its final output settles
        self._error: BaseException | None = None
        # held while a call is queued and while the thread, failing, takes what is queued: no
        # call can slip in after that and wait forever
        self._queue_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=ENGINE_THREAD, daemon=True)
        self._thread.start()

    async def generate(self, prompt: dict, params, request_id: str):
        """Yields the request's final output once (``params`` asks for FINAL_ONLY)."""
        done: Future = Future()

        def add(engine):
            engine.add_request(request_id, prompt, params)
            self._waiting[request_id] = done

        await self._call(add)
        try:
            yield await asyncio.wrap_future(done)
        except asyncio.CancelledError:  # the caller gave up (a timeout): free the engine's slot
            self._submit(lambda engine: self._abort(engine, request_id))
            raise

    async def collective_rpc(self, method: str, args: tuple = ()):
        return await self._call(lambda engine: engine.collective_rpc(method, args=args))

    async def reset_prefix_cache(self) -> bool:
        return await self._call(lambda engine: engine.reset_prefix_cache())

    async def check_health(self) -> None:
        if self._error is not None or not self._thread.is_alive():
            raise self._died()

    def get_num_unfinished_requests(self) -> int:
        return len(self._waiting)

    def shutdown(self) -> None:
        self._calls.put((None, None))
        self._thread.join(timeout=60)

    def _abort(self, engine, request_id: str) -> None:
        if self._waiting.pop(request_id, None) is not None:
            engine.abort_request([request_id])

    async def _call(self, function):
        return await asyncio.wrap_future(self._submit(function))

    def _submit(self, function) -> Future:
        result: Future = Future()
        with self._queue_lock:
            if self._error is None:
                self._calls.put((function, result))
                return result
        result.set_exception(self._died())
        return result

    def _died(self) -> EngineDied:
        return EngineDied(f"the vLLM engine's thread stopped: {self._error!r}")

    def _next_calls(self, block: bool) -> list:
        """The calls queued now; with ``block``, waits for the first."""
        calls = []
        try:
            calls.append(self._calls.get(block=block))
            while True:
                calls.append(self._calls.get_nowait())
        except queue.Empty:
            return calls

    def _run(self) -> None:
        named_in_the_os(ENGINE_THREAD)
        engine = self._engine
        try:
            while True:
                for function, result in self._next_calls(block=not engine.has_unfinished_requests()):
                    if function is None:  # shutdown
                        engine.engine_core.shutdown()
                        return
                    try:
                        result.set_result(function(engine))
                    except Exception as error:  # the call's own error (a bad argument), not the engine's
                        result.set_exception(error)
                if engine.has_unfinished_requests():
                    for output in engine.step():
                        if output.finished and (done := self._waiting.pop(output.request_id, None)) is not None:
                            done.set_result(output)
        except BaseException as error:  # the engine is unusable: fail what waits on it and what comes
            with self._queue_lock:
                self._error = error
                queued = self._next_calls(block=False)
            failure = self._died()
            for done in self._waiting.values():
                done.set_exception(failure)
            self._waiting.clear()
            for _, result in queued:
                if result is not None:
                    result.set_exception(failure)
