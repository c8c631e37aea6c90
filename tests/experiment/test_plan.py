"""``agentlab run FILE --plan``: units, calls and estimated tokens, without calling a model; and
every shipped experiment file validates and plans offline."""

import json
from pathlib import Path

import pytest

from agentlab._cards import load_card
from agentlab._yaml import load_file
from agentlab.cli import main
from agentlab.experiment import Experiment
from agentlab.experiment.plan import plan
from tests.tasks.test_hub import ROWS

SHIPPED = sorted((Path(__file__).parents[2] / "experiments").glob("*.yaml"))


def local_copy(name: str, folder: Path) -> Path:
    """A file per split of task ``name``, in its dataset's schema, as a user's local copy."""
    folder.mkdir()
    for split in load_card("tasks", name)["splits"]:
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS[name] * 3))
    return folder


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_experiment_files_validate_and_plan_offline(path, tmp_path):
    data = load_file(path)
    if "path" in data.get("task", {}):
        data["task"]["path"] = str(local_copy(data["task"]["name"], tmp_path / "data"))
    experiment = Experiment.from_dict(data, str(path))
    if experiment.config.simulation is not None:  # an environment: its calls depend on how episodes go
        with pytest.raises(ValueError, match="a simulation's depend on how its episodes go"):
            plan(experiment)
        return
    assert experiment.task(0).items
    rows = plan(experiment)
    assert [r.unit for r in rows] == [
        spec.unit(s) for s in experiment.config.seeds for spec in experiment.config.topologies
    ]
    assert all(r.calls and r.tokens for r in rows)
    learners = [spec for spec in experiment.config.topologies if spec.learner]
    assert all(r.train_calls > 0 for r in rows if r.at_most) and len([r for r in rows if r.at_most]) == len(
        learners
    )


CONFIG = {
    "name": "planned",
    "task": {"name": "arithmetic", "n": 6, "n_train": 8},
    "model": {"kind": "scripted", "reply": "The answer is 24", "max_new_tokens": 16},
    "topologies": [
        {"preset": "single"},
        {"preset": "chain", "n_agents": 3, "rounds": 2, "memory": "full"},
        {
            "learner": "agentprune",
            "n_agents": 3,
            "train": {"items": 8, "batch_size": 4, "samples_per_query": 2},
        },
        {"preset": "blackboard"},
    ],
}


def test_the_plan_counts_the_calls_the_run_makes(tmp_path, capsys):
    experiment = Experiment.from_dict(CONFIG)
    rows = {r.unit: r for r in plan(experiment)}
    assert rows["single/seed0"].calls == 6 and rows["chain/seed0"].calls == 6 * 3 * 2
    assert rows["agentprune/seed0"].calls == 6 * (3 + 1) and rows["agentprune/seed0"].at_most  # + FinalRefer
    assert rows["agentprune/seed0"].train_calls == 8 * 2 * 4
    assert rows["blackboard/seed0"].calls is None  # routed: decided at run time
    assert rows["chain/seed0"].tokens > 2 * 3 * rows["single/seed0"].tokens  # hears and remembers more
    result = experiment.run(tmp_path, progress=False)
    assert result.runs[("single", 0)].calls == 6 and result.runs[("chain", 0)].calls == 36
    assert result.metrics["training"]["agentprune/seed0"]["calls"] == 8 * 2 * 4
    assert result.runs[("agentprune", 0)].calls <= rows["agentprune/seed0"].calls

    path = tmp_path / "planned.yaml"
    path.write_text(json.dumps(CONFIG | {"name": "not-run"}))
    assert main(["run", str(path), "--plan", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "agentprune/seed0" in out and "≤24" in out and "at run time" in out and "Nothing was called" in out
    assert not (tmp_path / "not-run").exists()
