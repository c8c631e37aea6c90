"""Hidden facts: a task where communication is necessary. One agent of the team knows the fact the
question asks about; the others know only that they do not. A graph that brings that agent's
words to the deciding agent can answer; a single agent knows it only when it is the one told.

Each item: a seeded question ("Which colour is the box Ana packed?") with four options and one
holder among ``agent0`` .. ``agent{parts-1}`` (uniformly drawn), whose prompt carries the fact.
Agents named otherwise (a routing's controller, say) are never told. With ``parts`` agents and
guessing at random, a lone ``agent0`` scores about 1/parts + (1 - 1/parts)/4.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentlab.tasks.registries import LOADERS, size_and_seed
from agentlab.tasks.task import Item, Task

_SUBJECTS = [
    ("box", "packed", ["red", "blue", "green", "yellow", "white", "black"]),
    ("door", "painted", ["orange", "purple", "grey", "brown", "pink", "gold"]),
    ("kite", "flew", ["red", "blue", "green", "yellow", "silver", "violet"]),
    ("hat", "wore", ["black", "white", "brown", "green", "blue", "orange"]),
]
_NAMES = {
    "test": ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana"],
    "train": ["Ivan", "Jia", "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya"],
}
_SALT = {"test": 0, "train": 1_000_003}
_AGENT = re.compile(r"agent(\d+)$")

UNTOLD = (
    "You were not told the answer. If another agent states it, repeat it; "
    "otherwise reply only: I do not know."
)


def told(fact: str, prompt: str) -> str:
    """What an agent told ``fact`` reads: the embedded model repeats a fact stated as "Fact: ..."
    before a bare question 12 times in 16, and 1 in 16 when it came as "You know this: ..." before
    the options."""
    return f"Fact: {fact}\n{prompt}"


def generate(
    n: int, parts: int, seed: int = 0, split: str = "test", subjects: Sequence[tuple] = tuple(_SUBJECTS)
) -> list[Item]:
    if split not in _SALT:
        raise ValueError(f"hidden-fact has splits {sorted(_SALT)}; got {split!r}")
    if parts < 1:
        raise ValueError(f"parts (the agents among whom the fact may be) must be 1 or more; got {parts}")
    rng = random.Random(seed * 7919 + _SALT[split])
    items = []
    for k in range(n):
        subject = rng.choice(subjects)
        thing, verb, colours = subject
        who = rng.choice(_NAMES[split])
        options = rng.sample(colours, 4)
        answer = rng.choice(options)
        question = f"What colour is the {thing} {who} {verb}?"
        fact = f"The {thing} {who} {verb} is {answer}."
        topic = _SUBJECTS.index(subject)
        meta = {"holder": rng.randrange(parts), "fact": fact, "options": options, "topic": topic}
        items.append(Item(f"{split}-{k}", question, answer, meta))
    return items


def extract_colour(text: str, item: Item | None) -> str | None:
    """The option the reply settles on: after its last 'answer is', else the last option named."""
    options = item.meta["options"] if item is not None else [c for _, _, cs in _SUBJECTS for c in cs]
    lowered = text.lower()

    def named(part: str) -> list[tuple[int, str]]:
        return sorted((m.start(), o) for o in options for m in re.finditer(rf"\b{re.escape(o)}\b", part))

    at = lowered.rfind("answer is")
    stated = named(lowered[at:]) if at >= 0 else []
    if stated:
        return stated[0][1]
    anywhere = named(lowered)
    return anywhere[-1][1] if anywhere else None


@dataclass(eq=False, repr=False)
class HiddenFactTask(Task):
    """One agent is told the fact; see the module docstring."""

    def __post_init__(self) -> None:
        self.extractor = extract_colour
        self.scorer = lambda prediction, reference: float(prediction == reference)
        super().__post_init__()

    def prompt_for(self, item: Item, agent: str, round: int, rounds: int) -> str:
        named = _AGENT.match(agent)
        knows = named is not None and int(named.group(1)) == item.meta["holder"]
        if knows:
            return told(item.meta["fact"], self.prompt(item))
        return f"{self.prompt(item)}\n{UNTOLD}"


@LOADERS.register("hidden-fact")
def load_hidden_fact(
    card: dict[str, Any],
    split: str = "test",
    n: int | None = None,
    seed: int | None = None,
    limit: int | None = None,
    parts: int | None = None,
    n_train: int | None = None,
) -> HiddenFactTask:
    d = card["defaults"]
    n, seed = size_and_seed(card, n, limit, seed)
    parts = d["parts"] if parts is None else parts
    items = generate(n, parts, seed, split)
    train = [] if split == "train" else generate(n_train or d["n_train"], parts, seed, "train")
    return HiddenFactTask(
        card["name"], items, card["prompt"], train_items=train, meta={"card": card, "parts": parts}
    )
