"""Learned communication graphs against presets on the embedded model (CPU).

Trains GPTSwarm, AgentPrune, G-Designer and AgentDropout (each with its paper's decision: a learned
vote for GPTSwarm, a FinalRefer decider for the others) on a task's train split, then runs them
and the presets on the same test items. Prints accuracy with its 95% interval, test tokens per
item, each learner's training tokens apart, and whether each learner reached the best preset's
accuracy with fewer test tokens.

    python benchmarks/learned_topologies.py                       # hidden-fact: needs communication
    python benchmarks/learned_topologies.py --task arithmetic --items 30
    python benchmarks/learned_topologies.py --variant authors     # the learners as their authors' code runs
"""

from __future__ import annotations

import argparse
import json
import time

import agentlab as al


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", choices=["hidden-fact", "arithmetic"], default="hidden-fact")
    parser.add_argument("--variant", choices=["ours", "authors"], default="ours")
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--train", type=int, default=16)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--samples", type=int, default=2, help="graphs sampled per training item")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learners", default="gptswarm,agentprune,gdesigner,agentdropout")
    parser.add_argument("--out", help="also write the rows as JSON here")
    args = parser.parse_args()

    llm = al.models.default(max_new_tokens=args.max_new_tokens)
    task = al.tasks.load(args.task, n=args.items, seed=args.seed, n_train=args.train)
    agents = [al.Agent(f"agent{i}") for i in range(args.agents)]
    teams = [al.topologies.load("single", model=llm)]
    presets = ("chain", "star", "debate", "mesh")
    teams += [al.topologies.load(name, n_agents=args.agents, model=llm) for name in presets]
    training = {}
    options = {"seed": args.seed, "variant": args.variant}
    make = {
        "gptswarm": lambda: al.topologies.GPTSwarm(agents, model=llm, **options),
        "agentprune": lambda: al.topologies.AgentPrune(agents, model=llm, sparsity=0.5, **options),
        "gdesigner": lambda: al.topologies.GDesigner(agents, model=llm, **options),
        "agentdropout": lambda: al.topologies.AgentDropout(
            agents, model=llm, rounds=1, node_steps=2, **options
        ),
    }
    learners = {name: make[name]() for name in args.learners.split(",")}
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
    print(f"\n{args.task}, {args.items} test items, {args.agents} agents, embedded SmolLM2-135M, greedy")
    head = ("topology", "accuracy", "95% CI", "tokens/item", "edges", "train tokens")
    print(f"{head[0]:<13} {head[1]:>8} {head[2]:>13} {head[3]:>11} {head[4]:>6} {head[5]:>12}")
    for r in rows:
        ci = f"{r['ci95'][0]:.0%}–{r['ci95'][1]:.0%}"
        print(
            f"{r['topology']:<13} {r['accuracy']:>8.1%} {ci:>13} {r['tokens_per_item']:>11.0f} "
            f"{r['spatial_edges']:>6.1f} {r['training_tokens']:>12}"
        )
    fixed = [r for r in rows if r["topology"] not in learners]
    best = max(fixed, key=lambda r: (r["accuracy"], -r["tokens_per_item"]))
    print(
        f"\nbest preset: {best['topology']} at {best['accuracy']:.1%}, "
        f"{best['tokens_per_item']:.0f} tokens/item"
    )
    for r in rows:
        if r["topology"] in learners:
            reached = r["accuracy"] >= best["accuracy"]
            cheaper = r["tokens_per_item"] < best["tokens_per_item"]
            verdict = (
                "reaches it with fewer tokens"
                if reached and cheaper
                else ("reaches it, but not with fewer tokens" if reached else "falls short of it")
            )
            print(
                f"  {r['topology']}: {r['accuracy']:.1%}, {r['tokens_per_item']:.0f} tokens/item: {verdict}"
            )
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
