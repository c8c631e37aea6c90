import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

import agentlab as al
from agentlab.experiment import Experiment, load_runs, read_jsonl

CONFIG = {
    "name": "exp",
    "task": {"name": "arithmetic", "n": 6},
    "model": {"kind": "scripted", "reply": "The answer is 24"},
    "seeds": [0, 1],
    "topologies": [{"preset": "single"}, {"preset": "chain", "n_agents": 3, "rounds": 2}],
}


def test_an_experiment_writes_its_run_folder(tmp_path):
    result = Experiment.from_dict(CONFIG).run(tmp_path, progress=False)
    folder = tmp_path / "exp"
    assert {p.name for p in folder.iterdir()} >= {
        "config.yaml",
        "environment.json",
        "records.jsonl",
        "results.jsonl",
        "metrics.json",
        "report.html",
    }
    records = read_jsonl(folder / "records.jsonl")
    assert len(records) == 2 * 6 * (1 + 3 * 2)
    assert len(read_jsonl(folder / "results.jsonl")) == 2 * 2 * 6
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["topologies"]) == {"single", "chain"}
    assert metrics["paired"]["chain"]["mcnemar_p"] == 1.0  # every agent says the same: no discordant item
    coordination = metrics["coordination"]["chain/seed0"]
    assert coordination["redundancy"] == pytest.approx(1.0) and coordination["overhead"] > 0
    env = json.loads((folder / "environment.json").read_text())
    assert env["packages"]["agentlab"] == al.__version__
    assert yaml.safe_load((folder / "config.yaml").read_text())["rounds"] == 1  # resolved with defaults
    assert result.runs[("chain", 1)].calls == 36


