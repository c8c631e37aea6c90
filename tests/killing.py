"""Kill an experiment with SIGKILL mid-run, resume it, and run it whole beside it: for the tests
that hold a resumed run to an uninterrupted one."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from agentlab.experiment import read_jsonl

REPOSITORY = Path(__file__).parents[1]


def _agentlab_run(cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY)}  # files may name scripted models in tests/
    command = [sys.executable, "-m", "agentlab", "run", "exp.yaml"]
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def killed_then_resumed(tmp_path: Path, config: dict, after: int) -> tuple[list[dict], list[dict], Path]:
    """Runs ``config`` in tmp_path/killed, kills it once ``after`` records are on disk, resumes it,
    and runs it uninterrupted in tmp_path/whole: (resumed records, whole records, killed folder)."""
    for name in ("killed", "whole"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "exp.yaml").write_text(yaml.safe_dump(config))
    folder = tmp_path / "killed" / "runs" / config["name"]
    records = folder / "records.jsonl"
    process = _agentlab_run(tmp_path / "killed")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(read_jsonl(records) if records.exists() else []) < after:
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    at_kill = len(read_jsonl(records))
    assert _agentlab_run(tmp_path / "killed").wait(timeout=120) == 0
    assert _agentlab_run(tmp_path / "whole").wait(timeout=120) == 0
    whole = read_jsonl(tmp_path / "whole" / "runs" / config["name"] / "records.jsonl")
    assert after <= at_kill < len(whole)  # killed mid-run, with work done and work left
    return read_jsonl(records), whole, folder
