"""Greedy batched decoding for compute-bound hardware: little padding, no finished rows carried along.

On a CPU a wide batch is compute-bound: every padded prompt token and every row that already ended
costs as much as useful work. ``model.generate`` pads every prompt to the longest and decodes every
row until the longest answer ends; on the arithmetic trace of benchmarks/embedded_batching.py that
is about half the prompt tokens and more than half the decoding steps thrown away.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def length_buckets(lengths: list[int], waste: float = 0.1) -> list[list[int]]:
    """Rows grouped by length so that padding each group to its longest adds at most ``waste``.

    >>> length_buckets([10, 100, 11, 95, 12])
    [[0, 2, 4], [3, 1]]
    """
    buckets: list[list[int]] = []
    for row in sorted(range(len(lengths)), key=lengths.__getitem__):
        if buckets:
            group = [*buckets[-1], row]
            if lengths[row] * len(group) <= (1 + waste) * sum(lengths[r] for r in group):
                buckets[-1].append(row)
                continue
        buckets.append([row])
    return buckets


def prefill(
    model: Any, input_ids: torch.Tensor, mask: torch.Tensor
) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Read left-padded prompts in length buckets, then join their KV caches into one left-padded batch.

    Returns the joined cache, the attention mask over it, the original row of each batch row, the
    position of each row's next token, and each row's last logits.
    """
    from transformers import DynamicCache

    lengths = mask.sum(-1).tolist()
    parts = []
    for rows in length_buckets(lengths):
        width = max(lengths[r] for r in rows)
        ids, part_mask = input_ids[rows, -width:], mask[rows, -width:]
        cache = DynamicCache(config=model.config)
        positions = (part_mask.long().cumsum(-1) - 1).clamp(min=0)
        out = model(
            input_ids=ids,
            attention_mask=part_mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        parts.append((rows, width, part_mask, cache, out.logits[:, -1]))
    width = max(w for _, w, _, _, _ in parts)

    def left_pad(tensor: torch.Tensor, w: int) -> torch.Tensor:  # pad the sequence axis (-2) at its start
        return F.pad(tensor, (0, 0, width - w, 0))

    layers = [
        (
            torch.cat([left_pad(c.layers[i].keys, w) for _, w, _, c, _ in parts]),
            torch.cat([left_pad(c.layers[i].values, w) for _, w, _, c, _ in parts]),
        )
        for i in range(len(parts[0][3].layers))
    ]
    joined = DynamicCache(ddp_cache_data=layers, config=model.config)
    joined_mask = torch.cat([F.pad(m, (width - w, 0)) for _, w, m, _, _ in parts])
    order = torch.tensor([r for rows, *_ in parts for r in rows], device=mask.device)
    next_position = torch.tensor([lengths[r] for r in order.tolist()], device=mask.device)
    logits = torch.cat([lg for *_, lg in parts])
    return joined, joined_mask, order, next_position, logits


@torch.inference_mode()
def greedy_dropping_finished(model: Any, batch: Any, eos: set[int], max_new_tokens: int) -> list[list[int]]:
    """Greedy decoding of a left-padded batch that drops each row from the batch once it ends.

    Prompts are read in length buckets (``prefill``); while decoding, the KV cache sheds rows that
    ended (``Cache.batch_select_indices``). Each row is decoded as it would be alone: same
    positions, padding masked out, argmax of its own logits.
    """
    cache, mask, rows, next_position, logits = prefill(model, batch["input_ids"], batch["attention_mask"])
    generated: list[list[int]] = [[] for _ in range(len(rows))]
    for step in range(max_new_tokens):
        tokens = logits.argmax(-1)
        live = []
        for k, (row, token) in enumerate(zip(rows.tolist(), tokens.tolist(), strict=True)):
            generated[row].append(token)
            if token not in eos:
                live.append(k)
        if not live or step + 1 == max_new_tokens:
            break
        if len(live) < len(rows):
            keep = torch.tensor(live, device=mask.device)
            cache.batch_select_indices(keep)
            rows, tokens, mask, next_position = rows[keep], tokens[keep], mask[keep], next_position[keep]
        mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
        out = model(
            input_ids=tokens[:, None],
            attention_mask=mask,
            position_ids=next_position[:, None],
            past_key_values=cache,
            use_cache=True,
        )
        logits = out.logits[:, -1]
        next_position = next_position + 1
    return generated
