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
# a unit's power: m^2, cm^{3}, ft**2, m^-1 (after a letter, so 2^3 stays a power of a number)
_UNIT_POWER = re.compile(r"(?<=[A-Za-z])\s*(?:\^|\*\*)\s*\{?-?\d+\}?")
# where a reply turns to checking what it found: numbers after it are the check's, not the answer
_VERIFICATION = re.compile(
    r"(?:^|(?<=[.!:\n]))\s*(?:let(?:'s| me| us)\s+)?(?:verif(?:y|ying|ication)|check(?:ing)?|"
    r"double[- ]check(?:ing)?|to (?:confirm|check|verify)|sanity check|proof)\b",
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
    text = _UNIT_POWER.sub("", text)  # 25 m^2 -> 25 m: the exponent is the unit's, not a number
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
    """The number a stated answer gives: after a hedge ("approximately"), the result of a worked
    equation ("4 + 3 = 7" -> 7), up to the end of its sentence or line and before a parenthetical
    that follows it ("18 (if x = 3)" -> 18); a number in words ("twelve") where there are no digits."""
    line = re.split(r"\n|\.(?:\s|$)", segment.strip(), maxsplit=1)[0]
    first = _ANY.search(line)
    if first is not None and (aside := line.find("(", first.end())) >= 0:
        line = line[:aside]
    if "=" in line:
        line = line.rsplit("=", 1)[1]
    line = _HEDGE.sub("", line)
    found = _ANY.search(line)
    return parse_number(found.group()) if found else words_to_number(line)


_UNITS = {word: value for value, word in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
))}  # fmt: skip
_TENS = {word: 10 * (i + 2) for i, word in enumerate((
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
))}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_WORD = re.compile(r"[a-z]+", re.IGNORECASE)


def words_to_number(text: str) -> float | None:
    """The first number written in words in ``text``: 'twelve' -> 12, 'thirty-six' -> 36,
    'a hundred and five' -> 105, 'two thousand three hundred' -> 2300; None when there is none.

    >>> words_to_number("The answer is thirty-six eggs."), words_to_number("a hundred and five")
    (36.0, 105.0)
    """
    words = [w.lower() for w in _WORD.findall(text.replace("-", " "))]
    for start, word in enumerate(words):
        if word in _UNITS or word in _TENS or (word == "a" and words[start + 1 : start + 2] == ["hundred"]):
            return _words_value(words[start:])
    return None


def _words_value(words: list[str]) -> float:
    total = current = 0
    for i, word in enumerate(words):
        if word == "a" and i == 0:
            current = 1
        elif word in _UNITS or word in _TENS:
            current += _UNITS.get(word, 0) + _TENS.get(word, 0)
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word in _SCALES:
            total, current = total + max(current, 1) * _SCALES[word], 0
        elif not (word == "and" and any(w in _UNITS or w in _TENS for w in words[i + 1 : i + 2])):
            break
    return float(total + current)


@EXTRACTORS.register("number")
def extract_number(text: str) -> float | None:
    r"""The stated answer: the last ``\boxed{}``, else the last 'answer is N' / 'Final Answer: N' /
    '#### N', else the last number before any check of it ("Verification: ..."); LaTeX fractions,
    ``1{,}024``, a Unicode minus, mixed numbers, hedges ("approximately 3.14"), a unit's power
    ("25 m^2"), a parenthetical after the answer and numbers in words are read as they are meant.

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
    check = _VERIFICATION.search(text)
    if check is not None and _ANY.search(text[: check.start()]):
        text = text[: check.start()]  # "35 marbles. Verification: 50 - 15 = 35, 15 / 5 = 3" -> 35
    found = _ANY.findall(text)
    return parse_number(found[-1]) if found else words_to_number(text)


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
# where a reply takes back what it chose: the letter it names after the last of these counts
_RECONSIDER = re.compile(
    r"\b(?:wait|actually|hmm|on (?:second thought|reflection)|re-?(?:check|consider|comput|calculat)\w*|"
    r"correction|I (?:made|see) an? (?:error|mistake)|no,? it(?:'s| is))\b",
    re.IGNORECASE,
)
# a capital letter named as the choice: "it's C", "should be D", "which is D", "C is correct"
_LETTER_NAMED = re.compile(
    r"\b(?:is|it's|be|choose|pick|go with|select)\s+(?:option\s+|choice\s+)?[\(\[]?([A-E])\b(?![a-z])"
    r"|\b([A-E])\)?\s+(?:is|seems|looks)\s+(?:the\s+)?(?:correct|right)"
)


def extract_choice(text: str, options: dict[str, str]) -> str | None:
    """The chosen letter of a multiple-choice question, given the options (letter -> text).

    Reads 'the answer is (C)', 'Answer: C', a letter standing alone like '(C)' or 'C.', and, when
    no letter is stated, the option whose text the reply names last. A reply that reconsiders
    ("Wait, actually, it's C") counts the letter it names after its last change of mind.

    >>> extract_choice("I think the answer is (b).", {"A": "12", "B": "15"})
    'B'
    >>> extract_choice("So she has 15 apples.", {"A": "12 apples", "B": "15 apples"})
    'B'
    """
    letters = {k.upper() for k in options}
    turns = list(_RECONSIDER.finditer(text))
    if turns:  # "The answer is A. Wait, actually, it's C." -> C
        after = text[turns[-1].end() :]
        named = [m.group(1) or m.group(2) for m in _LETTER_NAMED.finditer(after)]
        named += [m.group(1).upper() for m in _LETTER_STATED.finditer(after) if not _article(after, m)]
        chosen = [letter for letter in named if letter in letters]
        if chosen:
            return chosen[-1]
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
