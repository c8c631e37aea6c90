"""Bad input is refused before any model call, with a message naming the field and the fix; damaged
state names its file (and line) and what to do."""

import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

import agentlab as al
from agentlab import _hub
from agentlab.cache import CacheUnavailable
from agentlab.experiment import Experiment

FILE = {
    "name": "bad",
    "task": {"name": "arithmetic", "n": 3},
    "model": {"kind": "scripted"},
    "topologies": [{"preset": "chain", "n_agents": 3}],
}


def _with(path: str, value):
    """FILE with one field replaced, ``path`` dotted (``model.batch_size``, ``topologies.0.options``)."""
    config = yaml.safe_load(yaml.safe_dump(FILE))
    *parents, last = path.split(".")
    node = config
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return config


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("seeds", [], "seeds: List should have at least 1 item"),
        ("seeds", [3, 1, 3], r"seeds: seed\(s\) \[3\] appear more than once"),
        ("task.n", 0, "task.n: must be a whole number of items, 1 or more"),
        ("task.n", -2, r"task.n: must be a whole number of items, 1 or more \(got -2\)"),
        ("task.n", 2.5, r"task.n: .*\(got 2.5\)"),
        ("task.n", "5", r"task.n: .*\(got '5'\)"),
        ("task.shots", 3, r"task: task 'arithmetic' does not take \['shots'\]"),
        ("topologies.0.n_agents", 0, "topologies.0.n_agents: Input should be greater than or equal to 1"),
        ("topologies.0.options", {"widht": 2}, r"preset 'chain' does not take option\(s\) \['widht'\]"),
        (
            "topologies.0",
            {"preset": "layered", "n_agents": 4, "options": {"widht": 2}},
            "did you mean 'width'",
        ),
        ("topologies.0", {"preset": "single", "n_agents": 3}, "has exactly 1 agent"),
        ("model.max_new_tokens", 0, "model.max_new_tokens: Input should be greater than or equal to 1"),
        ("model.temperature", -0.5, "model.temperature: Input should be greater than or equal to 0"),
        ("model.batch_size", 0, "model.batch_size: Input should be greater than or equal to 1"),
        ("model.top_p", 0, "model.top_p: Input should be greater than 0"),
        ("model", "default", r"model: a model is a mapping, e.g. `model: \{kind: default\}`"),
        ("name", "", "name: the run's name is empty"),
        ("name", "/tmp/elsewhere", "is absolute; a run folder is always inside --root"),
        ("name", "../up", "climbs out with `..`"),
        ("name", "group/../../up", "climbs out with `..`"),
    ],
)
def test_a_bad_field_in_a_file_is_named_with_its_fix(path, value, message):
    with pytest.raises(ValueError, match=message):
        Experiment.from_dict(_with(path, value))


def test_every_problem_in_a_file_is_listed_at_once():
    config = _with("seeds", [])
    config["model"]["batch_size"] = 0
    with pytest.raises(ValueError) as error:
        Experiment.from_dict(config)
    assert "seeds:" in str(error.value) and "model.batch_size:" in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: a\ntask: {name: arithmetic}\nname: b\n",
            r"exp.yaml:3:1: key 'name' appears twice \(first on line 1\)",
        ),
        ("name: a\ntask: {name: arithmetic, n: 2, n: 3}\n", "exp.yaml:2:32: key 'n' appears twice"),
        ("name: a\nseeds: [0\ntopologies: []\n", r"exp.yaml:3:11: expected ',' or '\]'"),
        ("name: a\n\tseeds: [0]\n", "exp.yaml:2:1: found character '\\\\t'"),
    ],
)
def test_yaml_mistakes_are_located_by_file_line_and_column(tmp_path, text, message):
    (tmp_path / "exp.yaml").write_text(text)
    with pytest.raises(ValueError, match=message):
        Experiment.from_yaml(tmp_path / "exp.yaml")


def test_the_cli_reports_a_yaml_mistake_in_one_line(tmp_path):
    (tmp_path / "exp.yaml").write_text("name: a\nname: b\n")
    done = subprocess.run(
        [sys.executable, "-m", "agentlab", "run", "exp.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        done.stderr.strip()
        == "agentlab run: exp.yaml:2:1: key 'name' appears twice (first on line 1); keep one"
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: al.CommGraph("abc"), r"agents is a list of names, not a string: CommGraph\(\['abc'\]\)"),
        (
            lambda: al.CommGraph(["a", "b"], [("a", "b", "c")]),
            r"has 3 parts; an edge is a \(sender, receiver\) pair",
        ),
        (lambda: al.CommGraph(["a", "b"], ("a", "b")), "spatial edges are a list of"),
        (lambda: al.CommGraph(["a", "b"], ["ab"]), "spatial edges are a list of"),
        (
            lambda: al.Team([al.Agent("a")], model="gpt-4o"),
            "the team's model is 'gpt-4o': a name is not a model here",
        ),
        (lambda: al.Agent("a", model="Qwen/Qwen2.5-7B"), "the model of agent 'a' is 'Qwen/Qwen2.5-7B'"),
        (lambda: al.Team("ab"), r"agents are al.Agent objects"),
        (lambda: al.tasks.load("arithmetic", n=0), "n: must be a whole number of items, 1 or more"),
        (lambda: al.topologies.graph("chain", 3, widht=2), r"does not take option\(s\) \['widht'\]"),
        (lambda: al.models.ModelSpec(max_new_tokens=-1), "max_new_tokens"),
    ],
)
def test_bad_python_arguments_are_named(build, message):
    with pytest.raises((TypeError, ValueError), match=message):
        build()


