"""Batched engine against one-by-one calls on the embedded model (CPU).

Runs ITEMS items x AGENTS agents x ROUNDS rounds of a star through the engine (every ready call of a
step goes to one padded generate per chunk), then makes exactly the same calls again, one
``invoke`` at a time, as the research codebases do. Greedy decoding. The engine runs twice: with
the call cache off (every call computed), and with a fresh, empty cache, where identical calls
inside a step (the star's spokes share one prompt) are computed once.

    python benchmarks/embedded_batching.py --items 16 --agents 4 --rounds 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from langchain_core.messages import HumanMessage, SystemMessage

import agentlab as al


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--topology", default="star")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    llm = al.models.default(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    llm.invoke("Warm up: what is 1 + 1?")
    task = al.tasks.load("arithmetic", n=args.items, seed=0)
    team = al.topologies.load(args.topology, n_agents=args.agents, model=llm)
    run = team.run(task, rounds=args.rounds, cache=False, progress=False)
    with tempfile.TemporaryDirectory() as folder:
        fresh = al.CallCache(Path(folder) / "calls.sqlite")
        deduplicated = team.run(task, rounds=args.rounds, cache=fresh, progress=False)

    roles = {"system": SystemMessage, "human": HumanMessage}
    started = time.perf_counter()
    sequential_tokens = 0
    for message in run.records:
        reply = llm.invoke([roles[kind](text) for kind, text in message.prompt])
        sequential_tokens += reply.usage_metadata["output_tokens"]
    sequential = time.perf_counter() - started

    # The floor under any batching: reading every prompt once (prefill), one prompt at a time, no
    # generation. On a CPU prefill is compute-bound, so batching it saves nothing; only decoding gains.
    started = time.perf_counter()
    with torch.inference_mode():
        for message in run.records:
            conversation = [roles[kind](text) for kind, text in message.prompt]
            ids = llm.tokenizer(llm._template(conversation), add_special_tokens=False, return_tensors="pt")
            llm.hf_model(**ids, logits_to_keep=1)
    prefill = time.perf_counter() - started

    engine_tokens = run.usage.completion_tokens
    print(
        f"{args.items} items x {args.agents} agents x {args.rounds} rounds ({args.topology}), "
        f"{run.calls} calls, max_new_tokens={args.max_new_tokens}, batch_size={args.batch_size}"
    )
    computed = deduplicated.calls - deduplicated.cache_hits
    for label, seconds, note in [
        (
            "engine, cache off",
            run.wall_seconds,
            f"{engine_tokens / run.wall_seconds:.1f} completion tokens/s",
        ),
        ("engine, fresh cache", deduplicated.wall_seconds, f"{computed} distinct calls computed"),
        ("one by one", sequential, f"{sequential_tokens / sequential:.1f} completion tokens/s"),
        ("prefill only", prefill, f"{run.usage.prompt_tokens} prompt tokens, one prompt at a time"),
    ]:
        print(
            f"{label:<20} {seconds:7.1f} s  {args.items / seconds:6.3f} items/s  "
            f"{sequential / seconds:5.2f}x one by one  ({note})"
        )
    print(f"ceiling for any batching of these calls without prefix reuse: {sequential / prefill:.2f}x")
    same = sequential_tokens == engine_tokens
    print(f"same completion tokens: {same} ({engine_tokens} batched vs {sequential_tokens} one by one)")


if __name__ == "__main__":
    main()
