"""Engine overhead per call with a zero-latency scripted model.

Runs N items x A agents x R rounds of a mesh (every agent hears every earlier one, and everyone
across rounds) and splits the wall time into the engine's own share and the time spent inside
``model.batch`` (langchain-core's call path plus the trivial scripted reply).

    python benchmarks/orchestration_overhead.py --items 1000 --agents 5 --rounds 2
"""

from __future__ import annotations

import argparse
import cProfile
import pstats

import agentlab as al


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--topology", default="mesh")
    parser.add_argument("--memory", default="none", help="every agent's memory: none, full, last or N")
    parser.add_argument("--cache", action="store_true", help="include the on-disk call cache (a fresh file)")
    parser.add_argument("--profile", action="store_true", help="print the engine's hottest functions")
    args = parser.parse_args()

    model = al.models.ScriptedChatModel(respond=lambda messages: "The answer is 7")
    task = al.tasks.load("arithmetic", n=args.items, seed=0)
    memory = int(args.memory) if args.memory.isdigit() else args.memory
    team = al.topologies.load(args.topology, n_agents=args.agents, model=model, memory=memory)
    cache = al.CallCache(":memory:") if args.cache else False
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    run = team.run(task, rounds=args.rounds, cache=cache, progress=False)
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    calls = run.calls
    engine = run.wall_seconds - run.model_seconds
    print(
        f"{args.items} items x {args.agents} agents x {args.rounds} rounds ({args.topology}): {calls} calls, "
        f"{run.steps} steps, cache {'on' if args.cache else 'off'}, memory {args.memory}"
    )
    print(f"total        {run.wall_seconds:8.2f} s  {1e3 * run.wall_seconds / calls:7.3f} ms/call")
    print(
        f"model.batch  {run.model_seconds:8.2f} s  {1e3 * run.model_seconds / calls:7.3f} ms/call"
        "  (langchain-core call path + scripted reply)"
    )
    print(f"engine own   {engine:8.2f} s  {1e3 * engine / calls:7.3f} ms/call")


if __name__ == "__main__":
    main()
