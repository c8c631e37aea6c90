"""The README's main job, ``agentlab demo``, as a user runs it: a table of the presets and a report."""

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_the_demo_prints_a_results_table_and_writes_a_report(tmp_path):
    command = [sys.executable, "-m", "agentlab", "demo", "--n", "4", "--no-cache"]
    out = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, check=True, timeout=900
    ).stdout
    lines = out.splitlines()
    header = next(k for k, line in enumerate(lines) if line.startswith("run "))
    assert lines[header].split()[:3] == ["run", "accuracy", "95%"]
    rows = [line.split()[0] for line in lines[header + 1 : header + 5]]
    assert rows == ["single", "chain", "star", "debate"]
    report = tmp_path / "runs" / "demo" / "report.html"
    assert lines[-1] == "Report: runs/demo/report.html" and report.stat().st_size > 10_000
    assert "Preset topologies on hidden-fact (4 items)" in report.read_text()
