"""What an experiment file may say, and the messages for what it may not.

Every name in a file (a task, a preset, a learner, a model backend) is checked against its
registry before any model is loaded, and a wrong one gets the closest valid name.
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, field_validator

from agentlab.agent import check_memory
from agentlab.models.backends import ModelSpec
from agentlab.registry import did_you_mean
from agentlab.settings import RunSettings
from agentlab.tools import import_tool

TASK_GRAPH = "task"  # `preset: task`: the graph a task brings per item (AgentsNet), with its rounds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainSpec(_Strict):
    """How a learner trains: on the first ``items`` items of the task's train split."""

    items: int = Field(32, ge=1)
    epochs: int = Field(1, ge=1)
    batch_size: int = Field(8, ge=1)
    samples_per_query: int = Field(4, ge=1)
    token_budget: int | None = None


class SimulationSpec(_Strict):
    """An environment the topologies play instead of a task: ``simulation: {env: govsim/fishery,
    episodes: 5, options: {months: 12}}``; every seed runs ``episodes`` episodes, seeded from it."""

    env: str
    episodes: int = Field(1, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)  # al.envs.load's options


class TopologySpec(_Strict):
    """A preset (``preset: star``), a learner (``learner: gdesigner``) or a protocol of one's own
    (``protocol: mypkg.protocols:critique``): exactly one of them."""

    preset: str | None = None
    learner: str | None = None  # a registered learner's name (al.topologies.learners)
    protocol: str | None = None  # an import path to an @al.protocol function
    label: str | None = None  # defaults to the preset, learner or protocol name
    n_agents: int | None = Field(None, ge=1)
    agents: list[str] | None = None  # a protocol's agents, by the names it asks (else agent0, agent1, ...)
    rounds: int | None = Field(None, ge=1)  # defaults to the experiment's rounds
    roles: list[str] | str | None = None  # profiles, or a family of the role library ("math")
    memory: StrictStr | StrictInt = "none"  # every agent's: none, full, last, or the last N turns (al.Agent)
    # every agent's tools: import paths of langchain-core tools, or of functions that make one
    # (agentlab.tools.python_sandbox)
    tools: list[str] = Field(default_factory=list)
    max_tool_steps: int = Field(4, ge=1)
    model: str | None = None  # a key of the experiment's `models`; defaults to its `model`
    options: dict[str, Any] = Field(default_factory=dict)  # the preset's or the learner's settings
    train: TrainSpec | None = None  # learners only

    @field_validator("memory")
    @classmethod
    def _memory_kind(cls, memory: str | int) -> str | int:
        check_memory(memory, "memory")
        return memory

    @field_validator("tools")
    @classmethod
    def _importable_tools(cls, paths: list[str]) -> list[str]:
        for path in paths:
            import_tool(path)
        return paths

    def agent_settings(self) -> dict[str, Any]:
        """What this topology sets on every agent, where it differs from an agent's default."""
        settings: dict[str, Any] = {}
        if self.memory != "none":
            settings["memory"] = self.memory
        if self.tools:
            settings["tools"] = [import_tool(path) for path in self.tools]
            settings["max_tool_steps"] = self.max_tool_steps
        return settings

    @property
    def name(self) -> str:
        protocol = self.protocol.replace(":", ".").rsplit(".", 1)[-1] if self.protocol else None
        return self.label or self.preset or self.learner or protocol or "?"

    def agent_names(self) -> list[str]:
        """A protocol's agents: as listed, else ``n_agents`` of them (agent0, agent1, ...)."""
        return list(self.agents) if self.agents else [f"agent{i}" for i in range(self.n_agents or 1)]

    def unit(self, seed: int) -> str:
        """The run unit's key in a run folder's files: this topology with one seed."""
        return f"{self.name}/seed{seed}"


