"""Do learned communication graphs beat presets where the papers say they should? On the embedded
model (CPU), two tasks built for the papers' two claims:

- robustness (AgentPrune, G-Designer, GPTSwarm): ``hidden-fact-adversarial``, 5 agents of which
  agent1 and agent3 insist on a wrong answer on every item, one honest agent per item is told the
  fact. Verdict: does the best learner's 95% interval lie wholly above the best preset's?
- adaptivity (G-Designer's per-query graphs): ``hidden-fact-topic``, 4 agents each knowing one
  topic, the question's topic deciding who knows. Verdict: does G-Designer match the best preset
  (intervals overlapping, at most 5 points below) with at most 60% of its tokens per item?

Every learner trains on the task's train split (its tokens reported apart), then runs beside the
presets on the same test items. The last line is the verdict.

    python benchmarks/learned_topologies.py --quick        # under 8 minutes on 2 cores: one learner per claim
    python benchmarks/learned_topologies.py                # every learner, both variants (about an hour)
    python benchmarks/learned_topologies.py --only topic --learners gdesigner
    python benchmarks/learned_topologies.py --ceilings       # the ideal graphs, given who knows what
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from typing import Any

import agentlab as al


@dataclass
class Claim:
    task: str
    options: dict[str, Any]
    agents: int
    presets: list[tuple[str, int]]  # (preset, rounds)
    learners: dict[str, dict[str, Any]]  # label -> learner name and settings
    rows: list[dict[str, Any]] = field(default_factory=list)


def claims(quick: bool) -> dict[str, Claim]:
    adversarial_presets = [("single", 1), ("chain", 1), ("star", 1), ("debate", 2), ("independent", 1)]
    topic_presets = [("single", 1), ("star", 1), ("debate", 1), ("independent", 1)]
    if not quick:
        adversarial_presets += [("debate", 1), ("mesh", 1)]
        topic_presets += [("chain", 1), ("debate", 2)]
    learned_refer = {"decision": "final_refer", "decision_edges": "learned"}

    # GPTSwarm from a nearly empty graph (every edge at 0.1), so that the vote's edges, which decide
    # here, are not drowned by liars' words spread over random edges
    sparse = {"start_prob": 0.1}

    # G-Designer's per-query head moves slowly at its default lr 0.01; a small token penalty lets
    # it leave out whom a query does not need
    # (and trains on fewer samples: each one's edges are designed for its query)
    designer = {"learner": "gdesigner", "lr": 0.03, "token_penalty": 0.0005, "epochs": 3, "samples": 4}
    adversarial = {
        "gptswarm": {"learner": "gptswarm", **sparse},
        "gptswarm/paper start": {"learner": "gptswarm"},
        "gptswarm/authors": {"learner": "gptswarm", "variant": "authors", **sparse},
        "agentprune": {"learner": "agentprune", **learned_refer},
        "agentprune/authors": {"learner": "agentprune", "variant": "authors", **learned_refer},
        "gdesigner": {**designer, "decision": "vote"},
        "gdesigner/final_refer": {**designer, **learned_refer},
        "gdesigner/fast bias": {**designer, "decision": "vote", "bias_lr_scale": 20.0},
        "agentdropout": {"learner": "agentdropout", **learned_refer},
        "commformer": {"learner": "commformer", "budget": 1},
    }
    topic = {
        "gdesigner": {**designer, "decision": "vote"},
        "gdesigner/final_refer": {**designer, **learned_refer},
        "gdesigner/fast bias": {**designer, "decision": "vote", "bias_lr_scale": 20.0},
        "gptswarm": {"learner": "gptswarm", **sparse, "token_penalty": 0.0005},
    }
    if quick:
        adversarial, topic = {"gptswarm": adversarial["gptswarm"]}, {"gdesigner": topic["gdesigner"]}
    return {
        "adversarial": Claim(
            "hidden-fact-adversarial", {"agents": 5, "adversaries": 2}, 5, adversarial_presets, adversarial
        ),
        "topic": Claim("hidden-fact-topic", {"topics": 4}, 4, topic_presets, topic),
    }


def row(label: str, run: al.Run, n: int, training: dict[str, Any] | None = None) -> dict[str, Any]:
    lo, hi = run.interval
    return {
        "topology": label,
        "accuracy": run.accuracy,
        "ci95": [lo, hi],
        "tokens_per_item": run.usage.total_tokens / n,
        "calls_per_item": run.calls / n,
        **(training or {"training_tokens": 0, "training_seconds": 0.0}),
    }


def run_claim(claim: Claim, llm: Any, args: argparse.Namespace, learners: set[str] | None) -> None:
    task = al.tasks.load(claim.task, n=args.items, seed=args.seed, n_train=args.train, **claim.options)
    for name, rounds in claim.presets:
        team = al.topologies.load(name, n_agents=1 if name == "single" else claim.agents, model=llm)
        label = name if rounds == 1 else f"{name} ({rounds} rounds)"
        claim.rows.append(row(label, team.run(task, rounds=rounds, progress=False), len(task)))
    for label, spec in claim.learners.items():
        if learners is not None and label.split("/")[0] not in learners:
            continue
        settings = {k: v for k, v in spec.items() if k not in ("learner", "epochs", "samples")}
        cls = al.topologies.learners.resolve(spec["learner"])
        agents = [al.Agent(f"agent{k}") for k in range(claim.agents)]
        learner = cls(agents, model=llm, seed=args.seed, **settings)
        started = time.perf_counter()
        learner.fit(
            task.train(args.train), epochs=spec.get("epochs", args.epochs), batch_size=args.batch_size,
            samples_per_query=spec.get("samples", args.samples), seed=args.seed, progress=False,
        )  # fmt: skip
        training = {
            "training_tokens": learner.log.usage.total_tokens,
            "training_seconds": round(time.perf_counter() - started, 1),
            "final_reward": learner.log.steps[-1]["reward"] if learner.log.steps else None,
        }
        claim.rows.append(row(label, learner.team(name=label).run(task, progress=False), len(task), training))


def ceilings(llm: Any, args: argparse.Namespace) -> list[str]:
    """What the best graphs reach, given who holds what (no learning): the bounds the learners'
    rows are read against."""
    from agentlab.topologies.decisions import DECIDER, FINAL_REFER_ROLE

    lines = []
    liars = al.tasks.load("hidden-fact-adversarial", n=args.items, seed=args.seed, agents=5, adversaries=2)
    names = [f"agent{k}" for k in range(5)]
    honest = [n for k, n in enumerate(names) if k not in liars.meta["adversaries"]]
    agents = [al.Agent(n) for n in names]
    decider = al.Agent(DECIDER, role=FINAL_REFER_ROLE)
    mute = [n for n in names if n not in honest]
    vote = al.CommGraph(names, decision=al.MajorityVote(tuple(honest)), silent=mute)
    refer = al.CommGraph(
        [*names, DECIDER], [(n, DECIDER) for n in honest], decision=al.FinalAgent(DECIDER), silent=mute
    )
    for label, team in (
        ("a vote of the honest agents", al.Team(agents, vote, model=llm)),
        ("FinalRefer hearing the honest", al.Team([*agents, decider], refer, model=llm)),
    ):
        lines.append(ceiling_line("adversarial", label, team.run(liars, progress=False)))
    topic = al.tasks.load("hidden-fact-topic", n=args.items, seed=args.seed, topics=4)
    four = [f"agent{k}" for k in range(4)]

    def holder_alone(item: al.tasks.Item) -> al.CommGraph:
        holder = f"agent{item.meta['holder']}"
        return al.CommGraph(
            four, decision=al.MajorityVote((holder,)), silent=[n for n in four if n != holder]
        )

    team = al.Team([al.Agent(n) for n in four], holder_alone, model=llm)
    lines.append(ceiling_line("topic", "the holder alone", team.run(topic, progress=False)))
    return lines


def ceiling_line(claim: str, label: str, run: al.Run) -> str:
    lo, hi = run.interval
    tokens = run.usage.total_tokens / run.n_items
    return f"ceiling, {claim}: {label}: {run.accuracy:.1%} [{lo:.0%}–{hi:.0%}] at {tokens:.0f} tokens/item"


def table(name: str, claim: Claim, items: int) -> str:
    lines = [f"\n{name}: {claim.task} {claim.options}, {items} test items, embedded SmolLM2-135M, greedy"]
    head = ("topology", "accuracy", "95% CI", "tokens/item", "calls/item", "train tokens", "train s")
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + " --- |" * len(head))
    for r in claim.rows:
        ci = f"{r['ci95'][0]:.0%}–{r['ci95'][1]:.0%}"
        lines.append(
            f"| {r['topology']} | {r['accuracy']:.1%} | {ci} | {r['tokens_per_item']:.0f} | "
            f"{r['calls_per_item']:.1f} | {r['training_tokens']:,} | {r['training_seconds']:.0f} |"
        )
    return "\n".join(lines)


def best(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return max(rows, key=lambda r: (r["accuracy"], -r["tokens_per_item"]))


def verdict(adversarial: Claim | None, topic: Claim | None) -> str:
    parts, won = [], []

    def ci(r: dict[str, Any]) -> str:
        return f"{r['topology']} {r['accuracy']:.0%} [{r['ci95'][0]:.0%}–{r['ci95'][1]:.0%}]"

    if adversarial is not None:
        presets = [r for r in adversarial.rows if r["training_tokens"] == 0]
        learned = [r for r in adversarial.rows if r["training_tokens"] > 0]
        p = best(presets)
        if learned:
            b = best(learned)
            won.append(b["ci95"][0] > p["ci95"][1])
            parts.append(f"adversarial: best learned {ci(b)} vs best preset {ci(p)}")
    if topic is not None:
        p = best([r for r in topic.rows if r["training_tokens"] == 0])
        designer = next((r for r in topic.rows if r["topology"] == "gdesigner"), None)
        if designer is not None:
            overlap = designer["ci95"][0] <= p["ci95"][1] and p["ci95"][0] <= designer["ci95"][1]
            close = designer["accuracy"] >= p["accuracy"] - 0.05
            won.append(overlap and close and designer["tokens_per_item"] <= 0.6 * p["tokens_per_item"])
            parts.append(
                f"topic: {designer['topology']} {designer['accuracy']:.0%} at "
                f"{designer['tokens_per_item']:.0f} tokens/item vs {p['topology']} {p['accuracy']:.0%} at "
                f"{p['tokens_per_item']:.0f}"
            )
    answer = "yes" if won and all(won) else "no"
    return f"learned beats presets: {answer} ({'; '.join(parts)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one learner per claim: under 8 minutes")
    parser.add_argument("--only", choices=["adversarial", "topic"])
    parser.add_argument("--learners", help="comma-separated learner names to train (default: every one)")
    parser.add_argument("--items", type=int, default=60, help="test items per task")
    parser.add_argument("--train", type=int, default=24, help="training items")
    parser.add_argument("--epochs", type=int, default=5, help="unless a learner sets its own")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--samples", type=int, default=8, help="graphs per training item (unless a learner sets it)"
    )
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="also write the rows as JSON here")
    parser.add_argument("--ceilings", action="store_true", help="only the ideal graphs, given who knows what")
    args = parser.parse_args()
    learners = set(args.learners.split(",")) if args.learners else None
    started = time.perf_counter()
    llm = al.models.default(max_new_tokens=args.max_new_tokens)
    if args.ceilings:
        print("\n".join(ceilings(llm, args)))
        return
    chosen = {k: c for k, c in claims(args.quick).items() if args.only in (None, k)}
    for name, claim in chosen.items():
        run_claim(claim, llm, args, learners)
        print(table(name, claim, args.items), flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), **{k: c.rows for k, c in chosen.items()}}, f, indent=2)
    print(verdict(chosen.get("adversarial"), chosen.get("topic")))


if __name__ == "__main__":
    main()
