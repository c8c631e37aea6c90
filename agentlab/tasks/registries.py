"""The task extension points. A card in ``tasks/`` names its ``loader``, ``extractor`` and
``scorer`` from these; a task built in code registers itself with ``@al.tasks.register("name")``.

Each built-in registers where it is defined (``@LOADERS.register("hub")`` over the hub loader),
so the names a card may use are exactly what these registries hold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentlab.registry import Registry

# (card, **options) -> (test items, train items), or a whole Task when the task is more than items
# with a prompt, an extractor and a scorer (AgentsNet brings its own graphs and per-agent prompts)
Loader = Callable[..., Any]
Extractor = Callable[..., Any]  # (text) or (text, item) -> answer
Scorer = Callable[[Any, Any], float]  # (prediction, reference) -> score
TaskFactory = Callable[..., Any]  # (**options) -> Task

LOADERS: Registry[Loader] = Registry("task loader", packages=["agentlab.tasks"])


def size_and_seed(
    card: dict[str, Any], n: int | None, limit: int | None, seed: int | None
) -> tuple[int, int]:
    """A generated task's item count (``limit`` over ``n`` over the card's default) and seed (the
    card's default unless given)."""
    d = card["defaults"]
    return (limit if limit is not None else (n if n is not None else d["n"])), (
        d["seed"] if seed is None else seed
    )


EXTRACTORS: Registry[Extractor] = Registry("extractor", packages=["agentlab.tasks"])
SCORERS: Registry[Scorer] = Registry("scorer", packages=["agentlab.tasks"])


def _add_cards(registry: Registry[TaskFactory]) -> None:
    from functools import partial

    from agentlab._cards import card_names
    from agentlab.tasks.loading import from_card

    for name in card_names("tasks"):
        registry.add(name, partial(from_card, name))


TASKS: Registry[TaskFactory] = Registry("task", discover=_add_cards)


def register(name: str) -> Callable[[TaskFactory], TaskFactory]:
    """Registers a task built in code: ``@al.tasks.register("toy")`` over a function
    ``(**options) -> Task``; ``al.tasks.load("toy", ...)`` and experiment files then find it."""
    return TASKS.register(name)
