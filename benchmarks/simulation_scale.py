"""The 2/3-of-the-average game at scale: calls per second, the engine's own time per call, and
memory against the rounds done.

    python benchmarks/simulation_scale.py --agents 10000 --rounds 10            # zero-latency scripted model
    python benchmarks/simulation_scale.py --agents 1000 --rounds 3 --embedded   # the embedded model

Each round is one engine run of every agent's call; records and states stream to a run folder, so
memory should stay flat as rounds go by (the peak RSS is printed after each round). The wall time
splits into the model's (inside ``model.batch``), the environment's (observations, steps, the
states written) and the engine's own, the rest.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import agentlab as al
from agentlab.envs.two_thirds import TwoThirdsGame


class _Watched(TwoThirdsGame):
    """The game, printing the peak RSS after each round."""

    def step(self, actions):
        result = super().step(actions)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        mean = self.history[-1]["average"]
        print(f"  round {self.round}: mean guess {mean}, peak RSS {rss:.0f} MiB", flush=True)
        return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument(
        "--embedded", action="store_true", help="the embedded model instead of a scripted one"
    )
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--personas", action="store_true")
    args = parser.parse_args()
    if args.embedded:
        model = al.models.default(max_new_tokens=args.max_new_tokens)
    else:  # zero latency: every player guesses 33
        model = al.models.ScriptedChatModel(respond=lambda messages: "33")
    team = al.Team([al.Agent(f"player{i}") for i in range(args.agents)], model=model)
    env = _Watched(agents=args.agents, rounds=args.rounds, personas=args.personas)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        sim = team.simulate(env, episodes=1, seed=0, folder=folder, cache=False, progress=False)
        wall = time.perf_counter() - started
    calls = args.agents * args.rounds
    engine = wall - sim.model_seconds - sim.env_seconds
    print(
        f"\n{args.agents} agents x {args.rounds} rounds = {calls} calls in {wall:.1f} s: "
        f"{calls / wall:.1f} calls/s"
    )
    print(f"  model.batch   {sim.model_seconds:8.2f} s  {1e3 * sim.model_seconds / calls:7.3f} ms/call")
    print(f"  environment   {sim.env_seconds:8.2f} s  {1e3 * sim.env_seconds / calls:7.3f} ms/call")
    print(f"  engine's own  {engine:8.2f} s  {1e3 * engine / calls:7.3f} ms/call")
    print(f"  {sim.usage.total_tokens} tokens; nash distance {sim.summary()['nash_distance'][0]:.2f}")


if __name__ == "__main__":
    main()
