"""Loading tasks by name: a card's loader, extractor and scorer, or a task registered in code."""

from __future__ import annotations

import inspect
from functools import partial
from typing import Any

from agentlab._cards import card_names, load_card
from agentlab.registry import did_you_mean
from agentlab.tasks.registries import EXTRACTORS, LOADERS, SCORERS, TASKS
from agentlab.tasks.task import Task


def load(name: str, **options: Any) -> Task:
    """Load a task by name: a built-in card, or one registered with ``@al.tasks.register``.

    >>> task = load("arithmetic", n=5, seed=1)
    >>> len(task), len(task.train(3))
    (5, 3)
    """
    return TASKS.resolve(name)(**options)


COUNTS = ("n", "limit", "n_train")  # options that count items: whole numbers, 1 or more


def option_problems(name: str, options: dict[str, Any]) -> list[tuple[str | None, str]]:
    """What is wrong with ``options`` for task ``name``: (the option, or None, and the problem)."""
    problems: list[tuple[str | None, str]] = [
        (key, f"must be a whole number of items, 1 or more (got {options[key]!r})")
        for key in COUNTS
        if key in options
        and options[key] is not None
        and (isinstance(options[key], bool) or not isinstance(options[key], int) or options[key] < 1)
    ]
    if name in card_names("tasks"):
        loader = LOADERS.resolve(load_card("tasks", name)["loader"])
        accepted = sorted(set(inspect.signature(loader).parameters) - {"card"})
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            problems.append(
                (
                    None,
                    f"task {name!r} does not take {unknown}{did_you_mean(unknown[0], accepted)}; "
                    f"it takes {accepted}",
                )
            )
    return problems


def takes(name: str, option: str) -> bool:
    """Whether task ``name`` takes ``option`` (its card's loader, or the function registered for it)."""
    if name in card_names("tasks"):
        loader = LOADERS.resolve(load_card("tasks", name)["loader"])
    else:
        loader = TASKS.resolve(name)
    parameters = inspect.signature(loader).parameters
    return option in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def from_card(name: str, **options: Any) -> Task:
    """The task a card in ``tasks/`` describes, with ``options`` for its loader."""
    problems = option_problems(name, options)
    if problems:
        raise ValueError("; ".join(f"{key}: {problem}" if key else problem for key, problem in problems))
    card = load_card("tasks", name)
    loaded = LOADERS.resolve(card["loader"])(card, **options)
    if isinstance(loaded, Task):
        loaded.meta["options"] = options
        return loaded
    items, train = loaded
    return Task(
        name,
        items,
        card["prompt"],
        EXTRACTORS.resolve(card["extractor"]),
        SCORERS.resolve(card["scorer"]),
        train,
        meta={"card": card, "options": options},
    )


def names() -> list[str]:
    """Every task name ``load`` takes."""
    return TASKS.names()


def list_tasks() -> list[dict[str, Any]]:
    """Every task with its description, source and size per split (a code-registered task: its
    docstring's first line)."""
    rows = []
    for name in TASKS.names():
        factory = TASKS.resolve(name)
        if isinstance(factory, partial) and factory.func is from_card:
            card = load_card("tasks", factory.args[0])
            rows.append({k: card.get(k) for k in ("name", "description", "source", "size", "splits")})
        else:
            doc = (inspect.getdoc(factory) or "").split("\n")[0]
            rows.append(
                {
                    "name": name,
                    "description": doc,
                    "source": "registered in code",
                    "size": None,
                    "splits": None,
                }
            )
    return rows
