"""Many search trees with requests in flight at once (no Ray, no model): the same trees and
trajectories as searching them one at a time, whatever order the answers arrive in."""

import random
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from depo_ray.search.interleave import Interleaver
from depo_ray.search.mcts import Search, SearchConfig
from tests.test_mcts import MOVES, LineWorld

CONFIG = SearchConfig(simulations=12, children=3, exploration=0.7, max_depth=6)
GOALS = {f"tree-{i}": 1 + i % 5 for i in range(10)}


class TreePolicies:
    """Each tree samples from its own seeded generator, in the order it asks: "the same model
    outputs" for a tree, independent of the other trees and of timing."""

    def __init__(self):
        self.rngs = {key: random.Random(key) for key in GOALS}

    def answer(self, key, messages, n):
        rng = self.rngs[key]
        return [f"Thought: {rng.random():.1f}. Action: {rng.choice(list(MOVES))}" for _ in range(n)]


def shape(node) -> tuple:
    return node.response, node.visits, round(node.value_sum, 9), tuple(shape(child) for child in node.children)


def one_at_a_time() -> dict:
    policies, outcome = TreePolicies(), {}
    for key, goal in GOALS.items():
        search = Search(LineWorld(), CONFIG, "walk", reset_options={"goal": goal})
        episodes = search.run(lambda messages, n, key=key: policies.answer(key, messages, n))
        outcome[key] = (shape(search.root), [e.messages for e in episodes])
    return outcome


def interleaved(in_flight: int, seed: int, batches: int) -> dict:
    """Up to ``in_flight`` trees at once on one shared environment, their requests in up to
    ``batches`` batches, answers completing in a random order (random delays on a thread pool)."""
    policies, delays, env = TreePolicies(), random.Random(seed), LineWorld()
    searches, outcome = {}, {}

    def submit(batch) -> Future:
        answers, delay = [policies.answer(key, r.messages, r.n) for key, r in batch], delays.random() * 0.003
        return pool.submit(lambda: time.sleep(delay) or answers)

    def tree(key):
        searches[key] = Search(env, CONFIG, "walk", reset_options={"goal": GOALS[key]})
        return (yield from searches[key].steps())

    with ThreadPoolExecutor(8) as pool:
        interleaver, waiting = Interleaver(submit, batches_in_flight=batches), list(GOALS)
        while waiting or len(interleaver):
            while waiting and len(interleaver) < in_flight:
                interleaver.start(waiting[0], tree(waiting.pop(0)))
            for finished in interleaver.wait():
                assert finished.error is None
                outcome[finished.key] = (shape(searches[finished.key].root), [e.messages for e in finished.result])
    return outcome


@pytest.mark.parametrize("in_flight,seed,batches", [(1, 0, 1), (4, 1, 2), (10, 2, 1), (10, 3, 3), (10, 4, 10)])
def test_interleaved_trees_equal_sequential_ones(in_flight, seed, batches):
    expected = one_at_a_time()
    assert len({tree for tree, _ in expected.values()}) > 1  # the trees differ from each other
    assert interleaved(in_flight, seed, batches) == expected


@pytest.mark.parametrize("batches", [1, 2, 3])
def test_every_pending_request_goes_out_in_at_most_the_allowed_batches(batches):
    sizes, futures = [], []

    def submit(batch) -> Future:
        sizes.append(len(batch))
        futures.append(Future())
        return futures[-1]

    def two_turns():
        yield "first"
        yield "second"

    interleaver = Interleaver(submit, batches_in_flight=batches)
    for key in range(7):
        interleaver.start(key, two_turns())
    interleaver.wait(timeout=0)
    assert sum(sizes) == 7 and len(sizes) == batches and max(sizes) - min(sizes) <= 1  # even shares, all out
    futures[0].set_result(["answer"] * sizes[0])
    interleaver.wait()
    assert len(sizes) == batches + 1 and sizes[-1] == sizes[0]  # the answered share went out again at once


