"""Final answers of math problems: extraction from model text and equivalence checking.

GSM8K's answer is the last number ("#### 72" in the gold solutions), MATH's the last
\\boxed{...}, SimulEq's a set of values, one per unknown. Answers are compared as numbers
(exactly when both are rational, else within a relative tolerance) and expressions with
unknowns at a few fixed sample points. Model text is never evaluated: a small parser accepts
numbers, + - * / ^, parentheses, \\frac, \\sqrt, π and single-letter symbols, and builds sympy
expressions from Python's AST, node by node, refusing powers too big to build quickly.
"""

from __future__ import annotations

import ast
import math
import random
import re

import sympy

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
UNITS = ("dollars", "dollar", "cents", "cent", "percent", "degrees", "degree", "units", "unit", "meters", "meter",
         "cm", "mm", "km", "m", "inches", "inch", "feet", "foot", "ft", "miles", "mile", "hours", "hour", "minutes",
         "minute", "seconds", "second", "days", "day", "years", "year", "pounds", "lbs", "kg", "g", "mph")
# Whole words after a number at the end ("12 dollars"); one letter may be a variable ("3m"), so
# "m" and "g" go only when written as text ("5\text{ m}").
TRAILING_UNIT = re.compile(r"(?<=[\d)])\s*(?:%s)\.?\s*$" % "|".join(
    sorted((u for u in UNITS if len(u) > 1), key=len, reverse=True)), re.IGNORECASE)
MAX_ANSWER_CHARS = 300  # longer text is no final answer, and normalize would be slow on it
MAX_EXPONENT = 1000
MAX_DIGITS = 10_000  # largest power built, estimated first: ((10^1000)^1000)^1000 would never finish
MAX_ROOT_DIGITS = 30  # largest number rooted: sympy factors it, for minutes at a few thousand digits
REL_TOLERANCE = 1e-6
PRECISION = 30  # significant digits of numeric comparisons
SAMPLE_POINTS = 4  # values tried for the unknowns of an expression


def gsm8k_answer(text: str) -> str | None:
    """The final number: after '####' when present (gold), else the last number in the text."""
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    numbers = NUMBER.findall(text)
    return _plain_number(numbers[-1]) if numbers else None


def _plain_number(token: str) -> str:
    token = token.rstrip(".")
    return token.replace(",", "") if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", token) else token


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """The contents of the brace group opening at ``start`` and the index after it."""
    if start >= len(text) or text[start] != "{":
        return None
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1:i], i + 1
    return None


