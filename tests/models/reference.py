"""What transformers' own generate replies to one conversation: the reference the engine must equal."""

from __future__ import annotations

from typing import Any

import torch


def generate_reply(llm: Any, model: Any, conversation: list, max_new_tokens: int) -> str:
    """``model``'s greedy reply to ``conversation`` alone, through ``llm``'s chat template and
    tokenizer, decoded as ``llm`` decodes its replies."""
    tok = llm.tokenizer
    ids = tok(llm._template(conversation), add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = model.generate(
            ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
        )
    return tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
