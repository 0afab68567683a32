"""What one search turn pays in a BabyAI world, against the way it was before 2026-12-07, on
the same states in the same run: branching (``snapshot()`` + ``restore()`` of the text
environment against two deep copies of the same minigrid env), and a step (the text env's
``step`` against the same step with minigrid's egocentric image rendered after every
primitive step, as minigrid does unless told otherwise).

    .venv/bin/python benchmarks/env_snapshot.py --tasks 0 90 180 270 360 --turns 3 --repeats 200

Each task is reset and played ``--turns`` of its offered actions (the first one each turn), so
the world has moved; then each way is timed ``--repeats`` times, alternating, and the table
gives the medians in microseconds and the ratios. A step is timed from the same state each
time (restored, not timed), with the action the turns above chose first.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from environments.babyai import BabyAIConfig, BabyAITextEnv  # noqa: E402


def microseconds(work) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, nargs="+", default=[0, 90, 180, 270, 360])
    parser.add_argument("--turns", type=int, default=3, help="turns played before the state is branched")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    env = BabyAITextEnv(BabyAIConfig(max_turns=None))
    print("| task | level | snapshot + restore µs | two deep copies µs | ratio | step µs | step with image µs | ratio |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for task_id in args.tasks:
        env.reset(options={"task_id": task_id})
        for _ in range(args.turns):
            env.step(f"Action: {next(iter(env.available_actions))}")
        state, action = env.snapshot(), f"Action: {next(iter(env.available_actions))}"
        times: dict[str, list[float]] = {"branch": [], "copies": [], "step": [], "step with image": []}
        for _ in range(args.repeats):
            times["branch"].append(microseconds(lambda: env.restore(env.snapshot())))
            times["copies"].append(microseconds(lambda: copy.deepcopy(copy.deepcopy(env.minigrid))))
            env.restore(state)
            times["step"].append(microseconds(lambda: env.step(action)))
            env.restore(state)
            del env.minigrid.gen_obs  # minigrid's own method again
            times["step with image"].append(microseconds(lambda: env.step(action)))
            env.restore(state)
        m = {name: statistics.median(values) for name, values in times.items()}
        print(f"| {task_id} | {env.task.level} | {m['branch']:.0f} | {m['copies']:.0f} | {m['branch'] / m['copies']:.2f}× "
              f"| {m['step']:.0f} | {m['step with image']:.0f} | {m['step'] / m['step with image']:.2f}× |")


if __name__ == "__main__":
    main()
