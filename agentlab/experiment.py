"""Experiments from one YAML file: validated before any model call, written to a run folder as they go.

A run folder ``runs/<name>/`` holds ``config.yaml`` (resolved), ``environment.json`` (package
versions, git commit), ``records.jsonl`` (one line per message, appended and flushed as made),
``results.jsonl`` (one line per finished item), ``metrics.json`` and ``report.html``. Running the
same file again resumes: messages on disk are replayed, not called again.
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
import platform
import subprocess
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentlab.cache import CallCache
from agentlab.coordination import coordination_metrics
from agentlab.engine import Budget, Engine, decide
from agentlab.message import Message
from agentlab.run import ItemResult, Run, text_table, write_report
from agentlab.stats import mcnemar_exact, mean_and_std, paired_bootstrap


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    kind: Literal["default", "local", "scripted"] = "default"
    path: str | None = None  # local: a folder or hub id
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    batch_size: int = 64
    prefix_cache_mib: int = Field(512, ge=0)  # memory for prompt prefixes read once; 0 turns it off
    reply: str = "The answer is 0"  # scripted: what every agent says (dry runs, tests)
    delay: float = 0.0  # scripted: seconds each batch takes


class TrainSpec(_Strict):
    """How a learner trains: on the first ``items`` items of the task's train split."""

    items: int = Field(32, ge=1)
    epochs: int = Field(1, ge=1)
    batch_size: int = Field(8, ge=1)
    samples_per_query: int = Field(4, ge=1)
    token_budget: int | None = None


LEARNERS = {"gptswarm": "GPTSwarm", "agentprune": "AgentPrune", "gdesigner": "GDesigner"}
TASK_GRAPH = "task"  # `preset: task`: the graph a task brings per item (AgentsNet), with its rounds


class TopologySpec(_Strict):
    """A preset (``preset: star``) or a learner (``learner: gdesigner``), never both."""

    preset: str | None = None
    learner: Literal["gptswarm", "agentprune", "gdesigner"] | None = None
    label: str | None = None  # defaults to the preset or learner name
    n_agents: int | None = None
    rounds: int | None = None  # defaults to the experiment's rounds
    roles: list[str] | str | None = None  # profiles, or a family of the role library ("math")
    model: str | None = None  # a key of the experiment's `models`; defaults to its `model`
    options: dict[str, Any] = Field(default_factory=dict)  # the preset's or the learner's settings
    train: TrainSpec | None = None  # learners only

    @property
    def name(self) -> str:
        return self.label or self.preset or self.learner or "?"


class BudgetSpec(_Strict):
    max_tokens: int | None = None
    max_calls: int | None = None
    max_seconds: float | None = None


class ExperimentConfig(_Strict):
    name: str
    task: dict[str, Any]  # {name: ..., and al.tasks.load's options}
    topologies: list[TopologySpec] = Field(min_length=1)
    model: ModelSpec = Field(default_factory=ModelSpec)
    models: dict[str, ModelSpec] = Field(default_factory=dict)  # more models, named, for topologies to pick
    rounds: int = Field(1, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0])  # each seed draws the task and seeds sampling
    cache: bool = True
    retries: int = Field(2, ge=0)
    timeout: float | None = Field(None, gt=0)  # seconds one batch of model calls may take
    window: int | None = Field(1024, ge=1)  # items in flight at once; bounds memory on huge tasks
    budget: BudgetSpec | None = None  # per topology and seed


def _closest(word: str, options: Iterator[str] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def _describe(error: ValidationError, source: str) -> str:
    lines = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem["loc"])
        if problem["type"] == "extra_forbidden":
            parent: Any = ExperimentConfig
            for part in problem["loc"][:-1]:
                field_info = parent.model_fields.get(str(part)) if isinstance(part, str) else None
                if field_info is not None:
                    annotation = field_info.annotation
                    parent = next(
                        (
                            a
                            for a in getattr(annotation, "__args__", (annotation,))
                            if isinstance(a, type) and issubclass(a, BaseModel)
                        ),
                        parent,
                    )
            key = str(problem["loc"][-1])
            lines.append(
                f"  {where}: unknown key{_closest(key, parent.model_fields)} "
                f"(valid: {', '.join(parent.model_fields)})"
            )
        elif problem["type"] == "missing":
            lines.append(f"  {where}: missing (required)")
        else:
            lines.append(f"  {where}: {problem['msg']} (got {problem.get('input')!r})")
    return f"invalid experiment file {source}:\n" + "\n".join(lines)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def environment() -> dict[str, Any]:
    versions = {}
    for package in ("agentlab", "torch", "transformers", "accelerate", "langchain-core"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": _git_commit(),
    }


