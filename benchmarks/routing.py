"""Run-time routing, batched: what the engine's own loop costs, and what batching routed turns gives.

``--overhead``: every routing preset (and a fixed mesh), agents with memory, on a zero-latency
scripted model; the engine's own time per call (wall time less the time inside ``model.batch``).

``--embedded``: ``--items`` items through a 4-agent blackboard (two workers, the controller and
the decider) on the embedded model, then the very same calls (each record's prompt) one at a time.

    python benchmarks/routing.py --overhead --items 1000
    python benchmarks/routing.py --embedded --items 16 --max-new-tokens 48
"""

from __future__ import annotations

import argparse
import time

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

import agentlab as al


def scripted(messages):
    """Posts once, then decides; plans for two workers who report to the planner; forwards once."""
    role, text = messages[0].text, messages[-1].text
    if role.startswith("You are the controller"):
        return "DECIDE" if "\n[agent" in text else "POST: agent0, agent1"
    if role.startswith("You are planner"):
        return "The answer is 7" if "workers sent you" in text else "@agent0: add\n@agent1: check"
    if "most reliable first" in text:
        return "The answer is 7" if "Notes passed" in text else "FORWARD agent1: over to you"
    return "@planner: The answer is 7" if "Messages to you" in text else "The answer is 7"


def overhead(items: int) -> None:
    model = al.models.ScriptedChatModel(respond=scripted)
    task = al.tasks.load("arithmetic", n=items, seed=0)
    print(f"{'team':>18} {'calls':>7} {'steps':>6} {'engine ms/call':>15}")
    for preset, n in (("mesh", 4), ("blackboard", 2), ("semi-centralized", 3), ("evolving", 4)):
        team = al.topologies.load(preset, n_agents=n, model=model, memory="full")
        run = team.run(task, rounds=2 if preset == "mesh" else None, cache=False, progress=False)
        own = (run.wall_seconds - run.model_seconds) / len(run.records) * 1000
        print(f"{preset:>18} {len(run.records):7d} {run.steps:6d} {own:15.3f}")


def as_messages(prompt):
    kinds = {"system": SystemMessage, "human": HumanMessage, "ai": AIMessage}
    return [kinds[role](text) for role, text in prompt]


def embedded(items: int, max_new_tokens: int) -> None:
    llm = al.models.default(max_new_tokens=max_new_tokens)
    llm.invoke("warm up")
    task = al.tasks.load("arithmetic", n=items, seed=0)
    team = al.topologies.load("blackboard", n_agents=2, model=llm)
    run = team.run(task, cache=False, progress=False)
    started = time.perf_counter()
    same = 0
    for m in run.records:
        same += llm.invoke(as_messages(m.prompt)).content == m.content
    alone = time.perf_counter() - started
    calls = len(run.records)
    routed = sum(r.error is None for r in run.results)
    print(
        f"{items} items, 4-agent blackboard, {calls} calls in {run.steps} steps; "
        f"{routed} items routed to an answer"
    )
    print(f"batched (engine)  {run.wall_seconds:8.1f} s  {calls / run.wall_seconds:6.2f} calls/s")
    print(
        f"one at a time     {alone:8.1f} s  {calls / alone:6.2f} calls/s   "
        f"({alone / run.wall_seconds:.2f}x slower)"
    )
    print(f"same reply one at a time as batched: {same}/{calls}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--overhead", action="store_true")
    parser.add_argument("--embedded", action="store_true")
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    if args.overhead:
        overhead(args.items)
    if args.embedded:
        embedded(args.items, args.max_new_tokens)


if __name__ == "__main__":
    main()
