"""A fixed communication graph as a protocol: each call waits on the calls it hears, then asks.

Spatial edges are heard in the same round (a DAG), temporal ones in the next; a silent agent
makes no call in its round; each agent's turns run in order. A call is asked as soon as everyone
it hears has spoken, so the runtime batches every ready call of every item, step by step, as the
engine always did. The item's answer comes from the last round by the graph's decision rule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agentlab.agent import Agent
from agentlab.graph import CommGraph, EachAgent, FinalAgent
from agentlab.run import ItemResult
from agentlab.runtime import Context, Protocol
from agentlab.tasks.task import Item, Score, Task

GraphPolicy = Callable[[Item], CommGraph]


@dataclass(frozen=True)
class Wiring:
    """A graph unrolled over rounds: who speaks in each round, whom each call hears, who hears it,
    and which calls it waits on. Indices are into the graph's agents; rows are rounds."""

    graph: CommGraph
    agents: tuple[Agent, ...]
    rounds: int
    speaks: list[tuple[bool, ...]]  # [round][agent]
    hears_now: list[list[tuple[int, ...]]]  # [round][agent]: spatial predecessors
    hears_before: list[list[tuple[int, ...]]]  # [round][agent]: last round's, by temporal edges
    receivers: list[list[tuple[str, ...]]]  # [round][agent]
    waits_on: dict[tuple[int, int], tuple[tuple[int, int], ...]]  # (round, agent) -> calls before it
    releases: dict[tuple[int, int], tuple[tuple[int, int], ...]]  # (round, agent) -> calls waiting on it
    calls: int

    @classmethod
    def of(cls, graph: CommGraph, agents: tuple[Agent, ...], rounds: int) -> Wiring:
        names = graph.agents
        index = {name: i for i, name in enumerate(names)}
        wired = [graph.round(r) for r in range(rounds)]
        speaking = [set(g.agents) - set(g.silent) for g in wired]
        speaks = [tuple(name in now for name in names) for now in speaking]

        def heard_from(edges: tuple[tuple[str, str], ...]) -> list[tuple[int, ...]]:
            senders: dict[str, list[int]] = {}
            for u, v in edges:
                senders.setdefault(v, []).append(index[u])
            return [tuple(senders.get(a, ())) for a in names]

        hears_now = [heard_from(g.spatial) for g in wired]
        hears_before = [heard_from(g.temporal) if r else [()] * len(names) for r, g in enumerate(wired)]
        # a call waits on those it hears, and on its agent's previous turn (an agent's turns run
        # in order even when it hears nobody)
        waits_on: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {}
        last_turn: list[int | None] = [None] * len(names)
        for r in range(rounds):
            for a in range(len(names)):
                if not speaks[r][a]:
                    continue
                deps = {(r, u) for u in hears_now[r][a]} | {(r - 1, u) for u in hears_before[r][a]}
                if last_turn[a] is not None:
                    deps.add((last_turn[a], a))
                waits_on[(r, a)] = tuple(sorted(d for d in deps if speaks[d[0]][d[1]]))
            for a in range(len(names)):
                if speaks[r][a]:
                    last_turn[a] = r

        # who hears each call: its spatial successors, and in the next round its temporal ones
        def heard_by(edges: tuple[tuple[str, str], ...]) -> dict[str, tuple[str, ...]]:
            hearers: dict[str, list[str]] = {}
            for u, v in edges:
                hearers.setdefault(u, []).append(v)
            return {u: tuple(vs) for u, vs in hearers.items()}

        now_by = [heard_by(g.spatial) for g in wired]
        later_by = [heard_by(wired[r + 1].temporal) if r + 1 < rounds else {} for r in range(rounds)]
        receivers = [
            [now_by[r].get(name, ()) + later_by[r].get(name, ()) for name in names] for r in range(rounds)
        ]
        releases: dict[tuple[int, int], list[tuple[int, int]]] = {site: [] for site in waits_on}
        for site, waits in waits_on.items():
            for before in waits:
                releases[before].append(site)
        return cls(
            graph, agents, rounds, speaks, hears_now, hears_before, receivers, waits_on,
            {site: tuple(after) for site, after in releases.items()}, sum(map(sum, speaks)),
        )  # fmt: skip

    def sites(self) -> list[tuple[int, int]]:
        """Every (round, agent) that makes a call."""
        return [(r, a) for r in range(self.rounds) for a in range(len(self.agents)) if self.speaks[r][a]]


class GraphDecision:
    """A fixed graph's outcome: its last round's texts, decided by the graph's rule."""

    def __init__(self, graph: CommGraph, last_round: Mapping[str, str | None]) -> None:
        self.graph, self.last_round = graph, last_round

    def result(self, task: Task, item: Item) -> ItemResult:
        return decide(self.graph, task, item, self.last_round)


def decide(graph: CommGraph, task: Task, item: Item, last_round: Mapping[str, str | None]) -> ItemResult:
    """An item's answer from its last-round messages (agent name to text), by the graph's decision rule."""
    answers = {v: task.extract(last_round.get(v) or "", item) for v in graph.voters()}
    if isinstance(graph.decision, FinalAgent):
        prediction = answers[graph.decision.agent]
    elif isinstance(graph.decision, EachAgent):
        prediction = answers
    else:
        votes = Counter(a for a in answers.values() if a is not None)
        prediction = votes.most_common(1)[0][0] if votes else None
    score = task.score(prediction, item.reference)
    scoring = score.detail if isinstance(score, Score) else {}
    return ItemResult(item.id, prediction, item.reference, float(score), answers, scoring)


