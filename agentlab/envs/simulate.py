"""Running a team in an environment: ``team.simulate(env, episodes=N, seed=0)``.

Every episode gets its own copy of the environment, reset with ``seed + episode``, and is one
protocol on the runtime: at each step it asks every acting agent (a discussion phase runs along
the team's graph, or through its routing or protocol), hands the texts to the episode's ``step``,
and goes on. All episodes run at once and the runtime batches every pending call of every
episode, so an episode never waits for another to finish its step.

A step of an episode is named as an item (``ep3-t7-harvest``): its messages are ordinary records,
cached and replayed like a benchmark's. With ``folder=``, records stream to ``records.jsonl`` and
the environment's state after each step to ``states.jsonl``, both append-only; running the same
simulation into the same folder again resumes it: recorded calls are replayed, the environments
re-run from their seeds and the replayed actions, and nothing is called or written twice.

Team agents play the environment's agents by position: the team's first agent is the
environment's first, and so on. An agent's ``memory`` covers the turns of one step (a discussion's
turns); what happened to it in earlier steps reaches it through its observation, where each
environment shows an agent its own history.
"""

from __future__ import annotations

import copy
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from agentlab.agent import Agent
from agentlab.cache import CallCache, call_cache
from agentlab.envs.base import Phase, TextEnv
from agentlab.experiment.folder import RunFolder
from agentlab.graph import CommGraph, EachAgent
from agentlab.message import Message, Usage
from agentlab.protocols.graph import GraphProtocol, Wiring, run_wiring
from agentlab.provenance import provenance
from agentlab.runtime import Context, Driver, Job, ModelCalls, Unit
from agentlab.settings import RunSettings
from agentlab.stats import mean_interval
from agentlab.tasks.task import Item

if TYPE_CHECKING:
    from agentlab.team import Team

UNIT = "simulation"


