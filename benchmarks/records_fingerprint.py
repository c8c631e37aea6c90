"""Every way of running agents, on scripted models, written down: the records (and results, and
simulation states) of each preset, routing preset, learner's sampled graphs, tools, re-asks,
memory, per-round wiring and environment, so that a change to how agents run can be checked to
change nothing they say.

    python benchmarks/records_fingerprint.py --out /tmp/before      # on the old code
    python benchmarks/records_fingerprint.py --compare /tmp/before  # on the new: every difference

A record is compared whole but for ``latency`` (wall time). ``step`` (which batch made a call) is
compared for task runs; in simulations it is left out, since episodes need not share batches.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import agentlab as al

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests' scripted models


def _talker(messages: list[Any]) -> str:
    """A reply that depends on everything the agent was sent, so that who hears whom shows."""
    text = "\n".join(str(m.content) for m in messages)
    return f"I worked it out: {len(text) % 7}. The answer is {sum(map(ord, text)) % 41}"


def _run(run: al.Run) -> dict[str, Any]:
    records = []
    for m in run.records:
        row = m.to_dict()
        row.pop("latency")
        row["tool_calls"] = [{k: v for k, v in use.items() if k != "seconds"} for use in row["tool_calls"]]
        records.append(row)
    results = [asdict(r) for r in run.results]
    return {
        "records": sorted(records, key=lambda r: (r["item_id"], r["round"], r["sender"])),
        "results": results,
    }


def _simulation(sim: Any) -> dict[str, Any]:
    records = []
    for m in sim.records:
        row = m.to_dict()
        row.pop("latency")
        row.pop("step")
        records.append(row)
    return {
        "records": sorted(records, key=lambda r: (r["item_id"], r["round"], r["sender"])),
        "timeline": sim.timeline,
        "metrics": sim.metrics,
    }


def scenarios() -> dict[str, Callable[[], dict[str, Any]]]:
    from tests.scripted_tools import AddsFirst, OnABoard, add
    from tests.test_routing import forwarder

    talker = al.models.ScriptedChatModel(respond=_talker)
    arithmetic = al.tasks.load("arithmetic", n=5, seed=3)
    hidden = al.tasks.load("hidden-fact", n=5)
    found: dict[str, Callable[[], dict[str, Any]]] = {}
    for name in al.topologies.names():
        if name in ("blackboard", "semi-centralized", "evolving"):
            continue
        for memory in ("none", "full"):
            found[f"preset/{name}/memory-{memory}"] = lambda name=name, memory=memory: _run(
                al.topologies.load(
                    name, n_agents=1 if name == "single" else 4, model=talker, memory=memory
                ).run(arithmetic, rounds=2, cache=False, progress=False)
            )
    found["preset/star/hidden-fact/window-2"] = lambda: _run(
        al.topologies.load("star", n_agents=4, model=talker).run(
            hidden, rounds=2, cache=False, progress=False, window=2
        )
    )
    found["routing/blackboard"] = lambda: _run(
        al.topologies.load("blackboard", n_agents=3, model=OnABoard(), memory="full").run(
            arithmetic, cache=False, progress=False
        )
    )
    found["routing/evolving"] = lambda: _run(
        al.topologies.load("evolving", n_agents=3, model=forwarder(), learning_rate=0.5).run(
            al.tasks.load("arithmetic", n=12), cache=False, progress=False, window=2
        )
    )
    found["routing/semi-centralized"] = lambda: _run(
        al.topologies.load(
            "semi-centralized", n_agents=2, model=al.models.ScriptedChatModel(respond=_planner)
        ).run(arithmetic, cache=False, progress=False)
    )
    found["tools/chain"] = lambda: _run(
        al.topologies.load("chain", n_agents=2, model=AddsFirst())
        .with_agents(tools=[add])
        .run(arithmetic, cache=False, progress=False)
    )
    found["per-round/silent"] = lambda: _run(
        _per_round().run(arithmetic, rounds=3, cache=False, progress=False)
    )
    found["agentsnet/authors-reask"] = _agentsnet
    for learner in ("GPTSwarm", "AgentPrune", "AgentDropout", "GDesigner"):
        found[f"learner/{learner}"] = lambda learner=learner: _learner(learner)
    found["env/govsim-debate"] = lambda: _simulation(
        al.topologies.load("debate", n_agents=5, model=al.models.ScriptedChatModel(respond=_fisher)).simulate(
            al.envs.load("govsim/fishery", months=2), episodes=2, seed=0, cache=False, progress=False
        )
    )
    found["env/two-thirds"] = lambda: _simulation(
        al.Team([al.Agent(f"p{i}") for i in range(6)], model=talker).simulate(
            al.envs.load("two-thirds", agents=6, rounds=3), episodes=2, seed=1, cache=False, progress=False
        )
    )
    for grid in ("swarmbench/pursuit", "swarmbench/foraging"):
        found[f"env/{grid}"] = lambda grid=grid: _simulation(
            al.topologies.load(
                "chain", n_agents=4, model=al.models.ScriptedChatModel(respond=_mover)
            ).simulate(
                al.envs.load(grid, agents=4, width=6, height=6, rounds=4),
                episodes=2,
                seed=2,
                cache=False,
                progress=False,
            )
        )
    return found


def _mover(messages: list[Any]) -> str:
    text = str(messages[-1].content)
    return f"ACTION: {['UP', 'DOWN', 'LEFT', 'RIGHT', 'STAY'][len(text) % 5]}"


def _fisher(messages: list[Any]) -> str:
    text = str(messages[-1].content)
    if "How many tonnes" in text:
        return f"I catch {5 + len(text) % 7} tonnes."
    return f"Let us keep it near {len(text) % 9}." if "Talk with" in text else "Be careful."


def _planner(messages: list[Any]) -> str:
    role, text = str(messages[0].content), str(messages[-1].content)
    if role.startswith("You are planner"):
        if "What the workers sent you" in text:
            return "The answer is " + (re.findall(r"result (\d+)", text) or ["0"])[-1]
        return "@agent0: add the numbers\n@agent1: check agent0's sum"
    if role.startswith("You are agent0"):
        return f"@agent1: my sum is {len(text) % 30}" if "[planner]" in text else "ok"
    if "my sum is" in text:
        return "@planner: result " + re.findall(r"my sum is (\d+)", text)[-1]
    return "waiting for agent0"


def _per_round() -> al.Team:
    names = ["a", "b", "c"]
    rounds = [
        al.CommGraph(names, [("a", "b"), ("b", "c")]),
        al.CommGraph(names, [("a", "c")], temporal=[("b", "a")], silent=["b"]),
        al.CommGraph(names, [("c", "b")], temporal=[("a", "b"), ("c", "c")], decision=al.FinalAgent("b")),
    ]
    model = al.models.ScriptedChatModel(respond=_talker)
    return al.Team([al.Agent(n, memory="last") for n in names], al.CommGraph.per_round(rounds), model=model)


def _agentsnet() -> dict[str, Any]:
    task = al.tasks.load("agentsnet/coloring", sizes=[4], generators=["ws"], samples=2, variant="authors")

    def respond(messages):
        text = str(messages[-1].content)
        if len(text) % 3 == 0 and "could not be read" not in text:
            return "Let me think about it."
        return '{"my_color": "' + ["red", "green", "blue"][len(text) % 3] + '"}'

    return _run(
        task.team(al.models.ScriptedChatModel(respond=respond)).run(task, cache=False, progress=False)
    )


def _learner(name: str) -> dict[str, Any]:
    from tests.topologies.learning_fixtures import (
        FAST,
        knower_agents,
        knower_and_adversary_model,
        secret_task,
    )

    task = secret_task(8)
    learner = getattr(al.topologies, name)(knower_agents(), model=knower_and_adversary_model(), seed=0)
    learner.fit(task.train(4), epochs=1, batch_size=4, samples_per_query=2, **{**FAST, "cache": False})
    return _run(learner.team().run(task, cache=False, progress=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write each scenario's fingerprint here")
    group.add_argument("--compare", type=Path, help="compare with fingerprints written earlier")
    parser.add_argument("--only", help="scenarios whose name holds this")
    args = parser.parse_args()
    differ = 0
    for name, scenario in scenarios().items():
        if args.only and args.only not in name:
            continue
        data = json.loads(json.dumps(scenario(), sort_keys=True, default=str))
        path = (args.out or args.compare) / (name.replace("/", "__") + ".json")
        if args.out:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data, sort_keys=True, indent=1))
            print(f"{name:<40} {len(data['records']):>5} records")
            continue
        before = json.loads(path.read_text())
        same = before == data
        differ += not same
        print(f"{name:<40} {len(data['records']):>5} records  {'same' if same else 'DIFFERENT'}")
        if not same:
            for key in before:
                if before[key] != data.get(key):
                    for k, (x, y) in enumerate(zip(before[key], data.get(key, []), strict=False)):
                        if x != y:
                            print(f"    first difference in {key}[{k}]:\n      before {x}\n      after  {y}")
                            break
                    else:
                        print(f"    {key}: {len(before[key])} before, {len(data.get(key, []))} after")
    if args.compare:
        print("every scenario the same" if not differ else f"{differ} scenario(s) differ")
        sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