def test_rescore_and_reports_need_no_model(tmp_path):
    Experiment.from_dict(CONFIG).run(tmp_path, progress=False)
    recorded = load_runs(tmp_path / "exp")
    rescored = load_runs(tmp_path / "exp", rescore=True)
    for key, run in recorded.items():
        assert [r.score for r in rescored[key].results] == [r.score for r in run.results]
        assert rescored[key].usage == run.usage


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"topologis": []}, "unknown key; did you mean 'topologies'"),
        (
            {"model": {"kind": "scripted", "max_new_token": 3}},
            "model.max_new_token: unknown key; did you mean 'max_new_tokens'",
        ),
        ({"rounds": "two"}, "rounds: Input should be a valid integer"),
        ({"topologies": [{"preset": "stra"}]}, "did you mean 'star'"),
        ({"task": {"name": "arithmetc"}}, "did you mean 'arithmetic'"),
    ],
)
def test_bad_config_is_named_before_any_model_call(change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Experiment.from_dict({**CONFIG, **change})


def test_a_missing_field_is_named():
    config = dict(CONFIG)
    del config["task"]
    with pytest.raises(ValueError, match=r"give either `task:` .* or `simulation:` .*, not neither"):
        Experiment.from_dict(config)


def test_resuming_a_different_config_is_refused(tmp_path):
    Experiment.from_dict(CONFIG).run(tmp_path, progress=False)
    with pytest.raises(ValueError, match="different config"):
        Experiment.from_dict({**CONFIG, "rounds": 2}).run(tmp_path, progress=False)


def test_a_torn_last_line_is_cut_off(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": ')
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]
    assert path.read_text().endswith('{"a": ')  # a reader leaves a live writer's last line alone
    assert read_jsonl(path, repair=True) == [{"a": 1}, {"a": 2}]
    assert path.read_text() == '{"a": 1}\n{"a": 2}\n'


def test_a_budget_stops_and_the_same_command_goes_on(tmp_path):
    config = {**CONFIG, "seeds": [0], "budget": {"max_calls": 12}}
    first = Experiment.from_dict(config).run(tmp_path, progress=False)
    assert first.runs[("chain", 0)].stopped and first.metrics["stopped"]
    assert first.runs[("chain", 0)].results == []  # no chain item reached its last round
    assert load_runs(tmp_path / "exp", rescore=True)[("chain", 0)].results == []  # rescoring invents none
    # the budget counts what this run spent, resumed sessions included, so it stays reached
    again = Experiment.from_dict(config).run(tmp_path, progress=False)
    assert again.runs[("chain", 0)].stopped


KILL_CONFIG = {
    "name": "killed",
    "task": {"name": "arithmetic", "n": 40},
    "model": {"kind": "scripted", "reply": "The answer is 24", "delay": 0.3},
    "cache": False,
    "topologies": [{"preset": "chain", "n_agents": 4, "rounds": 3}],
}


def _agentlab(*args, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "agentlab", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_kill_9_then_resume_loses_nothing_and_runs_nothing_twice(tmp_path):
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(KILL_CONFIG))
    records = tmp_path / "runs" / "killed" / "records.jsonl"
    process = _agentlab("run", "exp.yaml", cwd=tmp_path)
    deadline = time.monotonic() + 60
    spent = records.with_name("time.jsonl")  # written once a second: wait for the first count
    while time.monotonic() < deadline and (not spent.exists() or spent.stat().st_size == 0):
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(read_jsonl(records))
    assert 0 < done_before < 40 * 4 * 3
    items_before = len(read_jsonl(records.with_name("results.jsonl")))
    seconds_before = max(r["wall_seconds"] for r in read_jsonl(records.with_name("time.jsonl")))

    assert _agentlab("run", "exp.yaml", cwd=tmp_path).wait(timeout=120) == 0
    rows = read_jsonl(records)
    keys = [(r["item_id"], r["round"], r["sender"]) for r in rows]
    assert len(keys) == len(set(keys)) == 40 * 4 * 3  # nothing lost, nothing twice

    (tmp_path / "whole").mkdir()
    (tmp_path / "whole" / "exp.yaml").write_text(yaml.safe_dump(KILL_CONFIG))
    assert _agentlab("run", "exp.yaml", cwd=tmp_path / "whole").wait(timeout=120) == 0
    resumed = json.loads((tmp_path / "runs" / "killed" / "metrics.json").read_text())
    whole = json.loads((tmp_path / "whole" / "runs" / "killed" / "metrics.json").read_text())
    # the resumed run says what it picked up, and counts the killed attempt's time
    said = resumed.pop("resumed")["chain/seed0"]
    assert said["replayed"] == done_before and said["calls_left"] == 40 * 4 * 3 - done_before
    assert said["items_done"] == items_before and said["seconds_before"] == pytest.approx(
        seconds_before, abs=1e-3
    )
    (run,) = resumed["runs"].values()
    assert run["wall_seconds"] > seconds_before
    rescored = load_runs(records.parent, rescore=True)[("chain", 0)]
    assert rescored.wall_seconds == pytest.approx(run["wall_seconds"], abs=0.01)  # metrics round to 0.01
    for metrics in (resumed, whole):
        for run in metrics["runs"].values():
            run.pop("wall_seconds"), run.pop("model_seconds")  # timings
    assert resumed == whole


def test_topologies_can_use_different_named_models(tmp_path):
    config = {
        **CONFIG,
        "seeds": [0],
        "models": {"wrong": {"kind": "scripted", "reply": "The answer is -1"}},
        "topologies": [{"preset": "single"}, {"preset": "single", "label": "single-wrong", "model": "wrong"}],
    }
    result = Experiment.from_dict(config).run(tmp_path, progress=False)
    assert {m.model for m in result.runs[("single-wrong", 0)].records} == {"scripted:The answer is -1"}
    assert result.runs[("single-wrong", 0)].accuracy == 0
    with pytest.raises(ValueError, match="unknown model 'wrnog'; did you mean 'wrong'"):
        Experiment.from_dict({**config, "topologies": [{"preset": "single", "model": "wrnog"}]})


def test_the_cli_runs_lists_reports_and_names_bad_files(tmp_path, capsys):
    from agentlab.cli import main

    (tmp_path / "exp.yaml").write_text(yaml.safe_dump({**CONFIG, "seeds": [0]}))
    assert main(["run", str(tmp_path / "exp.yaml"), "--root", str(tmp_path / "runs")]) == 0
    assert "chain" in capsys.readouterr().out
    assert main(["list", "--root", str(tmp_path / "runs")]) == 0
    assert "12 items done, 42 messages, finished" in capsys.readouterr().out  # 6x1 + 6x3x2
    (tmp_path / "runs" / "exp" / "report.html").unlink()
    assert main(["report", str(tmp_path / "runs" / "exp")]) == 0
    assert (tmp_path / "runs" / "exp" / "report.html").exists()
    (tmp_path / "bad.yaml").write_text("name: x\ntask: {name: arithmetic}\ntopologies: [{preset: chian}]\n")
    assert main(["run", str(tmp_path / "bad.yaml")]) == 2
    assert "did you mean 'chain'" in capsys.readouterr().err


LEARNER_CONFIG = {
    "name": "learned",
    "task": {"name": "arithmetic", "n": 4, "n_train": 8},
    "model": {"kind": "scripted", "reply": "The answer is 24"},
    "topologies": [
        {"preset": "chain", "n_agents": 3},
        {
            "learner": "gptswarm",
            "n_agents": 3,
            "train": {"items": 8, "batch_size": 4, "samples_per_query": 2},
        },
        {
            "learner": "gdesigner",
            "n_agents": 3,
            "roles": "math",
            "options": {"token_penalty": 0.001},
            "train": {"items": 4, "batch_size": 4, "samples_per_query": 2},
        },
    ],
}


def test_learners_train_on_the_train_split_and_a_resumed_run_reuses_them(tmp_path):
    first = Experiment.from_dict(LEARNER_CONFIG).run(tmp_path, progress=False)
    folder = tmp_path / "learned"
    saved = sorted(p.name for p in (folder / "learners").iterdir())
    assert saved == ["gdesigner-seed0.pt", "gptswarm-seed0.pt"]
    training = first.metrics["training"]
    assert training["gptswarm/seed0"]["steps"] == 2 and training["gptswarm/seed0"]["tokens"] > 0
    assert training["gdesigner/seed0"]["steps"] == 1
    assert first.runs[("gdesigner", 0)].n_items == 4
    stamp = (folder / "learners" / "gptswarm-seed0.pt").stat().st_mtime_ns
    again = Experiment.from_dict(LEARNER_CONFIG).run(tmp_path, progress=False)
    assert (folder / "learners" / "gptswarm-seed0.pt").stat().st_mtime_ns == stamp  # loaded, not retrained
    assert again.metrics["training"] == training
    rescored = load_runs(folder, rescore=True)
    assert [r.score for r in rescored[("gptswarm", 0)].results] == [
        r.score for r in first.runs[("gptswarm", 0)].results
    ]


@pytest.mark.parametrize(
    ("topology", "message"),
    [
        ({"preset": "star", "learner": "gptswarm"}, "exactly one of `preset`.*got preset and learner"),
        ({"n_agents": 3}, "exactly one of.*got none"),
        (
            {"learner": "gdesigne"},
            "topologies.0.learner: unknown learner 'gdesigne'; did you mean 'gdesigner'",
        ),
        ({"preset": "star", "train": {"items": 3}}, "only learners train"),
        ({"learner": "agentprune", "train": {"item": 3}}, "did you mean 'items'"),
    ],
)
def test_bad_learner_entries_are_named(topology, message):
    with pytest.raises(ValueError, match=message):
        Experiment.from_dict({**CONFIG, "topologies": [topology]})


def test_a_learner_option_it_does_not_take_is_named():
    topology = {"learner": "agentprune", "options": {"sparsty": 0.5}}
    with pytest.raises(ValueError, match="agentprune does not take \\['sparsty'\\]; did you mean 'sparsity'"):
        Experiment.from_dict({**CONFIG, "topologies": [topology]})


def test_an_agentsnet_experiment_runs_on_the_tasks_own_graphs_and_rounds(tmp_path):
    config = {
        "name": "coloring",
        "task": {"name": "agentsnet/coloring", "sizes": [4], "generators": ["ws", "ba"], "samples": 1},
        "model": {"kind": "scripted", "reply": "### Final Answer ### Group 1"},
        "topologies": [{"preset": "task", "label": "agentsnet"}],
    }
    result = Experiment.from_dict(config).run(tmp_path, progress=False)
    run = result.runs[("agentsnet", 0)]
    assert len(run.records) == 2 * 4 * 5  # two 4-node graphs, 4 rounds of messages plus the opening turn
    assert [r.score for r in run.results] == [0.0, 0.0]  # everyone in one group: no edge is proper
    assert all(set(r.prediction.values()) == {"Group 1"} for r in run.results)
    rescored = load_runs(tmp_path / "coloring", rescore=True)[("agentsnet", 0)]
    assert [r.prediction for r in rescored.results] == [r.prediction for r in run.results]


def test_preset_task_needs_a_task_with_its_own_graph(tmp_path):
    config = {**CONFIG, "topologies": [{"preset": "task"}]}
    with pytest.raises(ValueError, match="needs a task that brings its own graph"):
        Experiment.from_dict(config).run(tmp_path, progress=False)


def test_model_settings_reach_the_local_model(tmp_path, monkeypatch):
    seen: dict = {}

    def default(**settings):
        seen.update(settings)
        return al.models.ScriptedChatModel(respond=lambda messages: "The answer is 24")

    monkeypatch.setattr(al.models.embedded, "default", default)  # what the "default" backend builds
    config = CONFIG | {
        "model": {"kind": "default", "max_new_tokens": 32, "prefix_cache_mib": 0},
        "seeds": [0],
    }
    Experiment.from_dict(config).run(tmp_path, progress=False)
    assert seen["max_new_tokens"] == 32 and seen["prefix_cache_mib"] == 0
    with pytest.raises(ValueError, match="prefix_cache_mib"):
        Experiment.from_dict(CONFIG | {"model": {"kind": "default", "prefix_cache_mib": -1}})


def test_a_notebook_run_and_a_file_run_of_the_same_calls_share_cache_entries(tmp_path, monkeypatch):
    """The file's model is seeded with the run's seed, the notebook's is not; greedy calls do not
    depend on a seed, so both must find the same entries."""
    from tests.models.tiny_model import tiny_llama, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    tiny_llama(tokenizer).save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    monkeypatch.setenv("AGENTLAB_CALL_CACHE", str(tmp_path / "calls.sqlite"))
    config = {
        "name": "shared",
        "task": {"name": "arithmetic", "n": 3},
        "model": {"kind": "local", "path": str(tmp_path / "tiny"), "max_new_tokens": 8},
        "topologies": [{"preset": "chain", "n_agents": 2}],
    }
    from_file = Experiment.from_dict(config).run(tmp_path / "runs", progress=False).runs[("chain", 0)]
    assert from_file.cache_hits == 0
    llm = al.models.local(str(tmp_path / "tiny"), max_new_tokens=8)
    team = al.topologies.load("chain", n_agents=2, model=llm)
    in_notebook = team.run(al.tasks.load("arithmetic", n=3, seed=0), progress=False)
    assert in_notebook.cache_hits == in_notebook.calls == 6
    assert [m.content for m in in_notebook.records] == [m.content for m in from_file.records]
