"""Drive many request generators (search trees, episodes) at once and send their requests in
batches, so the engine sees every pending turn of a worker together, in one call.

A generator yields a request, receives its answer, yields the next, and returns its result.
``submit(batch)`` sends a list of ``(key, request)`` and returns a
``concurrent.futures.Future`` of their answers in the same order. The generators are split
over ``batches_in_flight`` batches, so that while the engine answers one, the worker steps the
environments of another. Pure scheduling: no Ray, no model; a generator sees the same answers
in the same order however batches are formed or complete.
"""

from __future__ import annotations

import math
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any, Callable, Generator, Hashable


@dataclass(frozen=True)
class Finished:
    key: Hashable
    result: Any = None
    """What the generator returned (None when it failed)."""
    error: Exception | None = None
    """Why it failed: raised by the generator, by ``submit``, or by its batch."""


class Interleaver:
    def __init__(self, submit: Callable[[list[tuple[Hashable, Any]]], Future],
                 receive: Callable[[Hashable, Any], Any] = lambda key, answer: answer, batches_in_flight: int = 2):
        """``receive(key, answer)`` turns a request's answer into what the generator is sent
        (and is where a caller counts tokens or time)."""
        if batches_in_flight < 1:
            raise ValueError(f"batches_in_flight must be at least 1, got {batches_in_flight}")
        self._submit, self._receive, self._batches = submit, receive, batches_in_flight
        self._running: dict[Hashable, Generator] = {}
        self._pending: list[tuple[Hashable, Any]] = []
        """Requests of running generators not sent yet."""
        self._in_flight: dict[Future, list[Hashable]] = {}
        self._finished: list[Finished] = []

    def __len__(self) -> int:
        """Generators started and not finished (each has exactly one request out or pending)."""
        return len(self._running)

    def start(self, key: Hashable, steps: Generator) -> None:
        self._running[key] = steps
        self._advance(key, None)

    def wait(self, timeout: float | None = None) -> list[Finished]:
        """Send what is pending, wait for at least one batch to complete (unless none is in
        flight), feed its answers to their generators and send their next requests; returns
        the generators that finished since the last call."""
        self._send()
        if self._in_flight:
            done, _ = wait(list(self._in_flight), timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                keys = self._in_flight.pop(future)
                try:
                    answers = future.result()
                except Exception as error:  # the batch failed for good: so do its generators
                    for key in keys:
                        self._fail(key, error)
                    continue
                for key, answer in zip(keys, answers):
                    try:
                        value = self._receive(key, answer)
                    except Exception as error:
                        self._fail(key, error)
                        continue
                    self._advance(key, value)
            self._send()
        finished, self._finished = self._finished, []
        return finished

    def _send(self) -> None:
        """Pending requests, split evenly over the batches that may still go out."""
        while self._pending and len(self._in_flight) < self._batches:
            share = math.ceil(len(self._pending) / (self._batches - len(self._in_flight)))
            batch, self._pending = self._pending[:share], self._pending[share:]
            try:
                future = self._submit(batch)
            except Exception as error:
                for key, _ in batch:
                    self._fail(key, error)
                continue
            self._in_flight[future] = [key for key, _ in batch]

    def _advance(self, key: Hashable, answer: Any) -> None:
        steps = self._running[key]
        try:
            request = steps.send(answer)  # send(None) starts a fresh generator
        except StopIteration as end:
            del self._running[key]
            self._finished.append(Finished(key, result=end.value))
            return
        except Exception as error:
            del self._running[key]
            self._finished.append(Finished(key, error=error))
            return
        self._pending.append((key, request))

    def _fail(self, key: Hashable, error: Exception) -> None:
        self._running.pop(key).close()
        self._finished.append(Finished(key, error=error))
