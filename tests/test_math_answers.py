"""Math answer extraction and equivalence on tricky cases (no model text is executed)."""

import pytest

from environments.math.answers import boxed_answer, equivalent, gsm8k_answer, normalize, parse_expression


@pytest.mark.parametrize("text, answer", [
    ("She pays 3 * 4 = 12 dollars.\n#### 12", "12"),
    ("Total: 1,234 apples.", "1234"),
    ("So the answer is $18.50.", "18.50"),
    ("It drops to -7 degrees, then the answer is -3.", "-3"),
    ("The ratio is 3/4", "3/4"),
    ("no number here", None),
])
def test_gsm8k_takes_the_final_number(text, answer):
    assert gsm8k_answer(text) == answer


@pytest.mark.parametrize("text, answer", [
    (r"so $x = \boxed{\frac{1}{2}}$", r"\frac{1}{2}"),
    (r"\boxed{3} first, then \boxed{\{1, 2\}}", r"\{1, 2\}"),
    (r"\boxed {x^{2}+1}", r"x^{2}+1"),
    (r"\fbox{7}", "7"),
    (r"\boxed{unclosed", None),
])
def test_boxed_takes_the_last_balanced_group(text, answer):
    assert boxed_answer(text) == answer


@pytest.mark.parametrize("predicted, gold", [
    ("0.5", r"\frac{1}{2}"),
    (r"\dfrac{3}{4}", "3/4"),
    (r"\frac12", "0.5"),
    ("1,000", "1000"),
    ("12 dollars", "12"),
    ("5 cm", "5"),
    (r"50\%", "0.5"),
    (r"90^\circ", "90"),
    (r"2\sqrt{2}", r"\sqrt{8}"),
    (r"\frac{\sqrt{3}}{3}", r"\frac{1}{\sqrt{3}}"),
    ("2x + 2", "2(x+1)"),
    (r"\pi r^2", "r^2 \\pi"),
    ("x = 5", "5"),
    (r"\{1, 2\}", r"\{2, 1\}"),
    ("x = 3, y = -2", "y = -2, x = 3"),
    (r"\left( 1, \frac{1}{2} \right)", "(1, 0.5)"),
    (r"\text{Monday}", "monday"),
])
def test_equivalent_answers(predicted, gold):
    assert equivalent(predicted, gold)


@pytest.mark.parametrize("predicted, gold", [
    ("0.51", "0.5"),
    ("(2, 1)", "(1, 2)"),  # a tuple's order matters
    ("1, 2", "1, 2, 3"),
    ("x + 1", "x - 1"),
    (None, "1"),
    ("Tuesday", "Monday"),
    ("x = -2, y = 3", "x = 3, y = -2"),  # a solution set is compared unknown by unknown
])
def test_different_answers(predicted, gold):
    assert not equivalent(predicted, gold)


@pytest.mark.parametrize("hostile", ["__import__('os').system('true')", "(1).__class__", "9**9**9**9", "open('x')"])
def test_model_text_is_never_executed(hostile):
    with pytest.raises(ValueError):
        parse_expression(hostile)
    assert not equivalent(hostile, "1")


def test_normalize_writes_latex_as_expression_text():
    assert normalize(r"\frac{a}{b} \cdot 2^{3}") == "((a)/(b)) * 2**(3)"
