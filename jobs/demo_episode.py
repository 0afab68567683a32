"""Play one BabyAI task with the expert through the text interface and print the trajectory.

    python jobs/demo_episode.py --task-id 1840 --mode high_level --verbosity 2
"""

from __future__ import annotations

import argparse

from environments.babyai import BabyAIConfig, BabyAITextEnv, task_level_and_seed
from environments.babyai.expert import BabyAIExpert, ExpertConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task-id", type=int, default=1840, help="harness task id (level = id %% 40, seed = id // 40)")
    parser.add_argument("--mode", choices=("high_level", "primitive"), default="high_level")
    parser.add_argument("--verbosity", type=int, choices=range(5), default=None,
                        help="thought verbosity 0 (terse) .. 4 (rambling); default: drawn at random")
    parser.add_argument("--detours", action="store_true", help="let the expert take harmless detours")
    parser.add_argument("--seed", type=int, default=0, help="seed of the expert's choices")
    args = parser.parse_args()

    weights = tuple(float(i == args.verbosity) for i in range(5)) if args.verbosity is not None else ExpertConfig().verbosity_weights
    expert_config = ExpertConfig(verbosity_weights=weights, detour_share=1.0 if args.detours else 0.0)
    env = BabyAITextEnv(BabyAIConfig(action_mode=args.mode, max_turns=None))
    demo = BabyAIExpert(env, expert_config, seed=args.seed).demonstrate(args.task_id)

    level, seed = task_level_and_seed(args.task_id)
    print(f"task {args.task_id}: {level} seed {seed}, {args.mode} actions, thought verbosity {demo.verbosity}")
    for message in demo.episode.messages:
        print(f"\n[{message['role']}]\n{message['content']}")
    info = demo.episode.final_info
    print(
        f"\nsuccess={demo.episode.success} reward={demo.episode.reward:.4f} turns={demo.episode.turns} "
        f"primitive steps={info['step_count']}/{info['max_steps']} detours={demo.detours}"
    )


if __name__ == "__main__":
    main()
