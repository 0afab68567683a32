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
    ("6.666666666666667", "20/3"),  # a gold stored as a float
    (r"\dfrac{3}{4}", "3/4"),
    (r"\frac12", "0.5"),
    ("1,000", "1000"),
    ("12 dollars", "12"),
    ("5 cm", "5"),
    ("12 Dollars.", "12"),
    (r"5\text{ m}", "5"),  # a one-letter unit goes only when written as text
    ("3m+1", "1 + 3m"),
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
    ("(x+1)^2", "x^2 + 2x + 1"),
    ("10^1000", "10^{1000}"),
    (r"\sqrt{2} \cdot 10^{1000}", r"10^{1000}\sqrt{2}"),
    ("0.1^{1000}", "10^{-1000}"),
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
    ("3m+1", "4"),  # m is a variable here, not metres
    ("5 m", "5"),  # a trailing single letter may be a variable too: only "5\text{ m}" is 5
    ("1000001", "1000000"),  # integers exactly: a relative tolerance would accept this
    ("10^1000", "10^999"),
    (r"\sqrt{2} \cdot 10^{1000}", r"10^{1000}\sqrt{3}"),
    (r"\sqrt{x^2}", "x"),  # unknowns are sampled at both signs
])
def test_different_answers(predicted, gold):
    assert not equivalent(predicted, gold)


@pytest.mark.parametrize("hostile", ["__import__('os').system('true')", "(1).__class__", "9**9**9**9", "open('x')"])
def test_model_text_is_never_executed(hostile):
    with pytest.raises(ValueError):
        parse_expression(hostile)
    assert not equivalent(hostile, "1")


@pytest.mark.parametrize("predicted, gold", [
    (r"\frac{1}", "1"),
    (r"\sqrt", "2"),
    (r"\frac{1}{2", "0.5"),
    ("{1", "1"),
    ("1}", "1"),
    (r"(1, \frac{1})", "(1, 2)"),
    ("((10^1000)^1000)^1000", "1"),  # each exponent is small; the result has 10^9 digits
    ("(((2x)^1000)^1000)^1000", "x"),
    ("10^{10^{1000}}", "1"),
    (r"\sqrt{10^{1000}+1}", "1"),  # sympy would factor a 1000-digit number
    (r"(\sqrt{2} \cdot 10^{1000})^{1/2}", "1"),
    ("1/0", "1"),
    ("0/0", "0"),
    ("1+" * 200 + "1", "201"),  # overlong text
    ("9" * 5000, "9" * 5000),
])
def test_hostile_answers_are_wrong_without_raising_or_hanging(predicted, gold):
    assert not equivalent(predicted, gold)


def test_normalize_writes_latex_as_expression_text():
    assert normalize(r"\frac{a}{b} \cdot 2^{3}") == "((a)/(b)) * 2**(3)"
    assert normalize("3m+1") == "3*m+1" and normalize(r"5\text{ cm}") == normalize("5 cm") == "5"


HOSTILE_RESPONSES = 10_000
GOLD = r"\frac{31337}{7919}"
"""A gold answer no hostile response writes: any response judged equal to it is a checker bug."""


def hostile_responses(rng, count: int):
    """(kind, response) pairs a broken or adversarial model could give, every kind about equally often."""
    import string

    latex = [r"\frac", r"\dfrac", r"\sqrt", r"\left(", r"\right)", r"\{", r"\}", "{", "}", "^", "_", r"\cdot", r"\pi",
             r"\boxed{", r"\text{", "=", ",", "(", ")", "[", "]", "-", "/", "x", "y", "0", "1", "9", ".", " "]
    kinds = {
        "nested boxes": lambda: r"\boxed{" * rng.randrange(1, 5000) + "7" + "}" * rng.randrange(0, 5000),
        "deep parentheses": lambda: r"\boxed{" + "(" * (n := rng.randrange(50, 3000)) + "1" + ")" * n + "}",
        "huge number": lambda: r"\boxed{" + "".join(rng.choice(string.digits) for _ in range(rng.randrange(1, 20_000))) + "}",
        "power tower": lambda: r"\boxed{" + rng.choice(["^", "**", "^{"]).join(
            str(rng.randrange(2, 999)) for _ in range(rng.randrange(2, 8))) + "}",
        "float edge": lambda: r"\boxed{" + rng.choice(["1e999999", "nan", "inf", "-inf", "1/0", "0^0", "0/0", "10^{-10^{10}}",
                                                        r"\frac{1}{0}", r"\sqrt{-1}", "9^{9^{9^{9}}}", "2^{-99999999}"]) + "}",
        "latex soup": lambda: r"\boxed{" + "".join(rng.choice(latex) for _ in range(rng.randrange(1, 300))) + "}",
        "noise": lambda: "".join(chr(rng.randrange(0x3000)) for _ in range(rng.randrange(1, 400))),
        "long text": lambda: " ".join(f"#### {rng.randrange(10**6)}" if rng.random() < 0.1 else "word"
                                      for _ in range(rng.randrange(1_000, 20_000))),
        "symbols": lambda: r"\boxed{" + rng.choice(["x^{y^{z}}", "x**x**x", r"\sin(x)", "a=b=c", "(1, 2", "{1, 2}}",
                                                     r"\{x \mid x > 0\}", "x=", "=5", "f(x)", "__import__('os')"]) + "}",
        "many boxes": lambda: " ".join(r"\boxed{" + str(rng.randrange(100)) + "}" for _ in range(rng.randrange(100, 2000))),
    }
    names = list(kinds)
    for i in range(count):
        kind = names[i % len(names)]
        yield kind, kinds[kind]()


def test_the_answer_checker_survives_hostile_responses():
    """10,000 responses of ten hostile kinds: extraction and equivalence return an answer or
    None and a boolean, never raise or hang (the suite's timeout), and none matches a gold it
    does not contain."""
    import random
    from collections import Counter

    answered = Counter()
    for kind, response in hostile_responses(random.Random(0), HOSTILE_RESPONSES):
        for extract in (boxed_answer, gsm8k_answer):
            answer = extract(response)
            assert answer is None or isinstance(answer, str), (kind, response[:200])
            assert equivalent(answer, GOLD) is False, (kind, response[:200])
            answered[kind] += answer is not None
    # the boxed kinds reached the equivalence check with an answer, not only extraction's None
    assert all(answered[kind] for kind in ("huge number", "power tower", "float edge", "many boxes"))