def read_jsonl(path: Path, repair: bool = False) -> list[dict[str, Any]]:
    """Every complete line. A torn last line (the process died mid-write) is skipped, and with
    ``repair`` also cut off the file: only the run about to append again may do that, since a
    reader beside a live run would cut the line it is writing."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if repair and end < len(data):
        with path.open("r+b") as f:
            f.truncate(end)
    return [json.loads(line) for line in data[:end].decode().splitlines() if line.strip()]


class _Appender:
    """Appends JSON lines and flushes each one, so a killed process loses at most the line it was writing."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    def __call__(self, row: dict[str, Any]) -> None:
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass
class ExperimentResult:
    """The runs of an experiment, keyed by (topology label, seed), and where they were written."""

    folder: Path
    runs: dict[tuple[str, int], Run]
    metrics: dict[str, Any] = field(default_factory=dict)

    def table(self) -> str:
        return text_table(list(self.runs.values()))

    def __repr__(self) -> str:
        return f"ExperimentResult({self.folder}):\n{self.table()}"


class Experiment:
    """``Experiment.from_yaml("experiments/x.yaml").run()``: the notebook twin of ``agentlab run``."""

    def __init__(self, config: ExperimentConfig, source: str = "<config>") -> None:
        self.config, self.source = config, source
        from agentlab import tasks, topologies

        if config.task.get("name") is None:
            raise ValueError(f"invalid experiment file {source}:\n  task.name: missing (required)")
        known_tasks = [t["name"] for t in tasks.list()]
        if config.task["name"] not in known_tasks:
            raise ValueError(
                f"invalid experiment file {source}:\n  task.name: unknown task "
                f"{config.task['name']!r}{_closest(config.task['name'], known_tasks)}"
            )
        for i, spec in enumerate(config.topologies):
            if (spec.preset is None) == (spec.learner is None):
                raise ValueError(
                    f"invalid experiment file {source}:\n  topologies.{i}: give either `preset` (one of "
                    f"{', '.join(topologies.names())}) or `learner` ({', '.join(LEARNERS)}), not "
                    f"{'both' if spec.preset else 'neither'}"
                )
            if spec.preset is None:
                unknown = sorted(set(spec.options) - learner_options(spec))
                if unknown:
                    raise ValueError(
                        f"invalid experiment file {source}:\n  topologies.{i}.options: {spec.learner} does "
                        f"not take {unknown}{_closest(unknown[0], sorted(learner_options(spec)))} "
                        f"(valid: {', '.join(sorted(learner_options(spec)))})"
                    )
                if spec.n_agents is not None and spec.n_agents < 2:
                    raise ValueError(
                        f"invalid experiment file {source}:\n  topologies.{i}.n_agents: a learner needs "
                        f"at least 2 agents (got {spec.n_agents})"
                    )
                continue
            if spec.train is not None:
                raise ValueError(
                    f"invalid experiment file {source}:\n  topologies.{i}.train: only learners train; "
                    f"preset {spec.preset!r} has nothing to learn"
                )
            if spec.preset == TASK_GRAPH:
                continue
            if spec.preset not in topologies.names():
                raise ValueError(
                    f"invalid experiment file {source}:\n  topologies.{i}.preset: unknown preset "
                    f"{spec.preset!r}{_closest(spec.preset, topologies.names())} (or `task`: the "
                    "task's own graph, for AgentsNet)"
                )
        for i, spec in enumerate(config.topologies):
            if spec.model is not None and spec.model not in config.models:
                raise ValueError(
                    f"invalid experiment file {source}:\n  topologies.{i}.model: unknown model "
                    f"{spec.model!r}{_closest(spec.model, list(config.models))}; "
                    f"named models: {sorted(config.models)}"
                )
        labels = [spec.name for spec in config.topologies]
        if len(set(labels)) != len(labels):
            raise ValueError(
                f"invalid experiment file {source}: two topologies share a label; give each a "
                "distinct `label`"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<config>") -> Experiment:
        if not isinstance(data, dict):
            raise ValueError(f"invalid experiment file {source}: expected a mapping at the top level")
        try:
            return cls(ExperimentConfig.model_validate(data), source)
        except ValidationError as error:
            raise ValueError(_describe(error, source)) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> Experiment:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no experiment file at {path}")
        return cls.from_dict(yaml.safe_load(path.read_text()), str(path))

    def task(self, seed: int) -> Any:
        """The task for one seed: the seed draws the items unless the task section fixes its own."""
        from agentlab import tasks

        options = {k: v for k, v in self.config.task.items() if k != "name"}
        return tasks.load(self.config.task["name"], **({"seed": seed} | options))

    def _model(self, spec: ModelSpec, seed: int, state: Any = None) -> Any:
        from agentlab import models

        settings: dict[str, Any] = {
            "max_new_tokens": spec.max_new_tokens,
            "temperature": spec.temperature,
            "top_p": spec.top_p,
            "seed": seed,
            "batch_size": spec.batch_size,
            "prefix_cache_mib": spec.prefix_cache_mib,
        }
        if state is not None and state.device.type == "cuda":  # one model copy per process, on its GPU
            settings["device_map"] = {"": str(state.device)}
        if spec.kind == "default":
            return models.default(**settings)
        if spec.kind == "local":
            if not spec.path:
                raise ValueError(f"{self.source}: model.kind 'local' needs model.path (a folder or hub id)")
            return models.local(spec.path, **settings)

        reply = spec.reply

        def respond(messages: Any) -> str:
            return reply

        class Delayed(models.ScriptedChatModel):
            def batch(self, inputs: Any, config: Any = None, **kwargs: Any) -> list[Any]:
                time.sleep(spec.delay)
                return super().batch(inputs, config, **kwargs)

        return Delayed(respond=respond, name_=f"scripted:{spec.reply}")

    def _trained(
        self,
        spec: TopologySpec,
        seed: int,
        task: Any,
        model: Any,
        folder: Path,
        cache: CallCache | None,
        progress: bool,
    ) -> Any:
        """A learner trained on the task's train split, or the one an earlier run saved."""
        saved = learner_path(folder, spec, seed)
        cls = learner_class(spec)
        if saved.exists():
            return cls.load(saved, model=model)
        learner = _new_learner(spec, seed, self.config.rounds, model)
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

    def run(self, root: str | Path = "runs", progress: bool = True) -> ExperimentResult:
        """Run every topology for every seed, or resume where an earlier run of this file stopped."""
        from agentlab import topologies

        cfg = self.config
        folder = Path(root) / cfg.name
        rank, world, state = processes()
        if rank == 0:
            self._start_folder(folder)
        if state is not None:
            state.wait_for_everyone()
        prior = {
            unit: {(m.item_id, m.round, m.sender): m for m in messages}
            for unit, messages in records_by_unit(folder, repair_own=shard(folder, "records", rank)).items()
        }
        finished = {(row["unit"], row["item_id"]) for row in read_shards(folder, "results", repair_rank=rank)}
        records = _Appender(shard(folder, "records", rank))
        results = _Appender(shard(folder, "results", rank))
        cache = CallCache() if cfg.cache else None
        budget = Budget(**cfg.budget.model_dump()) if cfg.budget else None
        runs: dict[tuple[str, int], Run] = {}
        training: dict[str, Any] = {}
        try:
            for seed in cfg.seeds:
                task = self.task(seed)
                mine = replace(task, items=list(task.items)[rank::world]) if world > 1 else task
                loaded: dict[str | None, Any] = {}  # each model loads once per seed
                for spec in cfg.topologies:
                    unit = f"{spec.name}/seed{seed}"
                    if spec.model not in loaded:
                        model_spec = cfg.models[spec.model] if spec.model else cfg.model
                        loaded[spec.model] = self._model(model_spec, seed, state)
                    if spec.preset == TASK_GRAPH:
                        team = self._task_team(task, loaded[spec.model], spec.name)
                    elif spec.preset is not None:
                        team = topologies.load(
                            spec.preset,
                            n_agents=spec.n_agents,
                            model=loaded[spec.model],
                            roles=spec.roles,
                            **spec.options,
                        )
                        team.name = spec.name
                    else:  # the first process trains, the others load what it saved
                        if rank == 0:
                            learner = self._trained(
                                spec, seed, task, loaded[spec.model], folder, cache, progress
                            )
                        if state is not None:
                            state.wait_for_everyone()
                        if rank != 0:
                            learner = learner_class(spec).load(
                                learner_path(folder, spec, seed), loaded[spec.model]
                            )
                        training[unit] = learner.log
                        team = learner.team(name=spec.name)

                    def keep_message(message: Message, unit: str = unit) -> None:
                        records({"unit": unit, **message.to_dict()})

                    def keep_result(result: ItemResult, unit: str = unit) -> None:
                        if (unit, result.item_id) not in finished:
                            results({"unit": unit, **asdict(result)})

                    engine = Engine(
                        team,
                        mine,
                        unit_rounds(spec, cfg),
                        cache=cache,
                        progress=progress and rank == 0,
                        budget=budget,
                        retries=cfg.retries,
                        timeout=cfg.timeout,
                        window=cfg.window,
                        keep_records=False,  # records live in records.jsonl, read back when needed
                        prior=prior.get(unit),
                        on_message=keep_message,
                        on_result=keep_result,
                    )
                    runs[(spec.name, seed)] = engine.run()
        finally:
            records.close()
            results.close()
        if state is not None:
            state.wait_for_everyone()
            if rank != 0:  # the first process gathers every process's records into one run
                return ExperimentResult(folder, runs)
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
        write_atomic(folder / "metrics.json", json.dumps(metrics, indent=2, default=str))
        write_report(list(runs.values()), folder / "report.html", title=f"{cfg.name}")
        return ExperimentResult(folder, runs, metrics)

    def _task_team(self, task: Any, model: Any, name: str) -> Any:
        if not hasattr(task, "team"):
            raise ValueError(
                f"{self.source}: `preset: task` needs a task that brings its own graph (agentsnet/...); "
                f"{task.name!r} does not"
            )
        return task.team(model, name=name)

    def _gathered(self, folder: Path, runs: dict[tuple[str, int], Run]) -> dict[tuple[str, int], Run]:
        """Each run with every process's results and records (one process: its own, as they are)."""
        by_unit = results_by_unit(folder)
        paths = shards(folder, "records")
        tasks = {seed: self.task(seed) for seed in {seed for _, seed in runs}}
        gathered = {}
        for (label, seed), run in runs.items():
            unit = f"{label}/seed{seed}"
            results = in_task_order(by_unit.get(unit, []), tasks[seed])
            gathered[(label, seed)] = replace(run, results=results, records=DiskRecords(paths, unit))
        return gathered

    def _start_folder(self, folder: Path) -> None:
        """Create the run folder with its resolved config, or check that it holds this same config."""
        folder.mkdir(parents=True, exist_ok=True)
        resolved = self.config.model_dump(mode="json")
        config_file = folder / "config.yaml"
        if config_file.exists():
            before = yaml.safe_load(config_file.read_text())
            if before != resolved:
                raise ValueError(
                    f"{folder} holds a run of a different config; to resume, use the same file, "
                    f"or give this experiment another name (or delete {folder})"
                )
        else:
            write_atomic(config_file, yaml.safe_dump(resolved, sort_keys=False))
            write_atomic(folder / "environment.json", json.dumps(environment(), indent=2))


def unit_rounds(spec: TopologySpec, cfg: ExperimentConfig) -> int | None:
    """The rounds a topology runs: its own, else the task's per item for `preset: task`, else the file's."""
    return spec.rounds or (None if spec.preset == TASK_GRAPH else cfg.rounds)


def learner_class(spec: TopologySpec) -> Any:
    from agentlab import topologies

    return getattr(topologies, LEARNERS[spec.learner or ""])


def learner_options(spec: TopologySpec) -> set[str]:
    """The settings a learner takes in `options` (the experiment supplies agents, model and seed)."""
    from agentlab.topologies.learning import GraphLearner

    cls = learner_class(spec)
    names = set(inspect.signature(cls.__init__).parameters) | set(
        inspect.signature(GraphLearner.__init__).parameters
    )
    return names - {"self", "agents", "model", "kwargs", "embedder"}


def learner_path(folder: Path, spec: TopologySpec, seed: int) -> Path:
    """Where a run folder keeps a trained learner, so a resumed run does not train it again."""
    return folder / "learners" / f"{spec.name}-seed{seed}.pt"


def _new_learner(spec: TopologySpec, seed: int, rounds: int, model: Any) -> Any:
    from agentlab.agent import Agent
    from agentlab.topologies import roles as role_library

    n = spec.n_agents or 4
    profiles = list(role_library(spec.roles) if isinstance(spec.roles, str) else spec.roles or [""])
    agents = [Agent(f"agent{i}", role=profiles[i % len(profiles)]) for i in range(n)]
    options = {"seed": seed, "rounds": spec.rounds or rounds, **spec.options}
    try:
        return learner_class(spec)(agents, model=model, **options)
    except TypeError as error:
        raise ValueError(f"learner {spec.learner!r}: bad option in `options` ({error})") from None


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Complete lines one at a time (a torn last line is skipped), without reading the file whole."""
    if not path.exists():
        return
    with path.open("rb") as f:
        for line in f:
            if line.endswith(b"\n") and line.strip():
                yield json.loads(line)


class DiskRecords(Sequence[Message]):
    """One run unit's messages in a run folder's records files, read from disk each time they are
    iterated, so a 10,000-item run does not hold its messages in memory."""

    def __init__(self, paths: Sequence[Path], unit: str) -> None:
        self.paths, self.unit = list(paths), unit

    def __iter__(self) -> Iterator[Message]:
        for path in self.paths:
            for row in iter_jsonl(path):
                if row.pop("unit") == self.unit:
                    yield Message.from_dict(row)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __getitem__(self, index: Any) -> Any:
        return list(self)[index]

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    def __repr__(self) -> str:
        return f"DiskRecords({[str(p) for p in self.paths]}, unit={self.unit!r})"


def processes() -> tuple[int, int, Any]:
    """(this process's rank, how many there are, accelerate's state) under a multi-process launcher
    (``accelerate launch``, torchrun), else (0, 1, None)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, None
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    return state.process_index, state.num_processes, state


def shard(folder: Path, kind: str, rank: int) -> Path:
    """The file one process appends to: ``records.jsonl`` for the first, ``records.rank1.jsonl``..."""
    return folder / (f"{kind}.jsonl" if rank == 0 else f"{kind}.rank{rank}.jsonl")


def shards(folder: Path, kind: str) -> list[Path]:
    """Every process's file of one kind, the first process's first."""
    return sorted(folder.glob(f"{kind}*.jsonl"), key=lambda p: (p.name != f"{kind}.jsonl", p.name))


def read_shards(folder: Path, kind: str, repair_rank: int | None = None) -> list[dict[str, Any]]:
    """All processes' lines; only the calling process's own file may be repaired (the others may be
    live, mid-line)."""
    own = shard(folder, kind, repair_rank) if repair_rank is not None else None
    return [row for path in shards(folder, kind) for row in read_jsonl(path, repair=path == own)]


def results_by_unit(folder: Path) -> dict[str, list[ItemResult]]:
    """A run folder's item results (every process's), grouped by run unit."""
    by_unit: dict[str, list[ItemResult]] = {}
    for row in read_shards(folder, "results"):
        by_unit.setdefault(row.pop("unit"), []).append(ItemResult(**row))
    return by_unit


def in_task_order(results: list[ItemResult], task: Any) -> list[ItemResult]:
    order = {item.id: k for k, item in enumerate(task.items)}
    return sorted(results, key=lambda r: order.get(r.item_id, len(order)))


def records_by_unit(folder: Path, repair_own: Path | None = None) -> dict[str, list[Message]]:
    """A run folder's messages (every process's), grouped by run unit (topology label and seed).
    ``repair_own``: this process's records file, whose torn last line is cut off."""
    by_unit: dict[str, list[Message]] = {}
    for path in shards(folder, "records"):
        for row in read_jsonl(path, repair=path == repair_own):
            by_unit.setdefault(row.pop("unit"), []).append(Message.from_dict(row))
    return by_unit


def load_runs(folder: str | Path, rescore: bool = False) -> dict[tuple[str, int], Run]:
    """The runs of a run folder, rebuilt from its files without calling a model.

    With ``rescore``, each item's answer is decided again from its last-round messages with the
    task's current extractor and scorer (after fixing an extractor, say); otherwise the recorded
    results are used.
    """
    from agentlab import topologies

    folder = Path(folder)
    if not (folder / "config.yaml").is_file():
        raise FileNotFoundError(
            f"{folder} is not a run folder (no config.yaml); `agentlab list` shows run folders"
        )
    experiment = Experiment.from_dict(yaml.safe_load((folder / "config.yaml").read_text()), str(folder))
    cfg = experiment.config
    by_unit = records_by_unit(folder)
    recorded = results_by_unit(folder)
    runs = {}
    for seed in cfg.seeds:
        task = experiment.task(seed)
        for spec in cfg.topologies:
            unit, fixed_rounds = f"{spec.name}/seed{seed}", unit_rounds(spec, cfg)
            messages = by_unit.get(unit, [])
            results = in_task_order(recorded.get(unit, []), task)
            rounds = {item.id: fixed_rounds or task.rounds_for(item) or 1 for item in task.items}
            if rescore:
                if spec.preset == TASK_GRAPH:
                    graph_for: Any = task.graph_for
                elif spec.preset is not None:
                    fixed = topologies.graph(spec.preset, spec.n_agents, **spec.options)
                    graph_for = lambda item, fixed=fixed: fixed  # noqa: E731
                else:
                    graph_for = learner_class(spec).load(learner_path(folder, spec, seed)).graph_for
                calls = Counter(m.item_id for m in messages)
                last: dict[str, dict[str, str]] = {}
                for m in messages:
                    if m.round == rounds.get(m.item_id, 0) - 1:
                        last.setdefault(m.item_id, {})[m.sender] = m.content
                # only items whose every call is on record finished; a budget may have cut the others
                graphs = {item.id: graph_for(item) for item in task.items}
                finished = [
                    item
                    for item in task.items
                    if calls[item.id] == len(graphs[item.id].agents) * rounds[item.id]
                ]
                results = [decide(graphs[item.id], task, item, last[item.id]) for item in finished]
            most = max(rounds.values(), default=1)
            runs[(spec.name, seed)] = Run(spec.name, task.name, most, messages, results, 0.0, 0.0)
    return runs


def list_run_folders(root: str | Path = "runs") -> list[dict[str, Any]]:
    rows = []
    for folder in sorted(Path(root).glob("*/config.yaml")):
        results = read_shards(folder.parent, "results")
        metrics = folder.parent / "metrics.json"
        rows.append(
            {
                "folder": str(folder.parent),
                "items_done": len(results),
                "messages": len(read_shards(folder.parent, "records")),
                "finished": metrics.exists() and not json.loads(metrics.read_text()).get("stopped"),
            }
        )
    return rows


def summarize(runs: dict[tuple[str, int], Run]) -> dict[str, Any]:
    """Per run, per topology across seeds, paired tests against the first topology, coordination."""
    out: dict[str, Any] = {
        "runs": {f"{label}/seed{seed}": run.summary() for (label, seed), run in runs.items()}
    }
    labels = list(dict.fromkeys(label for label, _ in runs))
    seeds = sorted({seed for _, seed in runs})
    out["topologies"] = {}
    for label in labels:
        accuracies = [runs[(label, s)].accuracy for s in seeds if (label, s) in runs]
        mean, std = mean_and_std(accuracies)
        out["topologies"][label] = {"accuracy_mean": mean, "accuracy_std": std, "seeds": len(accuracies)}
    reference = labels[0]
    out["paired_vs"] = reference
    out["paired"] = {}
    for label in labels[1:]:
        a, b = [], []
        for s in seeds:
            if (label, s) in runs and (reference, s) in runs:
                mine = {r.item_id: r.score for r in runs[(label, s)].results}
                theirs = {r.item_id: r.score for r in runs[(reference, s)].results}
                shared = sorted(mine.keys() & theirs.keys())
                a += [mine[i] for i in shared]
                b += [theirs[i] for i in shared]
        if a:
            diff, interval, p_boot = paired_bootstrap(a, b)
            out["paired"][label] = {
                "items": len(a),
                "accuracy_difference": diff,
                "ci95": interval,
                "bootstrap_p": p_boot,
                "mcnemar_p": mcnemar_exact(a, b),
            }
    singles = [label for label in labels if label == "single"]
    if singles:
        out["coordination"] = {
            f"{label}/seed{s}": coordination_metrics(runs[(label, s)], runs[("single", s)])
            for label in labels
            if label != "single"
            for s in seeds
            if (label, s) in runs
            and ("single", s) in runs
            and not runs[(label, s)].stopped
            and not runs[("single", s)].stopped
        }
    out["stopped"] = {
        f"{label}/seed{seed}": run.stopped for (label, seed), run in runs.items() if run.stopped
    }
    return out


def write_atomic(path: Path, text: str) -> None:
    staging = path.with_suffix(path.suffix + ".tmp")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)
