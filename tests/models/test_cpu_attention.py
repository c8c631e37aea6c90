"""Grouped-query attention without repeat_kv computes what transformers' sdpa computes."""

from __future__ import annotations

import torch
from langchain_core.messages import HumanMessage
from transformers import DynamicCache

import agentlab as al
from agentlab.models.cpu_attention import GROUPED_SDPA, use_grouped_attention, use_plain_sdpa
from agentlab.models.greedy import _with_cache
from tests.models.reference import generate_reply
from tests.models.tiny_model import tiny_llama, tiny_tokenizer

PROMPTS = ["Ana has 12 apples.", "What other agents said: the answer is 42. Check the work."]


@torch.inference_mode()
def _prefill_then_extend(model, batch, extra):
    """Logits of a padded batch's prefill, then of several tokens fed at once over its cache."""
    cache = DynamicCache(config=model.config)
    first = model(**batch, **_with_cache(model, cache), use_cache=True).logits
    mask = torch.cat([batch["attention_mask"], torch.ones_like(extra)], dim=1)
    second = model(input_ids=extra, attention_mask=mask, **_with_cache(model, cache), use_cache=True).logits
    return first, second


def test_grouped_attention_gives_sdpa_logits_on_padded_multi_token_steps(monkeypatch):
    """The same logits, with no key/value head copied (transformers' repeat_kv is never called)."""
    from transformers.integrations import sdpa_attention

    copies = []
    repeat = sdpa_attention.repeat_kv
    monkeypatch.setattr(sdpa_attention, "repeat_kv", lambda *a: copies.append(1) or repeat(*a))
    tok = tiny_tokenizer()
    tok.padding_side = "left"
    model = tiny_llama(tok)
    assert model.config.num_key_value_heads < model.config.num_attention_heads  # grouped
    batch = tok(PROMPTS, padding=True, return_tensors="pt")
    extra = tok(["plus minus times"] * 2, add_special_tokens=False, return_tensors="pt")["input_ids"]
    plain = _prefill_then_extend(model, batch, extra)
    assert copies
    copies.clear()
    assert use_grouped_attention(model)
    assert model.config._attn_implementation == GROUPED_SDPA
    grouped = _prefill_then_extend(model, batch, extra)
    assert not copies
    for p, g in zip(plain, grouped, strict=True):
        torch.testing.assert_close(g, p)
    use_plain_sdpa(model)
    assert model.config._attn_implementation == "sdpa"


def test_only_a_cpu_model_on_sdpa_is_switched():
    tok = tiny_tokenizer()
    model = tiny_llama(tok)
    model.set_attn_implementation("eager")
    assert not use_grouped_attention(model)
    assert model.config._attn_implementation == "eager"


def test_the_cpu_engine_attends_grouped_and_still_decodes_as_the_reference():
    """The engine switches its model; transformers' generate on an untouched copy of the same
    weights, one prompt at a time, is the reference."""
    tok = tiny_tokenizer()
    reference = tiny_llama(tok)
    llm = al.models.LocalChatModel.from_components(
        tiny_llama(tok), tok, model_name="tiny", max_new_tokens=12, prompt_lookup_num_tokens=4
    )
    assert llm.hf_model.config._attn_implementation == GROUPED_SDPA
    assert reference.config._attn_implementation == "sdpa"
    conversations = [[HumanMessage(p)] for p in PROMPTS] + [[HumanMessage(PROMPTS[0] * 5)]]
    replies = llm.batch(conversations)
    for conversation, reply in zip(conversations, replies, strict=True):
        assert reply.content == generate_reply(llm, reference, conversation, 12)
