"""The driver: steps every live unit's coroutines until each waits on asks, answers every pending
ask at once, and steps them again.

A unit is one item's protocol (or one episode): a coroutine, and the coroutines it gathers. Each
step answers the pending asks of every unit, in (unit, round, rank) order: those on record from an
earlier run (``prior``) are replayed, every other goes to the call cache and then to one
``model.batch`` per model and bound tools (or into a running continuous batch). Answered asks wake
their coroutines, which run until they wait again; the step's new records then go to
``on_message``, finished units to ``on_done``, and the window lets the next units in.

It is its own driver, not an asyncio loop, so it runs inside Jupyter's running loop; a protocol
that awaits anything but the runtime's asks, gathers and signals fails its unit with a clear error.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from langchain_core.tools import BaseTool
from tqdm.auto import tqdm

from agentlab.message import Message, ToolUse
from agentlab.runtime.asks import Ask
from agentlab.runtime.calls import ModelCalls, ModelReply, Site, StreamCalls
from agentlab.runtime.context import Gather, ProtocolError, Scope, Signal
from agentlab.settings import RunSettings
from agentlab.tools import run_calls

Start = Callable[["Unit"], Coroutine[Any, Any, Any]]
_ONLY = (
    "await only ctx.ask(...), ctx.gather(...) or coroutines that do (not asyncio.sleep, asyncio.gather "
    "or other event-loop futures: the runtime answers every item's asks together, not on a timer)"
)


@dataclass(frozen=True)
class Job:
    """One unit of work: ``key`` names it (an item's id), ``start`` makes its coroutine, ``calls``
    says how many calls it will make when that is known in advance (for the progress bar)."""

    key: str
    start: Start
    calls: int | None = None


class _Task:
    """A coroutine of a unit, and who waits for it (a gather, or the unit itself)."""

    __slots__ = ("coroutine", "done", "error", "parent", "result")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], parent: _Gathering | None) -> None:
        self.coroutine, self.parent = coroutine, parent
        self.done, self.result, self.error = False, None, None


class _Gathering:
    """A task waiting for several awaitables; resumes it with their results in order."""

    __slots__ = ("left", "results", "task")

    def __init__(self, task: _Task, size: int) -> None:
        self.task, self.left, self.results = task, size, [None] * size


class Unit:
    """One job in flight: its coroutines, its pending asks, its scopes, and how it ended."""

    def __init__(self, index: int, job: Job, driver: Driver) -> None:
        self.index, self.job, self.driver = index, job, driver
        self.pending: dict[int, Ask] = {}  # by id: a unit of thousands of agents removes each in O(1)
        self.waiting: dict[int, tuple[_Task, int | None, _Gathering | None]] = {}  # id(ask) -> who waits
        self.scopes: dict[str, Scope] = {}
        self.done, self.value, self.error = False, None, None
        self.reasks = self.unparsed = 0  # replies the task asked again about; still unfit after it
        self.tasks: list[_Task] = []

    def scope(self, item_id: str) -> Scope:
        if item_id not in self.scopes:
            self.scopes[item_id] = Scope(self.index, item_id)
        return self.scopes[item_id]

    def wake(self, task: _Task, value: Any) -> None:
        self.driver._ready.append((self, task, value, None))

    def deliver(self, gathering: _Gathering, slot: int, value: Any) -> None:
        self.driver._deliver(self, gathering, slot, value)

    def fail(self, error: BaseException) -> None:
        """Ends the unit with ``error``: its coroutines are closed and its asks withdrawn."""
        if self.done:
            return
        self.done, self.error = True, error
        for task in self.tasks:
            if not task.done:
                task.done = True
                with contextlib.suppress(RuntimeError):  # a coroutine that awaits in its finally block
                    task.coroutine.close()
        self.pending.clear()
        self.waiting.clear()


@dataclass
class Outcome:
    """How the driver's run went: per job key, the value its coroutine returned or its error."""

    values: dict[int, Any] = field(default_factory=dict)
    errors: dict[int, BaseException] = field(default_factory=dict)
    records: list[Message] = field(default_factory=list)
    steps: int = 0
    stopped: str | None = None
    model_seconds: float = 0.0


class Driver:
    """Runs jobs on the runtime; see the module docstring."""

    def __init__(
        self,
        calls: ModelCalls,
        settings: RunSettings,
        *,
        prior: Mapping[Site, Message] | None = None,
        stream: StreamCalls | None = None,
        on_message: Callable[[Message], None] = lambda message: None,
        on_done: Callable[[Unit], None] = lambda unit: None,
        keep_records: bool = True,
        progress: tqdm | None = None,
        progress_by: str = "call",  # what the bar counts: "call" or "unit"
    ) -> None:
        self.calls, self.settings, self.stream = calls, settings, stream
        self.prior = prior or {}
        self.on_message, self.on_done, self.keep_records = on_message, on_done, keep_records
        self.progress, self.progress_by = progress, progress_by
        self._in_stream: dict[str, Ask] = {}
        self._ready: deque[tuple[Unit, _Task, Any, BaseException | None]] = deque()

    # ---- coroutines ----

    def _spawn(self, unit: Unit, coroutine: Any, parent: _Gathering | None, slot: int | None) -> _Task:
        if not isinstance(coroutine, Coroutine):
            raise ProtocolError(
                f"{unit.job.key!r}: a protocol is an async function (async def ...(ctx, item)); "
                f"calling it gave {type(coroutine).__name__}, not a coroutine"
            )
        task = _Task(coroutine, parent)
        task.result = slot  # its place in the gather, until it returns
        unit.tasks.append(task)
        self._ready.append((unit, task, None, None))
        return task

    def _run(self) -> None:
        """Runs every woken coroutine until each waits on the runtime again."""
        while self._ready:
            unit, task, value, error = self._ready.popleft()
            if unit.done or task.done:
                continue
            try:
                waits = task.coroutine.throw(error) if error is not None else task.coroutine.send(value)
            except StopIteration as stop:
                self._finished(unit, task, stop.value, None)
                continue
            except Exception as raised:
                if isinstance(raised, RuntimeError) and "event loop" in str(raised):  # asyncio outside a loop
                    raised = ProtocolError(
                        f"{unit.job.key!r}: the protocol called asyncio ({raised}); {_ONLY}"
                    )
                self._finished(unit, task, None, raised)
                continue
            self._wait(unit, task, waits)

    def _wait(
        self,
        unit: Unit,
        task: _Task,
        waits: Any,
        gathering: _Gathering | None = None,
        slot: int | None = None,
    ) -> None:
        """Registers what ``task`` (or one slot of its gather) waits on."""
        if isinstance(waits, Ask):
            if waits.scope.unit != unit.index:
                unit.fail(
                    ProtocolError(f"{unit.job.key!r}: an ask made by another item's protocol was awaited")
                )
                return
            unit.pending[id(waits)] = waits
            unit.waiting[id(waits)] = (task, slot, gathering)
        elif isinstance(waits, Signal) and gathering is None:
            waits.waiting.append(task)
        elif isinstance(waits, Gather) and gathering is None:
            self._gather(unit, task, waits.awaitables)
        elif isinstance(waits, Signal):  # inside a gather: the gather's slot waits for it
            waits.waiting.append((gathering, slot))
        else:
            what = "a gather inside a gather" if isinstance(waits, Gather) else repr(waits)
            why = f"{unit.job.key!r}: the protocol awaited {what}, which the runtime does not drive"
            unit.fail(ProtocolError(f"{why}; {_ONLY}"))

    def _gather(self, unit: Unit, task: _Task, awaitables: Sequence[Any]) -> None:
        if not awaitables:
            unit.wake(task, [])
            return
        gathering = _Gathering(task, len(awaitables))
        for slot, awaitable in enumerate(awaitables):
            if isinstance(awaitable, Ask | Signal):
                if isinstance(awaitable, Signal) and awaitable.is_set:
                    self._deliver(unit, gathering, slot, awaitable.value)
                else:
                    self._wait(unit, task, awaitable, gathering, slot)
            else:
                self._spawn(unit, awaitable, gathering, slot)

    def _deliver(self, unit: Unit, gathering: _Gathering, slot: int, value: Any) -> None:
        if gathering.left <= 0:  # it raised already, or is done
            return
        gathering.results[slot] = value
        gathering.left -= 1
        if not gathering.left:
            unit.wake(gathering.task, gathering.results)

    def _finished(self, unit: Unit, task: _Task, value: Any, error: BaseException | None) -> None:
        slot = task.result
        task.done, task.result, task.error = True, value, error
        if task.parent is None:  # the unit's own coroutine
            if error is not None:
                unit.fail(error)
            else:
                unit.done, unit.value = True, value
        elif error is not None:  # a gathered coroutine failed: the gather raises it
            gathering, task.parent = task.parent, None
            if gathering.left > 0:
                gathering.left = -1
                self._ready.append((unit, gathering.task, None, error))
        elif task.parent.left > 0:
            self._deliver(unit, task.parent, slot, value)

    # ---- steps ----

    def run(self, jobs: Sequence[Job]) -> Outcome:
        with _heap_frozen():
            return self._steps(jobs)

    def _steps(self, jobs: Sequence[Job]) -> Outcome:
        started = time.perf_counter()
        outcome = Outcome()
        live: dict[int, Unit] = {}
        admitted = 0

        def admit(count: int) -> None:
            nonlocal admitted
            for index in range(admitted, min(len(jobs), admitted + count)):
                unit = live[index] = Unit(index, jobs[index], self)
                try:
                    self._spawn(unit, jobs[index].start(unit), None, None)
                except Exception as error:  # a protocol that is not a coroutine function, say
                    unit.fail(error)
            admitted = min(len(jobs), admitted + count)
            self._run()

        admit(self.settings.window or len(jobs))
        spent_tokens = spent_calls = hits = 0
        try:
            while True:
                finished = [u for u in live.values() if u.done]
                for unit in finished:  # units that ended without (more) asks
                    self._end(unit, outcome, live)
                if finished and self.settings.window:
                    admit(len(finished))
                    continue
                asks = sorted(
                    (a for u in live.values() for a in u.pending.values() if not a.submitted), key=_order
                )
                if not asks and not (self.stream and self.stream.in_flight):
                    for unit in sorted(live.values(), key=lambda u: u.index):  # waiting on what never comes
                        unit.fail(
                            ProtocolError(f"{unit.job.key!r}: the protocol waits on a signal nobody sets")
                        )
                        self._end(unit, outcome, live)
                    break
                made, completed = self._answer(asks, live, outcome.steps)
                for ask in completed:
                    self._resolve(live[ask.scope.unit], ask)
                self._run()
                for message in made:
                    if self.prior.get((message.item_id, message.round, message.sender)) is not message:
                        self.on_message(message)  # replayed ones are on record already
                    hits += message.cached
                    if not message.cached:
                        spent_tokens += message.usage.total_tokens
                        spent_calls += 1
                if self.keep_records:
                    outcome.records.extend(made)
                ended = sorted(i for i, u in live.items() if u.done)
                for index in ended:
                    self._end(live[index], outcome, live)
                if self.progress is not None:
                    self.progress.update(len(completed) if self.progress_by == "call" else len(ended))
                    self.progress.set_postfix(tokens=spent_tokens, cached=hits, refresh=False)
                outcome.steps += 1
                gc.freeze()  # what this step left alive is not walked again by every later collection
                if ended and self.settings.window:
                    admit(len(ended))
                if self.settings.budget and any(u.pending for u in live.values()):
                    outcome.stopped = self.settings.budget.exceeded(
                        spent_tokens, spent_calls, time.perf_counter() - started
                    )
                    if outcome.stopped:
                        break
        finally:
            if self.stream is not None:
                self.stream.close()
            for unit in live.values():  # stopped by a budget: close what is left
                unit.fail(RuntimeError("stopped"))
        outcome.model_seconds = self.calls.model_seconds
        return outcome

    def _end(self, unit: Unit, outcome: Outcome, live: dict[int, Unit]) -> None:
        if unit.error is not None:
            outcome.errors[unit.index] = unit.error
        else:
            outcome.values[unit.index] = unit.value
        self.on_done(unit)
        del live[unit.index]  # a finished unit holds no memory but its outcome

    def _resolve(self, unit: Unit, ask: Ask) -> None:
        """An ask whose turn ended: its agent's memory keeps it, and whoever awaited it wakes."""
        assert ask.message is not None
        ask.scope.keep(ask, ask.message.content)
        if ask.message.rejected:
            unit.reasks += len(ask.message.rejected)
            unit.unparsed += ask.reask is not None and ask.reask(ask.message.content) is not None
        del unit.pending[id(ask)]
        task, slot, gathering = unit.waiting.pop(id(ask))
        if gathering is None:
            unit.wake(task, ask.reply())
        else:
            self._deliver(unit, gathering, slot, ask.reply())  # type: ignore[arg-type]

    def _answer(
        self, asks: list[Ask], live: Mapping[int, Unit], step: int
    ) -> tuple[list[Message], list[Ask]]:
        """One step: the records it made (replayed first) and the asks whose turns ended."""
        made: list[Message] = []
        completed: list[Ask] = []
        fresh = []
        for ask in asks:
            prior = self.prior.get(ask.site)
            if prior is None:
                fresh.append(ask)
                continue
            asked = tuple((m.type, str(m.content)) for m in ask.conversation)
            if prior.prompt and prior.prompt != asked:
                item, round, agent = ask.site
                live[ask.scope.unit].fail(
                    ProtocolError(
                        f"replaying item {item!r}, round {round}, agent {agent!r}: the prompt differs "
                        "from the recorded one (the protocol, the task or the team changed since the run "
                        "was recorded); run into a new folder, or restore what changed"
                    )
                )
                continue
            ask.message = prior
            made.append(prior)
            completed.append(ask)
        live_fresh = [a for a in fresh if not live[a.scope.unit].done]
        if self.stream is None:
            more, ended = self._step_by_step(live_fresh, step)
        else:
            more, ended = self._streamed(live_fresh, step)
        return made + more, completed + ended

    def _step_by_step(self, asks: list[Ask], step: int) -> tuple[list[Message], list[Ask]]:
        """One ``model.batch`` per model and tools; tool-asking and re-asked turns stay pending."""
        made: list[Message] = []
        ended: list[Ask] = []
        using_tools: list[tuple[Ask, ModelReply]] = []
        for model, tools, group in _by_model(asks):
            replies = self.calls.call(
                model, [a.pending_conversation() for a in group], [a.site for a in group], tools
            )
            for ask, reply in zip(group, replies, strict=True):
                agent = ask.agent
                if not (reply.tool_calls and agent.tools and reply.error is None):
                    follow_up = ask.follow_up(reply)
                    if follow_up is not None:
                        ask.ask_again(reply, follow_up)
                        continue
                    ask.message = ask.record(reply, step)
                elif (ask.turn.steps if ask.turn else 0) < agent.max_tool_steps:
                    using_tools.append((ask, reply))
                    continue
                else:  # out of tool steps: its last reply stands, its calls unrun
                    note = f"not run: the turn reached max_tool_steps={agent.max_tool_steps}"
                    unrun = [
                        ToolUse(t["name"], t["args"], t.get("id") or "", error=note) for t in reply.tool_calls
                    ]
                    ask.message = ask.record(reply, step, unrun)
                made.append(ask.message)
                ended.append(ask)
        if using_tools:  # every tool call of this step at once; each result joins its turn
            jobs = [(ask.agent.tools, t) for ask, reply in using_tools for t in reply.tool_calls]
            uses = iter(run_calls(jobs, self.settings.tool_timeout))
            for ask, reply in using_tools:
                ask.use_tools(reply, [next(uses) for _ in reply.tool_calls])
        return made, ended

    def _streamed(self, asks: list[Ask], step: int) -> tuple[list[Message], list[Ask]]:
        """Calls join the running batch now and come back one by one as they end."""
        assert self.stream is not None
        by_name = {}
        for ask in asks:
            ask.submitted = "/".join(map(str, (ask.scope.unit, ask.round, ask.rank, ask.agent.name)))
            by_name[ask.submitted] = ask
        self._in_stream.update(by_name)
        done = self.stream.submit([(name, a.conversation, a.site) for name, a in by_name.items()])
        if not done and self.stream.in_flight:
            done = self.stream.collect()
        ended = sorted((self._in_stream.pop(name) for name in done), key=lambda a: a.order)
        for ask in ended:
            ask.message = ask.record(done[ask.submitted], step)  # type: ignore[index]
        return [a.message for a in ended], ended  # type: ignore[misc]


_order = attrgetter("order")


@contextlib.contextmanager
def _heap_frozen() -> Iterator[None]:
    """Leaves what was alive before the run out of the garbage collector's full passes during it.

    With torch, transformers and langchain loaded, the heap holds millions of objects, and each full
    collection (one per ~70,000 allocations; a run allocates a few dozen a call) walks them all: it
    was a third of the engine's own time per call on a scripted model. ``gc.freeze`` moves them
    to a generation that is not walked, and ``gc.unfreeze`` gives them back afterwards, so nothing is
    kept alive that would otherwise be freed; garbage from before the run waits until it ends.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _by_model(asks: Iterable[Ask]) -> list[tuple[Any, tuple[BaseTool, ...], list[Ask]]]:
    """The asks grouped by model and the tools bound to it: one batch each, in order of first ask."""
    groups: dict[tuple[int, tuple[int, ...]], tuple[Any, tuple[BaseTool, ...], list[Ask]]] = {}
    for ask in asks:
        agent = ask.agent
        key = (id(agent.model), tuple(map(id, agent.tools)))
        groups.setdefault(key, (agent.model, tuple(agent.tools), []))[2].append(ask)
    return list(groups.values())
