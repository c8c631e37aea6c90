"""The batched engine: every agent call that is ready, across all items, goes to the model together."""

from __future__ import annotations

import contextlib
import gc
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolCall
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from tqdm.auto import tqdm

from agentlab.agent import Agent
from agentlab.cache import CallCache, ModelIdentity
from agentlab.graph import CommGraph, EachAgent, FinalAgent
from agentlab.message import Message, ToolUse, Usage
from agentlab.protocols import GenerationStream, StreamingModel
from agentlab.run import ItemResult, Run
from agentlab.settings import RunSettings
from agentlab.tasks.task import Item, Score, Task
from agentlab.tools import run_calls, tool_message

if TYPE_CHECKING:
    from agentlab.team import Team


class AgentCallError(RuntimeError):
    """A model call failed and the run was asked to fail fast."""


@dataclass(frozen=True)
class _Reply:
    content: str
    usage: Usage
    model: str
    cached: bool = False
    latency: float = 0.0
    error: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()  # what the model asked to call, when it was given tools


@dataclass
class _Turn:
    """A call that goes to its model more than once: an agent using tools, or one the task asked
    again. The conversation so far (the first call's, then each tool-asking reply and the tools'
    results, or the rejected reply and the task's follow-up), and what its model calls have cost."""

    asked: list[BaseMessage]
    conversation: list[BaseMessage]
    usage: Usage = field(default_factory=Usage)
    latency: float = 0.0
    cached: bool = True
    uses: list[ToolUse] = field(default_factory=list)
    steps: int = 0
    rejected: list[str] = field(default_factory=list)


Call = tuple[int, int, int]  # (item index, round, agent index in that item's graph)


class Resumption(NamedTuple):
    """What a resumed run found done: items whose every call is on record, the calls replayed
    from the records, and the calls still to make."""

    items_done: int
    items: int
    replayed: int
    calls_left: int

    def __str__(self) -> str:
        if self.calls_left < 0:  # a routed team: its routes decide what is left
            return f"{self.replayed} messages replayed; the routes decide what is left of {self.items} items"
        return (
            f"{self.items_done} of {self.items} items already done, {self.replayed} messages replayed, "
            f"{self.calls_left} calls left"
        )


@dataclass(frozen=True)
class _Wiring:
    """A graph unrolled over rounds: who speaks in each round, whom each call hears and who hears
    it, what it waits on. Indices are into the graph's agents; rows are rounds."""

    graph: CommGraph
    agents: tuple[Agent, ...]
    rounds: int
    speaks: list[tuple[bool, ...]]  # [round][agent]
    hears_now: list[list[tuple[int, ...]]]  # [round][agent]: spatial predecessors
    hears_before: list[list[tuple[int, ...]]]  # [round][agent]: last round's, by temporal edges
    receivers: list[list[tuple[str, ...]]]  # [round][agent]
    releases: dict[tuple[int, int], list[tuple[int, int]]]  # (round, agent) -> calls that wait on it
    waits_on: list[list[int]]  # [round][agent]: how many calls must finish first
    calls: int

    @classmethod
    def of(cls, graph: CommGraph, agents: tuple[Agent, ...], rounds: int) -> _Wiring:
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
        # in order even when it hears nobody); it releases whoever waits on it
        releases: dict[tuple[int, int], list[tuple[int, int]]] = {
            (r, a): [] for r in range(rounds) for a in range(len(names)) if speaks[r][a]
        }
        waits_on = [[0] * len(names) for _ in range(rounds)]
        last_turn: list[int | None] = [None] * len(names)
        for r in range(rounds):
            for a in range(len(names)):
                if not speaks[r][a]:
                    continue
                deps = {(r, u) for u in hears_now[r][a]} | {(r - 1, u) for u in hears_before[r][a]}
                if last_turn[a] is not None:
                    deps.add((last_turn[a], a))
                waits_on[r][a] = len(deps)
                for dep in sorted(deps):
                    releases[dep].append((r, a))
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
        return cls(
            graph, agents, rounds, speaks, hears_now, hears_before, receivers, releases, waits_on,
            sum(map(sum, speaks)),
        )  # fmt: skip

    def sites(self) -> list[tuple[int, int]]:
        """Every (round, agent) that makes a call."""
        return [(r, a) for r in range(self.rounds) for a in range(len(self.agents)) if self.speaks[r][a]]


