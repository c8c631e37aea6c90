"""Answer extraction against lm-evaluation-harness's GSM8K filters (and math-verify, when
installed) on the replies in ``agentlab.tasks.extraction_cases``.

lm-evaluation-harness's gsm8k task scores two filters: "strict-match", the regex
``#### (\\-?[0-9\\.\\,]+)``, and "flexible-extract", the last match of
``(-?[$0-9.,]{2,})|(-?[0-9]+)``. Their matches are read here as numbers the way agentlab reads
its own (commas and dollar signs dropped) and compared with each case's stated number.

    python benchmarks/extraction.py
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable

from agentlab.tasks.extract import extract_number, numbers_match, parse_number
from agentlab.tasks.extraction_cases import NUMBER_CASES

STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")


def strict(text: str) -> float | None:
    found = STRICT.findall(text)
    return parse_number(found[0].rstrip(".")) if found else None


def flexible(text: str) -> float | None:
    found = [a or b for a, b in FLEXIBLE.findall(text)]
    return parse_number(found[-1].rstrip(".,")) if found else None


def math_verify(text: str) -> float | None:
    from math_verify import parse

    for value in parse(text):
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return None


def main() -> None:
    arms: dict[str, Callable[[str], float | None]] = {
        "agentlab": extract_number,
        "lm-eval strict": strict,
        "lm-eval flexible": flexible,
    }
    if importlib.util.find_spec("math_verify") is not None:
        arms["math-verify parse"] = math_verify
    right: dict[str, list[str]] = {name: [] for name in arms}
    for text, expected in NUMBER_CASES:
        for name, extract in arms.items():
            got = extract(text)
            ok = got is None if expected is None else got is not None and numbers_match(got, expected)
            if ok:
                right[name].append(text)
    print(f"{len(NUMBER_CASES)} replies (agentlab/tasks/extraction_cases.py)")
    for name in arms:
        print(f"{name:>18}: {len(right[name]):3d} read right")
    for name in arms:
        missed = [t for t, _ in NUMBER_CASES if t not in right[name]]
        if missed and name != "agentlab":
            print(f"\n{name} misses, e.g.: " + "; ".join(repr(t[:50]) for t in missed[:4]))
        elif missed:
            print("\nagentlab misses: " + "; ".join(repr(t[:50]) for t in missed))


if __name__ == "__main__":
    main()
