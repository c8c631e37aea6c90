"""What a pool of OpenAI-compatible servers gives: calls against servers with an artificial latency.

Starts ``--servers`` stand-in servers (``agentlab.models.stand_in_server``, each its own process,
answering after ``--latency`` seconds), then runs ``--items`` items x ``--agents`` agents x
``--rounds`` rounds of a debate through the engine on a pool of them, ``--concurrency`` requests
in flight per server. With every call waiting only on the latency, the ideal is
calls x latency / (servers x concurrency) seconds; the pool's own cost is what it takes beyond
that, shown once through the engine and once as one bare ``pool.batch`` of the same number of calls.

    python benchmarks/server_pool.py --items 1000 --agents 5 --rounds 2 --servers 2 --concurrency 32
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import agentlab as al
from agentlab.models import stand_in_server


def start_servers(count: int, latency: float) -> tuple[list[subprocess.Popen[str]], list[str]]:
    # the file itself, not -m agentlab...: the servers need only the standard library
    command = [sys.executable, stand_in_server.__file__, "--latency", str(latency)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    urls = [p.stdout.readline().strip() for p in procs if p.stdout is not None]
    return procs, urls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[32], help="per server; several: one row each"
    )
    parser.add_argument("--latency", type=float, default=0.05, help="seconds each server takes per answer")
    args = parser.parse_args()

    procs, urls = start_servers(args.servers, args.latency)
    try:
        task = al.tasks.load("arithmetic", n=args.items, seed=0)
        print(
            f"{args.items} items x {args.agents} agents x {args.rounds} rounds (debate), "
            f"{args.servers} servers, {args.latency * 1000:.0f} ms a reply"
        )
        header = ("conc.", "calls", "ideal s", "engine s", "ratio", "batch s", "ratio", "engine ms/call")
        print(" ".join(f"{h:>{w}}" for h, w in zip(header, (5, 6, 8, 9, 6, 8, 6, 15), strict=True)))
        for concurrency in args.concurrency:
            pool = al.models.openai_pool(urls, concurrency=concurrency)
            team = al.topologies.load("debate", n_agents=args.agents, model=pool)
            run = team.run(task, rounds=args.rounds, cache=False, progress=False)
            assert all(m.error is None for m in run.records), next(m.error for m in run.records if m.error)
            calls = run.calls
            ideal = calls * args.latency / (args.servers * concurrency)
            prompts = [f"question {i}" for i in range(calls)]
            started = time.perf_counter()
            al.models.openai_pool(urls, concurrency=concurrency).batch(prompts)
            bare = time.perf_counter() - started
            own = (run.wall_seconds - run.model_seconds) / calls * 1000
            wall = run.wall_seconds
            print(
                f"{concurrency:5d} {calls:6d} {ideal:8.2f} {wall:9.2f} {wall / ideal:6.2f} "
                f"{bare:8.2f} {bare / ideal:6.2f} {own:15.3f}"
            )
            for usage in pool.usage():  # the engine's run
                print(f"      {usage}")
    finally:
        for p in procs:
            p.terminate()


if __name__ == "__main__":
    main()
