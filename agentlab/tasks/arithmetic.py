"""Seeded arithmetic word problems, one-step to multi-step: the benchmark that needs no download."""

from __future__ import annotations

import random
from typing import Any

from agentlab.tasks.registries import LOADERS, size_and_seed
from agentlab.tasks.task import Item

_THINGS = ["apples", "marbles", "books", "stickers", "coins", "pencils", "cards", "shells"]
# Each split draws its people from its own pool, so no train question can ever equal a test question,
# whatever the sizes and seeds asked for.
_NAMES = {
    "test": ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana"],
    "train": ["Ivan", "Jia", "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya"],
}
_SPLIT_SALT = {"test": 0, "train": 1_000_003}


def _step(rng: random.Random, total: int, who: str, thing: str) -> tuple[str, int]:
    op = rng.choice(["add", "sub", "mul"] if total <= 20 else ["add", "sub"])
    if op == "add":
        k = rng.randint(2, 30)
        return f"{who} gets {k} more {thing}.", total + k
    if op == "sub" and total > 2:
        k = rng.randint(1, total - 1)
        return f"{who} gives away {k} {thing}.", total - k
    k = rng.randint(2, 4)
    return f"{who} ends up with {k} times as many {thing}.", total * k


def problem(rng: random.Random, steps: int, names: list[str]) -> tuple[str, int]:
    who, thing = rng.choice(names), rng.choice(_THINGS)
    total = rng.randint(2, 40)
    sentences = [f"{who} has {total} {thing}."]
    for _ in range(steps):
        sentence, total = _step(rng, total, who, thing)
        sentences.append(sentence)
    sentences.append(f"How many {thing} does {who} have now?")
    return " ".join(sentences), total


def generate(
    n: int, seed: int = 0, split: str = "test", min_steps: int = 1, max_steps: int = 1
) -> list[Item]:
    """``n`` distinct problems of ``min_steps`` to ``max_steps`` operations each."""
    if split not in _SPLIT_SALT:
        raise ValueError(f"arithmetic has splits {sorted(_SPLIT_SALT)}; got {split!r}")
    if not 1 <= min_steps <= max_steps:
        raise ValueError(f"need 1 <= min_steps <= max_steps; got {min_steps}, {max_steps}")
    rng = random.Random(seed * 7919 + _SPLIT_SALT[split])
    items: list[Item] = []
    seen: set[str] = set()
    while len(items) < n:
        steps = rng.randint(min_steps, max_steps)
        question, answer = problem(rng, steps, _NAMES[split])
        if question in seen:
            continue
        seen.add(question)
        items.append(Item(f"{split}-{len(items)}", question, answer, {"steps": steps}))
    return items


@LOADERS.register("arithmetic")
def load_arithmetic(
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
    n, seed = size_and_seed(card, n, limit, seed)
    lo = min_steps or d["min_steps"]
    kw = {
        "seed": seed,
        "min_steps": lo,
        "max_steps": max_steps or max(lo, d["max_steps"]),
    }
    items = generate(n, split=split, **kw)
    train = [] if split == "train" else generate(n_train or d["n_train"], split="train", **kw)
    return items, train
