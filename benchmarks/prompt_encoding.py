"""What a search worker's tokenizing costs: each chat tokenized whole against
``PieceTokenizer`` (pieces between special tokens, each tokenized once), on the same stream of
chats in the same run, for the prompts it sends (``prompt_ids``) and for the trajectories it
writes as records (``tokens_per_turn``, which needs offsets too).

    .venv/bin/python benchmarks/prompt_encoding.py --policy runs/cpu/bootstrap/policy
    .venv/bin/python benchmarks/prompt_encoding.py --policy smollm2-135m-instruct

The stream is what a search makes: the expert plays ``--tasks`` BabyAI tasks (with detours,
so turns vary); every prefix of an episode that ends with an observation is a prompt, asked
``--children`` times (a node's siblings and the rollouts that revisit it), and every prefix
that ends with an answer is a found trajectory, counted once, in episode order. Both ways run
``--repeats`` times, alternating, each with a fresh tokenizer (so the pieces are learned within
the timed run); the table gives the median microseconds per prompt and per record, the ratio,
and whether every result is equal.
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


def search_stream(tasks: int, children: int) -> list[tuple[str, list[dict]]]:
    """("prompt" or "record", chat) in the order a search worker meets them."""
    from environments.babyai import BabyAIConfig, BabyAITextEnv
    from environments.babyai.expert import BabyAIExpert, ExpertConfig, ExpertFailure

    expert, stream = BabyAIExpert(BabyAITextEnv(BabyAIConfig(max_turns=12)), ExpertConfig(detour_share=0.5)), []
    for task_id in range(tasks):
        try:
            messages = expert.demonstrate(task_id).episode.messages
        except ExpertFailure:
            continue
        for end in range(2, len(messages) + 1):
            stream += [("prompt", messages[:end])] * children if end % 2 == 0 else [("record", messages[:end])]
    return stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True, help="policy folder or named model whose tokenizer renders the chats")
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--children", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from depo_ray.models.loading import load_tokenizer
    from depo_ray.tokens import PieceTokenizer, prompt_ids, tokens_per_turn

    tokenizer = load_tokenizer(model_under_root(ROOT, args.policy))
    stream = search_stream(args.tasks, args.children)
    work = {"prompt": prompt_ids, "record": tokens_per_turn}
    ways = {"whole": lambda: tokenizer, "pieces (PieceTokenizer)": lambda: PieceTokenizer(tokenizer)}
    timings = {(name, kind): [] for name in ways for kind in work}
    results: dict[str, list] = {}
    for _ in range(args.repeats):
        for name, make in ways.items():
            used, spent, out = make(), dict.fromkeys(work, 0.0), []
            for kind, chat in stream:
                start = time.perf_counter()
                out.append(work[kind](used, chat))
                spent[kind] += time.perf_counter() - start
            results[name] = out
            for kind in work:
                timings[name, kind].append(spent[kind] * 1e6 / sum(k == kind for k, _ in stream))
    same = results["whole"] == results["pieces (PieceTokenizer)"]
    counts = {kind: sum(k == kind for k, _ in stream) for kind in work}
    print(f"{counts['prompt']} prompts and {counts['record']} records, {args.repeats} alternating repeats, "
          f"tokenizer of {args.policy}; every result equal: {'yes' if same else 'NO'}")
    print("| way | µs per prompt | ratio | µs per record | ratio |\n|---|---:|---:|---:|---:|")
    for name in ways:
        cells = []
        for kind in work:
            median, whole = statistics.median(timings[name, kind]), statistics.median(timings["whole", kind])
            cells += [f"{median:.0f}", f"{median / whole:.2f}x"]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