class ExperimentConfig(RunSettings):
    """A whole experiment file. Its run settings (``retries``, ``timeout``, ``window``, ``budget``,
    ...) are ``RunSettings``' fields, at the top level of the file; ``budget`` is per topology
    and seed."""

    name: str  # the run folder, inside --root: relative, without `..`
    task: dict[str, Any] | None = None  # {name: ..., and al.tasks.load's options}
    simulation: SimulationSpec | None = None  # an environment instead of a task
    topologies: list[TopologySpec] = Field(min_length=1)
    model: ModelSpec = Field(default_factory=ModelSpec)
    models: dict[str, ModelSpec] = Field(default_factory=dict)  # more models, named, for topologies to pick
    rounds: int = Field(1, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)  # each draws the task, seeds sampling
    cache: bool = True

    @field_validator("name")
    @classmethod
    def _inside_root(cls, name: str) -> str:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if not name.strip():
            raise ValueError("the run's name is empty; it names the run folder, e.g. `name: my-experiment`")
        if name.startswith(("/", "\\", "~")) or PureWindowsPath(name).drive:
            raise ValueError(
                f"{name!r} is absolute; a run folder is always inside --root, so give a relative name"
            )
        if ".." in parts:
            raise ValueError(f"{name!r} climbs out with `..`; a run folder is always inside --root")
        return name

    @field_validator("model", mode="before")
    @classmethod
    def _model_is_a_mapping(cls, model: Any) -> Any:
        if isinstance(model, str) and model.startswith(("http://", "https://")):
            raise ValueError(
                f"a model served at a URL is a list of servers, even of one: `model: [{model}]` "
                f"or `model: {{servers: [{model}], concurrency: 8}}`"
            )
        if isinstance(model, str):
            raise ValueError(
                f"a model is a mapping, e.g. `model: {{kind: {model}}}` or "
                f"`model: {{kind: local, path: ...}}`; got the string {model!r}"
            )
        return model

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        repeated = sorted({s for s in seeds if seeds.count(s) > 1})
        if repeated:
            raise ValueError(f"seed(s) {repeated} appear more than once; each seed is one run, list it once")
        return seeds

    def run_settings(self) -> RunSettings:
        return RunSettings.model_validate(self.model_dump(include=set(RunSettings.model_fields)))

    def unit_rounds(self, spec: TopologySpec) -> int | None:
        """The rounds a topology runs: its own, else the task's per item for `preset: task`, else
        the file's."""
        return spec.rounds or (None if spec.preset == TASK_GRAPH else self.rounds)


def parse(data: Any, source: str) -> ExperimentConfig:
    """A validated config, or a ``ValueError`` listing every problem with where it is and the fix."""
    if not isinstance(data, dict):
        raise ValueError(f"invalid experiment file {source}: expected a mapping at the top level")
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as error:
        raise ValueError(_describe(error, source)) from None
    problems = _check_names(config)
    if problems:
        raise ValueError(f"invalid experiment file {source}:\n" + "\n".join(f"  {p}" for p in problems))
    return config


def _check_names(cfg: ExperimentConfig) -> list[str]:
    """What the schema cannot know: names that must resolve through a registry."""
    from agentlab import tasks, topologies
    from agentlab.tasks.loading import option_problems
    from agentlab.topologies.learning import LEARNERS

    problems = []
    if (cfg.task is None) == (cfg.simulation is None):
        return [
            "give either `task:` (a benchmark: {name: ...}) or `simulation:` (an environment: "
            f"{{env: ..., episodes: N}}), not {'both' if cfg.task else 'neither'}"
        ]
    if cfg.simulation is not None:
        problems += _simulation_problems(cfg)
        return problems
    task_name = cfg.task.get("name")
    if task_name is None:
        problems.append("task.name: missing (required)")
    elif task_name not in tasks.names():
        problems.append(f"task.name: unknown task {task_name!r}{did_you_mean(str(task_name), tasks.names())}")
    else:
        options = {k: v for k, v in cfg.task.items() if k != "name"}
        for key, problem in option_problems(str(task_name), options):
            problems.append(f"task.{key}: {problem}" if key else f"task: {problem}")
    for i, spec in enumerate(cfg.topologies):
        where = f"topologies.{i}"
        given = [k for k in ("preset", "learner", "protocol") if getattr(spec, k) is not None]
        if len(given) != 1:
            problems.append(
                f"{where}: give exactly one of `preset` (one of {', '.join(topologies.names())}), `learner` "
                f"({', '.join(LEARNERS.names())}) or `protocol` (an import path, mypkg.protocols:critique); "
                f"got {' and '.join(given) or 'none'}"
            )
        elif spec.protocol is not None:
            problems += _protocol_problems(spec, where)
        elif spec.learner is not None:
            if spec.learner not in LEARNERS:
                problems.append(
                    f"{where}.learner: unknown learner {spec.learner!r}"
                    f"{did_you_mean(spec.learner, LEARNERS.names())} (valid: {', '.join(LEARNERS.names())})"
                )
                continue
            valid = sorted(LEARNERS.resolve(spec.learner).options())
            unknown = sorted(set(spec.options) - set(valid))
            if unknown:
                problems.append(
                    f"{where}.options: {spec.learner} does not take {unknown}"
                    f"{did_you_mean(unknown[0], valid)} (valid: {', '.join(valid)})"
                )
            if spec.n_agents is not None and spec.n_agents < 2:
                problems.append(f"{where}.n_agents: a learner needs at least 2 agents (got {spec.n_agents})")
        else:
            if spec.train is not None:
                problems.append(
                    f"{where}.train: only learners train; preset {spec.preset!r} has nothing to learn"
                )
            if spec.preset != TASK_GRAPH and spec.preset not in topologies.names():
                problems.append(
                    f"{where}.preset: unknown preset {spec.preset!r}"
                    f"{did_you_mean(str(spec.preset), topologies.names())} (or `task`: the task's own "
                    "graph, for AgentsNet)"
                )
            elif spec.preset != TASK_GRAPH:
                try:  # cheap, and it finds what only the preset knows: its options, its agent count
                    topologies.graph(str(spec.preset), spec.n_agents, **spec.options)
                except (TypeError, ValueError) as error:
                    problems.append(f"{where}: {error}")
        if spec.model is not None and spec.model not in cfg.models:
            problems.append(
                f"{where}.model: unknown model {spec.model!r}{did_you_mean(spec.model, list(cfg.models))}; "
                f"named models: {sorted(cfg.models)}"
            )
    labels = [spec.name for spec in cfg.topologies]
    if len(set(labels)) != len(labels):
        problems.append("topologies: two topologies share a label; give each a distinct `label`")
    return problems


