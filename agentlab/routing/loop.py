"""The engine's loop for routed teams: every route's next turns, of every item, batched per model.

Each engine step gathers the turns every live route asks for, answers them from the records of an
earlier run (resume), the call cache, or one ``model.batch`` per model, and tells each route what
its agents said. A route's step number is the records' ``round``; (item, round, agent) names a
turn, as it names a call of a fixed graph.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from tqdm.auto import tqdm

from agentlab.message import Message, ToolUse, Usage
from agentlab.routing.base import Route, RouteError, RouteTurn, Routing
from agentlab.run import ItemResult, Run
from agentlab.tasks.task import Score
from agentlab.tools import run_calls, tool_message

if TYPE_CHECKING:
    from agentlab.agent import Agent
    from agentlab.engine import Engine, _Reply

Turn = tuple[int, RouteTurn]  # (item index, the turn)


class _Item:
    __slots__ = ("history", "route", "step")

    def __init__(self, route: Route) -> None:
        self.route, self.step = route, 0
        self.history: dict[str, list[tuple[str, str]]] = {}  # agent -> its (asked, said) turns


def run_routed(engine: Engine, routing: Routing) -> Run:
    started = time.perf_counter()
    task, settings, team = engine.task, engine.settings, engine.team
    agents = {a.name: a for a in team.agents}
    routing.check_agents(list(agents))
    items = list(task.items)
    live: dict[int, _Item] = {}
    asks: dict[int, list[RouteTurn]] = {}
    results: dict[int, ItemResult] = {}
    records: list[Message] = []
    admitted = step = spent_tokens = spent_calls = 0
    stopped = None

    def finish(i: int, error: str | None = None) -> None:
        item = items[i]
        answer = None if error else live[i].route.answer
        if error is not None:
            results[i] = ItemResult(item.id, None, item.reference, 0.0, error=error)
        else:
            prediction = task.extract(answer or "", item)
            score = task.score(prediction, item.reference)
            detail = score.detail if isinstance(score, Score) else {}
            results[i] = ItemResult(item.id, prediction, item.reference, float(score), {}, detail)
        routing.learn(live[i].route, results[i].score)
        engine.on_result(results[i])
        del live[i]
        asks.pop(i, None)
        bar.update(1)

    def ask(i: int) -> None:
        try:
            turns = live[i].route.turns() if live[i].route.answer is None else []
        except RouteError as error:
            finish(i, f"RouteError: {error}")
            return
        if turns:
            asks[i] = turns
        else:
            finish(i)

    def admit(count: int) -> None:
        nonlocal admitted
        for i in range(admitted, min(len(items), admitted + count)):
            live[i] = _Item(routing.start(task.prompt(items[i])))
            ask(i)
        admitted = min(len(items), admitted + count)

    bar = tqdm(total=len(items), desc=f"{team.name} on {task.name}", unit="item", disable=not engine.progress)
    try:
        admit(settings.window or len(items))
        while asks:
            turns: list[Turn] = [(i, t) for i in sorted(asks) for t in asks[i]]
            said = _answer(engine, turns, live, items, agents)
            made: list[Message] = []
            by_item: dict[int, list[tuple[RouteTurn, Message]]] = {}
            for (i, turn), message in zip(turns, said, strict=True):
                by_item.setdefault(i, []).append((turn, message))
            for i, pairs in by_item.items():
                state = live[i]
                try:
                    heard = state.route.hear([(t, m.content) for t, m in pairs])
                except RouteError as error:
                    heard, failure = [() for _ in pairs], f"RouteError: {error}"
                else:
                    failure = None
                for (turn, message), receivers in zip(pairs, heard, strict=True):
                    if message.receivers == () and receivers:  # a replayed message keeps its own
                        message.receivers = tuple(receivers)
                    message.step = step
                    state.history.setdefault(turn.agent, []).append((turn.text, message.content))
                    made.append(message)
                state.step += 1
                if failure is not None:
                    finish(i, failure)
                else:
                    ask(i)
                if i not in live and settings.window:
                    admit(1)
            for message in made:
                if engine.prior.get((message.item_id, message.round, message.sender)) is not message:
                    engine.on_message(message)  # replayed ones are on record already
                if not message.cached:
                    spent_tokens += message.usage.total_tokens
                    spent_calls += 1
            if engine.keep_records:
                records.extend(made)
            step += 1
            if asks and settings.budget:
                stopped = settings.budget.exceeded(spent_tokens, spent_calls, time.perf_counter() - started)
                if stopped:
                    break
    finally:
        bar.close()
    return Run(
        team.name,
        task.name,
        max((m.round + 1 for m in records), default=1),
        records,
        [results[i] for i in sorted(results)],
        time.perf_counter() - started,
        engine.model_seconds,
        step,
        stopped,
    )


def _remembered(agent: Agent, history: list[tuple[str, str]]) -> tuple[int, ...]:
    """The agent's earlier turns on this item its memory keeps, leaving out those that said nothing."""
    return tuple(r0 for r0 in agent.remembered(len(history)) if history[r0][1])


