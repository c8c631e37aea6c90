"""Loading built-in tasks from their cards."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from agentlab._cards import card_names, load_card
from agentlab.tasks import arithmetic
from agentlab.tasks.agentsnet import load_agentsnet
from agentlab.tasks.extract import extract_choice, extract_number, numbers_match
from agentlab.tasks.hub import load_benchmark
from agentlab.tasks.humaneval import extract_code, load_humaneval, passes_tests
from agentlab.tasks.task import Item, Task

EXTRACTORS: dict[str, Callable[..., Any]] = {
    "number": extract_number,
    "text": str.strip,
    "choice": lambda text, item: extract_choice(text, item.meta["options"]),
    "code": extract_code,
}
SCORERS: dict[str, Callable[[Any, Any], float]] = {
    "numeric_match": lambda p, r: float(numbers_match(p, r)),
    "exact": lambda p, r: float(p == r),
    "execution": passes_tests,
}


def _load_arithmetic(
    card: dict[str, Any],
    split: str = "test",
    n: int | None = None,
    seed: int | None = None,
    limit: int | None = None,
    min_steps: int | None = None,
    max_steps: int | None = None,
    n_train: int | None = None,
) -> tuple[list[Item], list[Item]]:
    d = card["defaults"]
    n = limit if limit is not None else (n if n is not None else d["n"])
    lo = min_steps or d["min_steps"]
    kw = {
        "seed": d["seed"] if seed is None else seed,
        "min_steps": lo,
        "max_steps": max_steps or max(lo, d["max_steps"]),
    }
    items = arithmetic.generate(n, split=split, **kw)
    train = [] if split == "train" else arithmetic.generate(n_train or d["n_train"], split="train", **kw)
    return items, train


# A loader gives (test items, train items), or a whole Task when the task is more than items
# with a prompt, an extractor and a scorer (AgentsNet brings its own graphs and per-agent prompts).
LOADERS: dict[str, Callable[..., tuple[list[Item], list[Item]] | Task]] = {
    "arithmetic": _load_arithmetic,
    "hub": load_benchmark,
    "humaneval": load_humaneval,
    "agentsnet": load_agentsnet,
}


def load(name: str, **options: Any) -> Task:
    """Load a built-in task by its card name.

    >>> task = load("arithmetic", n=5, seed=1)
    >>> len(task), len(task.train(3))
    (5, 3)
    """
    card = load_card("tasks", name)
    loader = LOADERS[card["loader"]]
    accepted = set(inspect.signature(loader).parameters) - {"card"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(f"task {name!r} does not take {unknown}; it takes {sorted(accepted)}")
    loaded = loader(card, **options)
    if isinstance(loaded, Task):
        loaded.meta["options"] = options
        return loaded
    items, train = loaded
    return Task(
        name,
        items,
        card["prompt"],
        EXTRACTORS[card["extractor"]],
        SCORERS[card["scorer"]],
        train,
        meta={"card": card, "options": options},
    )


def list_tasks() -> list[dict[str, Any]]:
    """Every built-in task with its description, source and size per split."""
    return [
        {k: load_card("tasks", n).get(k) for k in ("name", "description", "source", "size", "splits")}
        for n in card_names("tasks")
    ]
