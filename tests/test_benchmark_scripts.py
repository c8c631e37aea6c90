"""The benchmark scripts still run (at a tiny size; their numbers belong in benchmarks/README.md)."""

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_memory_benchmark_runs_and_reports_each_size():
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "memory_flat.py"), "--items", "20", "40", "--window", "8"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    rows = [line.split() for line in out.splitlines() if line.strip()[:2].isdigit()]
    assert [(r[0], r[1]) for r in rows] == [("20", "200"), ("40", "400")]
    assert all(float(r[2]) > 0 for r in rows)
