"""Reading answers out of free-form model output."""

from __future__ import annotations

import re
from fractions import Fraction

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


def extract_number(text: str) -> float | None:
    """The stated answer: 'the answer is N' (last one), else ``\\boxed{N}``, else the last number."""
    for pattern in (_ANSWER_IS, _BOXED, _ANY):
        matches = pattern.findall(text)
        if matches:
            return parse_number(matches[-1])
    return None


def numbers_match(prediction: float, reference: float, tol: float = 1e-6) -> bool:
    return abs(float(prediction) - float(reference)) <= tol * max(1.0, abs(float(reference)))