def test_a_failed_request_or_search_fails_only_its_own_generator():
    def steps(fail_at):
        for turn in range(3):
            answer = yield turn
            if turn == fail_at:
                raise ValueError(f"search broke at {turn}")
            assert answer == f"answer {turn}"
        return "complete"

    def submit(batch) -> Future:
        future = Future()
        if any(key == "request fails" for key, _ in batch):
            future.set_exception(TimeoutError("replica gone"))
        else:
            future.set_result([f"answer {turn}" for _, turn in batch])
        return future

    interleaver = Interleaver(submit, batches_in_flight=3)  # one batch per generator
    for key, fail_at in [("fine", None), ("search fails", 1), ("request fails", None)]:
        interleaver.start(key, steps(fail_at))
    finished = {}
    while len(interleaver) or not finished:
        finished.update({f.key: f for f in interleaver.wait()})
    assert finished["fine"].result == "complete" and finished["fine"].error is None
    assert isinstance(finished["search fails"].error, ValueError)
    assert isinstance(finished["request fails"].error, TimeoutError)
    assert len(interleaver) == 0


def test_episodes_interleaved_on_one_environment_play_as_alone():
    from environments.episode import episode_steps, play_episode

    def act(messages):  # greedy-like: a function of the chat
        return "Action: " + ("right" if len(messages) % 3 else "left")

    goals = [1, 2, 3, 4]
    alone = [play_episode(LineWorld(), {"goal": goal}, act, "walk") for goal in goals]
    env = LineWorld()
    episodes = {goal: episode_steps(env, {"goal": goal}, "walk", shared=True) for goal in goals}
    requests = {goal: next(steps) for goal, steps in episodes.items()}
    played = {}
    while requests:
        for goal in list(requests)[::-1]:  # each round in another order than the resets
            try:
                requests[goal] = episodes[goal].send(act(requests[goal]))
            except StopIteration as end:
                played[goal] = end.value
                del requests[goal]
    assert [played[goal] for goal in goals] == alone
    assert len({e.turns for e in alone}) > 1


class SeedDrivenClient:
    """Stands in for the client of a leased replica: answers at once, each response chosen by
    the request's sampling seed alone (as a seeded engine samples), and records the seeds it
    was sent, in order."""

    def __init__(self):
        self.sent: list[int] = []

    def submit_batch(self, requests):
        from depo_ray.serving.server import Generation

        answers = []
        for request in requests:
            self.sent.append(request.sampling.seed)
            rng = random.Random(request.sampling.seed)
            answers.append([Generation(f"Thought: go. Action: {rng.choice(['turn left', 'turn right', 'move forward'])}", 8, 50)
                            for _ in range(request.n)])
        done = Future()
        done.set_result(answers)
        return done

    def close(self):
        pass


class TaskQueue:
    def __init__(self, items=()):
        self.items = list(items)

    def get(self, block=True):
        from ray.util.queue import Empty

        if not self.items:
            raise Empty
        return self.items.pop(0)

    def put(self, item):
        self.items.append(item)


@pytest.mark.parametrize("in_flight", [1, 3])
def test_a_searchs_requests_carry_seeds_from_its_task_and_their_place_so_it_repeats(tiny_model_dir, in_flight):
    from depo_ray.env_setup import EnvConfig
    from depo_ray.search.mcts import request_seed
    from depo_ray.search.worker import MCTSWorker, TaskDone

    def search(tasks, in_flight, base=0):
        client = SeedDrivenClient()
        worker = MCTSWorker("w", EnvConfig(options={"max_turns": 4}),
                            SearchConfig(simulations=3, children=2, max_depth=4, seed=base),
                            client, str(tiny_model_dir), "tiny", trees_in_flight=in_flight)
        results = TaskQueue()
        worker.run(TaskQueue(tasks), results)
        done = {m.task_id: [r.messages for r in m.records] for m in results.items if isinstance(m, TaskDone)}
        return done, client.sent

    alone = {task: search([task], 1)[0][task] for task in (0, 1, 40)}
    together, sent = search([0, 1, 40], in_flight)
    assert together == alone  # each task's trajectories whatever else the worker searched beside it
    per_task = {task: [request_seed(0, task, i) for i in range(50)] for task in (0, 1, 40)}
    assert all(seed in set().union(*map(set, per_task.values())) for seed in sent)
    assert len(set(sent)) == len(sent)  # no two requests share a seed
    assert search([0], 1, base=1)[1][0] != search([0], 1, base=0)[1][0]  # the base seed moves them