def _protocol_problems(spec: TopologySpec, where: str) -> list[str]:
    from agentlab.runtime import load_protocol

    problems = []
    try:
        load_protocol(str(spec.protocol))
    except ValueError as error:
        problems.append(f"{where}.protocol: {error}")
    if spec.agents is not None and spec.n_agents is not None and spec.n_agents != len(spec.agents):
        problems.append(f"{where}: n_agents {spec.n_agents} but {len(spec.agents)} agents listed; give one")
    if spec.agents is not None and len(set(spec.agents)) != len(spec.agents):
        problems.append(f"{where}.agents: names repeat in {spec.agents}; each agent needs its own name")
    if spec.train is not None or spec.options:
        problems.append(f"{where}: a protocol takes no `train` or `options`; it is the code it names")
    return problems


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
                f"  {where}: unknown key{did_you_mean(key, parent.model_fields)} "
                f"(valid: {', '.join(parent.model_fields)})"
            )
        elif problem["type"] == "missing":
            lines.append(f"  {where}: missing (required)")
        elif problem["type"] == "value_error":  # a validator's own message (an unknown backend kind)
            lines.append(f"  {where}: {problem['ctx']['error']}")
        else:
            lines.append(f"  {where}: {problem['msg']} (got {problem.get('input')!r})")
    return f"invalid experiment file {source}:\n" + "\n".join(lines)


def _simulation_problems(cfg: ExperimentConfig) -> list[str]:
    from agentlab import envs, topologies

    sim = cfg.simulation
    assert sim is not None
    problems = []
    try:
        env = envs.load(sim.env, **sim.options)
    except (TypeError, ValueError) as error:
        return [f"simulation: {error}"]
    needed = len(env.possible_agents)
    for i, spec in enumerate(cfg.topologies):
        where = f"topologies.{i}"
        if spec.protocol is not None and spec.preset is None and spec.learner is None:
            problems += _protocol_problems(spec, where)
            if len(spec.agent_names()) < needed:
                problems.append(
                    f"{where}: {sim.env} needs {needed} agents; list them or set n_agents: {needed}"
                )
            continue
        if spec.learner is not None or spec.preset is None:
            problems.append(
                f"{where}: a simulation runs presets (`preset: debate`) or protocols; learners train on tasks"
            )
            continue
        if spec.preset not in topologies.names():
            problems.append(
                f"{where}.preset: unknown preset {spec.preset!r}"
                f"{did_you_mean(str(spec.preset), topologies.names())}"
            )
            continue
        try:
            graph = topologies.graph(str(spec.preset), spec.n_agents, **spec.options)
        except (TypeError, ValueError) as error:
            problems.append(f"{where}: {error}")
            continue
        if len(graph.agents) < needed:
            problems.append(
                f"{where}: {sim.env} needs {needed} agents and this {spec.preset} has {len(graph.agents)}; "
                f"set n_agents: {needed}"
            )
    return problems
