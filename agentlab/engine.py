"""The batched engine: every agent call that is ready, across all items, goes to the model together."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from tqdm.auto import tqdm

from agentlab.agent import Agent
from agentlab.cache import CallCache, ModelIdentity
from agentlab.graph import CommGraph, EachAgent, FinalAgent
from agentlab.message import Message, Usage
from agentlab.run import ItemResult, Run
from agentlab.tasks.task import Item, Task

if TYPE_CHECKING:
    from agentlab.team import Team


class AgentCallError(RuntimeError):
    """A model call failed and the run was asked to fail fast."""


@dataclass(frozen=True)
class Budget:
    """Limits on what a run may spend; reaching one stops the run cleanly after the current step.

    Tokens and calls count what the model computed for this run, in earlier (resumed) sessions
    too; cache hits are free. Seconds count this session only.
    """

    max_tokens: int | None = None
    max_calls: int | None = None
    max_seconds: float | None = None

    def exceeded(self, tokens: int, calls: int, seconds: float) -> str | None:
        for name, used, limit in (
            ("max_tokens", tokens, self.max_tokens),
            ("max_calls", calls, self.max_calls),
            ("max_seconds", seconds, self.max_seconds),
        ):
            if limit is not None and used >= limit:
                return f"budget {name}={limit} reached ({used:g} used)"
        return None


@dataclass(frozen=True)
class _Reply:
    content: str
    usage: Usage
    model: str
    cached: bool = False
    latency: float = 0.0
    error: str | None = None


Call = tuple[int, int, int]  # (item index, round, agent index in that item's graph)


@dataclass(frozen=True)
class _Wiring:
    """A graph unrolled over rounds: who each call hears, who hears it, what it waits on."""

    graph: CommGraph
    agents: tuple[Agent, ...]
    rounds: int
    hears_now: list[tuple[int, ...]]
    hears_before: list[tuple[int, ...]]
    receivers: list[list[tuple[str, ...]]]  # [round][agent]
    releases: dict[tuple[int, int], list[tuple[int, int]]]  # (round, agent) -> calls that wait on it
    waits_on: list[list[int]]  # [round][agent]: how many calls must finish first

    @classmethod
    def of(cls, graph: CommGraph, agents: tuple[Agent, ...], rounds: int) -> _Wiring:
        names = graph.agents
        index = {name: i for i, name in enumerate(names)}
        hears_now = [tuple(index[u] for u in graph.spatial_predecessors(a)) for a in names]
        hears_before = [tuple(index[u] for u in graph.temporal_predecessors(a)) for a in names]
        # who hears each agent: in the last round only its spatial successors, as no round follows
        now = [tuple(v for u, v in graph.spatial if u == a) for a in names]
        later = [tuple(v for u, v in graph.temporal if u == a) for a in names]
        receivers = [
            [now[a] + (later[a] if r + 1 < rounds else ()) for a in range(len(names))] for r in range(rounds)
        ]
        # a call releases its hearers in this round and the next, and its own agent's next turn
        # (an agent's turns run in order even when it hears nobody)
        releases: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for r in range(rounds):
            for a, name in enumerate(names):
                nxt = ({index[v] for u, v in graph.temporal if u == name} | {a}) if r + 1 < rounds else set()
                releases[(r, a)] = [(r, index[v]) for u, v in graph.spatial if u == name] + [
                    (r + 1, b) for b in sorted(nxt)
                ]
        waits_on = [
            [len(hears_now[a]) + (len(set(hears_before[a]) | {a}) if r else 0) for a in range(len(names))]
            for r in range(rounds)
        ]
        return cls(graph, agents, rounds, hears_now, hears_before, receivers, releases, waits_on)

    @property
    def calls(self) -> int:
        return len(self.agents) * self.rounds


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
        *,
        cache: CallCache | None = None,
        fail_fast: bool = False,
        progress: bool = True,
        max_concurrency: int | None = None,
        budget: Budget | None = None,
        prior: Mapping[tuple[str, int, str], Message] | None = None,
        on_message: Callable[[Message], None] = lambda message: None,
        on_result: Callable[[ItemResult], None] = lambda result: None,
        retries: int = 2,
        retry_backoff: float = 1.0,
        timeout: float | None = None,
        window: int | None = None,
        keep_records: bool = True,
        stream: bool | None = None,
    ) -> None:
        """``stream``: feed calls one by one into a running continuous batch and release follow-up
        calls the moment their inputs end, instead of step by step (None: when the model can, i.e.
        one local model with continuous batching on a GPU). Streamed records are in completion
        order, so their steps depend on timing. ``window``: at most this many items in flight; a
        finished item lets the next one in (bounds memory and batch size on huge tasks).
        ``keep_records=False``: messages go only to ``on_message`` (a run folder on disk), not into
        the returned run.
        ``timeout``: seconds one ``model.batch`` may take; past it, its calls fail with a
        ``TimeoutError`` (transient, so retried) and the run goes on without waiting for them. When
        streaming: seconds without any call finishing; past it, every call in flight fails (not
        retried, as the batch that holds them is stuck).
        ``rounds``: None takes each item's rounds from the task (``task.rounds_for``), else 1.
        ``prior``: messages of an earlier, interrupted run, keyed by (item id, round, agent);
        those calls are replayed, not made again. ``on_message`` sees each new message as it is
        made, ``on_result`` each item as soon as its last call is done."""
        if rounds is not None and rounds < 1:
            raise ValueError(f"rounds must be at least 1; got {rounds}")
        self.team, self.task, self.rounds = team, task, rounds
        self.cache, self.fail_fast, self.progress = cache, fail_fast, progress
        self.max_concurrency, self.budget = max_concurrency, budget
        self.prior = dict(prior or {})
        self.on_message, self.on_result = on_message, on_result
        self.retries, self.retry_backoff, self.timeout = retries, retry_backoff, timeout
        if window is not None and window < 1:
            raise ValueError(f"window must be at least 1 item; got {window}")
        self.window, self.keep_records, self.stream = window, keep_records, stream
        self.model_seconds = 0.0
        self._wirings: dict[tuple[CommGraph, int], _Wiring] = {}

    def wiring(self, item: Item) -> _Wiring:
        graph = self.team.graph_for(item)
        rounds = self.rounds or self.task.rounds_for(item) or 1
        known = self._wirings.get((graph, rounds))
        if known is None:
            known = self._wirings[(graph, rounds)] = _Wiring.of(graph, self.team.agents_for(graph), rounds)
        return known

    def run(self) -> Run:
        started = time.perf_counter()
        items = list(self.task.items)
        wiring = [self.wiring(item) for item in items]
        same_prompt = type(self.task).prompt_for is Task.prompt_for
        # per item in flight: its task prompt (when all agents share one), its texts [round][agent],
        # and how many calls each call still waits on
        prompts: dict[int, str | None] = {}
        texts: dict[int, list[list[str | None]]] = {}
        pending: dict[int, list[list[int]]] = {}
        calls_left = [w.calls for w in wiring]
        admitted = 0

        def admit(count: int) -> list[Call]:
            nonlocal admitted
            fresh = []
            for i in range(admitted, min(len(items), admitted + count)):
                w = wiring[i]
                prompts[i] = self.task.prompt(items[i]) if same_prompt else None
                texts[i] = [[None] * len(w.agents) for _ in range(w.rounds)]
                pending[i] = [row[:] for row in w.waits_on]
                fresh += [(i, 0, a) for a in range(len(w.agents)) if not pending[i][0][a]]
            admitted = min(len(items), admitted + count)
            return fresh

        ready = admit(self.window or len(items))
        records: list[Message] = []
        results: dict[int, ItemResult] = {}
        bar = tqdm(
            total=sum(calls_left),
            desc=f"{self.team.name} on {self.task.name}",
            unit="call",
            disable=not self.progress,
        )
        step = spent_tokens = spent_calls = hits = 0
        stopped = None
        stream = self._open_stream(wiring)
        inflight: dict[str, tuple[Call, list[BaseMessage], str | None]] = {}

        def record(call: Call, convo: list[BaseMessage], reply: _Reply) -> Message:
            i, r, a = call
            texts[i][r][a] = reply.content
            kept = Message(
                wiring[i].graph.agents[a],
                wiring[i].receivers[r][a],
                r,
                reply.content,
                items[i].id,
                step,
                reply.usage,
                reply.latency,
                reply.cached,
                reply.error,
                reply.model,
                tuple((m.type, str(m.content)) for m in convo),
            )
            self.on_message(kept)
            return kept

        def conversation(call: Call) -> list[BaseMessage]:
            i, r, a = call
            return self._conversation(items[i], prompts[i], wiring[i], texts[i], r, a)

        try:
            while ready or inflight:
                made: list[Message] = []
                replayed = {
                    c for c in ready if (items[c[0]].id, c[1], wiring[c[0]].graph.agents[c[2]]) in self.prior
                }
                for i, r, a in sorted(replayed):
                    prior = self.prior[(items[i].id, r, wiring[i].graph.agents[a])]
                    texts[i][r][a] = prior.content
                    made.append(prior)
                if stream is None:  # one batch per model per step; the step ends when all its calls do
                    completed = ready
                    for model, calls in self._by_model([c for c in ready if c not in replayed], wiring):
                        conversations = [conversation(c) for c in calls]
                        sites = [(items[i].id, r, wiring[i].graph.agents[a]) for i, r, a in calls]
                        replies = self._call(model, conversations, sites)
                        made += [
                            record(c, v, y) for c, v, y in zip(calls, conversations, replies, strict=True)
                        ]
                else:  # calls join the running batch now and come back one by one as they end
                    completed = sorted(replayed)
                    for call, convo, reply in self._submit(
                        stream, [c for c in ready if c not in replayed], conversation, items, wiring, inflight
                    ):
                        made.append(record(call, convo, reply))
                        completed.append(call)
                    if not completed and inflight:
                        for call, convo, reply in self._collect(stream, inflight):
                            made.append(record(call, convo, reply))
                            completed.append(call)
                released: list[Call] = []
                for i, r, a in completed:
                    calls_left[i] -= 1
                    w = wiring[i]
                    if not calls_left[i]:
                        last = dict(zip(w.graph.agents, texts[i][-1], strict=True))
                        results[i] = decide(w.graph, self.task, items[i], last)
                        self.on_result(results[i])
                        del prompts[i], texts[i], pending[i]  # a finished item holds no memory but its result
                        released += admit(1) if self.window else []
                        continue
                    for r2, b in w.releases[(r, a)]:
                        pending[i][r2][b] -= 1
                        if not pending[i][r2][b]:
                            released.append((i, r2, b))
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
                if (ready or inflight) and self.budget:
                    stopped = self.budget.exceeded(spent_tokens, spent_calls, time.perf_counter() - started)
                    if stopped:
                        break
        finally:
            bar.close()
            if stream is not None:
                stream.close()  # calls still running after a budget stop are dropped, and redone on resume
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
            graph=self.team.graph if isinstance(self.team.graph, CommGraph) else None,
            graphs={}
            if isinstance(self.team.graph, CommGraph)
            else {it.id: w.graph for it, w in zip(items, wiring, strict=True)},
            origin=self.team.origin,
        )

    def _open_stream(self, wiring: list[_Wiring]) -> Any:
        """A generation stream when every agent shares one model that streams (continuous batching
        on a GPU, or forced), unless ``stream=False``; else None (step by step)."""
        if self.stream is False:
            return None
        models = {id(agent.model): agent.model for w in wiring for agent in w.agents}
        model = next(iter(models.values()), None)
        capable = len(models) == 1 and hasattr(model, "open_stream") and model.uses_continuous_batching()
        if self.stream and not capable:
            raise ValueError(
                "stream=True needs every agent on one local model with continuous batching "
                "(LocalChatModel(generation='continuous') or a GPU)"
            )
        return model.open_stream() if capable else None

    def _submit(
        self,
        stream: Any,
        calls: list[Call],
        conversation: Callable[[Call], list[BaseMessage]],
        items: list[Item],
        wiring: list[_Wiring],
        inflight: dict[str, tuple[Call, list[BaseMessage], str | None]],
    ) -> list[tuple[Call, list[BaseMessage], _Reply]]:
        """Cache hits come back at once; every other call joins the running batch."""
        identity = ModelIdentity.of(stream.llm)
        use_cache = self.cache is not None and identity.cacheable
        convos = [conversation(c) for c in calls]
        keys: list[str | None] = [
            identity.key(v, (items[i].id, r, wiring[i].graph.agents[a])) if use_cache else None
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
        self, stream: Any, inflight: dict[str, tuple[Call, list[BaseMessage], str | None]]
    ) -> list[tuple[Call, list[BaseMessage], _Reply]]:
        """Wait for the running batch to finish at least one call; its replies, in call order."""
        started = time.perf_counter()
        try:
            finished: list[tuple[str, Any]] = stream.collect(timeout=self.timeout)
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
    def _by_model(calls: Sequence[Call], wiring: list[_Wiring]) -> list[tuple[BaseChatModel, list[Call]]]:
        groups: dict[int, tuple[BaseChatModel, list[Call]]] = {}
        for call in calls:
            model = wiring[call[0]].agents[call[2]].model
            groups.setdefault(id(model), (model, []))[1].append(call)
        return list(groups.values())

    def _conversation(
        self, item: Item, task_prompt: str | None, w: _Wiring, texts: list[list[str | None]], r: int, a: int
    ) -> list[BaseMessage]:
        names, me = w.graph.agents, w.graph.agents[a]
        heard = [(names[u], texts[r - 1][u]) for u in w.hears_before[a]] if r else []
        heard += [(names[u], texts[r][u]) for u in w.hears_now[a]]
        heard = [(name, self.task.heard(text, name, me)) for name, text in heard if text]
        heard = [(name, text) for name, text in heard if text]  # a failed or empty call says nothing
        if task_prompt is None:
            task_prompt = self.task.prompt_for(item, me, r, w.rounds)
        return w.agents[a].prompt(task_prompt, heard, r)

    def _call(
        self, model: BaseChatModel, conversations: list[list[BaseMessage]], sites: list[tuple[str, int, str]]
    ) -> list[_Reply]:
        """Answer one step's calls for one model: from the cache where it can, else in one batch.

        With the cache on, identical calls inside a step are sent once and the copies count as
        cache hits, exactly as they would had they come one step later.
        """
        identity = ModelIdentity.of(model)
        use_cache = self.cache is not None and identity.cacheable
        if not use_cache:
            return self._batch(model, conversations)
        keys = [identity.key(c, site) for c, site in zip(conversations, sites, strict=True)]
        known = self._cached(keys)
        first = {k: j for j, k in reversed(list(enumerate(keys))) if k not in known}
        todo = sorted(first.values())
        fresh = self._batch(model, [conversations[j] for j in todo])
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
            k: _Reply(h["content"], Usage(**h["usage"]), h["model"], cached=True)
            for k, h in self.cache.get_many(list(keys)).items()
        }

    def _store(self, replies: Mapping[str, _Reply]) -> None:
        """Keep the replies that did not fail."""
        assert self.cache is not None
        self.cache.put_many(
            {
                k: {"content": r.content, "usage": asdict(r.usage), "model": r.model}
                for k, r in replies.items()
                if r.error is None
            }
        )

    def _batch(self, model: BaseChatModel, conversations: list[list[BaseMessage]]) -> list[_Reply]:
        """One ``model.batch``; calls that failed in a way that may pass are retried with backoff."""
        if not conversations:
            return []
        config: RunnableConfig = {"max_concurrency": self.max_concurrency}
        started = time.perf_counter()
        outputs = self._batch_within_timeout(model, conversations, config)
        for attempt in range(self.retries):
            failed = [j for j, out in enumerate(outputs) if isinstance(out, BaseException) and transient(out)]
            if not failed:
                break
            time.sleep(self.retry_backoff * 2**attempt)
            again = self._batch_within_timeout(model, [conversations[j] for j in failed], config)
            for j, out in zip(failed, again, strict=True):
                outputs[j] = out
        latency = time.perf_counter() - started
        self.model_seconds += latency
        return [self._reply(output, latency, model) for output in outputs]

    def _batch_within_timeout(
        self, model: BaseChatModel, conversations: list[list[BaseMessage]], config: RunnableConfig
    ) -> list[Any]:
        if self.timeout is None:
            return model.batch(conversations, config, return_exceptions=True)
        # A thread cannot be killed: a hung call is abandoned (its thread finishes, or not, on its own).
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentlab-call")
        future = pool.submit(model.batch, conversations, config, return_exceptions=True)
        pool.shutdown(wait=False)
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            error = TimeoutError(f"no reply within timeout={self.timeout:g} s")
            return [error] * len(conversations)

    def _reply(self, output: Any, latency: float, model: BaseChatModel) -> _Reply:
        if isinstance(output, BaseException):
            if self.fail_fast:
                raise AgentCallError(f"model call failed: {output!r}") from output
            return _Reply(
                "", Usage(), model_name(model), latency=latency, error=f"{type(output).__name__}: {output}"
            )
        assert isinstance(output, AIMessage)
        name = output.response_metadata.get("model_name") or model_name(model)
        return _Reply(output.text, Usage.from_metadata(output.usage_metadata), name, latency=latency)


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
    return ItemResult(item.id, prediction, item.reference, task.score(prediction, item.reference), answers)


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