@dataclass
class Simulation:
    """What a simulation did: each episode's timeline of states, its metrics, and its costs.

    ``timeline[e]`` lists, per step of episode ``e``, the phase, the environment's state after
    it, the rewards and the invalid actions. Costs are counted as the calls are made (records of
    thousands of agents stay on disk, or in ``records`` when ``keep_records``).
    """

    env: str
    team: str
    seed: int
    timeline: list[list[dict[str, Any]]]
    metrics: list[dict[str, float]]
    usage: Usage = field(default_factory=Usage)
    calls: int = 0  # every call, the cache's answers and those replayed from a run folder included
    cache_hits: int = 0
    failed_calls: int = 0
    by_agent: dict[str, Usage] = field(default_factory=dict)
    by_phase: dict[str, Usage] = field(default_factory=dict)
    by_step: dict[int, Usage] = field(default_factory=dict)
    wall_seconds: float = 0.0
    model_seconds: float = 0.0
    env_seconds: float = 0.0  # inside the environments: reset, observe, step, state, metrics
    records: list[Message] = field(default_factory=list)
    folder: Path | None = None
    pictures: Any = None  # env.picture, to draw a recorded state
    clock: tuple[str, ...] = ()  # state keys that count time, left out of the plots over steps
    meta: dict[str, Any] = field(default_factory=dict)  # models, settings, versions (agentlab.provenance)

    @property
    def episodes(self) -> int:
        return len(self.timeline)

    def summary(self) -> dict[str, tuple[float, float, float]]:
        """Each metric's mean over episodes and its 95% interval."""
        names = list(dict.fromkeys(k for m in self.metrics for k in m))
        return {name: mean_interval([m.get(name, float("nan")) for m in self.metrics]) for name in names}

    def spread(self) -> dict[str, tuple[float, float]]:
        """Each metric's mean and sample standard deviation over episodes (SwarmBench reports
        mean and std over seeds; each episode has its own seed, ``seed + episode``)."""
        import statistics

        spread = {}
        for name in dict.fromkeys(k for m in self.metrics for k in m):
            values = [m[name] for m in self.metrics if name in m and m[name] == m[name]]
            mean = statistics.fmean(values) if values else float("nan")
            spread[name] = (mean, statistics.stdev(values) if len(values) > 1 else 0.0)
        return spread

    def variables(self) -> list[str]:
        """The numeric variables of the recorded state, what ``series`` and ``plot`` take."""
        found: dict[str, None] = {}
        for episode in self.timeline:
            for row in episode:
                for key, value in row["state"].items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        found[key] = None
        return list(found)

    def series(self, metric: str) -> list[tuple[float, float, float, float]]:
        """``metric`` of the state after each step: (step, mean, low, high) over the episodes (low
        and high equal the mean with one episode: there is no interval)."""
        known = self.variables()
        if metric not in known:
            import difflib

            close = difflib.get_close_matches(metric, known, n=1)
            raise KeyError(
                f"{self.env}'s state has no numeric variable {metric!r}"
                + (f" (did you mean {close[0]!r}?)" if close else "")
                + f"; its variables: {', '.join(known) or 'none recorded yet'}"
            )
        steps = max((len(t) for t in self.timeline), default=0)
        rows = []
        for s in range(steps):
            values = [t[s]["state"].get(metric) for t in self.timeline if s < len(t)]
            numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
            if len(numbers) > 1:
                rows.append((float(s + 1), *mean_interval(numbers)))
            elif numbers:
                rows.append((float(s + 1), numbers[0], numbers[0], numbers[0]))
        return rows

    def plot(self, metric: str, others: Mapping[str, Simulation] | None = None) -> Any:
        """``metric`` over steps, with its 95% band over episodes when there are several, beside
        ``others`` (label -> simulation); a ``Plot`` (``.ax`` restyles it)."""
        from agentlab.views.simulation import state_plot

        return state_plot({self.team: self, **(others or {})}, metric)

    def to_pandas(self, per: str = "step") -> Any:
        """A DataFrame: one row per episode and step (``state.<key>``, ``reward.<agent>``, invalid
        actions), or per episode (``per="episode"``: its metrics)."""
        from agentlab.views.frames import simulation_frame

        return simulation_frame(self, per)

    @property
    def warnings(self) -> list[str]:
        """Invalid actions, discussions that ended early and failed calls past their threshold."""
        from agentlab.views.health import simulation_warnings

        return simulation_warnings(self)

    def table(self) -> str:
        lines = [f"{self.env}: {self.episodes} episode(s), team {self.team}, {self.calls} calls "
                 f"({self.cache_hits} cached), {self.usage.total_tokens} tokens"]  # fmt: skip
        spread = self.spread()
        several = self.episodes > 1
        spread_head = "95% interval over episodes   std" if several else ""
        lines.append(f"  {'metric':<20} {'mean':>10}  {spread_head}")
        for name, (mean, lo, hi) in self.summary().items():
            interval = f"  [{lo:.3f}, {hi:.3f}]  std {spread[name][1]:.3f}" if several else ""
            lines.append(f"  {name:<20} {mean:10.3f}{interval}")
        lines += [f"  WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_html(self, path: str | Path) -> Path:
        """A self-contained page: metrics, costs, every state variable over steps, the state
        timeline and warnings."""
        from agentlab.views.simulation import simulation_report

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(simulation_report({(self.team, self.seed): self}, title=f"{self.team} in {self.env}"))
        return path

    def show(self) -> Any:
        """A step slider and an episode picker over the environment's picture of its state,
        beside the messages of that step (ipywidgets)."""
        from agentlab.views.simulation import simulation_explorer

        return simulation_explorer(self)

    def _repr_html_(self) -> str:
        from agentlab.views.simulation import simulation_summary

        return simulation_summary({(self.team, self.seed): self})

    def __repr__(self) -> str:
        return self.table()


def simulate(
    team: Team,
    env: TextEnv,
    episodes: int = 1,
    seed: int = 0,
    *,
    folder: str | Path | RunFolder | None = None,
    unit: str = UNIT,
    cache: bool | str | Path | CallCache = True,
    settings: RunSettings | None = None,
    progress: bool = True,
    keep_records: bool | None = None,
    max_steps: int = 10_000,
) -> Simulation:
    """Runs ``episodes`` episodes of ``env`` at once with ``team``'s agents; see the module docstring."""
    from agentlab.experiment.analysis import records_by_unit

    if not isinstance(env, TextEnv):
        raise TypeError(
            "simulate takes an environment (al.envs.load(...), or al.envs.from_pettingzoo(...)); "
            f"got {type(env).__name__}"
        )
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1; got {episodes}")
    needed = len(env.possible_agents)
    if len(team.agents) < needed:
        raise ValueError(
            f"{env.name or type(env).__name__} needs {needed} agents and the team has {len(team.agents)}; "
            f"build the team with n_agents={needed}"
        )
    names = [a.name for a in team.agents[:needed]]
    to_env = dict(zip(names, env.possible_agents, strict=True))
    to_team = {v: k for k, v in to_env.items()}
    settings = settings or RunSettings()
    run_folder = folder if isinstance(folder, RunFolder) or folder is None else RunFolder(folder)
    opened = run_folder is not None and not run_folder.writing
    if keep_records is None:
        keep_records = run_folder is None
    prior: dict[tuple[str, int, str], Message] = {}
    written: set[tuple[int, int]] = set()
    if run_folder is not None:
        if opened:
            run_folder.open_for_writing()
        prior = {(m.item_id, m.round, m.sender): m for m in records_by_unit(run_folder).get(unit, [])}
        written = {
            (row["episode"], row["step"]) for row in run_folder.read("states") if row.get("unit") == unit
        }
    sim = Simulation(env.name or type(env).__name__, team.name, seed, [[] for _ in range(episodes)], [])
    sim.folder, sim.pictures, sim.clock = run_folder.path if run_folder else None, env.picture, env.clock
    options = {"env": sim.env, "episodes": episodes, "seed": seed}
    sim.meta = provenance([a.model for a in team.agents[:needed]], settings, options)
    started = time.perf_counter()
    envs = [copy.deepcopy(env) for _ in range(episodes)]
    for k, e in enumerate(envs):
        e.reset(seed=seed + k)
    # token tallies as [prompt, completion, cached], summed in place: a new Usage per addition
    # was a tenth of the engine's own time per call with thousands of agents
    by_agent: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_phase: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_step: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    sites: dict[str, tuple[str, int]] = {}  # a step's item id -> (phase, step)
    agents = {a.name: a for a in team.agents[:needed]}
    play = _Episodes(team, envs, to_env, to_team, agents, max_steps)

    def count(message: Message) -> None:
        site = sites.get(message.item_id)
        if site is None:  # recorded by an earlier invocation: its id says its phase and step
            _, step, phase = message.item_id.split("-", 2)
            site = sites[message.item_id] = (phase, int(step[1:]))
        phase, step = site
        u = message.usage
        for tally in (by_agent[message.sender], by_phase[phase], by_step[step]):
            tally[0] += u.prompt_tokens
            tally[1] += u.completion_tokens
            tally[2] += u.cached_tokens
        sim.calls += 1
        sim.cache_hits += message.cached
        sim.failed_calls += message.error is not None

    def made(message: Message) -> None:  # a new message (replayed ones were counted from the folder)
        count(message)
        if run_folder is not None:
            run_folder.append_record({"unit": unit, **message.to_dict()})

    def stepped(k: int, step: int, phase: Phase, item_id: str, rewards: dict, infos: dict) -> None:
        sites[item_id] = (phase.name, step)
        row = {
            "episode": k,
            "step": step,
            "phase": phase.name,
            "state": envs[k].state(),
            "rewards": {to_team[a]: r for a, r in rewards.items()},
            "invalid": {to_team[a]: i["invalid"] for a, i in infos.items() if "invalid" in i},
        }
        if item_id in play.failed:  # the words said before it failed were the actions
            row["error"] = play.failed[item_id]
        sim.timeline[k].append(row)
        bar.update(1)
        bar.set_postfix(calls=sim.calls, cached=sim.cache_hits, refresh=False)
        if run_folder is not None and (k, step) not in written:
            run_folder.append_state({"unit": unit, **row})

    for message in prior.values():
        count(message)
    play.stepped = stepped
    horizon = env.horizon
    bar = tqdm(
        total=episodes * horizon if horizon else None, desc=f"{team.name} in {sim.env}", unit="step",
        disable=not progress,
    )  # fmt: skip
    calls = ModelCalls(settings, call_cache(cache))
    driver = Driver(calls, settings, prior=prior, on_message=made, keep_records=keep_records)
    try:
        outcome = driver.run([Job(f"episode {k}", play.start(k)) for k in range(episodes)])
    finally:
        bar.close()
        if opened:
            run_folder.close()
    if outcome.errors:
        k, error = next(iter(outcome.errors.items()))
        raise error
    if keep_records:
        sim.records = list(outcome.records)
    sim.model_seconds = outcome.model_seconds
    sim.env_seconds = play.seconds
    sim.metrics = [e.metrics() for e in envs]
    sim.by_agent = {k: Usage(*t) for k, t in by_agent.items()}
    sim.by_phase = {k: Usage(*t) for k, t in by_phase.items()}
    sim.by_step = {k: Usage(*t) for k, t in by_step.items()}
    sim.usage = sum(sim.by_agent.values(), Usage())
    sim.wall_seconds = time.perf_counter() - started
    return sim


class _Episodes:
    """Each episode as a protocol: its steps, one after another, each asking the acting agents."""

    def __init__(
        self,
        team: Team,
        envs: list[TextEnv],
        to_env: Mapping[str, str],
        to_team: Mapping[str, str],
        agents: Mapping[str, Agent],
        max_steps: int,
    ) -> None:
        self.team, self.envs, self.to_env, self.to_team = team, envs, to_env, to_team
        self.agents, self.max_steps = agents, max_steps
        self.seconds = 0.0  # spent in the environments: phase, observe, step, state
        self.stepped: Any = None
        self.failed: dict[str, str] = {}  # a step's item id -> why its discussion ended early

    def start(self, k: int) -> Any:
        return lambda unit: self.episode(unit, k)

    async def episode(self, unit: Unit, k: int) -> None:
        env, step = self.envs[k], 0
        while not env.done and step < self.max_steps:
            clock = time.perf_counter()
            phase = env.phase()
            self.seconds += time.perf_counter() - clock
            unknown = [a for a in phase.agents if a not in self.to_team]
            if unknown:
                raise ValueError(
                    f"phase {phase.name!r} of {env.name or type(env).__name__} names agent(s) {unknown} the "
                    f"environment does not have; its agents are {env.possible_agents}"
                )
            item = Item(
                f"ep{k}-t{step}-{phase.name}",
                phase.name,
                None,
                {"episode": k, "talk": phase.talk, "rounds": phase.rounds if phase.talk else 1},
            )
            texts = await self.texts(unit, item, env, phase)
            clock = time.perf_counter()
            _, rewards, _, _, infos = env.step({self.to_env[a]: text or "" for a, text in texts.items()})
            self.stepped(k, step, phase, item.id, rewards, infos)
            self.seconds += time.perf_counter() - clock
            step += 1

    def observe(self, env: TextEnv, agent: str) -> str:
        clock = time.perf_counter()
        seen = env.observe(self.to_env[agent])
        self.seconds += time.perf_counter() - clock
        return seen

    async def texts(self, unit: Unit, item: Item, env: TextEnv, phase: Phase) -> dict[str, str]:
        """Each acting agent's words at this step: its action, or all its turns of a discussion."""
        acting = [self.to_team[a] for a in phase.agents]
        protocol = self.team.protocol
        if phase.talk and not isinstance(protocol, GraphProtocol):  # a routing, or one's own protocol
            topic = Item(item.id, env.topic(phase), None, item.meta)
            everyone = {a.name: a for a in self.team.agents}  # a controller or a decider may speak too
            ctx = Context(unit, topic, None, everyone, memory_by=protocol.memory_by)
            try:
                await protocol(ctx, topic)
            except Exception as error:  # a route that cannot go on ends the discussion, not the episode
                self.failed[item.id] = f"{type(error).__name__}: {error}"
            turns = unit.scope(item.id).turns
            return {a: "\n".join(said for _, _, said in turns.get(a, []) if said) for a in acting}
        rounds = item.meta["rounds"]
        graph = _step_graph(phase, acting, protocol.graph_for(item) if phase.talk else None)  # type: ignore[attr-defined]
        wiring = Wiring.of(graph, tuple(self.agents[a] for a in graph.agents), rounds)
        ctx = Context(unit, item, None, self.agents, memory_by="rounds", rounds=rounds)

        def prompt(agent: str, round: int) -> str:
            seen = self.observe(env, agent)
            return (
                f"{seen}\n(Discussion turn {round + 1} of {rounds}.)" if phase.talk and rounds > 1 else seen
            )

        said = await run_wiring(ctx, wiring, prompt)
        return {a: "\n".join(t for t in (row[i] for row in said) if t) for i, a in enumerate(graph.agents)}


def _step_graph(phase: Phase, acting: list[str], graph: CommGraph | None) -> CommGraph:
    """Who hears whom at this step: nobody when acting; the team's edges among the speakers when talking."""
    if not phase.talk or graph is None:
        return CommGraph(acting, decision=EachAgent())
    now = set(acting)
    return CommGraph(
        acting,
        [(u, v) for u, v in graph.spatial if u in now and v in now],
        [(u, v) for u, v in graph.temporal if u in now and v in now],
        decision=EachAgent(),
    )
