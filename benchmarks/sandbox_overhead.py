"""What the sandbox costs per program: a HumanEval-sized program (its canonical solution and tests)
under the namespaces (bubblewrap + seccomp) and under the in-process guard alone, and what scoring
a HumanEval problem costs (the completion served from the sandbox, the tests calling it from here).

    python benchmarks/sandbox_overhead.py --programs 40
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from agentlab.sandbox import Limits, run_untrusted
from agentlab.tasks.humaneval import passes_tests, problems


def _row(label: str, jobs: list[Callable[[], bool]]) -> None:
    seconds, passed = [], 0
    for job in jobs:
        started = time.perf_counter()
        passed += job()
        seconds.append(time.perf_counter() - started)
    p90 = statistics.quantiles(seconds, n=10)[-1] if len(seconds) > 1 else seconds[0]
    print(
        f"{label:<34} {len(jobs):>8} {passed:>6} {1000 * statistics.median(seconds):>9.1f} "
        f"{1000 * p90:>7.1f} {sum(seconds):>7.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=40, help="HumanEval problems, from the first")
    args = parser.parse_args()
    chosen = problems()[: args.programs]
    programs = [
        f"{p['prompt']}{p['canonical_solution']}\n\n{p['test']}\n\ncheck({p['entry_point']})\n"
        for p in chosen
    ]
    print(f"{'what':<34} {'programs':>8} {'passed':>6} {'median ms':>9} {'p90 ms':>7} {'total s':>7}")
    for isolation in ("namespaces", "guard"):
        limits = Limits(isolation=isolation)
        label = run_untrusted("pass", limits).isolation
        _row(
            f"program, {label}",
            [lambda p=p, limits=limits: run_untrusted(p, limits).passed for p in programs],
        )
    references = [{"test": p["test"], "entry_point": p["entry_point"], "prompt": p["prompt"]} for p in chosen]
    _row(
        "HumanEval scorer (tests outside)",
        [
            lambda p=p, r=r: passes_tests(p["prompt"] + p["canonical_solution"], r) == 1.0
            for p, r in zip(chosen, references, strict=True)
        ],
    )
    print(f"bounds: {run_untrusted('pass').bounds}")


if __name__ == "__main__":
    main()
