"""Running an experiment file: every topology for every seed, into one run folder, resumably.

Running the same file again resumes: messages on disk are replayed, not called again, and items
already finished are not scored twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from langchain_core.language_models import BaseChatModel

from agentlab._yaml import load_file
from agentlab.cache import CallCache
from agentlab.engine import Engine
from agentlab.experiment.analysis import Runs, in_task_order, records_by_unit, results_by_unit, summarize
from agentlab.experiment.config import TASK_GRAPH, ExperimentConfig, TopologySpec, TrainSpec, parse
from agentlab.experiment.folder import RunFolder, environment
from agentlab.message import Message
from agentlab.models.backends import ModelSpec, build
from agentlab.models.server_pool import OpenAIPoolChatModel, ServerUsage
from agentlab.routing import Routing
from agentlab.run import ItemResult, Run
from agentlab.shapes import GraphTask
from agentlab.tasks.task import Task
from agentlab.team import Team

if TYPE_CHECKING:
    from agentlab.topologies.learning import GraphLearner, TrainingLog
from agentlab.views.report import text_table, write_report


@dataclass
class ExperimentResult:
    """The runs of an experiment, keyed by (topology label, seed), and where they were written."""

    folder: Path
    runs: dict[tuple[str, int], Run]  # Runs when gathered: .to_pandas(), .compare()
    metrics: dict[str, Any] = field(default_factory=dict)
    simulations: dict[tuple[str, int], Any] = field(
        default_factory=dict
    )  # an environment's, by (label, seed)

    def table(self) -> str:
        if self.simulations:
            return "\n\n".join(
                f"{label}/seed{seed}\n{sim.table()}" for (label, seed), sim in self.simulations.items()
            )
        return text_table(self.runs)

    def __repr__(self) -> str:
        return f"ExperimentResult({self.folder}):\n{self.table()}"


class _UnitWriter:
    """Writes one run unit's messages, results and time spent to its run folder as the engine
    makes them; the time at most once a second, at each finished item and at the end, so a
    killed attempt loses at most a second of its count."""

    def __init__(self, folder: RunFolder, unit: str, engine: Engine, finished: set[tuple[str, str]]) -> None:
        self.folder, self.unit, self.engine, self.finished = folder, unit, engine, finished
        self.started = self.kept = time.perf_counter()
        engine.on_message, engine.on_result = self.keep_message, self.keep_result

    def keep_message(self, message: Message) -> None:
        self.folder.append_record({"unit": self.unit, **message.to_dict()})
        if time.perf_counter() - self.kept >= 1.0:
            self.keep_time()

    def keep_result(self, result: ItemResult) -> None:
        if (self.unit, result.item_id) not in self.finished:
            self.folder.append_result({"unit": self.unit, **asdict(result)})
        self.keep_time()

    def keep_time(self) -> None:
        self.kept = time.perf_counter()
        self.folder.append_time(self.unit, self.kept - self.started, self.engine.model_seconds)


class Experiment:
    """``Experiment.from_yaml("experiments/x.yaml").run()``: the notebook twin of ``agentlab run``."""

    def __init__(self, config: ExperimentConfig, source: str = "<config>") -> None:
        self.config, self.source = parse(config.model_dump(), source), source

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<config>") -> Experiment:
        experiment = cls.__new__(cls)
        experiment.config, experiment.source = parse(data, source), source
        return experiment

    @classmethod
    def from_yaml(cls, path: str | Path) -> Experiment:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no experiment file at {path}")
        return cls.from_dict(load_file(path), str(path))

    def task(self, seed: int) -> Task:
        """The task for one seed: the seed draws the items unless the task section fixes its own
        (``seed: null`` keeps the dataset's order) or the task takes no seed (HumanEval)."""
        from agentlab import tasks
        from agentlab.tasks.loading import takes

        name = self.config.task["name"]
        options = {k: v for k, v in self.config.task.items() if k != "name"}
        drawn = {"seed": seed} if takes(name, "seed") else {}
        return tasks.load(name, **(drawn | options))

    def run(self, root: str | Path = "runs", progress: bool = True) -> ExperimentResult:
        """Run every topology for every seed, or resume where an earlier run of this file stopped."""
        cfg = self.config
        if cfg.simulation is not None:
            return self._simulate(Path(root), progress)
        rank, world, state = processes()
        folder = RunFolder(Path(root) / cfg.name, rank)
        if rank == 0:
            folder.open_for_writing()
            self._start(folder)
        if state is not None:
            state.wait_for_everyone()
        runs: dict[tuple[str, int], Run] = {}
        training: dict[str, Any] = {}
        resumptions: dict[str, dict[str, Any]] = {}
        servers: list[ServerUsage] = []  # what each server of a pool did, in this invocation
        with folder:  # the first process opened it already; the others open theirs here
            prior = {
                unit: {(m.item_id, m.round, m.sender): m for m in messages}
                for unit, messages in records_by_unit(folder).items()
            }
            finished = {(row["unit"], row["item_id"]) for row in folder.read("results")}
            cache = CallCache() if cfg.cache else None
            device = str(state.device) if state is not None and state.device.type == "cuda" else None
            for seed in cfg.seeds:
                task = self.task(seed)
                mine = replace(task, items=list(task.items)[rank::world]) if world > 1 else task
                loaded: dict[str | None, BaseChatModel] = {}  # each model loads once per seed
                for spec in cfg.topologies:
                    unit = spec.unit(seed)
                    if spec.model not in loaded:
                        model_spec: ModelSpec = cfg.models[spec.model] if spec.model else cfg.model
                        loaded[spec.model] = build(model_spec, seed, device)
                    team, log = self._team(
                        spec, seed, task, loaded[spec.model], folder, cache, progress, state
                    )
                    if spec.agent_settings():  # a learner trains without them; its team runs with them
                        team = team.with_agents(**spec.agent_settings())
                    if log is not None:
                        training[unit] = log

                    engine = Engine(
                        team,
                        mine,
                        cfg.unit_rounds(spec),
                        cfg.run_settings(),
                        cache=cache,
                        progress=progress and rank == 0,
                        keep_records=False,  # records live in records.jsonl, read back when needed
                        prior=prior.get(unit),
                    )
                    writer = _UnitWriter(folder, unit, engine, finished)
                    resumed = engine.resumption()
                    if resumed is not None:
                        before, _ = folder.time_spent(unit)
                        resumptions[unit] = {**resumed._asdict(), "seconds_before": round(before, 3)}
                        if progress and rank == 0:
                            print(f"resuming {unit}: {resumed}; {before:.1f} s spent before", file=sys.stderr)
                    runs[(spec.name, seed)] = engine.run()
                    writer.keep_time()
                    learned = team.graph.state_dict() if isinstance(team.graph, Routing) else None
                    if learned is not None and rank == 0:  # what an evolving routing learned
                        name = f"routing-{spec.name.replace('/', '-')}-seed{seed}.json"
                        folder.write(name, json.dumps(learned, indent=2))
                servers += [
                    u for m in loaded.values() if isinstance(m, OpenAIPoolChatModel) for u in m.usage()
                ]
        if state is not None:
            state.wait_for_everyone()
            if rank != 0:  # the first process gathers every process's records into one run
                return ExperimentResult(folder.path, runs)
        runs = self._gathered(folder, runs)
        metrics = summarize(runs)
        if training:  # learners' training costs, kept apart from the test runs' tokens
            metrics["training"] = {
                unit: {
                    "tokens": log.usage.total_tokens,
                    "calls": log.calls,
                    "cache_hits": log.cache_hits,
                    "steps": len(log.steps),
                    "stopped": log.stopped,
                }
                for unit, log in training.items()
            }
        if resumptions:
            metrics["resumed"] = resumptions
        if servers and world == 1:  # with several processes, each has its own pool
            metrics["servers"] = ServerUsage.totals(servers)
        folder.write("metrics.json", json.dumps(metrics, indent=2, default=str))
        write_report(runs, folder.path / "report.html", title=f"{cfg.name}")
        return ExperimentResult(folder.path, runs, metrics)

    def _simulate(self, root: Path, progress: bool) -> ExperimentResult:
        """Every topology plays the environment for every seed, into one run folder, resumably."""
        from agentlab import envs
        from agentlab.views.simulation import simulation_report

        cfg = self.config
        spec_sim = cfg.simulation
        assert spec_sim is not None
        folder = RunFolder(root / cfg.name)
        folder.open_for_writing()
        simulations = {}
        try:
            self._start(folder)
            cache = CallCache() if cfg.cache else False
            for seed in cfg.seeds:
                loaded: dict[str | None, BaseChatModel] = {}
                for spec in cfg.topologies:
                    if spec.model not in loaded:
                        loaded[spec.model] = build(
                            cfg.models[spec.model] if spec.model else cfg.model, seed, None
                        )
                    team = _preset_or_protocol(spec, loaded[spec.model])
                    if spec.agent_settings():
                        team = team.with_agents(**spec.agent_settings())
                    env = envs.load(spec_sim.env, **spec_sim.options)
                    simulations[(spec.name, seed)] = team.simulate(
                        env, spec_sim.episodes, seed, folder=folder, unit=spec.unit(seed), cache=cache,
                        settings=cfg.run_settings(), progress=progress,
                    )  # fmt: skip
            metrics = {
                f"{label}/seed{seed}": {
                    "summary": {name: list(v) for name, v in sim.summary().items()},
                    "std": {name: std for name, (_, std) in sim.spread().items()},
                    "calls": sim.calls,
                    "cache_hits": sim.cache_hits,
                    "tokens": sim.usage.total_tokens,
                    "tokens_by_phase": {k: u.total_tokens for k, u in sim.by_phase.items()},
                    "seconds": round(sim.wall_seconds, 3),
                }
                for (label, seed), sim in simulations.items()
            }
            folder.write("metrics.json", json.dumps(metrics, indent=2, default=str))
            folder.write("report.html", simulation_report(simulations, title=cfg.name))
        finally:
            folder.close()
        return ExperimentResult(folder.path, {}, metrics, simulations)

    def _team(
        self,
        spec: TopologySpec,
        seed: int,
        task: Task,
        model: BaseChatModel,
        folder: RunFolder,
        cache: CallCache | None,
        progress: bool,
        state: Any,
    ) -> tuple[Team, TrainingLog | None]:
        """The team one topology runs (a preset, the task's own graphs, or a trained learner) and
        what training it cost."""
        from agentlab.topologies.learning import LEARNERS

        if spec.preset == TASK_GRAPH:
            if not isinstance(task, GraphTask):
                raise ValueError(
                    f"{self.source}: `preset: task` needs a task that brings its own graph (agentsnet/...); "
                    f"{task.name!r} does not"
                )
            return task.team(model, name=spec.name), None
        if spec.preset is not None or spec.protocol is not None:
            return _preset_or_protocol(spec, model), None
        if folder.rank == 0:  # the first process trains, the others load what it saved
            learner = self._trained(spec, seed, task, model, folder, cache, progress)
        if state is not None:
            state.wait_for_everyone()
        if folder.rank != 0:
            learner = LEARNERS.resolve(str(spec.learner)).load(folder.learner_path(spec.name, seed), model)
        return learner.team(name=spec.name), learner.log

    def _trained(
        self,
        spec: TopologySpec,
        seed: int,
        task: Task,
        model: BaseChatModel,
        folder: RunFolder,
        cache: CallCache | None,
        progress: bool,
    ) -> GraphLearner:
        """A learner trained on the task's train split, or the one an earlier run saved."""
        from agentlab.agent import Agent
        from agentlab.topologies import roles as role_library
        from agentlab.topologies.learning import LEARNERS

        cls = LEARNERS.resolve(str(spec.learner))
        saved = folder.learner_path(spec.name, seed)
        if saved.exists():
            return cls.load(saved, model=model)
        n = spec.n_agents or 4
        profiles = list(role_library(spec.roles) if isinstance(spec.roles, str) else spec.roles or [""])
        agents = [Agent(f"agent{i}", role=profiles[i % len(profiles)]) for i in range(n)]
        options = {"seed": seed, "rounds": spec.rounds or self.config.rounds, **spec.options}
        learner = cls(agents, model=model, **options)
        train = spec.train or TrainSpec()
        learner.fit(
            task.train(train.items),
            epochs=train.epochs,
            batch_size=train.batch_size,
            samples_per_query=train.samples_per_query,
            token_budget=train.token_budget,
            seed=seed,
            cache=cache if cache is not None else False,
            progress=progress,
        )
        saved.parent.mkdir(exist_ok=True)
        staging = saved.with_suffix(".tmp")
        learner.save(staging)
        os.replace(staging, saved)
        return learner

    def _gathered(self, folder: RunFolder, runs: dict[tuple[str, int], Run]) -> Runs:
        """Each run with every process's results and records (one process: its own, as they are)."""
        by_unit = results_by_unit(folder)
        tasks = {seed: self.task(seed) for seed in {seed for _, seed in runs}}
        gathered = Runs()
        for (label, seed), run in runs.items():
            unit = f"{label}/seed{seed}"
            results = in_task_order(by_unit.get(unit, []), tasks[seed])
            wall, model = folder.time_spent(unit)  # every attempt's, this one's included
            gathered[(label, seed)] = replace(
                run, results=results, records=folder.records(unit), wall_seconds=wall, model_seconds=model
            )
        return gathered

    def _start(self, folder: RunFolder) -> None:
        """Write the resolved config, or check that the folder holds this same config."""
        resolved = self.config.model_dump(mode="json")
        config_file = folder.path / "config.yaml"
        if config_file.exists():
            before = yaml.safe_load(config_file.read_text())
            with contextlib.suppress(ValueError):  # an older folder lacks settings added since
                before = parse(before, str(config_file)).model_dump(mode="json")
            if before != resolved:
                folder.close()
                raise ValueError(
                    f"{folder.path} holds a run of a different config; to resume, use the same file, "
                    f"or give this experiment another name (or delete {folder.path})"
                )
        else:
            folder.write("config.yaml", yaml.safe_dump(resolved, sort_keys=False))
            folder.write("environment.json", json.dumps(environment(), indent=2))


def _preset_or_protocol(spec: TopologySpec, model: BaseChatModel) -> Team:
    """A preset's team, or a protocol's over its named agents (roles by position)."""
    from agentlab import topologies
    from agentlab.agent import Agent
    from agentlab.runtime import load_protocol

    if spec.protocol is None:
        team = topologies.load(
            str(spec.preset), n_agents=spec.n_agents, model=model, roles=spec.roles, **spec.options
        )
        team.name = spec.name
        return team
    profiles = list(topologies.roles(spec.roles) if isinstance(spec.roles, str) else spec.roles or [""])
    agents = [Agent(name, role=profiles[i % len(profiles)]) for i, name in enumerate(spec.agent_names())]
    return Team(agents, load_protocol(spec.protocol), model=model, name=spec.name)


def processes() -> tuple[int, int, Any]:
    """(this process's rank, how many there are, accelerate's state) under a multi-process launcher
    (``accelerate launch``, torchrun), else (0, 1, None)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, None
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    return state.process_index, state.num_processes, state
