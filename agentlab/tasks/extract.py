"""Reading answers out of free-form model output."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from agentlab.tasks.registries import EXTRACTORS, SCORERS

# a number as models write it: -1,234.5, .75, $5, 3/4, a mixed number 2 1/2
_NUMBER = r"-?\$?\s?(?:\d+\s+\d+\s*/\s*\d+|(?:\d(?:[\d,]*\d)?(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+)?)"
_ANY = re.compile(rf"(?<![\w.]){_NUMBER}")
# where a reply states its answer; the last one counts
_STATED = re.compile(
    r"(?:final\s+answer|answer)\s*(?:\*\*)?\s*(?:is|:|=|\bis\s*:)\s*(?:\*\*)?|####",
    re.IGNORECASE,
)
_HEDGE = re.compile(r"^\s*(?:approximately|about|around|roughly|nearly|≈|~)\s*", re.IGNORECASE)


def _normalized(text: str) -> str:
    r"""LaTeX and typography a number may come in, as plain text: ``\frac{3}{4}`` -> 3/4,
    ``1{,}024`` -> 1,024, the Unicode minus, thin spaces, ``\text{...}`` and ``\\left(``."""
    text = text.replace("\u2212", "-").replace("\u2013", "-").replace("{,}", ",").replace("\\$", "$")
    text = re.sub(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"(\1)/(\2)", text)
    text = re.sub(r"\\(?:text|mathrm|mathbf)\s*\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\\(?:left|right|[,;!]|quad)", " ", text)
    text = re.sub(r"\((-?[\d.]+)\)/\((-?[\d.]+)\)", r"\1/\2", text)  # (3)/(4) from a \frac
    return text.replace("\u2009", "").replace("\u202f", "")


def _boxed(text: str) -> str | None:
    r"""What the last ``\boxed{...}`` holds, its own braces included (``\boxed{\frac{1}{2}}``)."""
    at = text.rfind("\\boxed")
    if at < 0:
        return None
    start = text.find("{", at)
    if start < 0:
        return None
    depth = 0
    for j in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[start + 1 : j]
    return None


def parse_number(text: str) -> float | None:
    """'1,234' -> 1234.0, '$5' -> 5.0, '3/4' -> 0.75, '-2.5' -> -2.5, '2 1/2' -> 2.5, '.75' -> 0.75;
    None when it is not a number."""
    cleaned = text.replace(",", "").replace("$", "").strip()
    mixed = re.fullmatch(r"(-?)(\d+)\s+(\d+)\s*/\s*(\d+)", cleaned)
    try:
        if mixed:
            sign, whole, num, den = mixed.groups()
            value = int(whole) + Fraction(int(num), int(den))
            return float(-value if sign else value)
        return float(Fraction(cleaned.replace(" ", "")))
    except (ValueError, ZeroDivisionError):
        return None


def _stated_number(segment: str) -> float | None:
    """The number a stated answer gives: after a hedge ("approximately"), and the result of a
    worked equation ("4 + 3 = 7" -> 7), up to the end of its sentence or line."""
    line = re.split(r"\n|(?<=[^\d])\.(?:\s|$)", segment.strip(), maxsplit=1)[0]
    if "=" in line:
        line = line.rsplit("=", 1)[1]
    found = _ANY.search(_HEDGE.sub("", line))
    return parse_number(found.group()) if found else None


@EXTRACTORS.register("number")
def extract_number(text: str) -> float | None:
    r"""The stated answer: the last ``\boxed{}``, else the last 'answer is N' / 'Final Answer: N' /
    '#### N', else the last number; LaTeX fractions, ``1{,}024``, a Unicode minus, mixed numbers
    and hedges ("approximately 3.14") are read as they are meant.

    >>> extract_number(r"so \boxed{\frac{3}{4}}"), extract_number("**Final Answer**: 48")
    (0.75, 48.0)
    >>> extract_number("The answer is 4 + 3 = 7."), extract_number("the answer is −2 1/2")
    (7.0, -2.5)
    """
    text = _normalized(text)
    boxed = _boxed(text)
    if boxed is not None:
        found = _ANY.findall(boxed)
        value = (
            parse_number(boxed)
            if parse_number(boxed) is not None
            else (parse_number(found[-1]) if found else None)
        )
        if value is not None:
            return value
    stated = list(_STATED.finditer(text))
    for marker in reversed(stated):
        value = _stated_number(text[marker.end() :])
        if value is not None:
            return value
    found = _ANY.findall(text)
    return parse_number(found[-1]) if found else None


def numbers_match(prediction: float, reference: float, tol: float = 1e-6) -> bool:
    return abs(float(prediction) - float(reference)) <= tol * max(1.0, abs(float(reference)))


@SCORERS.register("numeric_match")
def numeric_match(prediction: Any, reference: Any) -> float:
    return float(numbers_match(prediction, reference))


@SCORERS.register("exact")
def exact(prediction: Any, reference: Any) -> float:
    return float(prediction == reference)


EXTRACTORS.add("text", str.strip)


_LETTER_STATED = re.compile(
    r"(?:answer|option|choice)\s*(?:is|:|=)?\s*(?:option\s*)?[\(\[]?\s*([A-E])\b(?![a-z])", re.IGNORECASE
)
_LETTER_ALONE = re.compile(r"(?:^|[\s\(\[*])([A-E])(?:[\)\].:]|$)", re.MULTILINE)


def extract_choice(text: str, options: dict[str, str]) -> str | None:
    """The chosen letter of a multiple-choice question, given the options (letter -> text).

    Reads 'the answer is (C)', 'Answer: C', a letter standing alone like '(C)' or 'C.', and, when
    no letter is stated, the option whose text the reply names last.

    >>> extract_choice("I think the answer is (b).", {"A": "12", "B": "15"})
    'B'
    >>> extract_choice("So she has 15 apples.", {"A": "12 apples", "B": "15 apples"})
    'B'
    """
    letters = {k.upper() for k in options}
    for pattern in (_LETTER_STATED, _LETTER_ALONE):
        found = [
            m.group(1).upper()
            for m in pattern.finditer(text)
            if m.group(1).upper() in letters and not _article(text, m)
        ]
        if found:
            return found[-1]
    lowered = text.lower()
    named = []
    for k, t in options.items():
        option = re.escape(str(t).lower().strip())
        if option:  # whole words and numbers only: option "12" is not inside "125"
            spots = [m.start() for m in re.finditer(rf"(?<![\w.]){option}(?![\w]|\.\d)", lowered)]
            if spots:
                named.append((spots[-1], k.upper()))
    return max(named)[1] if named else None


def _article(text: str, match: re.Match[str]) -> bool:
    """A lowercase 'a' followed by a word is the article ("the answer is a number"), not option A."""
    letter = match.group(1)
    return letter.islower() and re.match(r"\s+[a-z]", text[match.end(1) :]) is not None


@EXTRACTORS.register("choice")
def extract_item_choice(text: str, item: Any) -> str | None:
    """A multiple-choice item's chosen letter (its options are in ``item.meta["options"]``)."""
    return extract_choice(text, item.meta["options"])
