"""Each benchmark's row format, turned into items: (question, reference, meta) per row."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from agentlab.tasks.extract import parse_number

Row = Mapping[str, Any]
LETTERS = "ABCDE"


def _gsm8k(row: Row) -> tuple[str, Any, dict[str, Any]]:
    # the reference solution ends with "#### 72"
    final = str(row["answer"]).rsplit("####", 1)[-1]
    return str(row["question"]), parse_number(final.strip()), {}


def _svamp(row: Row) -> tuple[str, Any, dict[str, Any]]:
    body, question = str(row["Body"]).strip(), str(row["Question"]).strip()
    return f"{body} {question}".strip(), float(row["Answer"]), {}


def _multiarith(row: Row) -> tuple[str, Any, dict[str, Any]]:
    return str(row["question"]).strip(), parse_number(str(row["final_ans"])), {}


def _options_block(options: dict[str, str]) -> str:
    return "\n".join(f"({k}) {v}" for k, v in options.items())


def _mmlu(row: Row) -> tuple[str, Any, dict[str, Any]]:
    options = {LETTERS[i]: str(c) for i, c in enumerate(row["choices"])}
    question = f"{row['question']}\n{_options_block(options)}"
    return question, LETTERS[int(row["answer"])], {"options": options, "subject": row.get("subject", "")}


def _aqua(row: Row) -> tuple[str, Any, dict[str, Any]]:
    # options come as "A)21" strings
    options = {}
    for raw in row["options"]:
        match = re.match(r"\s*([A-E])\s*\)\s*(.*)", str(raw))
        if match:
            options[match.group(1)] = match.group(2).strip()
    question = f"{row['question']}\n{_options_block(options)}"
    return question, str(row["correct"]).strip().upper(), {"options": options}


SCHEMAS: dict[str, tuple[tuple[str, ...], Callable[[Row], tuple[str, Any, dict[str, Any]]]]] = {
    "gsm8k": (("question", "answer"), _gsm8k),
    "svamp": (("Body", "Question", "Answer"), _svamp),
    "multiarith": (("question", "final_ans"), _multiarith),
    "mmlu": (("question", "choices", "answer"), _mmlu),
    "aqua": (("question", "options", "correct"), _aqua),
}
