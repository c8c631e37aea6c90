"""What langchain-core users rely on, beyond the standard suites: streaming that matches invoke,
stop strings, callbacks in batch, the standard parameters, and unknown arguments refused."""

import pytest
from langchain_core.callbacks import BaseCallbackHandler

import agentlab as al
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
