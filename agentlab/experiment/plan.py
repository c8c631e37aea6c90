"""What an experiment file will do, before it does it: ``agentlab run FILE --plan``.

For every run unit (a topology with a seed) the plan counts the items, the calls of the test run
and of a learner's training, and estimates their tokens. Nothing calls a model: the task is
loaded (from its local copy when the file gives ``path:``), the graphs are built, and each call's
prompt is sized from the task's prompt, the agent's role, what it hears and what it remembers.

The estimate is an upper bound of the usual case: about 4 characters a token, and every reply
(and so every message heard) as long as ``max_new_tokens``. A learner's test graph is not known
before training, so its calls are those of the dense graph it starts from (at most that many).
Graphs decided at run time (blackboard, semi-centralized, evolving) and protocols of one's own
have no count in advance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentlab.agent import Agent
from agentlab.experiment.config import TASK_GRAPH, TopologySpec, TrainSpec
from agentlab.graph import CommGraph
from agentlab.shapes import GraphTask
from agentlab.tasks.task import Item, Task
from agentlab.topologies.learning import GraphLearner

if TYPE_CHECKING:
    from agentlab.experiment.runner import Experiment

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class UnitPlan:
    unit: str
    items: int
    calls: int | None  # None: decided at run time
    tokens: int | None
    train_calls: int = 0
    train_tokens: int = 0
    at_most: bool = False  # a learner's: the dense graph it starts from


def plan(experiment: Experiment) -> list[UnitPlan]:
    """One row per run unit of ``experiment``, in the order it runs them."""
    cfg = experiment.config
    if cfg.simulation is not None:
        raise ValueError(
            "--plan counts the calls of a task's runs; a simulation's depend on how its episodes go "
            "(a collapsed lake ends one early): run it with `episodes: 1` to see one"
        )
    rows = []
    for seed in cfg.seeds:
        task = experiment.task(seed)
        for spec in cfg.topologies:
            model = cfg.models[spec.model] if spec.model else cfg.model
            reply = model.max_new_tokens * CHARS_PER_TOKEN  # characters of one reply, at most
            graph, roles, at_most = _graph(spec, task, experiment, seed)
            rounds = cfg.unit_rounds(spec)
            calls = tokens = None
            if graph is not None:
                calls = tokens = 0
                for item in task.items:
                    g = graph if isinstance(graph, CommGraph) else graph(item)
                    n_rounds = rounds or g.wired_rounds or task.rounds_for(item) or 1
                    c, t = _cost(g, n_rounds, task, item, roles, spec, reply, model.max_new_tokens)
                    calls, tokens = calls + c, tokens + t
            train_calls = train_tokens = 0
            if spec.learner is not None and isinstance(graph, CommGraph):
                train = spec.train or TrainSpec()  # what the runner trains with
                items = list(task.train(train.items).items)
                repeats = train.epochs * train.samples_per_query
                n_rounds = rounds or graph.wired_rounds or 1
                for item in items:
                    c, t = _cost(graph, n_rounds, task, item, roles, spec, reply, model.max_new_tokens)
                    train_calls, train_tokens = train_calls + c * repeats, train_tokens + t * repeats
            rows.append(
                UnitPlan(spec.unit(seed), len(task), calls, tokens, train_calls, train_tokens, at_most)
            )
    return rows


def _graph(
    spec: TopologySpec, task: Task, experiment: Experiment, seed: int
) -> tuple[CommGraph | object | None, dict[str, str], bool]:
    """The unit's graph (or a function of the item, for a task's own graphs; None when routed),
    each agent's role, and whether the count is an upper bound."""
    from agentlab import topologies
    from agentlab.routing import Routing
    from agentlab.topologies.learning import LEARNERS

    if spec.preset == TASK_GRAPH:
        if not isinstance(task, GraphTask):
            raise ValueError(f"{experiment.source}: `preset: task` needs a task that brings its own graph")
        return task.graph_for, {}, False
    if spec.protocol is not None:  # its asks are known only as it runs
        return None, {}, False
    profiles = list(topologies.roles(spec.roles) if isinstance(spec.roles, str) else spec.roles or [""])
    if spec.preset is not None:
        graph = topologies.graph(spec.preset, spec.n_agents, **spec.options)
        if isinstance(graph, Routing):
            return None, {}, False
        return graph, {a: profiles[i % len(profiles)] for i, a in enumerate(graph.agents)}, False
    n = spec.n_agents or 4
    agents = [Agent(f"agent{i}", role=profiles[i % len(profiles)]) for i in range(n)]
    options = {"seed": seed, "rounds": spec.rounds or experiment.config.rounds, **spec.options}
    dense, decider = _dense(LEARNERS.resolve(str(spec.learner)), agents, options)
    roles = {a.name: a.role for a in [*agents, *([decider] if decider else [])]}
    return dense, roles, True


def _dense(
    cls: type[GraphLearner], agents: list[Agent], options: dict[str, Any]
) -> tuple[CommGraph, Agent | None]:
    """The dense graph a learner starts from, with its decision (and its FinalRefer agent), from
    the settings alone: the learner's own parameters are not built (G-Designer's would load a
    sentence encoder)."""
    learner = cls.__new__(cls)
    GraphLearner.__init__(learner, agents, **options)
    return GraphLearner.dense_graph(learner), learner.decider


def _cost(
    graph: CommGraph,
    rounds: int,
    task: Task,
    item: Item,
    roles: dict[str, str],
    spec: TopologySpec,
    reply: int,
    max_new_tokens: int,
) -> tuple[int, int]:
    """Calls and estimated tokens of one item on ``graph``."""
    calls = chars = 0
    memory = Agent("memory", memory=spec.memory)  # which earlier turns a prompt carries
    for r in range(rounds):
        wired = graph.round(r)
        for agent in wired.speaking:
            prompt = len(task.prompt_for(item, agent, r, rounds)) + len(roles.get(agent, ""))
            heard = len(wired.spatial_predecessors(agent)) + (
                len(wired.temporal_predecessors(agent)) if r else 0
            )
            remembered = len(memory.remembered(r))
            chars += prompt + heard * reply + remembered * (prompt + reply)
            calls += 1
    return calls, math.ceil(chars / CHARS_PER_TOKEN) + calls * max_new_tokens


def plan_table(rows: list[UnitPlan]) -> str:
    """The plan as a text table, with its totals."""

    def number(value: int | None, bound: bool = False) -> str:
        return "at run time" if value is None else f"{'≤' if bound else ''}{value:,}"

    header = ("unit", "items", "calls", "tokens (est.)", "training calls", "training tokens (est.)")
    body = [
        (
            row.unit,
            f"{row.items:,}",
            number(row.calls, row.at_most),
            number(row.tokens, row.at_most),
            f"{row.train_calls:,}" if row.train_calls else "",
            f"{row.train_tokens:,}" if row.train_tokens else "",
        )
        for row in rows
    ]
    known = [r for r in rows if r.calls is not None]
    total = (
        "total",
        "",
        f"{sum(r.calls or 0 for r in known):,}",
        f"{sum(r.tokens or 0 for r in known):,}",
        f"{sum(r.train_calls for r in rows):,}",
        f"{sum(r.train_tokens for r in rows):,}",
    )
    table = [header, *body, total]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in table
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)
