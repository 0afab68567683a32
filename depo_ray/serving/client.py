"""The policy as search, evaluation and math call it: a batch of chats in, each chat's answers
out, as one future per batch (``depo_ray.search.interleave`` keeps a few in flight).

Two backends answer the same call. ``ReplicaClient`` renders the chats to token ids here and
sends the whole batch to one vLLM replica leased from the router, in one Ray call: no hop
through the router and no tokenizing on the engine's side per request. ``EndpointClient``
sends each chat of a batch to a remote OpenAI-compatible endpoint on its thread pool.
A ``Meter`` keeps what answered requests cost (the model's wall time, generated tokens).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial

from depo_ray.serving.openai_client import EndpointAccess, OpenAIEndpoint
from depo_ray.serving.server import ChatRequest, Generation, TurnRequest
from depo_ray.tokens import piece_tokenizer, prompt_ids

# Ray loads on first use: the evaluation and search modules import this one, and plans import
# them.


def as_turns(requests: list[ChatRequest], encode) -> list[TurnRequest]:
    """The requests as a PolicyServer takes them: each chat rendered to the ids the policy
    continues from (``encode``: a chat's prompt ids)."""
    return [TurnRequest(encode(r.messages), r.n, r.sampling) for r in requests]


class ReplicaClient:
    """Batches straight to one leased replica; a batch whose replica dies or times out is
    reported to the router and sent again to the replica it lends instead."""

    def __init__(self, router, tokenizer):
        self.router, self._encode = router, partial(prompt_ids, piece_tokenizer(tokenizer))
        self._lease = None
        self._lock = threading.Lock()

    def submit_batch(self, requests: list[ChatRequest]) -> Future:
        """Future of every request's Generations, in order."""
        turns = as_turns(requests, self._encode)
        answer: Future = Future()
        self._send(turns, answer, [])
        return answer

    def close(self) -> None:
        """Give the lease back (a caller that dies without it only skews the router's balance)."""
        import ray

        with self._lock:
            lease, self._lease = self._lease, None
        if lease is not None:
            ray.get(self.router.release.remote(lease))

    def _current(self):
        import ray

        with self._lock:
            if self._lease is None:
                self._lease = ray.get(self.router.lease.remote())
            return self._lease

    def _send(self, turns: list[TurnRequest], answer: Future, errors: list[str]) -> None:
        try:
            lease = self._current()
            call = lease.handle.generate_batch.remote(turns).future()
        except Exception as error:  # no replica left to lend (ReplicaFailed), or Ray is gone
            answer.set_exception(error)
            return
        # A stuck replica: the router replaces it, which ends this call with an actor error.
        timer = threading.Timer(lease.request_timeout_s, self._report, (lease, "batch timed out"))
        timer.daemon = True
        timer.start()
        call.add_done_callback(partial(self._settle, turns, answer, errors, lease, timer))

    def _settle(self, turns, answer: Future, errors: list[str], lease, timer, call: Future) -> None:
        from ray.exceptions import RayActorError

        from depo_ray.serving.router import ReplicaFailed

        timer.cancel()
        try:
            answer.set_result(call.result())
            return
        except RayActorError as error:
            errors.append(f"replica {lease.index}: {type(error).__name__}")
        except Exception as error:  # the request's own error: another replica would repeat it
            answer.set_exception(error)
            return
        if len(errors) >= lease.max_attempts:
            answer.set_exception(ReplicaFailed(f"batch failed {len(errors)} times: {'; '.join(errors)}"))
            return
        # Not on Ray's callback thread: the router may wait for a replica to start.
        threading.Thread(target=self._resend, args=(turns, answer, errors, lease), daemon=True).start()

    def _resend(self, turns, answer: Future, errors: list[str], lease) -> None:
        try:
            self._report(lease, errors[-1])
        except Exception as error:
            answer.set_exception(error)
            return
        self._send(turns, answer, errors)

    def _report(self, lease, reason: str) -> None:
        """The first to see a replica fail has the router replace it and lend another."""
        import ray

        with self._lock:
            if self._lease is lease:
                self._lease = ray.get(self.router.failed.remote(lease, reason))


class EndpointClient:
    """Batches over a remote OpenAI-compatible endpoint, one HTTP request per chat."""

    def __init__(self, endpoint: OpenAIEndpoint):
        self.endpoint = endpoint

    def submit_batch(self, requests: list[ChatRequest]) -> Future:
        return gathered([self.endpoint.submit(r.messages, r.n, r.sampling) for r in requests])

    def close(self) -> None:
        """Nothing is held between batches."""


def gathered(futures: list[Future]) -> Future:
    """One future of every result in order; it fails with the first error seen."""
    together: Future = Future()
    left = [len(futures)]
    lock = threading.Lock()

    def one_done(_):
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last and not together.done():
            errors = [f.exception() for f in futures if f.exception() is not None]
            if errors:
                together.set_exception(errors[0])
            else:
                together.set_result([f.result() for f in futures])

    if not futures:
        together.set_result([])
    for future in futures:
        future.add_done_callback(one_done)
    return together


def policy_client(backend, tokenizer):
    """A client for a PolicyRouter actor handle (whose replicas get ids rendered with
    ``tokenizer``) or an EndpointAccess; a client (anything with ``submit_batch``) as it is."""
    if isinstance(backend, EndpointAccess):
        return EndpointClient(OpenAIEndpoint(backend.config, backend.api_key))
    return backend if hasattr(backend, "submit_batch") else ReplicaClient(backend, tokenizer)


@dataclass
class Meter:
    """What a stream of requests cost."""

    model_seconds: float = 0.0
    """Wall time from sending a request to reading its answer, summed."""
    generated_tokens: int = 0
    """Tokens the model generated (as the engine counts them)."""

    def add(self, generations: list[Generation], asked: float) -> list[str]:
        """Count one answered request (sent at ``asked``, a perf_counter time); returns its texts."""
        self.model_seconds += time.perf_counter() - asked
        self.generated_tokens += sum(g.completion_tokens for g in generations)
        return [g.text for g in generations]