class GraphProtocol(Protocol):
    """A ``CommGraph`` (or a function of the item giving one: a learner's per-query graph, a
    task's own) as a protocol over ``agents`` (the team's, by name)."""

    name = "graph"
    memory_by = "rounds"

    def __init__(self, graph: CommGraph | GraphPolicy, agents: Mapping[str, Agent]) -> None:
        self.graph, self._agents = graph, agents
        self._wirings: dict[tuple[CommGraph, int], Wiring] = {}

    def graph_for(self, item: Item) -> CommGraph:
        if isinstance(self.graph, CommGraph):
            return self.graph
        graph = self.graph(item)
        if not isinstance(graph, CommGraph):
            raise TypeError(
                f"the team's graph function returned {type(graph).__name__} for item {item.id!r}, "
                "not a CommGraph"
            )
        return graph

    def agents_for(self, graph: CommGraph) -> tuple[Agent, ...]:
        unknown = [name for name in graph.agents if name not in self._agents]
        if unknown:
            raise ValueError(
                f"the graph names agents the team lacks: {unknown}; the team has {list(self._agents)}"
            )
        return tuple(self._agents[name] for name in graph.agents)

    def wiring(self, item: Item, task: Task | None, run_rounds: int | None) -> Wiring:
        graph = self.graph_for(item)
        rounds = run_rounds or graph.wired_rounds or (task.rounds_for(item) if task else None) or 1
        if graph.wired_rounds not in (None, rounds):
            raise ValueError(
                f"the graph of item {item.id!r} is wired for {graph.wired_rounds} rounds, but the run "
                f"asks for {rounds}; run it with rounds={graph.wired_rounds}"
            )
        known = self._wirings.get((graph, rounds))
        if known is None:
            known = self._wirings[(graph, rounds)] = Wiring.of(graph, self.agents_for(graph), rounds)
        return known

    def rounds(self, item: Item, task: Task | None, run_rounds: int | None) -> int:
        return self.wiring(item, task, run_rounds).rounds

    def calls_for(self, item: Item, task: Task | None, run_rounds: int | None) -> int:
        return self.wiring(item, task, run_rounds).calls

    async def __call__(self, ctx: Context, item: Item) -> GraphDecision:  # type: ignore[override]
        wiring = self.wiring(item, ctx.task, ctx.rounds)
        task = ctx.task
        if task is None or type(task).prompt_for is Task.prompt_for:  # every agent is shown the same
            same = ctx.question
            texts = await run_wiring(ctx, wiring, lambda agent, r: same)
        else:
            texts = await run_wiring(
                ctx, wiring, lambda agent, r: task.prompt_for(item, agent, r, wiring.rounds)
            )
        return GraphDecision(wiring.graph, dict(zip(wiring.graph.agents, texts[-1], strict=True)))

    def __repr__(self) -> str:
        return f"GraphProtocol({self.graph!r})"


async def run_wiring(
    ctx: Context, wiring: Wiring, prompt: Callable[[str, int], str]
) -> list[list[str | None]]:
    """Every call of ``wiring`` on ``ctx``'s item, each asked as soon as those it hears have spoken
    (``prompt(agent, round)`` gives its task text); every round's texts, [round][agent], None
    where an agent was silent."""
    names, task = wiring.graph.agents, ctx.task
    texts: list[list[str | None]] = [[None] * len(names) for _ in range(wiring.rounds)]
    # how many calls each still waits on; the last of them to end tells it to go
    waiting = {site: len(before) for site, before in wiring.waits_on.items()}
    go = {site: ctx.signal() for site, count in waiting.items() if count}

    async def call(r: int, a: int) -> None:
        if waiting[(r, a)]:
            await go[(r, a)]
        me = names[a]
        heard = [(names[u], texts[r - 1][u]) for u in wiring.hears_before[r][a]] if r else []
        heard += [(names[u], texts[r][u]) for u in wiring.hears_now[r][a]]
        if task is not None:
            heard = [(name, task.heard(text, name, me)) for name, text in heard if text]
        heard = [(name, text) for name, text in heard if text]  # a failed or empty call says nothing
        reply = await ctx.ask(
            me, prompt(me, r), heard=heard, round=r, rank=a, receivers=wiring.receivers[r][a]
        )
        texts[r][a] = str(reply)
        for after in wiring.releases[(r, a)]:
            waiting[after] -= 1
            if not waiting[after]:
                go[after].set()

    await ctx.gather(*(call(r, a) for r, a in wiring.sites()))
    return texts


def outcome_of(value: Any, task: Task, item: Item) -> ItemResult:
    """An item's result from what its protocol returned: a graph's decision, or a text the task
    reads the answer from."""
    if isinstance(value, GraphDecision):
        return value.result(task, item)
    if not isinstance(value, str):
        raise TypeError(
            f"item {item.id!r}: the protocol returned {type(value).__name__}; a protocol returns the text "
            "the answer is read from (a str, e.g. an agent's reply)"
        )
    prediction = task.extract(value, item)
    score = task.score(prediction, item.reference)
    detail = score.detail if isinstance(score, Score) else {}
    return ItemResult(item.id, prediction, item.reference, float(score), {}, detail)