def boxed_answer(text: str) -> str | None:
    """The contents of the last \\boxed{...} (or \\fbox{...}), nested braces included."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*", text)]
    for start in reversed(starts):
        group = _braced(text, start)
        if group is not None:
            return group[0].strip()
    return None


def _replace_command(text: str, command: str, arguments: int, build) -> str:
    """Rewrite every ``\\command{a}{b}`` (innermost first) with ``build(a, b)``."""
    pattern = re.compile(re.escape(command) + r"(?![a-zA-Z])\s*")
    while True:
        matches = list(pattern.finditer(text))
        if not matches:
            return text
        match = matches[-1]
        groups, position = [], match.end()
        for _ in range(arguments):
            group = _braced(text, position)
            if group is None:  # \frac12 style: single-character arguments
                if position < len(text) and text[position].isalnum():
                    group = (text[position], position + 1)
                else:
                    raise ValueError(f"{command} without its arguments in {text!r}")
            groups.append(group[0])
            position = group[1]
        text = text[:match.start()] + build(*groups) + text[position:]


def normalize(answer: str) -> str:
    """LaTeX-ish answer text -> Python-like expression text (not evaluated)."""
    text = answer.strip().strip("$").strip()
    text = re.sub(r"\\(?:text|textbf|mathrm)\{([^{}]*)\}", _text_group, text)
    for token in (r"\left", r"\right", r"\!", r"\,", r"\;", r"\:", r"\displaystyle", "^\\circ", "°", r"\$"):
        text = text.replace(token, "")
    text = re.sub(r"\\[dt]frac", r"\\frac", text)
    text = _replace_command(text, r"\frac", 2, lambda a, b: f"(({a})/({b}))")
    text = _replace_command(text, r"\sqrt", 1, lambda a: f"sqrt({a})")
    text = text.replace(r"\cdot", "*").replace(r"\times", "*").replace(r"\div", "/").replace(r"\pi", " pi ")
    text = text.replace(r"\%", "%").replace("%", "/100")
    text = text.replace("{", "(").replace("}", ")").replace("^", "**")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # thousands separators
    text = TRAILING_UNIT.sub("", text)
    text = re.sub(r"(?<=[\d)])\s*(?=[a-zA-Z(])", "*", text)  # implicit products: 2x, 2(3), (a)(b)
    text = re.sub(r"(?<=[a-zA-Z])\s+(?=[a-zA-Z(])", "*", text)  # and pi r
    return text.strip().rstrip(".")


def _text_group(match: re.Match) -> str:
    """\\text{...} keeps its words ("Monday"), unless they name a unit ("5\\text{ cm}")."""
    words = match.group(1)
    return "" if words.strip().lower() in UNITS else words


def _digits(value) -> float:
    """Decimal digits of the biggest number written in ``value`` (numerator or denominator)."""
    return max((max(r.p.bit_length(), r.q.bit_length()) * math.log10(2) for r in value.atoms(sympy.Rational)),
               default=0.0)


def _power(base, exponent):
    """``base ** exponent``, refused where sympy would take too long to build it."""
    digits = _digits(base)
    if not exponent.is_Integer and digits > MAX_ROOT_DIGITS:
        raise ValueError("a root of too big a number to check")
    if exponent.is_number and (abs(exponent) > MAX_EXPONENT or digits * abs(exponent) > MAX_DIGITS):
        raise ValueError("a power too big to check")
    return base ** exponent


def _to_sympy(node: ast.AST):
    if isinstance(node, ast.Expression):
        return _to_sympy(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return sympy.Integer(node.value) if isinstance(node.value, int) else sympy.Rational(repr(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _to_sympy(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _to_sympy(node.left), _to_sympy(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            return left / right
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
    if isinstance(node, ast.Name):
        if node.id == "pi":
            return sympy.pi
        if len(node.id) == 1:
            return sympy.Symbol(node.id)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sqrt" and len(node.args) == 1 \
            and not node.keywords:
        return _power(_to_sympy(node.args[0]), sympy.Rational(1, 2))
    raise ValueError(f"unsupported in an answer: {ast.dump(node)[:80]}")


def parse_expression(answer: str):
    """A sympy expression for an answer, or ValueError; nothing in ``answer`` is executed."""
    text = normalize(answer)
    if "=" in text:  # "x = 5": the value
        text = text.rsplit("=", 1)[1].strip()
    if not text or len(text) > MAX_ANSWER_CHARS:
        raise ValueError(f"not a checkable answer: {answer!r}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ValueError(f"not an expression: {answer!r}") from None
    return _to_sympy(tree)


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def _collection(answer: str) -> tuple[list[str], bool] | None:
    """Items of a set / tuple / list answer and whether their order matters, else None."""
    text = answer.strip().strip("$").strip()
    text = re.sub(r"^\\\{(.*)\\\}$", r"{\1}", text)
    text = re.sub(r"^\\left\s*(.)(.*)\\right\s*(.)$", r"\1\2\3", text)
    if len(text) >= 2 and text[0] + text[-1] in ("{}", "()", "[]") and _braced_whole(text):
        items = _split_top_level(text[1:-1])
        if len(items) > 1:
            return [i.strip() for i in items], text[0] == "("
    items = _split_top_level(text)
    if len(items) > 1 and re.search(r"\\frac|\d", text) and not re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", text):
        return [i.strip() for i in items], False  # "x = 1, y = 2" or "1, 2": a solution set
    return None


def _braced_whole(text: str) -> bool:
    """Whether the outer bracket pair encloses the whole text (not '(1)+(2)')."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(char, 0)
        if depth == 0 and i < len(text) - 1:
            return False
    return True


