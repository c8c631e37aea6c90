"""A pool of OpenAI-compatible servers, tested against real HTTP servers on 127.0.0.1 (stand-ins that
answer from a script) the way a notebook and an experiment file use it."""

import asyncio
import json
import socket
import time

import pytest
import yaml
from langchain_core.tools import tool

import agentlab as al
from agentlab.experiment import Experiment, read_jsonl
from agentlab.models import ModelSpec, OpenAIPoolChatModel, ServerPoolError, openai_pool
from agentlab.models.stand_in_server import StandInServer


@pytest.fixture
def two_servers():
    with (
        StandInServer("The answer is 24", latency=0.02) as a,
        StandInServer("The answer is 24", latency=0.02) as b,
    ):
        yield a, b


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there once the socket is closed


def test_an_experiment_file_runs_through_two_servers(tmp_path, two_servers):
    a, b = two_servers
    config = {
        "name": "pool",
        "task": {"name": "arithmetic", "n": 8},
        "model": {"servers": [a.url, b.url], "concurrency": 2},
        "topologies": [{"preset": "star", "n_agents": 3}],
    }
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(config))
    Experiment.from_yaml(tmp_path / "exp.yaml").run(tmp_path / "runs", progress=False)
    folder = tmp_path / "runs" / "pool"
    records = read_jsonl(folder / "records.jsonl")
    assert len(records) == 8 * 3 and not any(r.get("error") for r in records)
    # the star's two leaves hear the same question: one request, one cache hit, per item
    sent = [r for r in records if not r["cached"]]
    assert len(a.requests) + len(b.requests) == len(sent) == 16 and a.requests and b.requests
    assert a.most_in_flight <= 2 and b.most_in_flight <= 2  # neither ever held more than its concurrency
    # the tokens recorded are the ones the servers reported
    prompt = sum(r["usage"]["prompt_tokens"] for r in sent)
    completion = sum(r["usage"]["completion_tokens"] for r in sent)
    assert prompt == a.reported["prompt_tokens"] + b.reported["prompt_tokens"] > 0
    assert completion == a.reported["completion_tokens"] + b.reported["completion_tokens"] == 16 * 4
    assert yaml.safe_load((folder / "config.yaml").read_text())["model"]["kind"] == "openai"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["topologies"]["star"]["accuracy_mean"] is not None
    assert {url: used["answered"] for url, used in metrics["servers"].items()} == {
        a.url: len(a.requests),
        b.url: len(b.requests),
    }
    Experiment.from_yaml(tmp_path / "exp.yaml").run(tmp_path / "runs", progress=False)
    assert len(a.requests) + len(b.requests) == 16  # the rerun found everything done: nothing called


def test_a_notebook_team_runs_on_a_pool_and_the_cache_serves_a_rerun_on_other_servers(two_servers, tmp_path):
    a, b = two_servers
    task = al.tasks.load("arithmetic", n=6)
    cache = al.CallCache(tmp_path / "calls.sqlite")
    pool = openai_pool([a.url, b.url], concurrency=4)
    first = al.topologies.load("chain", n_agents=2, model=pool).run(task, cache=cache, progress=False)
    assert first.calls == 12 and all(m.error is None for m in first.records)
    assert sum(u.answered for u in pool.usage()) == 12 == len(a.requests) + len(b.requests)
    with StandInServer("The answer is 24") as c:  # the same model on another server: the same calls
        again = al.topologies.load("chain", n_agents=2, model=openai_pool([c.url])).run(
            task, cache=cache, progress=False
        )
        assert not c.requests and all(m.cached for m in again.records)
    assert again.usage == first.usage


def test_requests_are_balanced_by_how_many_are_in_flight():
    with StandInServer(latency=0.2) as slow, StandInServer(latency=0.01) as fast:
        pool = openai_pool([slow.url, fast.url], concurrency=4)
        pool.batch([f"question {i}" for i in range(40)])
    assert (
        len(fast.requests) > 2 * len(slow.requests) > 0
    )  # the slow server stays full, the fast one frees up
    assert slow.most_in_flight <= 4 and fast.most_in_flight <= 4


def test_rate_limits_are_retried_and_counted():
    with StandInServer(busy_first=3) as server:
        pool = openai_pool([server.url], retry_backoff=0.01)
        replies = pool.batch(["a", "b"])
    assert [r.content for r in replies] == ["The answer is 0"] * 2
    (usage,) = pool.usage()
    assert usage.answered == 2 and usage.failed == 3
    assert "2 answered, 3 failed tries" in str(usage)


def test_a_server_that_is_down_leaves_its_work_to_the_others():
    with StandInServer() as up:
        pool = openai_pool([closed_port_url(), up.url], model="stand-in", retry_backoff=0.01)
        replies = pool.batch([f"q{i}" for i in range(10)])
    assert all(r.content == "The answer is 0" for r in replies)
    down, alive = pool.usage()
    assert alive.answered == 10 and down.answered == 0 and down.failed >= 1


