"""`accelerate launch -m agentlab run`: two CPU processes split the items and gather one run."""

import json
import subprocess
import sys

import yaml

from agentlab.experiment import Experiment, RunFolder, load_runs

CONFIG = {
    "name": "split",
    "task": {"name": "arithmetic", "n": 9},
    "model": {"kind": "scripted", "reply": "The answer is 24"},
    "rounds": 2,
    "cache": False,
    "topologies": [{"preset": "single"}, {"preset": "chain", "n_agents": 3}],
}


def test_two_processes_split_the_items_and_gather_the_same_run_as_one(tmp_path):
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(CONFIG))
    # on a machine without GPUs, accelerate spawns several processes only through its multi_gpu launcher;
    # each process then runs on the CPU
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "agentlab",
        "run",
        "exp.yaml",
    ]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = tmp_path / "runs" / "split"
    assert (folder / "records.rank1.jsonl").exists()  # the second process wrote its own share
    per_file = [
        len(RunFolder(folder).read("results")),
        len((folder / "results.rank1.jsonl").read_text().splitlines()),
    ]
    assert per_file == [18, 8]  # 9 items x 2 topologies in all; 4 of the 9 went to the second process

    alone = Experiment.from_dict({**CONFIG, "name": "alone"}).run(tmp_path / "single", progress=False)
    split = load_runs(folder)
    for key, run in alone.runs.items():
        assert [(r.item_id, r.score) for r in split[key].results] == [
            (r.item_id, r.score) for r in run.results
        ]
        assert sorted(m.item_id for m in split[key].records) == sorted(m.item_id for m in run.records)
    metrics = json.loads((folder / "metrics.json").read_text())
    for unit, summary in alone.metrics["runs"].items():
        for field in ("items", "accuracy", "prompt_tokens", "completion_tokens", "calls"):
            assert metrics["runs"][unit][field] == summary[field]
