"""A task: items, how to prompt for an answer, how to read it back, how to score it."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any


class Score(float):
    """A score that also says how it was obtained (which sandbox ran the tests, say); a scorer may
    return one instead of a float, and the item's result keeps ``detail`` as its ``scoring``.

    >>> s = Score(1.0, isolation="namespaces+seccomp")
    >>> s == 1.0, s.detail
    (True, {'isolation': 'namespaces+seccomp'})
    """

    detail: dict[str, Any]

    def __new__(cls, value: float, **detail: Any) -> Score:
        score = super().__new__(cls, value)
        score.detail = detail
        return score


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    reference: Any
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Task:
    """A named set of items plus prompt, extractor and scorer.

    ``train_items`` is a split disjoint from ``items``: learners draw from it, never from test.

    >>> import agentlab as al
    >>> task = al.tasks.load("arithmetic", n=3, seed=0)
    >>> len(task), task.score(task.extract("so the answer is 12."), 12)
    (3, 1.0)
    """

    name: str
    items: Sequence[Item]
    prompt_template: str = "{question}"
    extractor: Callable[..., Any] = str.strip  # (text) or (text, item) -> answer
    scorer: Callable[[Any, Any], float] = lambda pred, ref: float(pred == ref)
    train_items: Sequence[Item] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            arity = len(inspect.signature(self.extractor).parameters)
        except (TypeError, ValueError):  # builtins such as str.strip may have no signature
            arity = 1
        self._extractor_takes_item = arity >= 2
        ids = [item.id for item in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError(f"task {self.name!r}: item ids must be unique")

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def prompt(self, item: Item) -> str:
        return self.prompt_template.format(question=item.question, **item.meta)

    # Hooks for tasks whose agents are not interchangeable (AgentsNet: each graph node is told
    # its name and its neighbours, and addresses each neighbour separately).

    def prompt_for(self, item: Item, agent: str, round: int, rounds: int) -> str:
        """The task text ``agent`` is shown in ``round`` (of ``rounds``); the same for all by default."""
        return self.prompt(item)

    def check_agents(self, names: Sequence[str]) -> None:
        """Raises ValueError naming the fix when a team of agents ``names`` cannot run this task
        (a task whose facts are told to agents by name, say); any team can by default."""

    def heard(self, text: str, sender: str, receiver: str) -> str:
        """What ``receiver`` hears of ``sender``'s message: all of it by default."""
        return text

    def reask(self, text: str, item: Item, agent: str, round: int, rounds: int) -> str | None:
        """What to tell ``agent`` when its reply ``text`` does not fit the task's format, or None
        when it fits. The engine then asks it once more in the same turn, with its reply and this
        text added to the conversation; the record keeps the rejected reply. None by default:
        no task re-asks unless it says so (AgentsNet's authors re-ask once)."""
        return None

    @property
    def reasks(self) -> bool:
        """Whether the task asks again about replies it cannot read (it overrides ``reask``)."""
        return type(self).reask is not Task.reask

    def rounds_for(self, item: Item) -> int | None:
        """The rounds this item prescribes, used when the run names none; None leaves it to the run."""
        return None

    def extract(self, text: str, item: Item | None = None) -> Any:
        """The answer in ``text``. An extractor taking two arguments also gets the item (a
        multiple-choice extractor reads its options there)."""
        if self._extractor_takes_item:
            return self.extractor(text, item)
        return self.extractor(text)

    def score(self, prediction: Any, reference: Any) -> float:
        """The scorer's value: a ``Score`` when the scorer says how it scored, else a float."""
        if prediction is None:
            return 0.0
        value = self.scorer(prediction, reference)
        return value if isinstance(value, Score) else float(value)

    def train(self, n: int | None = None) -> Task:
        """The held-out training split as its own Task (first ``n`` items)."""
        if not self.train_items:
            raise ValueError(f"task {self.name!r} has no training split")
        items = list(self.train_items)[:n]
        return replace(self, name=f"{self.name}[train]", items=items, train_items=())

    def head(self, n: int) -> Task:
        return replace(self, items=list(self.items)[:n])

    def __repr__(self) -> str:
        return f"Task({self.name!r}, {len(self.items)} items, {len(self.train_items)} train)"

    def _repr_html_(self) -> str:
        import html

        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(i.id)}</td><td>{esc(i.question[:160])}</td><td>{esc(str(i.reference)[:60])}</td></tr>"
            for i in list(self.items)[:5]
        )
        more = f"<p>… and {len(self.items) - 5} more</p>" if len(self.items) > 5 else ""
        return (
            f"<p><b>{esc(self.name)}</b>: {len(self.items)} items, "
            f"{len(self.train_items)} held-out train items</p>"
            f"<table><tr><th>id</th><th>question</th><th>reference</th></tr>{rows}</table>{more}"
        )