def test_an_unreachable_server_fails_after_bounded_retries_with_its_url_and_error():
    url = closed_port_url()
    pool = openai_pool([url], model="m", max_retries=2, retry_backoff=0.01)
    started = time.perf_counter()
    with pytest.raises(ServerPoolError, match="no server answered after 3 tries") as error:
        pool.invoke("hello")
    assert url in str(error.value) and "ClientConnectorError" in str(error.value)
    assert time.perf_counter() - started < 5
    with pytest.raises(ServerPoolError, match=f"could not ask {url}/models"):
        openai_pool([url]).invoke("hello")  # without a model name it asks the server first


def test_an_unreachable_pool_is_an_error_on_each_item_and_the_run_goes_on():
    pool = openai_pool([closed_port_url()], model="m", max_retries=1, retry_backoff=0.01)
    run = al.topologies.load("single", model=pool).run(
        al.tasks.load("arithmetic", n=3), cache=False, progress=False
    )
    assert len(run.records) == 3
    assert all(
        m.error and "ServerPoolError" in m.error and "ClientConnectorError" in m.error for m in run.records
    )


def test_a_server_without_usage_is_a_clear_error():
    with (
        StandInServer(usage=False) as server,
        pytest.raises(ServerPoolError, match="returned no token usage"),
    ):
        openai_pool([server.url]).invoke("hello")


def test_a_wrong_model_name_or_path_names_the_fix():
    with StandInServer() as server:
        with pytest.raises(ServerPoolError, match=r"HTTP 404.*ending in /v1"):
            openai_pool([server.url], model="not-served").invoke("hello")
        with pytest.raises(ServerPoolError, match="HTTP 404"):
            openai_pool([server.url.replace("/v1", "/api")], model="stand-in").invoke("hello")


def test_settings_and_the_key_go_into_each_request_but_the_key_stays_out_of_the_model(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    with StandInServer("one two three four") as server:
        pool = openai_pool(
            [server.url.removesuffix("/v1")], max_tokens=2, temperature=0.7, seed=5, extra_body={"top_k": 20}
        )
        assert pool.servers == [server.url]  # a bare host serves at /v1
        reply = pool.invoke("hi", stop=[" three"])
    (body,) = server.requests
    assert body["max_tokens"] == 2 and body["temperature"] == 0.7 and body["seed"] == 5
    assert body["top_k"] == 20 and body["stop"] == [" three"] and body["model"] == "stand-in"
    assert reply.content == "one two" and reply.response_metadata["server"] == server.url
    assert server.authorizations == ["Bearer sk-test-123"]
    assert "sk-test" not in repr(pool) and "sk-test" not in json.dumps(pool.model_dump(), default=str)


def test_tool_calls_go_out_in_the_request_and_come_back_as_tool_calls():
    @tool
    def add(a: int, b: int) -> int:
        """Adds two numbers."""
        return a + b

    def reply(messages):
        if messages[-1]["role"] == "tool":
            return f"The answer is {messages[-1]['content']}"
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}

    with StandInServer(reply) as server:
        model = openai_pool([server.url]).bind_tools([add], tool_choice="any")
        first = model.invoke("2 + 3?")
        assert first.tool_calls == [
            {"name": "add", "args": {"a": 2, "b": 3}, "id": "call_1", "type": "tool_call"}
        ]
        result = add.invoke(first.tool_calls[0])
        second = model.invoke([("human", "2 + 3?"), first, result])
    assert second.content == "The answer is 5"
    body = server.requests[0]
    assert body["tools"][0]["function"]["name"] == "add" and body["tool_choice"] == "required"
    assert server.requests[1]["messages"][1]["tool_calls"][0]["function"]["name"] == "add"


async def test_ainvoke_and_abatch_from_a_running_event_loop():
    with StandInServer("The answer is 1") as server:
        pool = openai_pool([server.url])
        one = await pool.ainvoke("x")
        many = await pool.abatch(["a", "b", "c"])
        together = await asyncio.gather(pool.ainvoke("y"), pool.ainvoke("z"))
    assert [m.content for m in [one, *many, *together]] == ["The answer is 1"] * 6


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"servers": ["ftp://x"]}, "is not an http"),
        ({"kind": "openai"}, "kind openai needs servers"),
        ({"kind": "local", "servers": ["http://127.0.0.1:8000/v1"]}, "only a pool of servers"),
        ({"servers": ["http://a:1/v1", "http://a:1/v1/"]}, "lists a URL twice"),
        ("http://127.0.0.1:8000/v1", r"model: \[http://127.0.0.1:8000/v1\]"),
    ],
)
def test_bad_server_settings_in_a_file_name_the_fix(model, message):
    config = {
        "name": "x",
        "task": {"name": "arithmetic", "n": 2},
        "model": model,
        "topologies": [{"preset": "single"}],
    }
    with pytest.raises(ValueError, match=message):
        Experiment.from_dict(config)


def test_a_bare_list_of_urls_is_a_pool():
    spec = ModelSpec.model_validate(["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000"])
    assert spec.kind == "openai" and spec.servers == ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"]
    model = al.models.build(spec, seed=3)
    assert isinstance(model, OpenAIPoolChatModel) and model.seed is None  # greedy: no seed
