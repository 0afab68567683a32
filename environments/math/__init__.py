"""Math benchmarks for out-of-domain evaluation (GSM8K, MATH, SimulEq, a generated set):
problem loading, final-answer extraction and equivalence checking."""

from environments.math.answers import boxed_answer, equivalent, gsm8k_answer
from environments.math.problems import MathProblem, generated_problems, load_problems

__all__ = ["MathProblem", "boxed_answer", "equivalent", "generated_problems", "gsm8k_answer", "load_problems"]