def test_local_model_settings_are_checked():
    from agentlab.models.local_chat import LocalChatModel

    for bad in ({"max_new_tokens": 0}, {"temperature": -1.0}, {"batch_size": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            LocalChatModel(model_name="m", **bad)


def test_a_gguf_file_that_does_not_exist_is_named(tmp_path):
    missing = tmp_path / "model-Q4_K_M.gguf"
    with pytest.raises(FileNotFoundError, match=f"the GGUF file {missing} does not exist"):
        al.models.local(str(missing))
    spec = al.models.ModelSpec(kind="local", path=str(missing))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        al.models.build(spec, seed=0)


@pytest.fixture
def unreachable_hub(monkeypatch):
    """A hub that cannot be reached: a closed port on this machine (refused at once)."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", "/nonexistent-agentlab-hf-home")  # no cached copy either
    _hub.unreachable.cache_clear()
    yield
    _hub.unreachable.cache_clear()


def test_an_unreachable_hub_is_found_quickly_and_the_message_says_how_to_load_a_local_copy(unreachable_hub):
    started = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"(?s)out of reach.*path='path/to/test.jsonl'"):
        al.tasks.load("gsm8k")
    with pytest.raises(OSError, match=r"out of reach.*al.models.local\('DIR'\)"):
        al.models.local("Qwen/Qwen2.5-0.5B-Instruct")
    assert time.perf_counter() - started < 15  # offline retries used to take 25-50 s for each


@pytest.fixture
def finished_run(tmp_path):
    Experiment.from_dict(FILE).run(tmp_path, progress=False)
    return tmp_path / "bad"


@pytest.mark.parametrize("kind", ["records", "results"])
def test_a_damaged_line_in_the_middle_is_named_with_its_line(finished_run, kind):
    path = finished_run / f"{kind}.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = '{"unit": "chain/seed0", "item_id": \n'
    path.write_text("".join(lines))
    with pytest.raises(ValueError, match=rf"{kind}.jsonl:2: a damaged line .* sed -i '2d'"):
        Experiment.from_dict(FILE).run(finished_run.parent, progress=False)
    del lines[1]  # what the message says to do
    path.write_text("".join(lines))
    again = Experiment.from_dict(FILE).run(finished_run.parent, progress=False)
    assert len(again.runs[("chain", 0)].results) == 3


def test_a_damaged_call_cache_is_named(tmp_path, monkeypatch):
    (tmp_path / "calls.sqlite").write_text("not a database, just text " * 100)
    monkeypatch.setenv("AGENTLAB_CALL_CACHE", str(tmp_path / "calls.sqlite"))
    with pytest.raises(CacheUnavailable, match=r"calls.sqlite is damaged .*\(mv .*calls.sqlite.damaged\)"):
        Experiment.from_dict(FILE).run(tmp_path / "runs", progress=False)


def test_a_locked_call_cache_gives_up_in_seconds(tmp_path, monkeypatch):
    cache = tmp_path / "calls.sqlite"
    monkeypatch.setenv("AGENTLAB_CALL_CACHE", str(cache))
    al.CallCache(cache)  # create it
    holder = sqlite3.connect(cache)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO calls VALUES ('held', '{}')")
    started = time.perf_counter()
    try:
        with pytest.raises(CacheUnavailable, match="stayed locked by another process for 5 s"):
            Experiment.from_dict(FILE).run(tmp_path / "runs", progress=False)
    finally:
        holder.rollback()
        holder.close()
    assert time.perf_counter() - started < 20
    assert (
        len(Experiment.from_dict(FILE).run(tmp_path / "runs", progress=False).runs[("chain", 0)].results) == 3
    )


def test_a_full_disk_stops_with_a_message_and_the_rerun_after_freeing_space_resumes(tmp_path):
    """The run folder's root is a 256 KiB tmpfs (made by bubblewrap, which the sandbox needs
    anyway) that a filler file all but fills; the rerun comes after the filler is deleted."""
    script = tmp_path / "full.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, os, subprocess, sys
            config = {"name": "full", "task": {"name": "arithmetic", "n": 30}, "cache": False,
                      "model": {"kind": "scripted"}, "topologies": [{"preset": "chain", "n_agents": 3}]}
            open("/mnt/exp.json", "w").write(json.dumps(config))
            filler = os.open("/mnt/filler", os.O_WRONLY | os.O_CREAT)
            try:
                while True:
                    os.write(filler, b"x" * 4096)
            except OSError:
                os.close(filler)
            os.truncate("/mnt/filler", os.path.getsize("/mnt/filler") - 24 * 1024)  # room for a start
            run = [sys.executable, "-m", "agentlab", "run", "/mnt/exp.json", "--root", "/mnt/runs"]
            first = subprocess.run(run, capture_output=True, text=True)
            os.remove("/mnt/filler")
            second = subprocess.run(run, capture_output=True, text=True)
            results = [json.loads(line) for line in open("/mnt/runs/full/results.jsonl")]
            print(json.dumps({"first": [first.returncode, first.stderr[-600:]], "second": second.returncode,
                              "items": sorted(r["item_id"] for r in results)}))
            """
        )
    )
    bwrap = [
        "bwrap",
        "--dev-bind",
        "/",
        "/",
        "--size",
        str(256 * 1024),
        "--tmpfs",
        "/mnt",
        "--chdir",
        str(tmp_path),
    ]
    done = subprocess.run([*bwrap, sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    import json

    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    code, said = outcome["first"]
    assert (
        code == 2 and "no space left writing /mnt/runs/full/" in said and "run the same command again" in said
    )
    assert "Traceback" not in said
    assert outcome["second"] == 0
    assert len(outcome["items"]) == len(set(outcome["items"])) == 30  # each item once, none lost
