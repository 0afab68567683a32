"""Out-of-domain evaluation on math (the paper's Figure 2): does an agent trained to think
briefly keep its accuracy on GSM8K, MATH and SimulEq, and with how many tokens?

``run_math_evaluation`` serves a checkpoint with vLLM (the evaluation router), solves each
problem greedily in one turn, and writes problems.parquet (one row per problem) and
summary.json (accuracy, mean generated tokens per problem), summary last.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from depo_ray.cluster import ReplaceableActors, in_batches, map_on_replaceable_actors
from depo_ray.evaluate.config import MathEvalConfig
from depo_ray.files import replaced_atomically, write_text_atomically
from depo_ray.serving.client import ReplicaClient
from depo_ray.serving.server import ChatRequest, Sampling
from depo_ray.tokens import chat_tokens
from environments.math import MathProblem, boxed_answer, equivalent, generated_problems, gsm8k_answer, load_problems
from environments.math.problems import asks_for_a_number

# Ray and transformers load on first use: the pipeline's artifact checks and planner import this
# module.

INSTRUCTION = "Solve the problem. Reason briefly, then give the final answer as \\boxed{...}."
SUMMARY = "summary.json"


def problems_for(config: MathEvalConfig) -> list[MathProblem]:
    if config.benchmark == "generated" and config.path is None:
        return generated_problems(config.generated_count)[:config.limit]
    return load_problems(config.benchmark, config.path, config.limit)


def chat(problem: MathProblem) -> list[dict]:
    return [{"role": "user", "content": f"{INSTRUCTION}\n\n{problem.question}"}]


def final_answer(text: str, problem: MathProblem) -> str | None:
    """The boxed answer; failing that, what follows the last 'answer is' / 'Answer:' (its final
    number where the problem asks for one: "18 apples"); failing that, for GSM8K and the
    generated set, the last number."""
    boxed = boxed_answer(text)
    if boxed is not None:
        return boxed
    stated = re.findall(r"answer(?: is|:)\s*:?\s*(.+)", text, flags=re.IGNORECASE)
    if stated:
        answer = stated[-1].strip().rstrip(".")
        return gsm8k_answer(answer) if asks_for_a_number(problem) else answer
    return gsm8k_answer(text) if problem.benchmark in ("gsm8k", "generated") else None


def score(problem: MathProblem, response: str, tokenizer) -> dict:
    """One problem's row: the extracted answer, whether it is right, and the generated tokens
    (counted like every other generation: assistant tokens of the chat)."""
    predicted = final_answer(response, problem)
    tokens = sum(chat_tokens(tokenizer, chat(problem) + [{"role": "assistant", "content": response}]).assistant_mask)
    return {**asdict(problem), "response": response, "predicted": predicted,
            "correct": equivalent(predicted, problem.answer), "generated_tokens": tokens}


def summarize_math(rows: list[dict]) -> dict:
    if not rows:
        raise ValueError("no problems were solved")
    return {"problems": len(rows), "accuracy": sum(r["correct"] for r in rows) / len(rows),
            "mean_tokens": sum(r["generated_tokens"] for r in rows) / len(rows),
            "answered": sum(r["predicted"] is not None for r in rows) / len(rows)}


class MathSolver:
    """Solves a batch of problems greedily, sent at once to one leased replica. Wrap with
    ``ray.remote``."""

    def __init__(self, router, tokenizer_path: str, max_new_tokens: int):
        from depo_ray.models.loading import load_tokenizer

        self.tokenizer = load_tokenizer(tokenizer_path)
        self.client, self.sampling = ReplicaClient(router, self.tokenizer), Sampling(temperature=0.0, max_tokens=max_new_tokens)

    def solve(self, problems: list[MathProblem]) -> list[dict]:
        answers = self.client.submit_batch([ChatRequest(chat(problem), 1, self.sampling) for problem in problems]).result()
        return [score(problem, answer[0].text, self.tokenizer) for problem, answer in zip(problems, answers)]


def run_math_evaluation(config: MathEvalConfig, policy: str, output_dir: str | Path, progress: bool = True,
                        router=None) -> dict:
    """``policy`` (a model folder or Hugging Face id) solves every problem once, writing its
    answers in ``output_dir``; returns the summary (read back when already complete).
    ``router``: one already serving ``policy`` (else one is started and stopped here)."""
    import ray

    from depo_ray.serving.router import serving

    output = Path(output_dir)
    if (output / SUMMARY).exists():
        return json.loads((output / SUMMARY).read_text())
    problems = problems_for(config)  # a bad file fails here, before any engine starts
    output.mkdir(parents=True, exist_ok=True)
    with serving(policy, config.serving, "math-router", router) as router:
        solver = ray.remote(MathSolver)
        # A solver that dies is replaced and its batch solved again: greedy decoding repeats it.
        solvers = ReplaceableActors("math-solver", lambda name: solver.options(num_cpus=config.cpus_per_worker, name=name)
                                    .remote(router, policy, config.max_new_tokens))
        solved = map_on_replaceable_actors(solvers, lambda actor, batch: actor.solve.remote(batch),
                                           in_batches(problems, config.problems_per_worker), config.workers)
        rows = []
        with tqdm(total=len(problems), desc=f"math {config.benchmark}", disable=not progress) as bar:
            for batch in solved:
                rows += batch
                bar.update(len(batch))
                bar.set_postfix(acc=f"{sum(r['correct'] for r in rows) / len(rows):.2f}")
    rows.sort(key=lambda r: r["id"])
    with replaced_atomically(output / "problems.parquet") as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp)
    summary = {"benchmark": config.benchmark, "policy": policy, **summarize_math(rows)}
    write_text_atomically(output / SUMMARY, json.dumps(summary, indent=2))
    return summary
