"""What langchain-core users rely on, beyond the standard suites: streaming that matches invoke,
stop strings, callbacks in batch, the standard parameters, unknown arguments refused, tools through
the chat template (or a system message where the template has none) and structured output."""

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

import agentlab as al
from agentlab.models import tool_calls
from tests.models.tiny_model import tiny_llama, tiny_tokenizer


@pytest.fixture(scope="module")
def local():
    tokenizer = tiny_tokenizer()
    return al.models.LocalChatModel.from_components(
        tiny_llama(tokenizer), tokenizer, model_name="tiny", max_tokens=12, prefix_cache_mib=0
    )


@pytest.fixture
def scripted():
    return al.models.ScriptedChatModel(respond=lambda messages: "The answer is 42 and that is final")


class Calls(BaseCallbackHandler):
    def __init__(self) -> None:
        self.started, self.usage = 0, []

    def on_chat_model_start(self, serialized, messages, **kwargs) -> None:
        self.started += len(messages)

    def on_llm_end(self, response, **kwargs) -> None:
        self.usage.append(response.generations[0][0].message.usage_metadata)


def test_local_streaming_is_token_by_token_and_adds_up_to_invoke(local):
    whole = local.invoke("Ana has 12 apples. How many apples?")
    chunks = list(local.stream("Ana has 12 apples. How many apples?"))
    text = "".join(c.text for c in chunks)
    assert len([c for c in chunks if c.text]) > 1
    assert text.strip() == whole.text
    assert chunks[-1].usage_metadata == whole.usage_metadata  # exact counts, on the last chunk


def test_scripted_streaming_adds_up_to_invoke(scripted):
    chunks = list(scripted.stream("hi"))
    assert [c.text for c in chunks][:3] == ["The", " answer", " is"]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert merged.text == scripted.invoke("hi").text
    assert merged.usage_metadata == scripted.invoke("hi").usage_metadata


def test_stop_strings_are_honoured(scripted, local):
    assert scripted.invoke("hi", stop=[" and"]).text == "The answer is 42"
    assert "".join(c.text for c in scripted.stream("hi", stop=["42"])).strip() == "The answer is"
    free = local.invoke("Ana has 12 apples.").text
    word = free.split()[1] if len(free.split()) > 1 else free[:2]
    assert word not in local.invoke("Ana has 12 apples.", stop=[word]).text.split()
    assert word not in "".join(c.text for c in local.stream("Ana has 12 apples.", stop=[word])).split()


@pytest.mark.parametrize("which", ["scripted", "local"])
def test_batch_reports_each_call_to_callbacks_with_its_usage(which, request):
    model = request.getfixturevalue(which)
    calls = Calls()
    replies = model.batch(["2 + 3?", "Ana has 12 apples."], config={"callbacks": [calls]})
    assert calls.started == 2
    assert calls.usage == [r.usage_metadata for r in replies]


def test_standard_parameters_apply_and_unknown_ones_are_refused(scripted):
    assert al.models.ScriptedChatModel(respond=lambda m: "one two three four", max_tokens=2).invoke(
        "x"
    ).text == ("one two")
    tokenizer = tiny_tokenizer()
    llm = al.models.LocalChatModel.from_components(
        tiny_llama(tokenizer), tokenizer, model_name="tiny", max_tokens=5, prefix_cache_mib=0
    )
    assert llm.max_new_tokens == 5 and llm.invoke("hi").usage_metadata["output_tokens"] <= 5
    for cls, settings in (
        (al.models.LocalChatModel, {"model_name": "m"}),
        (al.models.ScriptedChatModel, {"respond": str}),
    ):
        with pytest.raises(ValueError, match="max_new_token\n  Extra inputs are not permitted"):
            cls(**settings, max_new_token=3)


def test_a_timeout_ends_a_local_generation_early():
    tokenizer = tiny_tokenizer()
    llm = al.models.LocalChatModel.from_components(
        tiny_llama(tokenizer), tokenizer, model_name="tiny", max_tokens=50, timeout=1e-6, prefix_cache_mib=0
    )
    reply = llm.invoke("Ana has 12 apples.")
    assert reply.usage_metadata["output_tokens"] < 50 and reply.response_metadata["finish_reason"] == "length"


