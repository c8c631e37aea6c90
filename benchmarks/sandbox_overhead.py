"""What the sandbox costs per program: a HumanEval-sized program (its canonical solution and tests)
under the namespaces (bubblewrap + seccomp) and under the in-process guard alone.

    python benchmarks/sandbox_overhead.py --programs 40
"""

from __future__ import annotations

import argparse
import statistics
import time

from agentlab.sandbox import Limits, run_untrusted
from agentlab.tasks.humaneval import problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=40, help="HumanEval problems, from the first")
    args = parser.parse_args()
    chosen = problems()[: args.programs]
    programs = [
        f"{p['prompt']}{p['canonical_solution']}\n\n{p['test']}\n\ncheck({p['entry_point']})\n"
        for p in chosen
    ]
    print(f"{'isolation':<20} {'programs':>8} {'passed':>6} {'median ms':>9} {'p90 ms':>7} {'total s':>7}")
    for isolation in ("namespaces", "guard"):
        limits = Limits(isolation=isolation)
        seconds, passed = [], 0
        for program in programs:
            started = time.perf_counter()
            passed += run_untrusted(program, limits).passed
            seconds.append(time.perf_counter() - started)
        p90 = statistics.quantiles(seconds, n=10)[-1] if len(seconds) > 1 else seconds[0]
        label = run_untrusted("pass", limits).isolation
        print(
            f"{label:<20} {len(programs):>8} {passed:>6} {1000 * statistics.median(seconds):>9.1f} "
            f"{1000 * p90:>7.1f} {sum(seconds):>7.2f}"
        )


if __name__ == "__main__":
    main()
