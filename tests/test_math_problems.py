"""Math problem loading (each benchmark's own format) and the generated set."""

import json
import re

import pytest
import sympy

from environments.math import equivalent, generated_problems, load_problems
from environments.math.answers import parse_expression


def test_generated_systems_have_the_stated_solution():
    systems = [p for p in generated_problems(60, seed=1) if p.id.startswith("gen-system")]
    assert len(systems) == 20
    for problem in systems:
        x, y = (int(v) for v in re.findall(r"-?\d+", problem.answer))
        for lhs, rhs in re.findall(r"([-\dxy +]+) = (-?\d+)", problem.question.split(": ", 1)[1]):
            value = parse_expression(lhs).subs({sympy.Symbol("x"): x, sympy.Symbol("y"): y})
            assert value == int(rhs), problem


def test_generated_word_problems_and_fractions_add_up():
    for problem in generated_problems(60, seed=2):
        numbers = [int(n) for n in re.findall(r"\d+", problem.question)]
        if problem.id.startswith("gen-word"):
            boxes, per_box, given, price = numbers
            assert int(problem.answer) == (boxes * per_box - given) * price > 0
        elif problem.id.startswith("gen-fraction"):
            assert equivalent(problem.answer, f"{numbers[0]}/{numbers[1]} + {numbers[2]}/{numbers[3]}")


def test_the_generated_set_is_reproducible():
    assert generated_problems(9, seed=4) == generated_problems(9, seed=4) != generated_problems(9, seed=5)


def test_each_benchmark_is_read_in_its_own_format(tmp_path):
    gsm = tmp_path / "gsm8k.jsonl"
    gsm.write_text(json.dumps({"question": "2 + 2?", "answer": "2 + 2 = 4\n#### 4"}) + "\n")
    math = tmp_path / "math.json"
    math.write_text(json.dumps([{"problem": "Half?", "solution": r"It is $\boxed{\frac{1}{2}}$."}]))
    simuleq = tmp_path / "simuleq.jsonl"
    simuleq.write_text(json.dumps({"sQuestion": "x + y = 3, x - y = 1", "lSolutions": [2.0, 1.0]}) + "\n")
    assert load_problems("gsm8k", str(gsm))[0].answer == "4"
    assert load_problems("math", str(math))[0].answer == r"\frac{1}{2}"
    (problem,) = load_problems("simuleq", str(simuleq))
    assert problem.question.startswith("x + y") and equivalent("1, 2", problem.answer)


def test_a_bad_row_names_the_file_and_row(tmp_path):
    path = tmp_path / "gsm8k.jsonl"
    path.write_text(json.dumps({"question": "a", "answer": "#### 1"}) + "\n" + json.dumps({"prompt": "b"}) + "\n")
    with pytest.raises(ValueError, match=r"gsm8k.jsonl row 1: gsm8k row lacks field 'question'"):
        load_problems("gsm8k", str(path))
    with pytest.raises(ValueError, match="unknown benchmark"):
        load_problems("aime", str(path))


@pytest.mark.parametrize("row, error", [
    ({"sQuestion": "x + y = 3"}, "simuleq.jsonl row 0: simuleq row lacks field 'lSolutions'"),
    ({"sQuestion": "x + y = 3", "lSolutions": None}, "simuleq.jsonl row 0: no final answer found for this simuleq row"),
])
def test_a_simuleq_row_without_solutions_is_refused(tmp_path, row, error):
    path = tmp_path / "simuleq.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(ValueError, match=re.escape(error)):
        load_problems("simuleq", str(path))
