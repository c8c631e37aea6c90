"""Reading answers out of free-form model output."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from agentlab.tasks.registries import EXTRACTORS, SCORERS

_NUMBER = r"-?\$?\s?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?"
_ANSWER_IS = re.compile(rf"answer\s*(?:is|:|=)\s*\**\s*({_NUMBER})", re.IGNORECASE)
_BOXED = re.compile(rf"\\boxed\{{\s*({_NUMBER})\s*\}}")
_ANY = re.compile(_NUMBER)


def parse_number(text: str) -> float | None:
    """'1,234' -> 1234.0, '$5' -> 5.0, '3/4' -> 0.75, '-2.5' -> -2.5; None when it is not a number."""
    cleaned = text.replace(",", "").replace("$", "").replace(" ", "")
    try:
        return float(Fraction(cleaned))
    except (ValueError, ZeroDivisionError):
        return None


@EXTRACTORS.register("number")
def extract_number(text: str) -> float | None:
    """The stated answer: 'the answer is N' (last one), else ``\\boxed{N}``, else the last number."""
    for pattern in (_ANSWER_IS, _BOXED, _ANY):
        matches = pattern.findall(text)
        if matches:
            return parse_number(matches[-1])
    return None


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
        found = [m.upper() for m in pattern.findall(text) if m.upper() in letters]
        if found:
            return found[-1]
    lowered = text.lower()
    named = [(lowered.rfind(str(t).lower().strip()), k.upper()) for k, t in options.items() if str(t).strip()]
    named = [(at, k) for at, k in named if at >= 0]
    return max(named)[1] if named else None


@EXTRACTORS.register("choice")
def extract_item_choice(text: str, item: Any) -> str | None:
    """A multiple-choice item's chosen letter (its options are in ``item.meta["options"]``)."""
    return extract_choice(text, item.meta["options"])
