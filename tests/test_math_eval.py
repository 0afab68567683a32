"""Math evaluation: answer picking and scoring without Ray (a served policy is scored by the
small pipeline's evaluate stage: tests/test_pipeline_end_to_end.py)."""

import pytest

from depo_ray.evaluate.math import MathSolver, chat, final_answer, score, summarize_math
from depo_ray.evaluate.config import MathEvalConfig
from depo_ray.tokens import prompt_ids
from environments.math import MathProblem, generated_problems

PROBLEM = MathProblem("p1", "generated", "What is 1/2 + 1/4?", "3/4")
WORD, SYSTEM, FRACTION = generated_problems(3)


def _problem(benchmark: str) -> MathProblem:
    return MathProblem("p", benchmark, "?", "1")


@pytest.mark.parametrize("text, problem, answer", [
    (r"So it is \boxed{\frac{3}{4}}.", _problem("math"), r"\frac{3}{4}"),
    ("Adding gives 3/4. The answer is 0.75.", _problem("math"), "0.75"),
    (r"The answer is: \frac{1}{2}", _problem("math"), r"\frac{1}{2}"),
    ("Answer: x = 2, y = 1", _problem("simuleq"), "x = 2, y = 1"),
    ("first 3 then 12 apples", _problem("gsm8k"), "12"),
    ("Each box has 6, so the answer is 18 apples.", _problem("gsm8k"), "18"),
    ("So the answer is: 1,234 dollars", _problem("gsm8k"), "1234"),
    ("Answer: 5 boxes", WORD, "5"),
    ("Answer: x = 2, y = 1", SYSTEM, "x = 2, y = 1"),  # not its last number
    (r"The answer is \frac{7}{6}.", FRACTION, r"\frac{7}{6}"),
    ("no idea", _problem("math"), None),
])
def test_the_final_answer_is_the_boxed_or_stated_one(text, problem, answer):
    assert final_answer(text, problem) == answer


@pytest.mark.parametrize("response", [r"\boxed{\frac{1}}", r"\boxed{\sqrt}", r"\boxed{((10^1000)^1000)^1000}",
                                      "The answer is {", "Answer: " + "9" * 5000])
def test_hostile_responses_score_wrong_without_raising(tiny_tokenizer, response):
    assert score(PROBLEM, response, tiny_tokenizer)["correct"] is False


def test_a_scored_row_counts_only_the_generated_tokens(tiny_tokenizer):
    right, wrong = score(PROBLEM, r"half plus quarter \boxed{0.75}", tiny_tokenizer), score(PROBLEM, "it is 1", tiny_tokenizer)
    assert right["correct"] and not wrong["correct"] and wrong["predicted"] == "1"
    prompt_only = len(prompt_ids(tiny_tokenizer, chat(PROBLEM)))
    assert 0 < wrong["generated_tokens"] < right["generated_tokens"] < prompt_only
    summary = summarize_math([right, wrong])
    assert summary["accuracy"] == 0.5 and summary["answered"] == 1.0
    assert summary["mean_tokens"] == (right["generated_tokens"] + wrong["generated_tokens"]) / 2


def test_bad_math_configs_are_refused():
    with pytest.raises(ValueError, match="benchmark"):
        MathEvalConfig(benchmark="aime")
    with pytest.raises(ValueError, match="limit"):
        MathEvalConfig(limit=0)
    with pytest.raises(ValueError, match="problems_per_worker"):
        MathEvalConfig(problems_per_worker=0)


def test_a_solver_sends_its_whole_batch_in_one_call(tiny_model_dir):
    from concurrent.futures import Future

    from depo_ray.serving.server import Generation

    calls = []

    class Client:  # the leased replica's client
        def submit_batch(self, requests):
            calls.append([r.messages for r in requests])
            answer = Future()
            answer.set_result([[Generation(text=r"\boxed{1}", completion_tokens=3, prompt_tokens=9)] for _ in requests])
            return answer

    problems = generated_problems(5)
    solver = MathSolver(None, str(tiny_model_dir), max_new_tokens=8)
    solver.client = Client()
    rows = solver.solve(problems)
    assert [len(c) for c in calls] == [5] and [r["id"] for r in rows] == [p.id for p in problems]


def test_the_job_refuses_to_start_without_a_policy(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    job = Path(__file__).resolve().parents[1] / "jobs" / "eval_math.py"
    out = subprocess.run([sys.executable, str(job), "--output", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "policy and output_dir" in out.stderr
    out = subprocess.run([sys.executable, str(job), "--policy", "x", "--output", str(tmp_path), "--benchmark", "aime"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "benchmark: unknown 'aime'" in out.stderr
