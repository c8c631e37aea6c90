"""Linear layers packed for oneDNN compute what nn.Linear computes, and the model stays whole."""

from __future__ import annotations

import torch
from langchain_core.messages import HumanMessage
from torch import nn

import agentlab as al
from agentlab.models.cpu_linear import PackedLinear, can_pack, pack_linear_layers
from tests.models.tiny_model import tiny_llama, tiny_tokenizer


def _linear_count(model: nn.Module) -> int:
    return sum(type(m) is nn.Linear for m in model.modules())


def test_packed_layers_compute_what_linear_computes_and_keep_the_state_dict():
    tok = tiny_tokenizer()
    model = tiny_llama(tok)
    keys, head = set(model.state_dict()), model.lm_head.weight
    assert can_pack(model)
    ids = tok("Ana has 12 apples.", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        before = model(input_ids=ids).logits
    linears = _linear_count(model)
    assert pack_linear_layers(model) == linears > 0
    assert _linear_count(model) == 0
    assert all(isinstance(m, PackedLinear) for m in model.modules() if hasattr(m, "packed"))
    with torch.inference_mode():
        after = model(input_ids=ids).logits
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)
    assert set(model.state_dict()) == keys  # the packed copy is not saved; the weights still are
    assert model.lm_head.weight is head  # the same parameter: tied embeddings stay tied


def test_with_gradients_on_a_packed_layer_still_trains():
    layer = PackedLinear(nn.Linear(4, 3))
    x = torch.randn(2, 4, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None and layer.weight.grad is not None


def test_a_model_over_the_budget_is_left_as_it_is():
    model = tiny_llama(tiny_tokenizer())
    linears = _linear_count(model)
    assert pack_linear_layers(model, budget_bytes=1) == 0
    assert _linear_count(model) == linears


def test_the_local_model_packs_on_the_cpu_unless_told_not_to():
    tok = tiny_tokenizer()
    packed, plain = tiny_llama(tok), tiny_llama(tok)
    a = al.models.LocalChatModel.from_components(packed, tok, model_name="tiny", max_new_tokens=6)
    b = al.models.LocalChatModel.from_components(
        plain, tok, model_name="tiny", max_new_tokens=6, pack_weights=False
    )
    assert _linear_count(a.hf_model) == 0 and _linear_count(b.hf_model) > 0
    question = [HumanMessage("Ana has 12 apples. How many apples does Ana have now?")]
    assert a.invoke(question).content == b.invoke(question).content
