"""End to end on the embedded SmolLM2-135M-Instruct (slow: converts the GGUF file on a fresh machine)."""

import pytest

import agentlab as al
from agentlab.models import embedded

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llm():
    return al.models.default(max_new_tokens=48)


def test_a_chain_runs_end_to_end_on_the_embedded_model(llm):
    task = al.tasks.load("arithmetic", n=4, seed=0)
    run = al.topologies.load("chain", n_agents=2, model=llm).run(task, rounds=2, progress=False)
    assert run.calls == 16 and not run.errors
    assert all(m.usage.prompt_tokens > 0 and m.usage.completion_tokens > 0 for m in run.records)
    assert {m.model for m in run.records} == {"SmolLM2-135M-Instruct"}
    assert all(m.content for m in run.records)
    assert sum(r.prediction is not None for r in run.results) >= 2  # it does state numbers
    # the second agent of round 1 quoted the first agent's reply of the same round
    a0 = {m.item_id: m.content for m in run.records if m.sender == "agent0" and m.round == 1}
    for m in run.records:
        if m.sender == "agent1" and m.round == 1:
            assert f"[agent0]: {a0[m.item_id].strip()}" in m.prompt[-1][1]
    rerun = al.topologies.load("chain", n_agents=2, model=llm).run(task, rounds=2, progress=False)
    assert rerun.cache_hits == 16 and rerun.usage == run.usage


def test_the_converted_model_is_cached_and_reused(llm, monkeypatch):
    folder = embedded.converted_path()
    assert (folder / "model.safetensors").is_file() and (folder / "chat_template.jinja").exists()

    def no_conversion(*args, **kwargs):
        raise AssertionError("the GGUF file was converted again")

    import transformers

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_conversion)
    assert embedded.converted_path() == folder


def test_a_gguf_file_loads_as_a_local_model_and_answers_as_the_converted_one(llm):
    direct = al.models.local(str(embedded.gguf_file()), max_new_tokens=48)
    question = "What is 12 + 30?"
    assert direct.invoke(question).content == llm.invoke(question).content


def test_a_blackboard_team_runs_end_to_end_on_the_embedded_model(llm):
    task = al.tasks.load("arithmetic", n=3, seed=0)
    run = al.topologies.load("blackboard", n_agents=2, model=llm).run(task, cache=False, progress=False)
    assert len(run.results) == 3 and not run.errors
    for item in task.items:
        messages = run.messages(item.id)
        senders = [m.sender for m in messages]
        assert senders[:3] == ["agent0", "agent1", "controller"]  # offers, then the control step
        result = next(r for r in run.results if r.item_id == item.id)
        assert result.error is not None or senders[-1] == "decider"
    assert all(m.usage.prompt_tokens > 0 and m.usage.completion_tokens > 0 for m in run.records)


def test_on_hidden_fact_a_star_beats_a_single_agent_with_intervals_apart():
    llm = al.models.default(max_new_tokens=32)
    task = al.tasks.load("hidden-fact", n=40, seed=0)
    single = al.topologies.load("single", model=llm).run(task, cache=False, progress=False)
    star = al.topologies.load("star", n_agents=4, model=llm).run(task, cache=False, progress=False)
    assert single.interval[1] < star.interval[0], (single, star)


def test_the_engine_decodes_the_embedded_model_as_its_reference_does(llm):
    """Packed weights, grouped attention, drafted tokens and the prefix cache all on: each reply is
    what transformers' generate gives on an untouched float32 copy (plain nn.Linear, sdpa with
    repeat_kv), one prompt at a time."""
    from langchain_core.messages import HumanMessage
    from transformers import AutoModelForCausalLM

    from tests.models.reference import generate_reply

    reference = AutoModelForCausalLM.from_pretrained(embedded.converted_path(), dtype="float32").eval()
    assert reference.config._attn_implementation == "sdpa"
    task = al.tasks.load("arithmetic", n=4, seed=0)
    conversations = [[HumanMessage(item.question)] for item in task.items]
    conversations.append([HumanMessage(f"Agent0 said: {task.items[0].question} Check it.")])
    replies = llm.batch(conversations)
    for conversation, reply in zip(conversations, replies, strict=True):
        assert reply.content == generate_reply(llm, reference, conversation, 48)
