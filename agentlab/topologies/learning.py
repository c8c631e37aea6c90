"""What the topology learners share: agents and settings, turning sampled edges into a team's
graph, decoding the learned graph, saving and loading. Sampling and pruning edges are in
``edges``; training by REINFORCE on batched runs, with its token accounting, in ``reinforce``.

A learner holds edge probabilities over a fixed set of agents: spatial edges (inside a round, a
DAG) and, for some learners, temporal edges (into the next round), either one set for every round
or one per round. ``fit`` samples ``samples_per_query`` graphs per training item, runs every
(item, graph) pair through the engine at once, and rewards each graph with its item's score minus
``token_penalty`` × the item's tokens.

The decision is kept outside the learned graph, as the papers keep it: ``decision="vote"`` is
GPTSwarm's majority-vote node, whose incoming edge from each agent is learned with the rest;
``decision="final_refer"`` is AgentPrune's and G-Designer's FinalRefer, one more agent that speaks
only in the last round and hears every agent (``decision_edges="learned"``: hears the agents whose
edge into it is learned, as a vote's are). ``"last"`` (the last agent decides) and ``"majority"``
(every agent votes) keep the decision inside the team.

With one round, an agent whose words reach nothing that decides (no edge leads from it to a
voter, to the decider or to the deciding agent) is not called: its reply could change nothing.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import torch
from langchain_core.language_models import BaseChatModel

from agentlab.agent import Agent
from agentlab.cache import CallCache
from agentlab.graph import CommGraph, Decision, Edge, FinalAgent, MajorityVote
from agentlab.message import Usage
from agentlab.registry import Registry, did_you_mean
from agentlab.tasks.task import Item, Task
from agentlab.team import Team
from agentlab.topologies.decisions import DECIDER, FINAL_REFER_ROLE, decision_from, reaching
from agentlab.topologies.edges import (
    NO_LOG,
    EdgeDistribution,
    Pair,
    SampledGraph,
    bernoulli,
    decode_dag,
    sample_graph,
)
from agentlab.topologies.training_log import TrainingLog


@dataclass
class LearnerSettings:
    """What every learner is configured by; a learner's own ``Settings`` adds its fields to these.

    The settings dataclass is the one place a learner's options are declared: the constructor
    takes them as keywords, ``save`` writes them by name, and experiment files validate
    ``options:`` against them.
    """

    # "last" (the last agent), "majority" (all vote), "vote" (a vote whose incoming edges are
    # learned), "final_refer" (a decider agent outside the graph hears every agent), an agent's name
    decision: str | Decision | None = None
    decider_role: str = FINAL_REFER_ROLE  # the FinalRefer agent's role
    rounds: int = 1  # rounds each sampled graph runs; temporal edges are learned when above 1
    token_penalty: float = 0.0  # reward = score - token_penalty × the item's tokens
    lr: float = 0.1  # Adam's learning rate
    seed: int = 0  # seeds graph sampling and the parameters' initialisation
    # REINFORCE's baseline: True subtracts the mean reward of the query's samples (ours); False
    # weights log p(G) by the bare reward, as the authors' code does
    baseline: bool = True
    # test-time graphs: False decodes the most likely graph; True samples one per item (seeded by
    # the item), as AgentPrune's and G-Designer's code do at test time
    sample_at_test: bool = False
    # "ours", or "authors": the settings the authors' code runs with (the learner's AUTHORS), for
    # every setting not given explicitly
    variant: str = "ours"
    # "all": the FinalRefer decider hears every agent (the papers); "learned": each agent's edge into
    # it is learned as a vote's edges are (ours: what lets a learned graph cut a liar out of the decision)
    decision_edges: str = "all"


LEARNERS: Registry[type[GraphLearner]] = Registry("learner", packages=["agentlab.topologies"])

SAVE_FORMAT = 2  # 1: parameters saved by position; 2: by name (state_dict)


class GraphLearner(ABC):
    """Base of the topology learners: subclasses say how edge probabilities are computed and which
    regularisers join the REINFORCE loss.

    A learner registers itself by name, the name experiment files use:
    ``class MyLearner(GraphLearner, name="mine")``.
    """

    paper = ""
    name: ClassVar[str] = ""
    Settings: ClassVar[type[LearnerSettings]] = LearnerSettings
    AUTHORS: ClassVar[dict[str, Any]] = {}  # what variant="authors" sets: the authors' code's choices

    def __init_subclass__(cls, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name is not None:
            cls.name = name
            LEARNERS.add(name, cls)

    def __init__(
        self, agents: Sequence[Agent], *, model: BaseChatModel | None = None, **settings: Any
    ) -> None:
        if len(agents) < 2:
            raise ValueError(f"a topology learner needs at least two agents; got {len(agents)}")
        valid = self.options()
        unknown = [k for k in settings if k not in valid]
        if unknown:
            raise TypeError(
                f"{type(self).__name__} does not take {unknown}{did_you_mean(unknown[0], valid)} "
                f"(its settings: {', '.join(valid)})"
            )
        variant = settings.get("variant", "ours")
        if variant not in ("ours", "authors"):
            raise ValueError(
                f"variant is 'ours' or 'authors' (the authors' code's settings); got {variant!r}"
            )
        if variant == "authors":
            settings = {**type(self).AUTHORS, **settings}
        self.settings = self.Settings(**settings)
        self.agents = list(agents)
        self.model = model
        self.names = [a.name for a in self.agents]
        self.rounds = self.settings.rounds
        if self.rounds < 1:
            raise ValueError(f"rounds must be at least 1; got {self.rounds}")
        self.log = TrainingLog()
        torch.manual_seed(self.settings.seed)
        spec = self.settings.decision
        self.decider: Agent | None = None
        self.vote_logits: torch.nn.Parameter | None = None
        if self.settings.decision_edges not in ("all", "learned"):
            raise ValueError(
                f"decision_edges is 'all' (the decider hears every agent) or 'learned'; "
                f"got {self.settings.decision_edges!r}"
            )
        if self.settings.decision_edges == "learned" and spec != "final_refer":
            raise ValueError(
                "decision_edges='learned' learns the FinalRefer decider's incoming edges: it needs "
                "decision='final_refer' (decision='vote' learns a vote's edges already); "
                f"got decision={spec!r}"
            )
        if spec == "final_refer":
            if DECIDER in self.names:
                raise ValueError(
                    f"an agent is named {DECIDER!r}, the name of the FinalRefer decider "
                    "decision='final_refer' adds; rename it, or pass decision='last'"
                )
            self.decider = Agent(DECIDER, role=self.settings.decider_role)
            self.decision: Decision = FinalAgent(DECIDER)
        elif spec == "vote":
            self.decision = MajorityVote(tuple(self.names))
        else:
            self.decision = decision_from(spec, self.names)
        if self.learns_decision() and not self.designs_decision():  # one set of edges for every item
            self.vote_logits = torch.nn.Parameter(torch.zeros(len(self.agents)))  # each edge at 0.5

    @classmethod
    def options(cls) -> list[str]:
        """The settings this learner takes, by name."""
        return [f.name for f in fields(cls.Settings)]

    # ---- what subclasses provide ----

    @abstractmethod
    def named_parameters(self) -> dict[str, torch.nn.Parameter]:
        """The learned tensors by name: what ``save`` writes and ``load`` matches."""

    def designs_decision(self) -> bool:
        """Whether the learner gives each item's decision edges itself (``EdgeDistribution.decision``)
        instead of one learned set for all items; decided by its settings alone."""
        return False

    def learns_decision(self) -> bool:
        """Whether the edges into the decision (a vote, or the decider's) are learned."""
        return self.settings.decision == "vote" or self.settings.decision_edges == "learned"

    def learned_parameters(self) -> dict[str, torch.nn.Parameter]:
        """The learner's own parameters and a learned vote's: what is trained, saved and loaded."""
        vote = {"vote_logits": self.vote_logits} if self.vote_logits is not None else {}
        return {**self.named_parameters(), **vote}

    def parameters(self) -> list[torch.nn.Parameter]:
        return list(self.learned_parameters().values())

    def param_groups(self) -> list[dict[str, Any]]:
        """The optimizer's parameter groups: all parameters at the learner's ``lr`` unless a learner
        gives some their own rate."""
        return [{"params": self.parameters()}]

    @abstractmethod
    def distributions(self, items: Sequence[Item], training: bool = False) -> list[EdgeDistribution]:
        """One edge distribution per item (the same for all items unless the learner reads the query)."""

    def regularizers(self, dists: Sequence[EdgeDistribution]) -> dict[str, torch.Tensor]:
        """Loss terms besides the policy gradient, by name."""
        return {}

    def config(self) -> dict[str, Any]:
        """The settings by name, as ``save`` writes them."""
        return {f.name: getattr(self.settings, f.name) for f in fields(self.settings)}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: p.detach().clone() for k, p in self.learned_parameters().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Copies saved tensors into the parameters by name; a missing or extra name is an error."""
        own = self.learned_parameters()
        # a mask that is not trained (what pruning left) may be missing from a file saved before
        # it existed: it stays as it starts, whole
        required = {k for k, p in own.items() if p.requires_grad}
        missing, extra = sorted(required - state.keys()), sorted(state.keys() - own.keys())
        if missing or extra:
            raise ValueError(
                f"saved {type(self).__name__} parameters do not match: missing {missing}, unexpected "
                f"{extra}; was it saved by another version or with other settings?"
            )
        with torch.no_grad():
            for key, param in own.items():
                if key not in state:
                    continue
                if param.shape != state[key].shape:
                    raise ValueError(
                        f"saved parameter {key!r} has shape {tuple(state[key].shape)}, this "
                        f"{type(self).__name__} has {tuple(param.shape)}: other agents or settings"
                    )
                param.copy_(state[key])

    # ---- graphs ----

    def team_agents(self) -> list[Agent]:
        """The agents a run uses: the learned ones, and the FinalRefer decider when there is one."""
        return self.agents + ([self.decider] if self.decider is not None else [])

    def decision_probabilities(self, dist: EdgeDistribution) -> torch.Tensor | None:
        """P(each agent's answer reaches the decision): the item's designed edges, the learned
        ones, or None where every agent's does."""
        if dist.decision is not None:
            return dist.decision
        return torch.sigmoid(self.vote_logits) if self.vote_logits is not None else None

    def sample(self, dist: EdgeDistribution, rng: random.Random) -> SampledGraph:
        """A graph drawn from ``dist``, with whose answers reach a learned decision."""
        graph = sample_graph(dist, rng)
        probs = self.decision_probabilities(dist)
        if probs is None:
            return graph
        chosen, log_prob = bernoulli(probs, rng)
        voters = tuple(i for i in range(len(chosen)) if chosen[i])
        return replace(graph, log_prob=graph.log_prob + log_prob, voters=voters)

    def comm(self, graph: SampledGraph) -> CommGraph:
        """The ``CommGraph`` a sampled or decoded graph runs as, its decision attached."""
        return self._comm(graph.spatial, graph.temporal, graph.voters, graph.rounds, graph.silent)

    def pairs_of(self, spec: str | CommGraph) -> list[Pair]:
        """The spatial edges of a preset (by name) or of a graph, as index pairs over this learner's
        agents: what it starts from or is anchored to."""
        from agentlab.topologies.presets import spatial_over

        index = {name: i for i, name in enumerate(self.names)}
        return [(index[u], index[v]) for u, v in spatial_over(spec, self.names)]

    def _comm(
        self,
        spatial: Sequence[Pair],
        temporal: Sequence[Pair] = (),
        voters: Sequence[int] | None = None,
        rounds: Sequence[SampledGraph] = (),
        silent: frozenset[int] = frozenset(),
    ) -> CommGraph:
        names, decider = self.names, self.decider

        def named(pairs: Sequence[Pair]) -> list[Edge]:
            return [(names[i], names[j]) for i, j in pairs]

        decision = self.decision
        deciding = list(range(len(names)))  # whose answers the decision reads
        if voters is not None:
            deciding = list(voters)
            if decider is None:
                decision = MajorityVote(tuple(names[i] for i in voters))
        elif isinstance(decision, FinalAgent) and decision.agent in names:
            deciding = [names.index(decision.agent)]
        if not rounds and (decider is None or self.rounds == 1) and not silent:
            agents, edges, later = list(names), named(spatial), named(temporal)
            mute: list[str] = []
            if self.rounds == 1:  # who reaches no one that decides would speak for nothing
                mute = [names[i] for i in range(len(names)) if i not in reaching(spatial, deciding)]
                edges = [(u, v) for u, v in edges if v not in mute]
                later = [(u, v) for u, v in later if v not in mute]
            if decider is not None:
                agents.append(decider.name)
                edges += [(names[i], decider.name) for i in deciding]
            return CommGraph(agents, edges, later, decision, silent=mute)
        # wired by round: a per-round sample, or a decider that speaks in the last round only
        same = [
            SampledGraph(list(spatial), list(temporal) if r else [], NO_LOG, silent=silent)
            for r in range(self.rounds)
        ]
        wired = list(rounds) if rounds else same
        everyone = [*names, *([decider.name] if decider is not None else [])]
        graphs, before = [], set()
        for r, part in enumerate(wired):
            now = {n for i, n in enumerate(names) if i not in part.silent}
            edges = [(u, v) for u, v in named(part.spatial) if u in now and v in now]
            heard = [(u, v) for u, v in named(part.temporal) if r and u in before and v in now]
            if decider is not None and r == self.rounds - 1:
                edges += [(names[i], decider.name) for i in deciding if names[i] in now]
                now.add(decider.name)
            graphs.append(CommGraph(everyone, edges, heard, silent=[a for a in everyone if a not in now]))
            before = now
        return CommGraph.per_round(graphs, decision, agents=everyone)

    def decode(self, dist: EdgeDistribution) -> CommGraph:
        """The graph used at test time: deterministic, the edges more likely than not (and the
        agents whose edge into a learned vote is more likely than not)."""
        return self.comm(self.decoded(dist))

    def decoded(self, dist: EdgeDistribution) -> SampledGraph:
        if dist.rounds:
            parts = tuple(self.decoded(d) for d in dist.rounds)
            graph = SampledGraph([], [], NO_LOG, rounds=parts)
        else:
            graph = SampledGraph(
                self.decode_spatial(dist), self.decode_temporal(dist), NO_LOG, silent=dist.silent
            )
        probs = self.decision_probabilities(dist)
        if probs is not None:
            voters = tuple(i for i, p in enumerate(probs.detach().tolist()) if p >= 0.5)
            graph = replace(graph, voters=voters)
        return graph

    def decode_spatial(self, dist: EdgeDistribution) -> list[Pair]:
        """The spatial edges kept at test time: those more likely than not, as a DAG."""
        masked = dist.spatial.detach().clone()
        for i in dist.silent:
            masked[i, :] = masked[:, i] = 0
        return decode_dag(masked)

    def decode_temporal(self, dist: EdgeDistribution) -> list[Pair]:
        """The temporal edges kept at test time: those more likely than not."""
        if dist.temporal is None:
            return []
        t = dist.temporal.detach()
        return [(i, j) for i in range(t.shape[0]) for j in range(t.shape[0]) if t[i, j] >= 0.5]

    def sampled_for(self, item: Item) -> CommGraph:
        """A graph sampled for ``item``, the same every time for the same item and seed."""
        rng = random.Random(f"{self.settings.seed}/{item.id}")
        with torch.no_grad():
            return self.comm(self.sample(self.distributions([item])[0], rng))

    def after_step(self, step: int) -> None:  # noqa: B027 (a hook; most learners need none)
        """Called after gradient step ``step`` (counting from 1): where a learner prunes or moves
        to its next phase."""

    def graph(self) -> CommGraph:
        """The learned graph (for learners whose graph does not depend on the query): the most
        likely one, also when test-time graphs are sampled (``sample_at_test``)."""
        with torch.no_grad():
            return self.decode(self.distributions([])[0])

    def graph_for(self, item: Item) -> CommGraph:
        """The graph ``item`` runs on at test time."""
        if self.settings.sample_at_test:
            return self.sampled_for(item)
        with torch.no_grad():
            return self.decode(self.distributions([item])[0])

    def start_graph(self) -> CommGraph:
        """The graph learning starts from, drawn beside the learned one."""
        return self._comm([(i, j) for i in range(len(self.agents)) for j in range(i + 1, len(self.agents))])

    def dense_graph(self) -> CommGraph:
        """Every forward edge, and every temporal one when it runs several rounds: what AgentPrune
        and AgentDropout prune, and what ``--plan`` counts for any learner before it trains."""
        n = len(self.agents)
        temporal = [(i, j) for i in range(n) for j in range(n)] if self.rounds > 1 else []
        return self._comm([(i, j) for i in range(n) for j in range(i + 1, n)], temporal)

    def team(self, model: BaseChatModel | None = None, name: str | None = None) -> Team:
        """What runs at test time: the agents on the decoded graph."""
        team = Team(
            self.team_agents(),
            self.graph_for if self.settings.sample_at_test else self.graph(),
            model=model or self.model,
            name=name or type(self).__name__.lower(),
            rounds=self.rounds,
        )
        team.origin = self.start_graph()
        return team

    def _repr_html_(self) -> str:
        from agentlab.views.svg import graph_svg

        try:
            learned = graph_svg(self.graph(), title="learned")
        except ValueError:  # designs per query
            learned = "<p>(a graph per query: see graph_for(item))</p>"
        return f"<p>{self!r}</p>{graph_svg(self.start_graph(), title='started from')}{learned}"

    # ---- training ----

    def fit(
        self,
        task: Task,
        epochs: int = 1,
        batch_size: int = 8,
        samples_per_query: int = 4,
        seed: int | None = None,
        token_budget: int | None = None,
        cache: bool | str | Path | CallCache = True,
        progress: bool = True,
    ) -> GraphLearner:
        """Learn from ``task``'s items, which must be a training split (``task.train(n)``).

        Each step takes ``batch_size`` items, samples ``samples_per_query`` graphs for each, runs
        them all in one batched run and takes one gradient step (``reinforce``). Stops early once
        training has used ``token_budget`` tokens (``self.log.stopped`` says so).
        """
        from agentlab.topologies.reinforce import train

        return train(self, task, epochs, batch_size, samples_per_query, seed, token_budget, cache, progress)

    # ---- saving ----

    def save(self, path: str | Path) -> Path:
        """Writes the learned parameters by name and the settings (agents by name and role; not the model)."""
        path = Path(path)
        torch.save(
            {
                "format": SAVE_FORMAT,
                "learner": type(self).__name__,
                "agents": [{"name": a.name, "role": a.role, "template": a.template} for a in self.agents],
                "config": self.config(),
                "state": self.state_dict(),
                "log": asdict(self.log),
            },
            path,
        )
        return path

    @classmethod
    def load(cls, path: str | Path, model: BaseChatModel | None = None) -> GraphLearner:
        saved = torch.load(Path(path), weights_only=False)
        if saved["learner"] != cls.__name__:
            raise ValueError(
                f"{path} holds a {saved['learner']}, not a {cls.__name__}; load it with that class"
            )
        agents = [Agent(**a) for a in saved["agents"]]
        learner = cls(agents, model=model, **saved["config"])
        state = saved["state"]
        if saved.get("format", 1) == 1:  # by position, the trained ones in the order they are declared
            trained = [k for k, p in learner.learned_parameters().items() if p.requires_grad]
            state = dict(zip(trained, state, strict=True))
        learner.load_state_dict(state)
        log = saved["log"]
        learner.log = TrainingLog(
            Usage(**log["usage"]), log["calls"], log["cache_hits"], log["steps"], log["stopped"]
        )
        return learner

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({len(self.agents)} agents, {len(self.log.steps)} steps trained, "
            f"{self.log.usage.total_tokens} training tokens)"
        )
