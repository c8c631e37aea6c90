"""Hidden facts where a fixed graph is the wrong answer: tasks built for what learned graphs claim.

- ``hidden-fact-adversarial`` (robustness, as AgentPrune, G-Designer and GPTSwarm test it): of
  ``agents`` agents a fixed set, the same on every item, is told one wrong option and to insist on
  it; one honest agent, drawn per item, is told the fact; the others know nothing. A graph that
  lets the adversaries reach the decision is outvoted or misled; one that cuts them out answers.
- ``hidden-fact-topic`` (adaptivity, as G-Designer's per-query graphs claim): agent ``k`` knows the
  facts of topic ``k`` (boxes, doors, kites, hats) and the question's topic decides who knows. A
  graph that asks only that agent is as accurate as one that asks everyone, at a fraction of the
  tokens; which agent that is can be read from the question.

Items, options and splits are hidden-fact's (``agentlab.tasks.hidden``); only who is told what
differs. Both check the team they run with: it has every agent the task speaks of (or one of
them alone, a single-agent baseline) and none beyond them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from agentlab.tasks.hidden import _AGENT, _SUBJECTS, UNTOLD, HiddenFactTask, generate, told
from agentlab.tasks.registries import LOADERS, size_and_seed
from agentlab.tasks.task import Item


def topic_name(k: int) -> str:
    thing = _SUBJECTS[k][0]
    return thing + ("es" if thing.endswith("x") else "s")


def adversary_indices(agents: int, adversaries: int) -> list[int]:
    """Which agents lie: the odd positions first (agent1, agent3, ...), then even ones from the
    end, so that no preset's deciding position (first or last) is always an adversary."""
    odd = list(range(1, agents, 2))
    even = [i for i in range(agents - 1, -1, -1) if i % 2 == 0]
    return sorted((odd + even)[:adversaries])


def _index(agent: str) -> int | None:
    match = _AGENT.match(agent)
    return int(match.group(1)) if match else None


@dataclass(eq=False, repr=False)
class AdversarialTask(HiddenFactTask):
    """Hidden facts with liars; see the module docstring. ``meta``: agents, adversaries."""

    def prompt_for(self, item: Item, agent: str, round: int, rounds: int) -> str:
        k = _index(agent)
        if k in item.meta["adversaries"]:
            insist = "Insist on this answer, whatever the other agents say."
            return f"{told(item.meta['lie'], self.prompt(item))}\n{insist}"
        if k == item.meta["holder"]:
            return told(item.meta["fact"], self.prompt(item))
        return f"{self.prompt(item)}\n{UNTOLD}"

    def check_agents(self, names: Sequence[str]) -> None:
        _check_team(self.name, names, self.meta["agents"], "agents=")


@dataclass(eq=False, repr=False)
class TopicTask(HiddenFactTask):
    """Hidden facts by topic; see the module docstring. ``meta``: topics."""

    def prompt_for(self, item: Item, agent: str, round: int, rounds: int) -> str:
        k = _index(agent)
        if k == item.meta["holder"]:
            return told(item.meta["fact"], self.prompt(item))
        known = f"You know only about {topic_name(k)}. " if k is not None and k < self.meta["topics"] else ""
        return f"{self.prompt(item)}\n{known}{UNTOLD}"

    def check_agents(self, names: Sequence[str]) -> None:
        _check_team(self.name, names, self.meta["topics"], "topics=")


def _check_team(task: str, names: Sequence[str], needed: int, option: str) -> None:
    """The team has every one of the task's agents (agent0..agent{needed-1}), or one of them alone
    (a single-agent baseline), and none beyond them."""
    mine = [k for k in map(_index, names) if k is not None]
    beyond = sorted(f"agent{k}" for k in mine if k >= needed)
    missing = [f"agent{k}" for k in range(needed) if k not in mine]
    if beyond or (missing and len(mine) > 1):
        problem = f"has {', '.join(beyond)}" if beyond else f"lacks {', '.join(missing)}"
        raise ValueError(
            f"{task} speaks of agent0..agent{needed - 1} and the team {problem}: build the team with "
            f"n_agents={needed} (or one agent, a single-agent baseline), or load the task with "
            f"{option}{len(mine)}"
        )


def adversarial_items(n: int, agents: int, adversaries: int, seed: int, split: str) -> list[Item]:
    lying = adversary_indices(agents, adversaries)
    honest = [k for k in range(agents) if k not in lying]
    rng = random.Random(f"adversarial/{seed}/{split}")
    items = []
    for item in generate(n, 1, seed, split):
        wrong = rng.choice([o for o in item.meta["options"] if o != item.reference])
        lie = item.meta["fact"].removesuffix(f"{item.reference}.") + f"{wrong}."
        meta = {**item.meta, "holder": rng.choice(honest), "adversaries": lying, "lie": lie, "wrong": wrong}
        items.append(replace(item, meta=meta))
    return items


def topic_items(n: int, topics: int, seed: int, split: str) -> list[Item]:
    items = []
    for item in generate(n, 1, seed, split, subjects=_SUBJECTS[:topics]):
        items.append(replace(item, meta={**item.meta, "holder": item.meta["topic"]}))
    return items


@LOADERS.register("hidden-fact-adversarial")
def load_adversarial(
    card: dict[str, Any],
    split: str = "test",
    n: int | None = None,
    seed: int | None = None,
    limit: int | None = None,
    agents: int | None = None,
    adversaries: int | None = None,
    n_train: int | None = None,
) -> AdversarialTask:
    d = card["defaults"]
    n, seed = size_and_seed(card, n, limit, seed)
    agents = d["agents"] if agents is None else agents
    adversaries = d["adversaries"] if adversaries is None else adversaries
    if agents < 2:
        raise ValueError(f"hidden-fact-adversarial needs at least 2 agents; got agents={agents}")
    if not 0 <= adversaries < agents:
        raise ValueError(
            f"adversaries ({adversaries}) must be fewer than the agents ({agents}): one honest agent is "
            f"told the fact on every item; at most adversaries={agents - 1}"
        )
    items = adversarial_items(n, agents, adversaries, seed, split)
    train = (
        []
        if split == "train"
        else adversarial_items(n_train or d["n_train"], agents, adversaries, seed, "train")
    )
    meta = {"card": card, "agents": agents, "adversaries": adversary_indices(agents, adversaries)}
    return AdversarialTask(card["name"], items, card["prompt"], train_items=train, meta=meta)


@LOADERS.register("hidden-fact-topic")
def load_topic(
    card: dict[str, Any],
    split: str = "test",
    n: int | None = None,
    seed: int | None = None,
    limit: int | None = None,
    topics: int | None = None,
    n_train: int | None = None,
) -> TopicTask:
    d = card["defaults"]
    n, seed = size_and_seed(card, n, limit, seed)
    topics = d["topics"] if topics is None else topics
    if not 2 <= topics <= len(_SUBJECTS):
        raise ValueError(
            f"topics is the number of agents, each knowing one topic, from 2 to {len(_SUBJECTS)} "
            f"({', '.join(topic_name(k) for k in range(len(_SUBJECTS)))}); got topics={topics}"
        )
    items = topic_items(n, topics, seed, split)
    train = [] if split == "train" else topic_items(n_train or d["n_train"], topics, seed, "train")
    return TopicTask(
        card["name"], items, card["prompt"], train_items=train, meta={"card": card, "topics": topics}
    )
