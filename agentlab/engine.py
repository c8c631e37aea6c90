"""Running a team over a task: every item's protocol at once on the runtime, each item scored as
soon as its protocol returns.

``team.run(task)`` builds one; the experiment runner builds one per topology and seed with the
run folder's hooks (``prior`` records to replay, ``on_message`` and ``on_result`` to write).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

from tqdm.auto import tqdm

from agentlab.cache import CallCache
from agentlab.graph import CommGraph
from agentlab.message import Message
from agentlab.protocols.graph import GraphProtocol, outcome_of
from agentlab.provenance import provenance
from agentlab.routing.base import RouteError
from agentlab.run import ItemResult, Run
from agentlab.runtime import Context, Driver, Job, ModelCalls, StreamCalls, Unit
from agentlab.runtime.calls import AgentCallError
from agentlab.settings import RunSettings
from agentlab.shapes import StreamingModel
from agentlab.tasks.task import Item, Task

if TYPE_CHECKING:
    from agentlab.team import Team

__all__ = ["AgentCallError", "Engine", "Resumption"]


class Resumption(NamedTuple):
    """What a resumed run found done: items whose every call is on record, the calls replayed
    from the records, and the calls still to make (None where the protocol decides as it goes)."""

    items_done: int
    items: int
    replayed: int
    calls_left: int | None

    def __str__(self) -> str:
        if self.calls_left is None:
            return (
                f"{self.replayed} messages replayed; the protocol decides what is left of {self.items} items"
            )
        return (
            f"{self.items_done} of {self.items} items already done, {self.replayed} messages replayed, "
            f"{self.calls_left} calls left"
        )


class Engine:
    """Runs ``team`` over every item of ``task`` on the runtime (``agentlab.runtime``).

    ``rounds``: None takes each item's rounds from the task (``task.rounds_for``), else 1.
    ``settings``: retries, time-outs, window, streaming, budget (``RunSettings``).
    ``prior``: messages of an earlier, interrupted run, keyed by (item id, round, agent); those
    calls are replayed, not made again. ``on_message`` sees each new message, ``on_result`` each
    item as soon as it is done. ``keep_records=False``: messages go only to ``on_message`` (a run
    folder on disk), not into the returned run.
    """

    def __init__(
        self,
        team: Team,
        task: Task,
        rounds: int | None = 1,
        settings: RunSettings | None = None,
        *,
        cache: CallCache | None = None,
        progress: bool = True,
        prior: Mapping[tuple[str, int, str], Message] | None = None,
        on_message: Callable[[Message], None] = lambda message: None,
        on_result: Callable[[ItemResult], None] = lambda result: None,
        keep_records: bool = True,
    ) -> None:
        if rounds is not None and rounds < 1:
            raise ValueError(f"rounds must be at least 1; got {rounds}")
        task.check_agents([a.name for a in team.agents])
        self.team, self.task, self.rounds = team, task, rounds
        self.settings = settings if settings is not None else RunSettings()
        self.cache, self.progress = cache, progress
        self.prior = dict(prior or {})
        self.on_message, self.on_result = on_message, on_result
        self.keep_records = keep_records
        self.model_seconds = 0.0
        self._calls: ModelCalls | None = None

    def resumption(self) -> Resumption | None:
        """What this run picks up from ``prior`` (None when there is nothing to pick up)."""
        if not self.prior:
            return None
        protocol = self.team.protocol
        if not isinstance(protocol, GraphProtocol):  # its asks are known only as it runs
            ids = {item.id for item in self.task.items}
            replayed = sum(site[0] in ids for site in self.prior)
            return Resumption(0, len(self.task.items), replayed, None)
        done = replayed = total = 0
        for item in self.task.items:
            w = protocol.wiring(item, self.task, self.rounds)
            have = sum((item.id, r, w.graph.agents[a]) in self.prior for r, a in w.sites())
            done += have == w.calls
            replayed += have
            total += w.calls
        return Resumption(done, len(self.task.items), replayed, total - replayed)

    def run(self) -> Run:
        started = time.perf_counter()
        team, task, protocol = self.team, self.task, self.team.protocol
        items = list(task.items)
        agents = {a.name: a for a in team.agents}
        rounds = [protocol.rounds(item, task, self.rounds) for item in items]  # a graph's are checked here
        calls = [protocol.calls_for(item, task, self.rounds) for item in items]
        known = all(c is not None for c in calls)
        results: dict[int, ItemResult] = {}

        def start(item: Item, rounds: int | None) -> Callable[[Unit], object]:
            memory_by = protocol.memory_by
            return lambda unit: protocol(
                Context(unit, item, task, agents, memory_by=memory_by, rounds=rounds), item
            )

        def done(unit: Unit) -> None:
            item = items[unit.index]
            if unit.error is not None:
                error = unit.error
                why = (
                    f"RouteError: {error}"
                    if isinstance(error, RouteError)
                    else f"{type(error).__name__}: {error}"
                )
                result = ItemResult(item.id, None, item.reference, 0.0, error=why)
            else:
                try:
                    result = outcome_of(unit.value, task, item)
                except TypeError as error:
                    result = ItemResult(item.id, None, item.reference, 0.0, error=f"TypeError: {error}")
            if unit.reasks:
                result = with_reasks(result, unit.reasks, unit.unparsed)
            results[unit.index] = result
            protocol.finished(item, result)
            self.on_result(result)

        bar = tqdm(
            total=sum(calls) if known else len(items),  # type: ignore[arg-type]
            desc=f"{team.name} on {task.name}",
            unit="call" if known else "item",
            disable=not self.progress,
        )
        model_calls = self._calls = ModelCalls(self.settings, self.cache)
        driver = Driver(
            model_calls, self.settings, prior=self.prior, stream=self._open_stream(model_calls),
            on_message=self.on_message, on_done=done, keep_records=self.keep_records, progress=bar,
            progress_by="call" if known else "unit",
        )  # fmt: skip
        try:
            outcome = driver.run(
                [Job(it.id, start(it, r), c) for it, r, c in zip(items, rounds, calls, strict=True)]
            )
        finally:
            bar.close()
            self.model_seconds = model_calls.model_seconds
        fixed = team.graph if isinstance(team.graph, CommGraph) else None
        graphs: dict[str, CommGraph] = {}
        if fixed is None and isinstance(protocol, GraphProtocol):
            graphs = {it.id: protocol.wiring(it, task, self.rounds).graph for it in items}
        ran = [r for r in rounds if r is not None]
        return Run(
            team.name,
            task.name,
            max(ran) if ran else max((m.round + 1 for m in outcome.records), default=self.rounds or 1),
            outcome.records,
            [results[i] for i in sorted(results)],
            time.perf_counter() - started,
            outcome.model_seconds,
            outcome.steps,
            outcome.stopped,
            graph=fixed,
            graphs=graphs,
            origin=team.origin,
            meta=provenance([a.model for a in team.agents], self.settings, task.meta.get("options", {})),
        )

    def _open_stream(self, calls: ModelCalls) -> StreamCalls | None:
        """A generation stream when every agent shares one model that streams (continuous batching
        on a GPU, or forced), unless ``stream=False``; else None (step by step)."""
        if self.settings.stream is False:
            return None
        models = {id(agent.model): agent.model for agent in self.team.agents}
        model = next(iter(models.values()), None)
        tools = any(agent.tools for agent in self.team.agents)  # a tool loop goes step by step
        tools = tools or self.task.reasks  # so does a task that re-asks
        if tools or not (
            len(models) == 1 and isinstance(model, StreamingModel) and model.uses_continuous_batching()
        ):
            model = None
        if self.settings.stream and model is None:
            raise ValueError(
                "stream=True needs every agent on one local model with continuous batching "
                "(LocalChatModel(generation='continuous') or a GPU), and no tools or re-asks"
            )
        return StreamCalls(calls, model.open_stream()) if model is not None else None


def unfit(task: Task, item: Item, message: Message, rounds: int) -> bool:
    """Whether a re-asked turn's final reply still does not fit the task's format."""
    return task.reask(message.content, item, message.sender, message.round, rounds) is not None


def with_reasks(result: ItemResult, reasks: int, unparsed: int) -> ItemResult:
    """``result`` with how often its agents were asked again, and how many still did not fit."""
    return replace(result, scoring={**result.scoring, "reasks": reasks, "unparsed_after_reask": unparsed})