def _conversation(
    agent_role: str, remembered: tuple[int, ...], history: list[tuple[str, str]], text: str
) -> list[BaseMessage]:
    convo: list[BaseMessage] = [SystemMessage(agent_role)] if agent_role else []
    for r0 in remembered:
        convo += [HumanMessage(history[r0][0]), AIMessage(history[r0][1])]
    return [*convo, HumanMessage(text)]


def _answer(
    engine: Engine, turns: list[Turn], live: dict[int, _Item], items: list, agents: dict
) -> list[Message]:
    """Each turn's message: replayed from an earlier run's records, or made (cache or model)."""
    out: list[Message | None] = [None] * len(turns)
    todo: dict[tuple[int, tuple[int, ...]], list[int]] = {}
    convos: dict[int, list[BaseMessage]] = {}
    remembered: dict[int, tuple[int, ...]] = {}
    for k, (i, turn) in enumerate(turns):
        state, agent = live[i], agents[turn.agent]
        prior = engine.prior.get((items[i].id, state.step, turn.agent))
        if prior is not None:  # replayed: its prompt is on record
            out[k] = prior
            continue
        history = state.history.get(turn.agent, [])
        remembered[k] = _remembered(agent, history)
        convos[k] = _conversation(agent.role, remembered[k], history, turn.text)
        todo.setdefault((id(agent.model), tuple(map(id, agent.tools))), []).append(k)
    for ks in todo.values():
        agent = agents[turns[ks[0]][1].agent]
        sites = {k: (items[turns[k][0]].id, live[turns[k][0]].step, turns[k][1].agent) for k in ks}
        for k, (reply, turn_cost) in _with_tools(engine, agent, ks, convos, sites, agents, turns).items():
            i, turn = turns[k]
            out[k] = _message(turn, items[i].id, live[i].step, convos[k], reply, remembered[k], turn_cost)
    return out  # type: ignore[return-value]


class _Cost:
    """What a turn's model calls cost together, and the tools they called."""

    __slots__ = ("cached", "latency", "usage", "uses")

    def __init__(self) -> None:
        self.usage, self.latency, self.cached = Usage(), 0.0, True
        self.uses: list[ToolUse] = []

    def add(self, reply: _Reply) -> None:
        self.usage, self.latency = self.usage + reply.usage, self.latency + reply.latency
        self.cached = self.cached and reply.cached


def _with_tools(
    engine: Engine,
    agent: Agent,
    ks: list[int],
    convos: dict[int, list[BaseMessage]],
    sites: dict[int, tuple[str, int, str]],
    agents: dict[str, Agent],
    turns: list[Turn],
) -> dict[int, tuple[_Reply, _Cost]]:
    """The turns ``ks`` (one model, one set of tools) answered; a reply that asks for tools gets
    their results and goes to the model again, batched with the others that asked, until it
    answers or reaches its agent's ``max_tool_steps``."""
    tools = tuple(agent.tools)
    costs = {k: _Cost() for k in ks}
    talk = {k: convos[k] for k in ks}
    done: dict[int, tuple[_Reply, _Cost]] = {}
    pending, step = list(ks), 0
    while pending:
        replies = engine._call(agent.model, [talk[k] for k in pending], [sites[k] for k in pending], tools)
        asking = []
        for k, reply in zip(pending, replies, strict=True):
            costs[k].add(reply)
            limit = agents[turns[k][1].agent].max_tool_steps
            if not (tools and reply.tool_calls and reply.error is None):
                done[k] = (reply, costs[k])
            elif step < limit:
                asking.append((k, reply))
            else:
                note = f"not run: the turn reached max_tool_steps={limit}"
                costs[k].uses += [ToolUse(t["name"], t["args"], t.get("id") or "", error=note, step=step,
                                          usage=reply.usage) for t in reply.tool_calls]  # fmt: skip
                done[k] = (reply, costs[k])
        if asking:
            jobs = [(tools, t) for _, reply in asking for t in reply.tool_calls]
            results = iter(run_calls(jobs, engine.settings.tool_timeout))
            for k, reply in asking:
                uses = [replace(next(results), step=step, usage=reply.usage) for _ in reply.tool_calls]
                costs[k].uses += uses
                ask = AIMessage(reply.content, tool_calls=list(reply.tool_calls))
                talk[k] = [*talk[k], ask, *map(tool_message, uses)]
        pending, step = [k for k, _ in asking], step + 1
    return done


def _message(
    turn: RouteTurn,
    item_id: str,
    step: int,
    convo: list[BaseMessage],
    reply: _Reply,
    remembered: tuple[int, ...],
    cost: _Cost,
) -> Message:
    return Message(
        turn.agent,
        (),
        step,
        reply.content,
        item_id,
        0,
        cost.usage,
        cost.latency,
        cost.cached,
        reply.error,
        reply.model,
        tuple((m.type, str(m.content)) for m in convo),
        remembered,
        tuple(cost.uses),
    )
