"""Continuous batching that fits its device and never leaves a call waiting, on a CPU: the sizes
it is given, its watchdog over the batching thread, and the library versions it needs."""

from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path

import pytest
import torch

import agentlab as al
from agentlab.models.cache_sizing import MOST_CACHED_TOKENS, KVShape, continuous_sizes
from agentlab.models.continuous import GenerationStream
from agentlab.models.floors import FLOORS, require
from tests.models.tiny_model import tiny_llama, tiny_tokenizer

QWEN_05B = KVShape(layers=24, kv_heads=2, head_dim=64, dtype_bytes=2)


@pytest.fixture(scope="module")
def parts():
    tok = tiny_tokenizer()
    return tiny_llama(tok), tok


def test_an_h200s_free_memory_no_longer_sizes_a_mask_past_the_card():
    """What made the CUDA out-of-memory error: the dense sdpa mask, batch × (cache + batch)."""
    free = 139 * 2**30
    sizes = continuous_sizes(QWEN_05B, page=32, free_bytes=free, call_tokens=700)
    cache = sizes["num_blocks"] * 32
    assert cache == MOST_CACHED_TOKENS
    assert sizes["max_batch_tokens"] * (cache + sizes["max_batch_tokens"]) * 4 <= 0.1 * free
    assert cache * QWEN_05B.bytes_per_token <= 0.5 * free
    small = continuous_sizes(QWEN_05B, page=32, free_bytes=2 * 2**30, call_tokens=700)
    assert small["max_batch_tokens"] < sizes["max_batch_tokens"]
    mask = small["max_batch_tokens"] * (small["num_blocks"] * 32 + small["max_batch_tokens"]) * 4
    assert mask <= 0.1 * 2 * 2**30


def test_a_configuration_that_cannot_hold_one_call_says_what_to_lower():
    with pytest.raises(ValueError, match=r"holds 1,024 tokens.*one call needs 2,000: lower max_new_tokens"):
        continuous_sizes(QWEN_05B, page=32, free_bytes=80 * 2**30, call_tokens=2000, cached_tokens=1024)
    with pytest.raises(ValueError, match=r"0\.0 GiB free.*free memory on the device"):
        continuous_sizes(QWEN_05B, page=32, free_bytes=2**20, call_tokens=100)


def test_a_bounded_cache_gives_the_padded_paths_greedy_replies(parts):
    model, tok = parts
    bounded = al.models.LocalChatModel.from_components(
        model, tok, model_name="t", max_new_tokens=6, generation="continuous", kv_cache_tokens=512
    )
    padded = al.models.LocalChatModel.from_components(
        model, tok, model_name="t", max_new_tokens=6, generation="padded"
    )
    config = bounded.continuous_batching_config(100)
    assert config.num_blocks * config.page_size == 512 and config.max_batch_tokens >= 32
    questions = ["Ana has 12 apples.", "2 + 3?", "What is seven times six?"]
    assert [r.text for r in bounded.batch(questions)] == [r.text for r in padded.batch(questions)]
    tight = bounded.model_copy(update={"kv_cache_tokens": 8})  # under one page: no call fits
    with pytest.raises(ValueError, match="one call needs"):
        tight.batch(questions)


def test_a_batching_thread_that_dies_fails_its_calls_with_the_cause(parts, monkeypatch):
    model, tok = parts
    llm = al.models.LocalChatModel.from_components(
        model, tok, model_name="t", max_new_tokens=4, generation="continuous"
    )
    stream = GenerationStream(llm)
    try:
        manager = stream.manager  # as transformers leaves it after an out-of-memory error in its thread
        monkeypatch.setattr(manager, "is_running", lambda: False)
        monkeypatch.setattr(manager, "get_result", lambda timeout=None, **_: None)
        error = RuntimeError("CUDA error: out of memory")
        monkeypatch.setattr(manager.background_thread_status, "fatal_error", error, raising=False)
        stream.prompts["a"], stream.started["a"] = [1, 2, 3], time.perf_counter()
        started = time.perf_counter()
        with pytest.raises(RuntimeError, match=r"thread stopped: RuntimeError: CUDA error: out of memory"):
            stream.collect()
        assert time.perf_counter() - started < 1
    finally:
        stream.prompts.clear()
        monkeypatch.undo()
        stream.close()


def test_a_batching_thread_that_stalls_fails_its_calls_within_stall_seconds(parts):
    model, tok = parts
    llm = al.models.LocalChatModel.from_components(
        model, tok, model_name="t", max_new_tokens=4, generation="continuous", stall_seconds=0.5
    )
    stream = GenerationStream(llm)
    try:
        stream.manager.get_result = lambda timeout=None, **_: time.sleep(timeout or 0) or None  # alive, idle
        stream.prompts["a"], stream.started["a"] = [1, 2, 3], time.perf_counter()
        started = time.perf_counter()
        with pytest.raises(
            TimeoutError, match=r"no call finished within 0\.5 s \(stalled\) with 1 in flight"
        ):
            stream.collect()
        assert time.perf_counter() - started < 3
    finally:
        stream.cancel_all()
        stream.close()


def test_the_floors_in_pyproject_are_the_ones_the_code_holds_and_an_older_version_is_refused(monkeypatch):
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    stated = {}
    for requirement in project["project"]["dependencies"]:
        name, _, floor = re.match(r"([A-Za-z0-9_.-]+)\s*(>=)?\s*([0-9.]*)", requirement).groups()
        stated[name.lower()] = floor
    assert all(stated[name] == floor for name, floor in FLOORS.items()), (stated, FLOORS)
    monkeypatch.setattr("agentlab.models.floors.metadata.version", lambda name: "5.17.0")
    with pytest.raises(
        ImportError, match=r"needs transformers>=5\.25; this environment has 5\.17\.0: pip install"
    ):
        require("transformers")
    monkeypatch.setattr("agentlab.models.floors.metadata.version", lambda name: "5.25.0rc1")
    require("transformers")  # a release candidate of the floor is the floor


def test_a_cpu_model_on_a_machine_with_a_gpu_is_sized_from_its_own_memory(parts, monkeypatch):
    """transformers sizes continuous batching from the GPU's memory whenever one is visible, even for
    a model on the CPU (the model tests' tiny models, on a lent GPU machine)."""
    from agentlab.models import local_chat

    model, tok = parts
    llm = al.models.LocalChatModel.from_components(model, tok, model_name="t", generation="continuous")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert llm.continuous_batching_config(100).num_blocks is None  # a CPU-only machine: transformers' own
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    seen = []
    monkeypatch.setattr(local_chat, "free_memory", lambda device: seen.append(device) or 2**30)
    config = llm.continuous_batching_config(100)
    assert [d.type for d in seen] == ["cpu"]
    assert config.num_blocks is not None and config.max_batch_tokens is not None
    assert (
        config.max_batch_tokens * (config.num_blocks * config.page_size + config.max_batch_tokens) * 4
        <= 0.1 * 2**30
    )