class _ItemState:
    """One item in flight: its texts so far [round][agent], what each call was asked (the last
    message it was sent, which memory replays), how many calls each call still waits on, and how
    many calls it has left."""

    __slots__ = (
        "asked", "calls_left", "index", "item", "pending", "prompt", "reasks", "texts", "turns", "unparsed",
        "wiring",
    )  # fmt: skip

    def __init__(self, index: int, item: Item, wiring: _Wiring, prompt: str | None) -> None:
        self.index, self.item, self.wiring = index, item, wiring
        self.prompt = prompt  # the task prompt, when every agent is shown the same one
        self.texts: list[list[str | None]] = [[None] * len(wiring.agents) for _ in range(wiring.rounds)]
        self.asked: list[list[str | None]] = [[None] * len(wiring.agents) for _ in range(wiring.rounds)]
        self.pending = [row[:] for row in wiring.waits_on]
        self.calls_left = wiring.calls
        self.turns: dict[tuple[int, int], _Turn] = {}  # calls in the middle of using tools
        self.reasks = self.unparsed = 0  # replies the task asked again about; still unfit after it

    def first_calls(self) -> list[Call]:
        return [(self.index, r, a) for r, a in self.wiring.sites() if not self.pending[r][a]]

    def site(self, r: int, a: int) -> tuple[str, int, str]:
        """(item id, round, agent): where a call sits, as records and the cache name it."""
        return (self.item.id, r, self.wiring.graph.agents[a])

    def conversation(self, task: Task, r: int, a: int) -> list[BaseMessage]:
        turn = self.turns.get((r, a))
        if turn is not None:
            return turn.conversation
        w, texts = self.wiring, self.texts
        names, me = w.graph.agents, w.graph.agents[a]
        heard = [(names[u], texts[r - 1][u]) for u in w.hears_before[r][a]] if r else []
        heard += [(names[u], texts[r][u]) for u in w.hears_now[r][a]]
        heard = [(name, task.heard(text, name, me)) for name, text in heard if text]
        heard = [(name, text) for name, text in heard if text]  # a failed or empty call says nothing
        prompt = self.prompt if self.prompt is not None else task.prompt_for(self.item, me, r, w.rounds)
        convo = w.agents[a].prompt(prompt, heard, r)
        remembered = self.remembered(r, a)
        if not remembered:
            return convo
        history: list[BaseMessage] = []
        for r0 in remembered:
            history += [HumanMessage(self.asked[r0][a] or ""), AIMessage(self.texts[r0][a] or "")]
        return convo[:-1] + history + convo[-1:]  # after the role's system message, before the new turn

    def remembered(self, r: int, a: int) -> tuple[int, ...]:
        """The earlier rounds whose turns call (r, a) carries: those its agent's memory keeps and
        in which it said something (a failed turn is left out)."""
        return tuple(r0 for r0 in self.wiring.agents[a].remembered(r) if self.texts[r0][a])

    def replay(self, r: int, a: int, prior: Message, task: Task) -> None:
        self.texts[r][a] = prior.content
        self.asked[r][a] = prior.prompt[-1][1] if prior.prompt else None
        self.count_reasks(prior, task)

    def count_reasks(self, message: Message, task: Task) -> None:
        if message.rejected:
            self.reasks += len(message.rejected)
            self.unparsed += unfit(task, self.item, message, self.wiring.rounds)

    def ask_again(self, r: int, a: int, convo: list[BaseMessage], reply: _Reply, follow_up: str) -> None:
        """Keeps a reply the task rejected and its follow-up; the call goes to the model again."""
        turn = self.turns.get((r, a)) or self.turns.setdefault((r, a), _Turn(convo, list(convo)))
        turn.conversation = [*turn.conversation, AIMessage(reply.content), HumanMessage(follow_up)]
        turn.usage, turn.latency = turn.usage + reply.usage, turn.latency + reply.latency
        turn.cached = turn.cached and reply.cached
        turn.rejected.append(reply.content)

    def rejections(self, r: int, a: int) -> int:
        turn = self.turns.get((r, a))
        return len(turn.rejected) if turn is not None else 0

    def use_tools(self, r: int, a: int, convo: list[BaseMessage], reply: _Reply, uses: list[ToolUse]) -> None:
        """Keeps a tool-asking reply and its tools' results; the call goes to the model again."""
        turn = self.turns.get((r, a)) or self.turns.setdefault((r, a), _Turn(convo, list(convo)))
        turn.uses += [replace(u, step=turn.steps, usage=reply.usage) for u in uses]
        ask = AIMessage(reply.content, tool_calls=list(reply.tool_calls))
        turn.conversation = [*turn.conversation, ask, *map(tool_message, uses)]
        turn.usage, turn.latency = turn.usage + reply.usage, turn.latency + reply.latency
        turn.cached = turn.cached and reply.cached
        turn.steps += 1

    def tool_steps(self, r: int, a: int) -> int:
        turn = self.turns.get((r, a))
        return turn.steps if turn is not None else 0

    def message(
        self,
        r: int,
        a: int,
        convo: list[BaseMessage],
        reply: _Reply,
        step: int,
        unrun: Sequence[ToolUse] = (),
    ) -> Message:
        """The record of a finished call: with tools, of its whole turn (every model call's tokens)."""
        turn = self.turns.pop((r, a), None)
        usage, latency, cached, uses, rejected = reply.usage, reply.latency, reply.cached, (), ()
        if turn is not None:
            convo, usage, latency = turn.asked, turn.usage + reply.usage, turn.latency + reply.latency
            cached, uses, rejected = turn.cached and reply.cached, tuple(turn.uses), tuple(turn.rejected)
        if unrun:
            uses = (*uses, *(replace(u, step=turn.steps if turn else 0, usage=reply.usage) for u in unrun))
        self.texts[r][a] = reply.content
        self.asked[r][a] = str(convo[-1].content)
        return Message(
            self.wiring.graph.agents[a],
            self.wiring.receivers[r][a],
            r,
            reply.content,
            self.item.id,
            step,
            usage,
            latency,
            cached,
            reply.error,
            reply.model,
            tuple((m.type, str(m.content)) for m in convo),
            self.remembered(r, a),
            uses,
            rejected,
        )

    def complete(self, r: int, a: int) -> list[Call] | None:
        """Marks a call done: the calls it releases, or None when it was the item's last."""
        self.calls_left -= 1
        if not self.calls_left:
            return None
        released = []
        for r2, b in self.wiring.releases[(r, a)]:
            self.pending[r2][b] -= 1
            if not self.pending[r2][b]:
                released.append((self.index, r2, b))
        return released

    def last_round(self) -> dict[str, str | None]:
        return dict(zip(self.wiring.graph.agents, self.texts[-1], strict=True))


