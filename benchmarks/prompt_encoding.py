"""What serving's prompts cost on the client side: each chat tokenized whole (``prompt_ids``)
against ``PromptEncoder`` (pieces between special tokens, each tokenized once), on the same
stream of chats in the same run.

    .venv/bin/python benchmarks/prompt_encoding.py --policy runs/cpu/bootstrap/policy
    .venv/bin/python benchmarks/prompt_encoding.py --policy smollm2-135m-instruct

The stream is what a search asks for: the expert plays ``--tasks`` BabyAI tasks (with
detours, so turns vary), and every prefix of each episode that ends with an observation is
one prompt, in episode order, each episode's prompts ``--children`` times (the requests of a
node's siblings and of the rollouts that revisit it). Both ways run ``--repeats`` times,
alternating, each with a fresh encoder; the table gives the median microseconds per prompt,
the ratio, and whether every prompt's ids are equal.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from depo_ray.config import model_under_root  # noqa: E402


def prompts_of(tasks: int, children: int) -> list[list[dict]]:
    from environments.babyai import BabyAIConfig, BabyAITextEnv
    from environments.babyai.expert import BabyAIExpert, ExpertConfig, ExpertFailure

    expert, chats = BabyAIExpert(BabyAITextEnv(BabyAIConfig(max_turns=12)), ExpertConfig(detour_share=0.5)), []
    for task_id in range(tasks):
        try:
            messages = expert.demonstrate(task_id).episode.messages
        except ExpertFailure:
            continue
        for end in range(2, len(messages) + 1, 2):
            chats += [messages[:end]] * children
    return chats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True, help="policy folder or named model whose tokenizer renders the chats")
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--children", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from depo_ray.models.loading import load_tokenizer
    from depo_ray.tokens import PromptEncoder, prompt_ids

    tokenizer = load_tokenizer(model_under_root(ROOT, args.policy))
    chats = prompts_of(args.tasks, args.children)
    # each repeat makes a fresh encoder, so the pieces are learned within the timed run
    ways = {"whole (prompt_ids)": lambda: (lambda chat: prompt_ids(tokenizer, chat)),
            "pieces (PromptEncoder)": lambda: PromptEncoder(tokenizer)}
    timings: dict[str, list[float]] = {name: [] for name in ways}
    results: dict[str, list[list[int]]] = {}
    for _ in range(args.repeats):
        for name, make in ways.items():
            encode = make()
            start = time.perf_counter()
            results[name] = [encode(chat) for chat in chats]
            timings[name].append((time.perf_counter() - start) * 1e6 / len(chats))
    whole, pieces = (statistics.median(timings[name]) for name in ways)
    same = results["whole (prompt_ids)"] == results["pieces (PromptEncoder)"]
    tokens = statistics.mean(len(ids) for ids in results["whole (prompt_ids)"])
    print(f"{len(chats)} prompts ({tokens:.0f} tokens on average), {args.repeats} alternating repeats, "
          f"tokenizer of {args.policy}")
    print("| way | µs per prompt | ratio | same ids |\n|---|---:|---:|---|")
    print(f"| whole (prompt_ids) | {whole:.0f} | 1.00x | |")
    print(f"| pieces (PromptEncoder) | {pieces:.0f} | {pieces / whole:.2f}x | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