def _assignments(items: list[str]) -> dict[str, str] | None:
    """{"x": "3", "y": "-2"} when every item reads "<letter> = <value>", else None."""
    pairs = [re.fullmatch(r"\s*([a-zA-Z])\s*=\s*(.+)", item) for item in items]
    if not all(pairs) or len({p.group(1) for p in pairs}) != len(pairs):
        return None
    return {p.group(1): p.group(2) for p in pairs}


def _sample_points(symbols: list) -> list[dict]:
    """Fixed pseudo-random values for the unknowns (both signs: sqrt(x^2) is not x)."""
    rng = random.Random(0)
    return [{s: sympy.Float(rng.uniform(-3, 3), PRECISION) for s in symbols} for _ in range(SAMPLE_POINTS)]


def _close(a, b) -> bool:
    """Both finite (nothing divided by zero) and within REL_TOLERANCE of each other."""
    if not all(v.is_number and v.is_finite for v in (a, b)):
        return False
    return bool(abs(a - b) <= REL_TOLERANCE * max(1, abs(b)))


def _same_value(a, b) -> bool:
    """Integers exactly (1000001 is not 1000000); other numbers and expressions numerically
    within REL_TOLERANCE (a gold 6.666666666666667 is 20/3), at PRECISION digits (no overflow
    at 10^1000) and, with unknowns, at every sample point (sympy.simplify can take minutes)."""
    if a.is_Integer and b.is_Integer:
        return a == b
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    points = _sample_points(symbols) if symbols else [{}]
    return all(_close(a.evalf(PRECISION, subs=point), b.evalf(PRECISION, subs=point)) for point in points)


def _plain_text(answer: str) -> str:
    return re.sub(r"\s+", "", normalize(answer)).lower()


def equivalent(predicted: str | None, gold: str | None) -> bool:
    """Whether two final answers agree: as collections (sets unordered, tuples ordered), as
    numbers or expressions, else as normalised text. Never raises: an answer that cannot be
    read or checked (malformed LaTeX, a huge power, overlong text) is simply not right."""
    if predicted is None or gold is None or max(len(predicted), len(gold)) > MAX_ANSWER_CHARS:
        return False
    try:
        return _equivalent(predicted, gold)
    except Exception:  # sympy fails in many ways (TypeError, RecursionError, ...) on odd input
        return False


def _equivalent(predicted: str, gold: str) -> bool:
    gold_items, predicted_items = _collection(gold), _collection(predicted)
    if gold_items is not None:
        if predicted_items is None or len(predicted_items[0]) != len(gold_items[0]):
            return False
        if gold_items[1]:
            return all(equivalent(p, g) for p, g in zip(predicted_items[0], gold_items[0]))
        named_gold, named_predicted = _assignments(gold_items[0]), _assignments(predicted_items[0])
        if named_gold is not None and named_predicted is not None:  # "x = 3, y = -2": by unknown
            return named_gold.keys() == named_predicted.keys() and all(
                equivalent(named_predicted[name], value) for name, value in named_gold.items())
        remaining = list(predicted_items[0])
        for g in gold_items[0]:
            match = next((p for p in remaining if equivalent(p, g)), None)
            if match is None:
                return False
            remaining.remove(match)
        return True
    try:
        return _same_value(parse_expression(predicted), parse_expression(gold))
    except ValueError:  # words ("Monday"), not an expression; malformed LaTeX raises again here
        return _plain_text(predicted) == _plain_text(gold)
