"""Peak memory of `agentlab run` as items grow: records stream to disk, items go through a window.

Runs the same experiment file (a zero-latency scripted model, a 5-agent mesh, 2 rounds, so 10 calls
and 10 records per item) at 1,000 and 10,000 items, each in a fresh process, and reports that
process's peak resident memory.

    python benchmarks/memory_flat.py --items 1000 10000
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def peak_rss_mib(items: int, folder: Path, window: int | None) -> tuple[float, float]:
    config = {
        "name": f"memory-{items}",
        "task": {"name": "arithmetic", "n": items, "n_train": 1},
        "model": {"kind": "scripted", "reply": "The answer is 7"},
        "topologies": [{"preset": "mesh", "n_agents": 5}],
        "rounds": 2,
        "cache": False,
        "window": window,
    }
    path = folder / f"memory-{items}.yaml"
    path.write_text(yaml.safe_dump(config))
    script = (
        "import resource, sys\n"
        "from agentlab.experiment import Experiment\n"
        f"Experiment.from_yaml({str(path)!r}).run({str(folder / 'runs')!r}, progress=False)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--window", type=int, default=1024, help="items in flight (the experiment default)")
    args = parser.parse_args()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this launcher process: {baseline:.0f} MiB)")
    print(f"{'items':>7} {'records':>8} {'peak RSS MiB':>13} {'seconds':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.items:
            peak, seconds = peak_rss_mib(n, Path(tmp), args.window)
            print(f"{n:>7} {n * 10:>8} {peak:>13.0f} {seconds:>8.1f}")


if __name__ == "__main__":
    main()
