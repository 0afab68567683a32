"""How often the BabyAI expert solves tasks through the text interface, and in how many turns.

    .venv/bin/python benchmarks/expert_success.py --mode high_level --seeds 3

Plays every level the bot supports (all but KeyInBox and PutNextS7N4Carrying) for the given
seeds, without a turn limit, with 30% detouring demonstrations.
"""

from __future__ import annotations

import argparse
import collections
import resource
import time

from environments.babyai import BabyAIConfig, BabyAITextEnv, LEVELS
from environments.babyai.expert import BabyAIExpert, ExpertConfig, ExpertFailure
from environments.babyai.levels import BOT_UNSOLVABLE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("high_level", "primitive"), default="high_level")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    env = BabyAITextEnv(BabyAIConfig(action_mode=args.mode, max_turns=None))
    expert = BabyAIExpert(env, ExpertConfig(detour_share=0.3), seed=0)
    solved, played, turns, steps, failures = 0, 0, [], [], collections.Counter()
    started = time.perf_counter()
    for seed in range(args.seeds):
        for level in LEVELS:
            if level in BOT_UNSOLVABLE:
                continue
            played += 1
            try:
                episode = expert.demonstrate(seed * len(LEVELS) + LEVELS.index(level)).episode
            except ExpertFailure:
                failures[level] += 1
                continue
            solved += episode.success
            failures[level] += not episode.success
            turns.append(episode.turns)
            steps.append(episode.final_info["step_count"])
    print(f"{args.mode}: solved {solved}/{played} = {solved / played:.3f}; mean turns {sum(turns) / len(turns):.1f}, "
          f"mean primitive steps {sum(steps) / len(steps):.1f}; {time.perf_counter() - started:.0f} s, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    print("failures by level:", {level: n for level, n in failures.items() if n})


if __name__ == "__main__":
    main()
