"""Does talking keep the lake alive? GovSim's fishery on the embedded model, with and without the
monthly discussion, and with the discussion along different graphs.

    python benchmarks/govsim_topologies.py --episodes 4 --months 6 --temperature 0.7

With greedy decoding (``--temperature 0``) every episode makes the same calls and the intervals
have zero width; sampling (seeded, so a rerun gives the same numbers) lets episodes differ.

Prints, per arm, the paper's metrics with 95% intervals over episodes: survival time, survival
rate, total gain, efficiency, equality and over-usage, and the tokens and seconds each arm took.
"""

from __future__ import annotations

import argparse
import time

import agentlab as al


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--universalization", action="store_true")
    args = parser.parse_args()
    llm = al.models.default(max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed)
    arms = {
        "no discussion": (al.Team([al.Agent(f"f{i}") for i in range(5)], model=llm), False),
        "debate discussion": (al.topologies.load("debate", n_agents=5, model=llm), True),
        "chain discussion": (al.topologies.load("chain", n_agents=5, model=llm), True),
    }
    rows = {}
    for name, (team, talk) in arms.items():
        env = al.envs.load(
            "govsim/fishery", months=args.months, discussion=talk, universalization=args.universalization
        )
        started = time.perf_counter()
        sim = team.simulate(env, episodes=args.episodes, seed=args.seed, progress=False)
        rows[name] = (sim, time.perf_counter() - started)
    metrics = ["survival_time", "survived", "total_gain", "efficiency", "equality", "over_usage"]
    print(
        f"\nGovSim fishery, {args.episodes} episodes x {args.months} months, embedded SmolLM2-135M, "
        f"{'greedy' if args.temperature == 0 else f'temperature {args.temperature}, seed {args.seed}'}"
    )
    print(f"{'arm':<18}" + "".join(f"{m:>22}" for m in metrics) + f"{'tokens':>9}{'seconds':>9}")
    for name, (sim, seconds) in rows.items():
        summary = sim.summary()
        cells = "".join(f"{summary[m][0]:>8.2f} [{summary[m][1]:5.2f},{summary[m][2]:5.2f}]" for m in metrics)
        print(f"{name:<18}{cells}{sim.usage.total_tokens:>9}{seconds:>9.0f}")


if __name__ == "__main__":
    main()
