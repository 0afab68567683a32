"""Expert demonstrations for the CPU default: build the tiny policy if missing, play BabyAI
tasks with the bot expert, label them and write Parquet shards.

    python jobs/expert_demos.py --run runs/demo --seeds 8

Writes <run>/policy (tiny model), <run>/labeled (D, U and dropped), <run>/bc (D_BC) and
prints the labeling summary.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from depo_ray.bootstrap.warm_start import expert_records
from depo_ray.env_setup import EnvConfig
from depo_ray.labeling import LabelConfig, label_records, select_bc, summary_table
from depo_ray.models.loading import load_tokenizer
from depo_ray.models.tiny import build_tiny_policy, vocabulary_of
from depo_ray.records import write_shard
from environments.babyai.levels import BOT_UNSOLVABLE, LEVELS, tasks_for_levels
from environments.babyai.vocabulary import vocabulary_texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="runs/demo", help="run folder")
    parser.add_argument("--seeds", type=int, default=8, help="seeds per level")
    parser.add_argument("--levels", nargs="*", default=[l for l in LEVELS if l not in BOT_UNSOLVABLE])
    parser.add_argument("--max-turns", type=int, default=20)
    parser.add_argument("--detour-share", type=float, default=0.3)
    args = parser.parse_args()

    run = Path(args.run)
    policy = run / "policy"
    if not (policy / "config.json").exists():
        build_tiny_policy(vocabulary_of(vocabulary_texts()), policy)
    tokenizer = load_tokenizer(str(policy))
    records = expert_records(tasks_for_levels(args.levels, range(args.seeds)), tokenizer,
                             EnvConfig(options={"max_turns": args.max_turns}), {"detour_share": args.detour_share})
    label_config = LabelConfig()
    labeled = label_records(records, label_config)
    write_shard(labeled, run / "labeled" / "expert-000.parquet")
    write_shard(select_bc(labeled, label_config), run / "bc" / "expert-000.parquet")
    print(summary_table(labeled))
    print(f"policy: {policy}\nlabeled: {run / 'labeled'}\nD_BC: {run / 'bc'}")


if __name__ == "__main__":
    main()
