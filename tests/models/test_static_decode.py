"""generation="static": transformers' generate over a static KV cache with a compiled decode step.

On a GPU its step is a CUDA graph; CI has none, so there the path runs on the CPU, compiled with
inductor's default mode. The tiny model goes to the GPU where there is one (benchmarks/gpu_check.sh
runs this file there)."""

import pytest
import torch
from langchain_core.messages import HumanMessage
from torch._dynamo.utils import counters

import agentlab as al
from agentlab.models import static_decode
from tests.models.tiny_model import tiny_llama, tiny_tokenizer


@pytest.fixture(scope="module")
def parts():
    tok = tiny_tokenizer()
    return tiny_llama(tok).to("cuda" if torch.cuda.is_available() else "cpu"), tok


def _alone(model, tok, llm, conversation, max_new_tokens):
    prompt = tok(llm._template(conversation), add_special_tokens=False)["input_ids"]
    out = model.generate(
        torch.tensor([prompt], device=model.device),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tok.pad_token_id,
    )
    return tok.decode(out[0, len(prompt) :], skip_special_tokens=True).strip()


@pytest.mark.slow
def test_static_generation_gives_generate_alone_and_compiles_each_shape_once(parts):
    model, tok = parts
    conversations = [[HumanMessage("Ana has 12 apples. " * k)] for k in range(1, 6)]
    static = al.models.LocalChatModel.from_components(
        model, tok, model_name="t", max_new_tokens=12, generation="static"
    )
    assert not static.uses_continuous_batching()
    first = tok(static._template(conversations[0]), add_special_tokens=False)["input_ids"]
    early = model.generate(
        torch.tensor([first], device=model.device), max_new_tokens=4, do_sample=False, pad_token_id=0
    )
    old = model.generation_config.eos_token_id  # a token row 0 makes early ends its reply there
    model.generation_config.eos_token_id = [tok.eos_token_id, early[0, len(first) + 2].item()]
    try:
        expected = [_alone(model, tok, static, c, 12) for c in conversations]
        graphs = counters["stats"]["unique_graphs"]
        five = static.batch(conversations)  # 5 rows, padded to 8
        compiled = counters["stats"]["unique_graphs"]
        three = static.batch(conversations[:3])  # 4 rows: a second shape
        second = counters["stats"]["unique_graphs"]
        again = static.batch(conversations[2:])  # 4 rows, shorter cache needed: the same shape
        last = counters["stats"]["unique_graphs"]
        stopped = static.batch(conversations[:3], stop=["r1", "ge"])
        reference = al.models.LocalChatModel.from_components(
            model, tok, model_name="r", max_new_tokens=12, generation="padded"
        ).batch(conversations[:3], stop=["r1", "ge"])
    finally:
        model.generation_config.eos_token_id = old
    assert compiled > graphs, "the decode step was not compiled"
    assert last == second > compiled, "a second shape compiles once, and only once"
    assert [m.content for m in five] == expected
    assert [m.content for m in three] == expected[:3]
    assert [m.content for m in again] == expected[2:]
    assert min(m.usage_metadata["output_tokens"] for m in five) < 12  # a row ended early
    assert [m.content for m in stopped] == [m.content for m in reference]
    assert [m.content for m in stopped] != expected[:3]  # the stop strings cut a reply
    assert static.static_decoder.compiled_shapes == {(8, 256), (4, 256)}


def test_static_generation_that_cannot_fit_says_what_to_lower(parts, monkeypatch):
    model, tok = parts
    monkeypatch.setattr(static_decode, "free_memory", lambda device: 2**20)
    static = al.models.LocalChatModel.from_components(
        model, tok, model_name="t", max_new_tokens=12, generation="static"
    )
    with pytest.raises(ValueError, match=r"8 rows x 256 tokens.*lower batch_size .* or max_new_tokens"):
        static.batch([[HumanMessage(f"Ana has {k} apples.")] for k in range(5)])


def test_static_generation_cannot_stream_and_says_which_generation_can(parts):
    model, tok = parts
    static = al.models.LocalChatModel.from_components(model, tok, model_name="t", generation="static")
    with pytest.raises(ValueError, match="generation='continuous'"):
        static.open_stream()


def test_an_experiment_file_chooses_static_generation(parts, tmp_path):
    from agentlab.models.backends import ModelSpec, build

    model, tok = parts
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    llm = build(
        ModelSpec.model_validate({"kind": "local", "path": str(tmp_path), "generation": "static"}), seed=0
    )
    assert llm.generation == "static"
    with pytest.raises(ValueError, match="generation"):
        ModelSpec.model_validate({"kind": "local", "path": str(tmp_path), "generation": "compiled"})


@pytest.mark.slow
def test_more_shapes_than_dynamos_recompile_limit_are_still_compiled(parts, monkeypatch):
    """Past ``recompile_limit`` shapes dynamo would run the decode step eagerly, and say so only in a log."""
    import torch._dynamo.config

    model, tok = parts
    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 1)
    static = al.models.LocalChatModel.from_components(
        model, tok, model_name="t", max_new_tokens=3, generation="static"
    )
    graphs = []
    for rows in (1, 2, 3):  # three row buckets: 1, 2 and 4
        static.batch([[HumanMessage(f"Ana has {k} apples.")] for k in range(rows)])
        graphs.append(counters["stats"]["unique_graphs"])
    assert graphs[0] < graphs[1] < graphs[2]