def test_a_local_model_constructed_by_name_loads_at_its_first_call(tmp_path):
    tokenizer = tiny_tokenizer()
    tiny_llama(tokenizer).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    llm = al.models.LocalChatModel(model_name=str(tmp_path), max_tokens=4)
    assert llm.invoke("hi").usage_metadata["output_tokens"] <= 4


# ---- tools and structured output ----


@tool
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


class Answer(BaseModel):
    """The final answer."""

    value: int


@pytest.mark.parametrize(
    ("text", "calls", "rest"),
    [
        (
            'Let me add.\n<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>',
            [("add", {"a": 2, "b": 3})],
            "Let me add.",
        ),
        (
            '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 1}}</tool_call>'
            '<tool_call>{"name": "add", "arguments": "{\\"a\\": 2, \\"b\\": 2}"}</tool_call>',
            [("add", {"a": 1, "b": 1}), ("add", {"a": 2, "b": 2})],
            "",
        ),
        ('{"name": "add", "parameters": {"a": 4, "b": 5}}', [("add", {"a": 4, "b": 5})], ""),  # Llama 3.1
        ('{"answer": 3}', [], '{"answer": 3}'),  # JSON that is not a call stays text
        ("The answer is 5.", [], "The answer is 5."),
    ],
)
def test_tool_calls_are_read_from_a_reply(text, calls, rest):
    left, found, invalid = tool_calls.read_calls(text)
    assert [(c["name"], c["args"]) for c in found] == calls and not invalid and left == rest
    assert all(c["id"].startswith("call_") for c in found)


def test_a_call_that_does_not_parse_is_kept_as_an_invalid_call():
    _, found, invalid = tool_calls.read_calls('<tool_call>{"name": "add", "arguments": {"a": 2,</tool_call>')
    assert not found and invalid[0]["args"].startswith('{"name": "add"') and invalid[0]["error"]


def _replying(llm, text, monkeypatch):
    """The local model, its decoding replaced by ``text``; returns the prompts it was given."""
    prompts = []

    def generate_each(encoded, stop):
        prompts.extend(llm.tokenizer.decode(ids) for ids in encoded)
        usage = {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}
        return [AIMessage(text, usage_metadata=usage) for _ in encoded]

    monkeypatch.setattr(llm, "_generate_each", generate_each)
    return prompts


def test_a_template_without_tools_gets_them_in_a_system_message_and_calls_are_parsed(local, monkeypatch):
    assert "tools" not in local.tokenizer.chat_template  # the tiny template, like SmolLM2's, has none
    prompts = _replying(
        local, '<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>', monkeypatch
    )
    reply = local.bind_tools([add]).invoke("What is 2 + 3?")
    assert reply.tool_calls[0]["name"] == "add" and reply.tool_calls[0]["args"] == {"a": 2, "b": 3}
    assert "<tools>" in prompts[0] and '"name": "add"' in prompts[0] and "Adds two integers." in prompts[0]
    # the call and its result go back in as text the template can show
    history = [
        HumanMessage("What is 2 + 3?"),
        reply,
        ToolMessage("5", tool_call_id=reply.tool_calls[0]["id"]),
    ]
    local.bind_tools([add]).invoke(history)
    assert '<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}' in prompts[1]
    assert "<tool_response>\n5\n</tool_response>" in prompts[1]
    streamed = list(local.bind_tools([add]).stream("What is 2 + 3?"))
    assert streamed[-1].tool_call_chunks[0]["name"] == "add"


def test_a_template_that_defines_tools_gets_them_natively(monkeypatch):
    tokenizer = tiny_tokenizer()
    tokenizer.chat_template = (
        "{% if tools %}<|system|>TOOLS:{% for t in tools %}{{ t | tojson }}{% endfor %}<|end|>{% endif %}"
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}"
        "{% for c in m.get('tool_calls', []) %}CALL:{{ c['function'] | tojson }}{% endfor %}<|end|>"
        "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    llm = al.models.LocalChatModel.from_components(
        tiny_llama(tokenizer), tokenizer, model_name="t", prefix_cache_mib=0
    )
    prompts = _replying(
        llm, '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>', monkeypatch
    )
    reply = llm.bind_tools([add]).invoke("1 + 2?")
    llm.bind_tools([add]).invoke(
        [HumanMessage("1 + 2?"), reply, ToolMessage("3", tool_call_id=reply.tool_calls[0]["id"])]
    )
    assert prompts[0].startswith("<|system|>TOOLS:") and "<tools>" not in prompts[0]
    assert (
        'CALL:{"arguments": {"a": 1, "b": 2}, "name": "add"}' in prompts[1].replace("'", '"')
        or "CALL:" in prompts[1]
    )


