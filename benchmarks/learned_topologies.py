"""Learned communication graphs against presets on the embedded model (CPU).

Trains GPTSwarm, AgentPrune and G-Designer on the arithmetic task's train split, then runs them and
the chain, star and mesh presets (and a single agent) on the same test items. Prints accuracy with
its 95% interval, test tokens per item, and each learner's training tokens apart.

    python benchmarks/learned_topologies.py --items 30 --train 16 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import time

import agentlab as al


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--train", type=int, default=16)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--samples", type=int, default=2, help="graphs sampled per training item")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="also write the rows as JSON here")
    args = parser.parse_args()

    llm = al.models.default(max_new_tokens=args.max_new_tokens)
    task = al.tasks.load("arithmetic", n=args.items, seed=args.seed, n_train=args.train)
    agents = [al.Agent(f"agent{i}") for i in range(args.agents)]
    teams = [al.topologies.load("single", model=llm)]
    teams += [al.topologies.load(name, n_agents=args.agents, model=llm) for name in ("chain", "star", "mesh")]
    training = {}
    learners = {
        "gptswarm": al.topologies.GPTSwarm(agents, model=llm, seed=args.seed),
        "agentprune": al.topologies.AgentPrune(agents, model=llm, sparsity=0.5, seed=args.seed),
        "gdesigner": al.topologies.GDesigner(agents, model=llm, seed=args.seed),
    }
    for name, learner in learners.items():
        started = time.perf_counter()
        learner.fit(
            task.train(args.train),
            epochs=args.epochs,
            batch_size=args.batch_size,
            samples_per_query=args.samples,
            seed=args.seed,
        )
        training[name] = {
            "training_tokens": learner.log.usage.total_tokens,
            "training_calls": learner.log.calls,
            "training_seconds": round(time.perf_counter() - started, 1),
        }
        teams.append(learner.team(name=name))
    rows = []
    for team in teams:
        run = team.run(task)
        lo, hi = run.interval
        edges = (
            len(team.graph.spatial)
            if isinstance(team.graph, al.CommGraph)
            else sum(len(team.graph_for(item).spatial) for item in task.items) / len(task)
        )
        rows.append(
            {
                "topology": team.name,
                "accuracy": run.accuracy,
                "ci95": [lo, hi],
                "tokens_per_item": run.usage.total_tokens / len(task),
                "spatial_edges": edges,
                **training.get(team.name, {"training_tokens": 0}),
            }
        )
    print(f"\narithmetic, {args.items} test items, {args.agents} agents, embedded SmolLM2-135M, greedy")
    head = ("topology", "accuracy", "95% CI", "tokens/item", "edges", "train tokens")
    print(f"{head[0]:<11} {head[1]:>8} {head[2]:>13} {head[3]:>11} {head[4]:>6} {head[5]:>12}")
    for r in rows:
        ci = f"{r['ci95'][0]:.0%}–{r['ci95'][1]:.0%}"
        print(
            f"{r['topology']:<11} {r['accuracy']:>8.1%} {ci:>13} {r['tokens_per_item']:>11.0f} "
            f"{r['spatial_edges']:>6.1f} {r['training_tokens']:>12}"
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
