"""Scoring a preference stage's packed batches with π_BC before its training starts: the
scoring actor as it was against as it is, on the same rows in the same process.

- before: one torch thread (Ray sets OMP_NUM_THREADS to an actor's CPU reservation, and Ray
  Data reserves one), chunks of 4 sequences in the batch's own order;
- threads: the training workers' cores (``TrainConfig.scoring_threads``), chunks in order;
- threads + sorted: as the actor now scores (``ScoreWithReference``), chunks of similar lengths.

The settings alternate, ``--repeats`` times each, so a slow minute falls on all of them. The
rows are a finished stage's scored folder (``<run>/scored/seed-<n>`` or a stage's ``data``
folder: parquet with input_ids, assistant_mask and their kl_ twins); all settings must give the
same log-probs (to 1e-3 nats).

    .venv/bin/python benchmarks/reference_scoring.py --model runs/smollm2/bootstrap/policy \\
        --data runs/smollm2/scored/seed-0 --rows 2 --repeats 2 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow.parquet as pq  # noqa: E402 (after the path is set)
import torch  # noqa: E402

from depo_ray.train.logprobs import sequence_logps  # noqa: E402
from depo_ray.train.reference import ScoreWithReference, use_threads  # noqa: E402
from depo_ray.train.steps import micro_batches  # noqa: E402

CHUNK = 4
"""ScoreWithReference's chunk: sequences per forward pass."""


def in_order(scorer: ScoreWithReference, sequences, masks) -> list[float]:
    """The actor's scoring as it was: chunks of CHUNK in the batch's order."""
    out = []
    with torch.no_grad():
        for start in range(0, len(sequences), CHUNK):
            out += sequence_logps(scorer.model, sequences[start:start + CHUNK], masks[start:start + CHUNK],
                                  scorer.pad_id).tolist()
    return out


def padded_tokens(lengths: list[int], groups: list[list[int]]) -> int:
    """Tokens the forward passes see: each chunk padded to its longest sequence."""
    return sum(len(group) * max(lengths[i] for i in group) for group in groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="π_BC's folder")
    parser.add_argument("--data", required=True, help="a scored (or packed) preference folder of parquet files")
    parser.add_argument("--rows", type=int, default=2, help="packed global batches to score")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="the training workers' cores (num_workers x cpus_per_worker)")
    args = parser.parse_args()
    files = sorted(Path(args.data).glob("*.parquet"))
    if not files:
        raise SystemExit(f"--data {args.data}: no parquet files")
    rows = pq.ParquetDataset(files).read(columns=["input_ids", "assistant_mask", "kl_input_ids",
                                                  "kl_assistant_mask"]).slice(0, args.rows).to_pylist()
    pairs = [(row[ids], row[mask]) for row in rows
             for ids, mask in (("input_ids", "assistant_mask"), ("kl_input_ids", "kl_assistant_mask"))]
    real = sum(len(s) for sequences, _ in pairs for s in sequences)
    in_order_groups = [padded_tokens([len(s) for s in seqs], [list(range(i, min(i + CHUNK, len(seqs))))
                                                             for i in range(0, len(seqs), CHUNK)]) for seqs, _ in pairs]
    sorted_groups = [padded_tokens([len(s) for s in seqs], micro_batches(seqs, CHUNK)) for seqs, _ in pairs]
    scorer = ScoreWithReference(args.model, chunk=CHUNK, threads=args.threads)
    settings = {"before": (1, in_order), "threads": (args.threads, in_order),
                "threads + sorted": (args.threads, lambda s, seqs, masks: s._score(seqs, masks))}
    seconds: dict[str, list[float]] = {name: [] for name in settings}
    scores: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, (threads, score) in settings.items():
            used = use_threads(threads)
            start = time.perf_counter()
            scores[name] = [x for seqs, masks in pairs for x in score(scorer, seqs, masks)]
            seconds[name].append(time.perf_counter() - start)
            print(f"{name}: {used} thread(s), {seconds[name][-1]:.1f} s", flush=True)
    worst = max(abs(a - b) for name in settings for a, b in zip(scores[name], scores["before"]))
    if worst > 1e-3:
        raise SystemExit(f"the settings' log-probs differ by up to {worst:.2g} nats")
    print(f"{len(rows)} packed batches, {len(pairs) // len(rows)} sequence lists each, {real:,} tokens; "
          f"padded tokens per real token: in order {sum(in_order_groups) / real:.2f}, sorted {sum(sorted_groups) / real:.2f}; "
          f"log-probs agree to {worst:.1e} nats; {args.repeats} runs each, median [min, max]")
    print("| setting | seconds | tokens/s | vs before |")
    print("|---|---|---|---|")
    base = statistics.median(seconds["before"])
    for name, values in seconds.items():
        middle = statistics.median(values)
        print(f"| {name} | {middle:.1f} [{min(values):.1f}, {max(values):.1f}] | {real / middle:,.0f} | {middle / base:.2f}× |")


if __name__ == "__main__":
    main()
