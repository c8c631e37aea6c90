"""langchain-core's standard test suites (the ``langchain-tests`` package) for our chat models.

A test the suite would skip, for a feature a model does not have, is listed in ``NOT_APPLICABLE``
with the reason and deselected (``conftest.py``), so that every test collected here runs and passes.
"""

import functools
import tempfile

from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from agentlab.models import LocalChatModel, ScriptedChatModel
from tests.models.tiny_model import tiny_llama, tiny_tokenizer


def scripted_reply(messages):
    return "Hello! I am a scripted model that says the same thing every time."


SCRIPTED_NOT_APPLICABLE = {
    # it replies what its script gives, so tests of a model's own tool use do not apply
    **dict.fromkeys(
        [
            "test_agent_loop",
            "test_bind_runnables_as_tools",
            "test_tool_calling",
            "test_tool_calling_async",
            "test_tool_calling_with_no_arguments",
            "test_tool_choice",
            "test_tool_message_error_status",
            "test_tool_message_histories_list_content",
            "test_tool_message_histories_string_content",
            "test_unicode_tool_call_integration",
            "test_structured_few_shot_examples",
            "test_structured_output",
            "test_structured_output_async",
            "test_structured_output_optional_param",
            "test_structured_output_pydantic_2_v1",
            "test_json_mode",
        ],
        "a script says what it is told (tool calls included); these tests need a model that decides "
        "to call a tool",
    ),
    **dict.fromkeys(
        [
            "test_anthropic_inputs",
            "test_audio_inputs",
            "test_image_inputs",
            "test_image_tool_message",
            "test_pdf_inputs",
            "test_pdf_tool_message",
        ],
        "text only",
    ),
    **dict.fromkeys(
        [
            "test_invoke_with_model_override",
            "test_ainvoke_with_model_override",
            "test_stream_with_model_override",
            "test_astream_with_model_override",
        ],
        "one script, nothing to switch to per call",
    ),
    "test_stream_time": "needs recorded network calls (VCR); nothing here goes over a network",
    "test_init_from_env": "reads no environment",
    "test_serdes": "holds a Python function (its script), which does not serialize",
}


class _Scripted:
    @property
    def chat_model_class(self):
        return ScriptedChatModel

    @property
    def chat_model_params(self):
        return {"respond": scripted_reply}


class TestScriptedChatModelUnit(_Scripted, ChatModelUnitTests):
    pass


class TestScriptedChatModelIntegration(_Scripted, ChatModelIntegrationTests):
    pass


@functools.cache
def tiny_model_folder() -> str:
    """The tiny random Llama saved once per test session, for the suites to construct from."""
    folder = tempfile.mkdtemp(prefix="agentlab-tiny-")
    tokenizer = tiny_tokenizer()
    tiny_llama(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


LOCAL_NOT_APPLICABLE = {
    **SCRIPTED_NOT_APPLICABLE,
    # tools and structured output work (test_langchain_citizenship.py), but these tests need a model
    # that chooses to call a tool, which the tiny random test model cannot
    **dict.fromkeys(
        [t for t, why in SCRIPTED_NOT_APPLICABLE.items() if why.startswith("a script says")],
        "needs a model that decides to call tools; the tiny random test model only emits noise",
    ),
    "test_serdes": "holds loaded weights, which langchain's serializer does not carry",
}


class _Local:
    @property
    def chat_model_class(self):
        return LocalChatModel

    @property
    def chat_model_params(self):
        return {"model_name": tiny_model_folder()}  # the suites give max_tokens=100 themselves


class TestLocalChatModelUnit(_Local, ChatModelUnitTests):
    pass


class TestLocalChatModelIntegration(_Local, ChatModelIntegrationTests):
    pass


NOT_APPLICABLE = {
    "TestScriptedChatModelUnit": SCRIPTED_NOT_APPLICABLE,
    "TestScriptedChatModelIntegration": SCRIPTED_NOT_APPLICABLE,
    "TestLocalChatModelUnit": LOCAL_NOT_APPLICABLE,
    "TestLocalChatModelIntegration": LOCAL_NOT_APPLICABLE,
}
