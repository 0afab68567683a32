"""PolicyServer start-up and batch throughput on CPU for each place vLLM's engine can run
(``serving.engine.cpu_engine``): inside the server's process (``in_process``), in AsyncLLM's
engine-core process (``engine_process``), or with the model in a worker process of that engine
core (``worker_process``, vLLM's default), measured in the same run.

Each measurement is a fresh Python process (as a Ray actor is): it times ``PolicyServer(...)``
until the engine answers, then sends ``--requests`` sampled chats at once, ``--batches``
times, and keeps the median tokens/s. The modes alternate, ``--repeats`` times each, so a
slow minute of the machine falls on both.

    .venv/bin/python benchmarks/engine_start.py --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULT = "engine-start result: "  # vLLM logs to stdout too
from depo_ray.serving.engine import CPU_ENGINES  # noqa: E402 (after the path is set)


def tiny_policy(folder: Path) -> Path:
    from depo_ray.models.tiny import build_tiny_policy, vocabulary_of
    from depo_ray.models.config import TinyModelConfig
    from environments.babyai.vocabulary import vocabulary_texts

    config = TinyModelConfig(hidden_size=128, num_layers=2, intermediate_size=256, max_position_embeddings=4096)
    return build_tiny_policy(vocabulary_of(vocabulary_texts()), folder / "policy", config)


async def tokens_per_second(server, requests: int, max_tokens: int) -> float:
    from depo_ray.serving.server import Sampling

    chats = [[{"role": "system", "content": "go to the red ball"}, {"role": "user", "content": f"you see a wall {i}"}]
             for i in range(requests)]
    start = time.perf_counter()
    answers = await asyncio.gather(*(server.generate(chat, 1, Sampling(temperature=1.0, max_tokens=max_tokens, seed=i))
                                     for i, chat in enumerate(chats)))
    return sum(a[0].completion_tokens for a in answers) / (time.perf_counter() - start)


def measure(policy: str, cpu_engine: str, requests: int, batches: int, max_tokens: int) -> dict:
    """One mode in this process: start-up seconds and the median tokens/s of the batches."""
    from depo_ray.serving.engine import EngineConfig
    from depo_ray.serving.server import PolicyServer

    start = time.perf_counter()
    server = PolicyServer(policy, EngineConfig(max_model_len=4096, dtype="float32",
                                               cpu_engine=cpu_engine))

    async def batches_of_requests():
        await server.health()
        ready = time.perf_counter() - start
        rates = [await tokens_per_second(server, requests, max_tokens) for _ in range(batches)]
        return ready, statistics.median(rates)

    ready, rate = asyncio.run(batches_of_requests())
    return {"start_s": ready, "tokens_per_s": rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", help="policy folder (default: a freshly built tiny policy)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per mode")
    parser.add_argument("--requests", type=int, default=64, help="chats sent at once per batch")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a mode measured in this process
    args = parser.parse_args()
    if args.child is not None:
        print(RESULT + json.dumps(measure(args.policy, args.child, args.requests, args.batches, args.max_tokens)))
        return
    policy = args.policy or str(tiny_policy(Path(tempfile.mkdtemp())))
    runs: dict[str, list[dict]] = {mode: [] for mode in CPU_ENGINES}
    for repeat in range(args.repeats):
        for mode in CPU_ENGINES:
            out = subprocess.run([sys.executable, __file__, "--policy", policy, "--child", mode,
                                  "--requests", str(args.requests), "--batches", str(args.batches),
                                  "--max-tokens", str(args.max_tokens)], capture_output=True, text=True, check=True)
            runs[mode].append(json.loads(next(line[len(RESULT):] for line in out.stdout.splitlines() if line.startswith(RESULT))))
            print(f"repeat {repeat} {mode}: {runs[mode][-1]}", flush=True)
    median = {mode: {key: statistics.median(r[key] for r in rows) for key in ("start_s", "tokens_per_s")}
              for mode, rows in runs.items()}
    base = median["worker_process"]
    print(f"\n| cpu_engine | start s (median of {args.repeats}) | tokens/s, {args.requests} requests | start vs worker_process | tokens/s vs worker_process |")
    print("|---|---|---|---|---|")
    for mode, m in median.items():
        print(f"| {mode} | {m['start_s']:.1f} | {m['tokens_per_s']:.0f} | {m['start_s'] / base['start_s']:.2f} | "
              f"{m['tokens_per_s'] / base['tokens_per_s']:.2f} |")


if __name__ == "__main__":
    main()
