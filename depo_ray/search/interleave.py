"""Drive many request generators (search trees, episodes) at once, each with one request in
flight, so the engine sees a batch as wide as the number of generators instead of one.

A generator yields a request, receives its answer, yields the next, and returns its result.
``submit(key, request)`` sends a request and returns a ``concurrent.futures.Future`` (a Ray
ObjectRef's ``.future()``, or a thread pool's for an HTTP endpoint). Pure scheduling: no Ray,
no model; a generator sees the same answers in the same order however the futures complete.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any, Callable, Generator, Hashable


@dataclass(frozen=True)
class Finished:
    key: Hashable
    result: Any = None
    """What the generator returned (None when it failed)."""
    error: Exception | None = None
    """Why it failed: raised by the generator, by ``submit``, or by its request."""


class Interleaver:
    def __init__(self, submit: Callable[[Hashable, Any], Future],
                 receive: Callable[[Hashable, Any], Any] = lambda key, answer: answer):
        """``receive(key, answer)`` turns a completed request's value into what the generator
        is sent (and is where a caller counts tokens or time)."""
        self._submit, self._receive = submit, receive
        self._in_flight: dict[Future, tuple[Hashable, Generator]] = {}
        self._finished: list[Finished] = []

    def __len__(self) -> int:
        """Generators started and not finished (each has exactly one request in flight)."""
        return len(self._in_flight)

    def start(self, key: Hashable, steps: Generator) -> None:
        self._advance(key, steps, None)

    def wait(self, timeout: float | None = None) -> list[Finished]:
        """Wait for at least one request to complete (unless none is in flight), feed every
        completed answer to its generator and send its next request; returns the generators
        that finished since the last call."""
        if self._in_flight:
            done, _ = wait(list(self._in_flight), timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                key, steps = self._in_flight.pop(future)
                try:
                    answer = self._receive(key, future.result())
                except Exception as error:  # the request failed for good: so does its generator
                    steps.close()
                    self._finished.append(Finished(key, error=error))
                    continue
                self._advance(key, steps, answer)
        finished, self._finished = self._finished, []
        return finished

    def _advance(self, key: Hashable, steps: Generator, answer: Any) -> None:
        try:
            request = steps.send(answer)  # send(None) starts a fresh generator
        except StopIteration as end:
            self._finished.append(Finished(key, result=end.value))
            return
        except Exception as error:
            self._finished.append(Finished(key, error=error))
            return
        try:
            self._in_flight[self._submit(key, request)] = (key, steps)
        except Exception as error:
            steps.close()
            self._finished.append(Finished(key, error=error))