class Engine:
    """Runs a team over all items of a task, one dependency-ordered step at a time.

    A call (item, round, agent) is ready once the agent has heard everyone it listens to: its
    spatial predecessors in this round and its temporal predecessors in the last. Each step sends
    every ready call, grouped by model, to ``model.batch``; the replies release the next calls.
    Calls are ordered by (item, round, agent) inside a step, so the same inputs give the same records.
    Each item may have its own graph (``team.graph_for(item)``) and its own number of rounds.
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
        """``rounds``: None takes each item's rounds from the task (``task.rounds_for``), else 1.
        ``settings``: retries, time-outs, window, streaming, budget (``RunSettings``). Streamed
        records are in completion order, so their steps depend on timing.
        ``prior``: messages of an earlier, interrupted run, keyed by (item id, round, agent);
        those calls are replayed, not made again. ``on_message`` sees each new message as it is
        made, ``on_result`` each item as soon as its last call is done.
        ``keep_records=False``: messages go only to ``on_message`` (a run folder on disk), not into
        the returned run."""
        if rounds is not None and rounds < 1:
            raise ValueError(f"rounds must be at least 1; got {rounds}")
        self.team, self.task, self.rounds = team, task, rounds
        self.settings = settings if settings is not None else RunSettings()
        self.cache, self.progress = cache, progress
        self.prior = dict(prior or {})
        self.on_message, self.on_result = on_message, on_result
        self.keep_records = keep_records
        self.model_seconds = 0.0
        self._wirings: dict[tuple[CommGraph, int], _Wiring] = {}
        self._bindings: dict[tuple[int, tuple[int, ...]], Runnable[Any, Any]] = {}

    def wiring(self, item: Item) -> _Wiring:
        graph = self.team.graph_for(item)
        rounds = self.rounds or graph.wired_rounds or self.task.rounds_for(item) or 1
        if graph.wired_rounds not in (None, rounds):
            raise ValueError(
                f"the graph of item {item.id!r} is wired for {graph.wired_rounds} rounds, but the run "
                f"asks for {rounds}; run it with rounds={graph.wired_rounds}"
            )
        known = self._wirings.get((graph, rounds))
        if known is None:
            known = self._wirings[(graph, rounds)] = _Wiring.of(graph, self.team.agents_for(graph), rounds)
        return known

    def resumption(self) -> Resumption | None:
        """What this run picks up from ``prior`` (None when there is nothing to pick up)."""
        if not self.prior:
            return None
        from agentlab.routing import Routing

        if isinstance(self.team.graph, Routing):  # its routes decide how many turns are left
            ids = {item.id for item in self.task.items}
            replayed = sum(site[0] in ids for site in self.prior)
            return Resumption(0, len(self.task.items), replayed, -1)
        done = replayed = total = 0
        for item in self.task.items:
            w = self.wiring(item)
            have = sum((item.id, r, w.graph.agents[a]) in self.prior for r, a in w.sites())
            done += have == w.calls
            replayed += have
            total += w.calls
        return Resumption(done, len(self.task.items), replayed, total - replayed)

    def run(self) -> Run:
        from agentlab.routing import Routing
        from agentlab.routing.loop import run_routed

        with _heap_frozen():
            if isinstance(self.team.graph, Routing):
                return run_routed(self, self.team.graph)
            return self._run()

    def _run(self) -> Run:
        started = time.perf_counter()
        settings = self.settings
        items = list(self.task.items)
        wiring = [self.wiring(item) for item in items]
        same_prompt = type(self.task).prompt_for is Task.prompt_for
        live: dict[int, _ItemState] = {}
        admitted = 0

        def admit(count: int) -> list[Call]:
            nonlocal admitted
            fresh: list[Call] = []
            for i in range(admitted, min(len(items), admitted + count)):
                prompt = self.task.prompt(items[i]) if same_prompt else None
                live[i] = state = _ItemState(i, items[i], wiring[i], prompt)
                fresh += state.first_calls()
            admitted = min(len(items), admitted + count)
            return fresh

        ready = admit(settings.window or len(items))
        records: list[Message] = []
        results: dict[int, ItemResult] = {}
        bar = tqdm(
            total=sum(w.calls for w in wiring),
            desc=f"{self.team.name} on {self.task.name}",
            unit="call",
            disable=not self.progress,
        )
        step = spent_tokens = spent_calls = hits = 0
        stopped = None
        stream = self._open_stream(wiring)
        inflight: dict[str, tuple[Call, list[BaseMessage], str | None]] = {}

        def record(
            call: Call, convo: list[BaseMessage], reply: _Reply, unrun: Sequence[ToolUse] = ()
        ) -> Message:
            i, r, a = call
            kept = live[i].message(r, a, convo, reply, step, unrun)
            live[i].count_reasks(kept, self.task)
            self.on_message(kept)
            return kept

        try:
            while ready or inflight:
                made: list[Message] = []
                replayed = {c for c in ready if live[c[0]].site(c[1], c[2]) in self.prior}
                for i, r, a in sorted(replayed):
                    prior = self.prior[live[i].site(r, a)]
                    live[i].replay(r, a, prior, self.task)
                    made.append(prior)
                fresh = [c for c in ready if c not in replayed]
                using_tools: list[tuple[Call, list[BaseMessage], _Reply]] = []
                asked_again: list[Call] = []
                if stream is None:  # one batch per model per step; the step ends when all its calls do
                    for model, tools, calls in self._by_model(fresh, wiring):
                        conversations = [live[i].conversation(self.task, r, a) for i, r, a in calls]
                        sites = [live[i].site(r, a) for i, r, a in calls]
                        replies = self._call(model, conversations, sites, tools)
                        for c, v, y in zip(calls, conversations, replies, strict=True):
                            agent = wiring[c[0]].agents[c[2]]
                            if not (y.tool_calls and agent.tools and y.error is None):
                                follow_up = self._follow_up(c, y, live)
                                if follow_up is not None:
                                    live[c[0]].ask_again(c[1], c[2], v, y, follow_up)
                                    asked_again.append(c)
                                    continue
                                made.append(record(c, v, y))
                            elif live[c[0]].tool_steps(c[1], c[2]) < agent.max_tool_steps:
                                using_tools.append((c, v, y))
                            else:  # out of tool steps: its last reply stands, its calls unrun
                                note = f"not run: the turn reached max_tool_steps={agent.max_tool_steps}"
                                unrun = [ToolUse(t["name"], t["args"], t.get("id") or "", error=note)
                                         for t in y.tool_calls]  # fmt: skip
                                made.append(record(c, v, y, unrun))
                    if using_tools:
                        self._use_tools(using_tools, live, wiring)
                    continuing = {c for c, _, _ in using_tools} | set(asked_again)
                    completed = [c for c in ready if c not in continuing]
                else:  # calls join the running batch now and come back one by one as they end
                    completed = sorted(replayed)
                    for call, convo, reply in self._submit(stream, fresh, live, inflight):
                        made.append(record(call, convo, reply))
                        completed.append(call)
                    if not completed and inflight:
                        for call, convo, reply in self._collect(stream, inflight):
                            made.append(record(call, convo, reply))
                            completed.append(call)
                released: list[Call] = []
                for i, r, a in completed:
                    state = live[i]
                    follow = state.complete(r, a)
                    if follow is None:
                        results[i] = decide(state.wiring.graph, self.task, state.item, state.last_round())
                        if state.reasks:
                            results[i] = with_reasks(results[i], state.reasks, state.unparsed)
                        self.on_result(results[i])
                        del live[i]  # a finished item holds no memory but its result
                        released += admit(1) if settings.window else []
                    else:
                        released += follow
                released += [c for c, _, _ in using_tools]  # each asks its model again, with the results
                released += asked_again
                for message in made:
                    hits += message.cached
                    if not message.cached:
                        spent_tokens += message.usage.total_tokens
                        spent_calls += 1
                if self.keep_records:
                    records.extend(made)
                bar.update(len(completed))
                bar.set_postfix(
                    items=f"{len(results)}/{len(items)}", tokens=spent_tokens, cached=hits, refresh=False
                )
                ready = sorted(released)
                step += 1
                if (ready or inflight) and settings.budget:
                    stopped = settings.budget.exceeded(
                        spent_tokens, spent_calls, time.perf_counter() - started
                    )
                    if stopped:
                        break
        finally:
            bar.close()
            if stream is not None:
                stream.close()  # calls still running after a budget stop are dropped, and redone on resume
        fixed = self.team.graph if isinstance(self.team.graph, CommGraph) else None
        return Run(
            self.team.name,
            self.task.name,
            max((w.rounds for w in wiring), default=self.rounds or 1),
            records,
            [results[i] for i in sorted(results)],
            time.perf_counter() - started,
            self.model_seconds,
            step,
            stopped,
            graph=fixed,
            graphs={} if fixed is not None else {it.id: w.graph for it, w in zip(items, wiring, strict=True)},
            origin=self.team.origin,
        )

    def _open_stream(self, wiring: list[_Wiring]) -> GenerationStream | None:
        """A generation stream when every agent shares one model that streams (continuous batching
        on a GPU, or forced), unless ``stream=False``; else None (step by step)."""
        if self.settings.stream is False:
            return None
        models = {id(agent.model): agent.model for w in wiring for agent in w.agents}
        model = next(iter(models.values()), None)
        tools = any(agent.tools for w in wiring for agent in w.agents)  # a tool loop goes step by step
        tools = tools or type(self.task).reask is not Task.reask  # so does a task that re-asks
        if tools or not (
            len(models) == 1 and isinstance(model, StreamingModel) and model.uses_continuous_batching()
        ):
            model = None
        if self.settings.stream and model is None:
            raise ValueError(
                "stream=True needs every agent on one local model with continuous batching "
                "(LocalChatModel(generation='continuous') or a GPU)"
            )
        return model.open_stream() if model is not None else None

    def _submit(
        self,
        stream: GenerationStream,
        calls: list[Call],
        live: Mapping[int, _ItemState],
        inflight: dict[str, tuple[Call, list[BaseMessage], str | None]],
    ) -> list[tuple[Call, list[BaseMessage], _Reply]]:
        """Cache hits come back at once; every other call joins the running batch."""
        identity = ModelIdentity.of(stream.llm)
        use_cache = self.cache is not None and identity.cacheable
        convos = [live[i].conversation(self.task, r, a) for i, r, a in calls]
        keys: list[str | None] = [
            identity.key(v, live[i].site(r, a)) if use_cache else None
            for (i, r, a), v in zip(calls, convos, strict=True)
        ]
        known = self._cached([k for k in keys if k]) if use_cache else {}
        done = []
        for call, convo, key in zip(calls, convos, keys, strict=True):
            if key in known:
                done.append((call, convo, known[key]))
            else:
                name = "/".join(map(str, call))
                inflight[name] = (call, convo, key)
                stream.submit(name, convo)
        return done

    def _collect(
        self, stream: GenerationStream, inflight: dict[str, tuple[Call, list[BaseMessage], str | None]]
    ) -> list[tuple[Call, list[BaseMessage], _Reply]]:
        """Wait for the running batch to finish at least one call; its replies, in call order."""
        started = time.perf_counter()
        try:
            finished = stream.collect(timeout=self.settings.timeout)
        except TimeoutError as error:  # not retried: the batch that holds them is stuck
            finished = [(name, error) for name in stream.cancel_all()]
        self.model_seconds += time.perf_counter() - started
        done = []
        for name, output in finished:
            call, convo, key = inflight.pop(name)
            latency = (
                output.response_metadata.get("batch_latency", 0.0) if isinstance(output, AIMessage) else 0.0
            )
            reply = self._reply(output, latency, stream.llm)
            if key is not None:
                self._store({key: reply})
            done.append((call, convo, reply))
        return sorted(done, key=lambda d: d[0])

    @staticmethod
    def _by_model(
        calls: Sequence[Call], wiring: list[_Wiring]
    ) -> list[tuple[BaseChatModel, tuple[BaseTool, ...], list[Call]]]:
        """The calls grouped by model and the tools bound to it: one batch each."""
        groups: dict[tuple[int, tuple[int, ...]], tuple[BaseChatModel, tuple[BaseTool, ...], list[Call]]] = {}
        for call in calls:
            agent = wiring[call[0]].agents[call[2]]
            key = (id(agent.model), tuple(map(id, agent.tools)))
            groups.setdefault(key, (agent.model, tuple(agent.tools), []))[2].append(call)  # type: ignore[arg-type]
        return list(groups.values())

    def _follow_up(self, call: Call, reply: _Reply, live: Mapping[int, _ItemState]) -> str | None:
        """What the task tells an agent whose reply does not fit, the first time only."""
        i, r, a = call
        state = live[i]
        if reply.error is not None or state.rejections(r, a) >= MAX_REASKS:
            return None
        agent = state.wiring.graph.agents[a]
        return self.task.reask(reply.content, state.item, agent, r, state.wiring.rounds)

    def _use_tools(
        self,
        using: list[tuple[Call, list[BaseMessage], _Reply]],
        live: Mapping[int, _ItemState],
        wiring: list[_Wiring],
    ) -> None:
        """Runs every tool call of this step at once; each call's results join its conversation."""
        jobs = [(wiring[c[0]].agents[c[2]].tools, t) for c, _, y in using for t in y.tool_calls]
        uses = iter(run_calls(jobs, self.settings.tool_timeout))
        for (i, r, a), convo, reply in using:
            live[i].use_tools(r, a, convo, reply, [next(uses) for _ in reply.tool_calls])

    def _call(
        self,
        model: BaseChatModel,
        conversations: list[list[BaseMessage]],
        sites: list[tuple[str, int, str]],
        tools: tuple[BaseTool, ...] = (),
    ) -> list[_Reply]:
        """Answer one step's calls for one model: from the cache where it can, else in one batch.

        With the cache on, identical calls inside a step are sent once and the copies count as
        cache hits, exactly as they would had they come one step later.
        """
        identity = ModelIdentity.of(model)
        use_cache = self.cache is not None and identity.cacheable
        if not use_cache:
            return self._batch(model, conversations, tools)
        schemas = [convert_to_openai_tool(t) for t in tools]
        keys = [identity.key(c, site, schemas) for c, site in zip(conversations, sites, strict=True)]
        known = self._cached(keys)
        first = {k: j for j, k in reversed(list(enumerate(keys))) if k not in known}
        todo = sorted(first.values())
        fresh = self._batch(model, [conversations[j] for j in todo], tools)
        for j, reply in zip(todo, fresh, strict=True):
            if reply.error is None:
                known[keys[j]] = replace(reply, cached=True, latency=0.0)
        self._store({keys[j]: r for j, r in zip(todo, fresh, strict=True)})
        sent = dict(zip(todo, fresh, strict=True))
        # a copy of a call that failed shares its error; every other copy is a hit
        return [sent.get(j) or known.get(k) or sent[first[k]] for j, k in enumerate(keys)]

    def _cached(self, keys: Sequence[str]) -> dict[str, _Reply]:
        """The cache's replies for these keys, marked as hits."""
        assert self.cache is not None
        return {
            k: _Reply(
                h["content"],
                Usage(**h["usage"]),
                h["model"],
                cached=True,
                tool_calls=tuple(h.get("tool_calls", ())),
            )
            for k, h in self.cache.get_many(list(keys)).items()
        }

    def _store(self, replies: Mapping[str, _Reply]) -> None:
        """Keep the replies that did not fail."""
        assert self.cache is not None
        self.cache.put_many(
            {
                k: {
                    "content": r.content,
                    "usage": asdict(r.usage),
                    "model": r.model,
                    **({"tool_calls": list(r.tool_calls)} if r.tool_calls else {}),
                }
                for k, r in replies.items()
                if r.error is None
            }
        )

    def _batch(
        self, model: BaseChatModel, conversations: list[list[BaseMessage]], tools: tuple[BaseTool, ...] = ()
    ) -> list[_Reply]:
        """One ``model.batch`` (with ``tools`` bound); calls that failed in a way that may pass are
        retried with backoff."""
        if not conversations:
            return []
        config: RunnableConfig = {"max_concurrency": self.settings.max_concurrency}
        started = time.perf_counter()
        runner = self._bound(model, tools)
        outputs = self._batch_within_timeout(runner, conversations, config)
        for attempt in range(self.settings.retries):
            failed = [j for j, out in enumerate(outputs) if isinstance(out, BaseException) and transient(out)]
            if not failed:
                break
            time.sleep(self.settings.retry_backoff * 2**attempt)
            again = self._batch_within_timeout(runner, [conversations[j] for j in failed], config)
            for j, out in zip(failed, again, strict=True):
                outputs[j] = out
        latency = time.perf_counter() - started
        self.model_seconds += latency
        return [self._reply(output, latency, model) for output in outputs]

    def _bound(self, model: BaseChatModel, tools: tuple[BaseTool, ...]) -> Runnable[Any, Any]:
        """``model`` with ``tools`` bound (once per model and tools), or the model itself."""
        if not tools:
            return model
        key = (id(model), tuple(map(id, tools)))
        if key not in self._bindings:
            self._bindings[key] = model.bind_tools(list(tools))
        return self._bindings[key]

    def _batch_within_timeout(
        self, model: Runnable[Any, Any], conversations: list[list[BaseMessage]], config: RunnableConfig
    ) -> list[Any]:
        timeout = self.settings.timeout
        if timeout is None:
            return model.batch(conversations, config, return_exceptions=True)
        # A thread cannot be killed: a hung call is abandoned (its thread finishes, or not, on its own).
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentlab-call")
        future = pool.submit(model.batch, conversations, config, return_exceptions=True)
        pool.shutdown(wait=False)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            error = TimeoutError(f"no reply within timeout={timeout:g} s")
            return [error] * len(conversations)

    def _reply(self, output: Any, latency: float, model: BaseChatModel) -> _Reply:
        if isinstance(output, BaseException):
            if self.settings.fail_fast:
                raise AgentCallError(f"model call failed: {output!r}") from output
            return _Reply(
                "", Usage(), model_name(model), latency=latency, error=f"{type(output).__name__}: {output}"
            )
        assert isinstance(output, AIMessage)
        name = output.response_metadata.get("model_name") or model_name(model)
        usage = Usage.from_metadata(output.usage_metadata)
        return _Reply(output.text, usage, name, latency=latency, tool_calls=tuple(output.tool_calls))


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


MAX_REASKS = 1  # a task's follow-up is sent once per turn, as AgentsNet's authors do


def unfit(task: Task, item: Item, message: Message, rounds: int) -> bool:
    """Whether a re-asked turn's final reply still does not fit the task's format."""
    return task.reask(message.content, item, message.sender, message.round, rounds) is not None


def with_reasks(result: ItemResult, reasks: int, unparsed: int) -> ItemResult:
    """``result`` with how often its agents were asked again, and how many still did not fit."""
    return replace(result, scoring={**result.scoring, "reasks": reasks, "unparsed_after_reask": unparsed})


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


def model_name(model: BaseChatModel) -> str:
    params = model._identifying_params
    return str(params.get("model_name") or params.get("model") or model._llm_type)


_TRANSIENT_NAMES = ("Timeout", "RateLimit", "Connection", "Overloaded", "Unavailable", "OutOfMemory")


def transient(error: BaseException) -> bool:
    """Whether trying the same call again may succeed: time-outs, rate limits, dropped connections,
    overloaded services, out of memory (the local model retries alone, in a smaller batch)."""
    return isinstance(error, TimeoutError | ConnectionError) or any(
        word in type(error).__name__ for word in _TRANSIENT_NAMES
    )
