"""Does the graph matter? hidden-fact on the embedded model: one agent is told, the rest must hear.

Runs single, chain, star and debate (4 agents, one round) as ``agentlab demo`` does, plus the
chain reversed (agent3 -> agent2 -> agent1 -> agent0, agent0 deciding), to see whether a chain's
order changes what reaches its end.

    python benchmarks/communication.py --items 40
"""

from __future__ import annotations

import argparse
import itertools

import agentlab as al
from agentlab.views.report import text_table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args()
    llm = al.models.default(max_new_tokens=args.max_new_tokens)
    task = al.tasks.load("hidden-fact", n=args.items, seed=0)
    runs = [al.topologies.load("single", model=llm).run(task, cache=False, progress=False)]
    for name in ("chain", "star", "debate"):
        runs.append(al.topologies.load(name, n_agents=4, model=llm).run(task, cache=False, progress=False))
    names = [f"agent{k}" for k in (3, 2, 1, 0)]
    backward = al.CommGraph(names, list(itertools.pairwise(names)), decision=al.FinalAgent("agent0"))
    reversed_chain = al.Team([al.Agent(n) for n in names], backward, model=llm, name="chain reversed")
    runs.append(reversed_chain.run(task, cache=False, progress=False))
    print(text_table(runs))
    forward, back = runs[1], runs[-1]
    differ = sum(a.score != b.score for a, b in zip(forward.results, back.results, strict=True))
    print(f"\nchain against its reverse: {differ} of {len(task.items)} items scored differently")
    for holder in range(4):
        items = {i.id for i in task.items if i.meta["holder"] == holder}
        f = sum(r.score for r in forward.results if r.item_id in items)
        b = sum(r.score for r in back.results if r.item_id in items)
        print(f"  told agent{holder}: {len(items)} items, chain {f:.0f} right, reversed {b:.0f} right")


if __name__ == "__main__":
    main()
