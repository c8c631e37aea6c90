"""Grouped-query attention on a CPU without copying keys and values for every query head.

Models like SmolLM2 and Qwen2.5 share each key/value head among several query heads. For more than
one query token under a mask, transformers' ``sdpa`` attention copies every key/value head once per
query head (``repeat_kv``) before calling torch's kernel, on every layer of every step. Those are
the calls our CPU engine makes most: each prefill, and each decode step that checks drafted tokens
(``prompt_lookup_num_tokens``) or extends a row from the prefix cache. torch's CPU kernel takes the
grouping itself (``enable_gqa=True``); transformers uses it only with the environment variable
``TRANSFORMERS_SDPA_FORCE_GQA=1``, which would change every model in the process.

``use_grouped_attention`` switches one model to ``GROUPED_SDPA``: the same ``sdpa`` attention and
mask, except that this case goes to the kernel with ``enable_gqa=True``. Measured on the embedded
model's star trace (8 items x 4 agents x 2 rounds, 2 cores): decode 14.9 -> 13.4 s, replies
identical. transformers' continuous batching accepts only its own implementations, so
``use_plain_sdpa`` switches back before it starts.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

GROUPED_SDPA = "agentlab_grouped_sdpa"


def grouped_sdpa_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' ``sdpa_attention_forward``, but a masked, grouped, multi-token query on the CPU
    reaches torch's kernel with ``enable_gqa=True`` instead of through ``repeat_kv``."""
    grouped = (
        getattr(module, "num_key_value_groups", 1) > 1
        and query.shape[2] > 1
        and attention_mask is not None
        and query.device.type == "cpu"
        and key.shape[-1] == value.shape[-1]
        and kwargs.get("position_bias") is None
        and kwargs.get("softcap") is None
        and not kwargs.get("output_attentions", False)
    )
    if not grouped:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout, scaling, is_causal, **kwargs
        )
    out = F.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling, enable_gqa=True
    )
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(GROUPED_SDPA, grouped_sdpa_forward)
AttentionMaskInterface.register(GROUPED_SDPA, sdpa_mask)


def use_grouped_attention(model: Any) -> bool:
    """Switches a CPU model that attends with ``sdpa`` to ``GROUPED_SDPA``; returns whether it did."""
    if model.device.type != "cpu" or model.config._attn_implementation != "sdpa":
        return False
    model.set_attn_implementation(GROUPED_SDPA)
    return True


def use_plain_sdpa(model: Any) -> None:
    """Undoes ``use_grouped_attention`` (before transformers' continuous batching, which checks the
    implementation's name)."""
    if model.config._attn_implementation == GROUPED_SDPA:
        model.set_attn_implementation("sdpa")