def test_structured_output_goes_through_a_tool_call(local, scripted, monkeypatch):
    _replying(local, '<tool_call>{"name": "Answer", "arguments": {"value": 5}}</tool_call>', monkeypatch)
    assert local.with_structured_output(Answer).invoke("2 + 3?") == Answer(value=5)
    assert local.with_structured_output(Answer.model_json_schema()).invoke("2 + 3?") == {"value": 5}
    calling = al.models.ScriptedChatModel(
        respond=lambda m: AIMessage("", tool_calls=[{"name": "Answer", "args": {"value": 7}, "id": "c1"}])
    )
    assert calling.with_structured_output(Answer).invoke("3 + 4?") == Answer(value=7)


def test_a_scripted_model_calls_tools_in_batch_and_stream():
    calling = al.models.ScriptedChatModel(
        respond=lambda m: AIMessage(
            "adding", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "c1"}]
        )
    )
    bound = calling.bind_tools([add])
    (reply,) = bound.batch(["1 + 2?"])
    assert reply.tool_calls[0]["args"] == {"a": 1, "b": 2} and reply.text == "adding"
    merged = None
    for chunk in bound.stream("1 + 2?"):
        merged = chunk if merged is None else merged + chunk
    assert merged.tool_calls[0]["args"] == {"a": 1, "b": 2}


def test_unknown_call_arguments_are_refused(local):
    with pytest.raises(TypeError, match=r"unknown call argument\(s\) \['frobnicate'\]"):
        local.invoke("hi", frobnicate=True)


@pytest.fixture
def pool():
    from agentlab.models.stand_in_server import StandInServer

    with StandInServer("The answer is 24", latency=0.0) as server:
        yield al.models.openai_pool([server.url])


@pytest.fixture
def vllm_stand_in(monkeypatch):
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parent / "stand_ins"))
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    yield al.models.vllm("Qwen/Qwen2.5-0.5B-Instruct", max_new_tokens=3)
    sys.modules.pop("vllm", None)


@pytest.mark.parametrize("which", ["scripted", "local", "pool", "vllm_stand_in"])
def test_callbacks_fire_once_per_call_in_every_models_batch(which, request):
    """Callbacks given to the model (not only in the call's config) see each call once."""
    calls = Calls()
    model = request.getfixturevalue(which).model_copy(update={"callbacks": [calls]})
    replies = model.batch(["2 + 3?", "Ana has 12 apples."])
    assert calls.started == 2 and len(calls.usage) == 2
    assert calls.usage == [r.usage_metadata for r in replies]
    model.invoke("one more")
    assert calls.started == 3 and len(calls.usage) == 3


@pytest.fixture
def langchains_cache():
    from langchain_core.caches import InMemoryCache
    from langchain_core.globals import set_llm_cache

    cache = InMemoryCache()
    set_llm_cache(cache)
    yield cache
    set_llm_cache(None)


@pytest.mark.parametrize("which", ["scripted", "local"])
def test_set_llm_cache_serves_batch_and_invoke_alike(which, request, langchains_cache):
    model = request.getfixturevalue(which)
    generated = []
    original = type(model)._generate_all

    def counting(self, conversations, stop, **tools):
        generated.extend(conversations)
        return original(self, conversations, stop, **tools)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(model), "_generate_all", counting)
        first = model.batch(["2 + 3?", "Ana has 12 apples."])
        assert len(generated) == 2 and len(langchains_cache._cache) == 2
        again = model.batch(["2 + 3?", "Ana has 12 apples.", "A third question?"])
        assert len(generated) == 3  # only the new question reached the model
        assert [r.text for r in again[:2]] == [r.text for r in first]
        tokens = ("input_tokens", "output_tokens")  # langchain adds total_cost 0 to a hit's usage
        assert [again[0].usage_metadata[k] for k in tokens] == [first[0].usage_metadata[k] for k in tokens]
        assert model.invoke("Ana has 12 apples.").text == first[1].text  # invoke reads batch's entry
    assert len(generated) == 3
    model.batch(["2 + 3?"], stop=["never"])  # another stop string is another entry
    assert len(langchains_cache._cache) == 4
