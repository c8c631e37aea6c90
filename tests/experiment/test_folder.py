"""One writer per run folder, a format version in the folder, and older folders still resuming."""

import json
import subprocess
import sys
import time

import pytest
import yaml

from agentlab.experiment import Experiment, FolderInUse, RunFolder

SLOW = {
    "name": "busy",
    "task": {"name": "arithmetic", "n": 4},
    "model": {"kind": "scripted", "reply": "The answer is 24", "delay": 3.0},  # 9 s: outlasts a start-up
    "topologies": [{"preset": "chain", "n_agents": 3}],
}


def test_two_runs_of_one_folder_at_once_the_second_stops_and_nothing_doubles(tmp_path):
    path = tmp_path / "busy.yaml"
    path.write_text(yaml.safe_dump(SLOW))
    command = [sys.executable, "-m", "agentlab", "run", str(path), "--root", str(tmp_path / "runs")]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "runs" / "busy" / ".lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text().startswith("process")) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert second.returncode == 2
    assert "runs/busy is being written by process" in second.stderr
    assert f"process {first.pid} " in second.stderr  # the holder, by its pid
    results = RunFolder(tmp_path / "runs" / "busy").read("results")
    assert len(results) == 4 and len({r["item_id"] for r in results}) == 4
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)  # the lock went with it
    assert again.returncode == 0, again.stderr
    assert len(RunFolder(tmp_path / "runs" / "busy").read("results")) == 4


def test_an_open_folder_refuses_a_second_writer_in_the_same_process(tmp_path):
    with RunFolder(tmp_path / "f"), pytest.raises(FolderInUse, match="wait for that run to finish"):
        RunFolder(tmp_path / "f").open_for_writing()
    with RunFolder(tmp_path / "f"):  # released on close
        pass


def test_a_folder_records_its_format_and_a_newer_one_is_refused(tmp_path):
    config = SLOW | {"model": {"kind": "scripted"}}
    Experiment.from_dict(config).run(tmp_path, progress=False)
    marker = tmp_path / "busy" / "run.json"
    assert json.loads(marker.read_text()) == {"format": 1}
    marker.write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="format 99 by a newer agentlab"):
        Experiment.from_dict(config).run(tmp_path, progress=False)


def test_a_folder_from_before_new_settings_still_resumes(tmp_path):
    config = SLOW | {"model": {"kind": "scripted"}}
    Experiment.from_dict(config).run(tmp_path, progress=False)
    written = tmp_path / "busy" / "config.yaml"
    older = yaml.safe_load(written.read_text())
    for added in ("stream", "max_concurrency", "retry_backoff", "fail_fast"):  # keys older files lacked
        del older[added]
    written.write_text(yaml.safe_dump(older))
    (tmp_path / "busy" / "run.json").unlink()  # and folders had no format marker
    result = Experiment.from_dict(config).run(tmp_path, progress=False)
    assert result.runs[("chain", 0)].cache_hits == 0 and result.runs[("chain", 0)].calls == 12
    assert len(RunFolder(tmp_path / "busy").read("records")) == 12  # replayed, not made again
