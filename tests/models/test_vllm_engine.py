"""kind vllm: vLLM's offline engine in this process, tested against a stand-in of its API
(tests/models/stand_ins/vllm, the same call shapes and result fields) since CI has no vLLM."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml

import agentlab as al
from agentlab.experiment import Experiment, read_jsonl
from agentlab.models import ModelSpec, build

STAND_INS = Path(__file__).parent / "stand_ins"


@pytest.fixture
def vllm(monkeypatch):
    """The stand-in as ``vllm`` (shadowing a real one, if installed), fresh for each test."""
    monkeypatch.syspath_prepend(str(STAND_INS))
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    import vllm

    vllm.BUILT.clear()
    yield vllm
    sys.modules.pop("vllm", None)


def test_a_notebook_model_builds_its_engine_on_the_first_call_with_prefix_caching(vllm):
    llm = al.models.vllm("Qwen/Qwen2.5-0.5B-Instruct", max_new_tokens=3, seed=7)
    assert not vllm.BUILT  # described, not loaded
    reply = llm.invoke("two plus two")
    (engine,) = vllm.BUILT
    assert engine.model == "Qwen/Qwen2.5-0.5B-Instruct" and engine.enable_prefix_caching and engine.seed == 7
    assert reply.content == "You said: two"  # three tokens at most
    assert reply.usage_metadata["output_tokens"] == 3 and reply.usage_metadata["input_tokens"] == 4
    assert reply.response_metadata["finish_reason"] == "length"
    (call,) = engine.calls
    assert call["messages"] == [[{"role": "user", "content": "two plus two"}]]
    assert call["params"][0].temperature == 0 and call["params"][0].seed is None  # greedy


def test_sampling_is_seeded_per_request_and_stop_strings_are_honoured(vllm):
    llm = al.models.vllm("m", temperature=0.7, top_p=0.9, seed=3, stop=["plus"], sampling_args={"n": 1})
    first = llm.batch(["one plus one", "one plus one", "two"])
    params = vllm.BUILT[0].calls[0]["params"]
    assert [p.seed for p in params] == [3, 4, 5] and {p.top_p for p in params} == {0.9}
    assert first[0].content.strip() == "You said: one" and params[0].stop == ["plus"]
    again = al.models.vllm("m", temperature=0.7, top_p=0.9, seed=3, stop=["plus"]).batch(
        ["one plus one", "one plus one", "two"]
    )
    assert [m.content for m in again] == [m.content for m in first]  # a rerun draws the same
    with pytest.raises(TypeError, match="unknown call argument"):
        llm.invoke("hi", frobnicate=True)


def test_a_team_runs_on_it_with_vllm_s_token_counts_and_its_prefix_cache(vllm):
    llm = al.models.vllm("m", max_new_tokens=8)
    task = al.tasks.load("arithmetic", n=3)
    run = al.topologies.load("chain", n_agents=2, model=llm).run(task, cache=False, progress=False)
    assert run.calls == 6 and all(m.error is None for m in run.records)
    assert len(vllm.BUILT[0].calls) == 2  # one LLM.chat per step of the chain, every item at once
    assert all(m.usage.completion_tokens > 0 and m.usage.prompt_tokens > 0 for m in run.records)
    assert sum(m.usage.cached_tokens for m in run.records) > 0  # the shared openings were served again


def test_tools_go_into_the_prompt_and_calls_in_the_reply_become_tool_calls(vllm):
    def add(a: int, b: int) -> int:
        """Adds two numbers."""
        return a + b

    llm = al.models.vllm("m", max_new_tokens=64).bind_tools([add])
    reply = llm.invoke('<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>')
    assert reply.tool_calls[0]["name"] == "add" and reply.tool_calls[0]["args"] == {"a": 2, "b": 3}
    (call,) = vllm.BUILT[0].calls
    assert call["tools"] is None and '"name": "add"' in call["messages"][0][0]["content"]  # Hermes text
    native = al.models.vllm("m2", engine_args={"chat_template": "{{ tools }}"}).bind_tools([add])
    native.invoke("hi")
    assert vllm.BUILT[1].calls[0]["tools"][0]["function"]["name"] == "add"  # the template reads tools


def test_an_experiment_file_names_kind_vllm_with_engine_args(vllm, tmp_path):
    config = {
        "name": "on-vllm",
        "task": {"name": "arithmetic", "n": 4},
        "model": {"kind": "vllm", "path": "Qwen/Qwen2.5-0.5B-Instruct", "max_new_tokens": 6,
                  "args": {"gpu_memory_utilization": 0.5, "load_format": "dummy"}},
        "topologies": [{"preset": "star", "n_agents": 3}],
    }  # fmt: skip
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(config))
    Experiment.from_yaml(tmp_path / "exp.yaml").run(tmp_path / "runs", progress=False)
    (engine,) = vllm.BUILT
    assert engine.options == {"gpu_memory_utilization": 0.5, "load_format": "dummy"}
    assert engine.enable_prefix_caching and engine.seed == 0  # the run's seed
    records = read_jsonl(tmp_path / "runs" / "on-vllm" / "records.jsonl")
    assert len(records) == 4 * 3 and not any(r.get("error") for r in records)
    assert json.loads((tmp_path / "runs" / "on-vllm" / "metrics.json").read_text())["topologies"]["star"]


def test_bad_input_names_the_fix(vllm, monkeypatch):
    with pytest.raises(ValueError, match="needs path"):
        build(ModelSpec(kind="vllm"), seed=0)
    with pytest.raises(ValueError, match="args: only a model given by `class:`"):
        ModelSpec(kind="local", path="x", args={"a": 1})
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a)
    )
    with pytest.raises(ValueError, match="pip install vllm"):
        ModelSpec(kind="vllm", path="x")
