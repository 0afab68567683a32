"""Math problems for out-of-domain evaluation: GSM8K, MATH and SimulEq from local files (or
the Hugging Face hub when online), and a generated set of arithmetic word problems and
linear systems for tests and the CPU default.

Every benchmark becomes ``MathProblem(id, benchmark, question, answer)`` with the gold final
answer as text, checked later by ``answers.equivalent``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from environments.math.answers import boxed_answer, gsm8k_answer

BENCHMARKS = ("gsm8k", "math", "simuleq", "generated")
HUB_IDS = {"gsm8k": ("openai/gsm8k", "main", "test"), "math": ("HuggingFaceH4/MATH-500", None, "test")}
WORD_PROBLEM = "gen-word"  # id prefix of the generated word problems


@dataclass(frozen=True)
class MathProblem:
    id: str
    benchmark: str
    question: str
    answer: str
    """Gold final answer (a number, an expression, or a comma-separated solution set)."""


def _gold(benchmark: str, row: dict, where: str) -> tuple[str, str]:
    """(question, gold answer) of one row in the benchmark's own field names."""
    try:
        if benchmark == "gsm8k":
            question, answer = row["question"], gsm8k_answer(row["answer"])
        elif benchmark == "math":
            question = row["problem"]
            answer = row.get("answer") or boxed_answer(row["solution"])
        elif benchmark == "simuleq":
            question = row.get("question") or row["sQuestion"]
            answer = _answer_text(row["answer"] if "answer" in row else row["lSolutions"])
        else:
            question, answer = row["question"], _answer_text(row["answer"])
    except KeyError as missing:
        raise ValueError(f"{where}: {benchmark} row lacks field {missing}") from None
    if not answer:
        raise ValueError(f"{where}: no final answer found for this {benchmark} row")
    return question, answer


def _answer_text(value) -> str | None:
    """A solution list as "2.0, 1.0"; null stays None (no answer), not the text "None"."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return None if value is None else str(value)


def asks_for_a_number(problem: MathProblem) -> bool:
    """GSM8K and the generated word problems want a plain number, often stated with its unit
    ("The answer is 18 apples")."""
    return problem.benchmark == "gsm8k" or problem.id.startswith(WORD_PROBLEM)


def load_problems(benchmark: str, path: str | None = None, limit: int | None = None) -> list[MathProblem]:
    """Problems from a local .jsonl / .json / .parquet file in the benchmark's own format, or
    from the hub (gsm8k, math) when ``path`` is None and the ``datasets`` library can reach it."""
    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; expected one of {list(BENCHMARKS)}")
    if path is None:
        rows, source = _hub_rows(benchmark), HUB_IDS.get(benchmark, ("?",))[0]
    else:
        rows, source = _file_rows(Path(path)), path
    problems = []
    for i, row in enumerate(rows[:limit] if limit else rows):
        question, answer = _gold(benchmark, row, f"{source} row {i}")
        problems.append(MathProblem(str(row.get("id", row.get("unique_id", i))), benchmark, question, answer))
    return problems


def _file_rows(path: Path) -> list[dict]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such problem file")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if path.suffix == ".json":
        return json.loads(path.read_text())
    raise ValueError(f"{path}: expected .jsonl, .json or .parquet")


def _hub_rows(benchmark: str) -> list[dict]:
    if benchmark not in HUB_IDS:
        raise ValueError(f"{benchmark}: no hub copy known; give a local file")
    try:
        import datasets
    except ImportError:
        raise RuntimeError(f"{benchmark}: give a local file, or install `datasets` to read it from the hub") from None
    name, config, split = HUB_IDS[benchmark]
    return list(datasets.load_dataset(name, config, split=split))


def _word_problem(rng: random.Random, i: int) -> MathProblem:
    name = rng.choice(["Ana", "Ben", "Chen", "Dara", "Eli", "Fay"])
    item = rng.choice(["apples", "pencils", "stickers", "marbles", "cards"])
    boxes, per_box, price = rng.randint(2, 9), rng.randint(3, 12), rng.randint(2, 5)
    given = rng.randint(1, boxes * per_box - 1)
    kept = boxes * per_box - given
    question = (f"{name} buys {boxes} boxes of {item} with {per_box} {item} in each box and gives {given} {item} "
                f"to a friend. Each of the {item} left costs {price} dollars. How many dollars are the {item} "
                f"{name} kept worth?")
    return MathProblem(f"{WORD_PROBLEM}-{i}", "generated", question, str(kept * price))


def _term(coefficient: int, unknown: str, first: bool = False) -> str:
    """3x, -x, + 2y, - y: a linear term as written by hand."""
    size = "" if abs(coefficient) == 1 else str(abs(coefficient))
    if first:
        return f"{'-' if coefficient < 0 else ''}{size}{unknown}"
    return f"{'-' if coefficient < 0 else '+'} {size}{unknown}"


def _linear_system(rng: random.Random, i: int) -> MathProblem:
    x, y = rng.randint(-9, 9), rng.randint(-9, 9)
    while True:
        a, b, c, d = (rng.choice([n for n in range(-6, 7) if n]) for _ in range(4))
        if a * d - b * c:
            break
    equations = [f"{_term(a, 'x', first=True)} {_term(b, 'y')} = {a * x + b * y}",
                 f"{_term(c, 'x', first=True)} {_term(d, 'y')} = {c * x + d * y}"]
    question = f"Solve the system: {equations[0]} and {equations[1]}. Give x and y."
    return MathProblem(f"gen-system-{i}", "generated", question, f"x = {x}, y = {y}")


def _proper_fraction(rng: random.Random) -> Fraction:
    """A fraction that prints as n/d (d > 1), so the question shows two fractions."""
    while True:
        value = Fraction(rng.randint(1, 9), rng.randint(2, 9))
        if value.denominator > 1:
            return value


def _fraction_problem(rng: random.Random, i: int) -> MathProblem:
    a, b = _proper_fraction(rng), _proper_fraction(rng)
    return MathProblem(f"gen-fraction-{i}", "generated", f"What is {a} + {b}? Give a fraction in lowest terms.", str(a + b))


def generated_problems(count: int, seed: int = 0) -> list[MathProblem]:
    """Word problems, 2x2 linear systems with integer solutions and fraction sums, in turn."""
    rng = random.Random(seed)
    makers = (_word_problem, _linear_system, _fraction_problem)
    return [makers[i % len(makers)](rng, i) for i in range(count)]
