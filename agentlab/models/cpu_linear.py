"""Linear layers through oneDNN with weights packed once, for float32 models on a CPU.

``nn.Linear`` on a CPU calls the BLAS torch was built with (MKL in the PyPI wheels) and lays the
weight out again for every call. On the 2-core AMD machine here, with the embedded model's shapes,
oneDNN's inner product over a weight packed in advance was 1.5-1.8x faster for 7-33 rows (the
decoding batches of a multi-agent run) and 2.6-4x for the 49,152-row output layer; for
prompt-sized inputs (hundreds of rows) the two were equal. This is torch's own oneDNN operator,
the one its compiler uses for frozen CPU linear layers (``torch.ops.mkldnn._linear_pointwise``).

``PackedLinear`` keeps the original ``weight`` parameter (state dicts, tied embeddings and saving
work as before), so the packed copy costs the linear weights' memory once more; ``pack_linear_layers``
packs only models whose linear weights fit ``budget_bytes``. With gradients on it falls back to
``F.linear``: the packed operator has no backward; under ``torch.compile`` too (static_decode.py).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

ROWS_HINT = 8  # the batch size oneDNN picks its weight layout for; any row count works
DEFAULT_BUDGET = 2 * 2**30


class PackedLinear(nn.Module):
    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), ROWS_HINT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling() or (
            torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad)
        ):  # torch.compile packs frozen weights itself and cannot trace the packed operator
            return F.linear(x, self.weight, self.bias)
        return torch.ops.mkldnn._linear_pointwise(x.contiguous(), self.packed, self.bias, "none", [], "")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, packed for oneDNN"


def can_pack(model: Any) -> bool:
    """A float32 model on the CPU, with torch's oneDNN operators present."""
    return (
        torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
        and model.device.type == "cpu"
        and model.dtype == torch.float32
    )


def pack_linear_layers(model: Any, budget_bytes: int = DEFAULT_BUDGET) -> int:
    """Replaces the model's ``nn.Linear`` layers by ``PackedLinear`` in place; returns how many.

    Nothing is replaced when the model cannot be packed (``can_pack``), when its linear weights
    exceed ``budget_bytes`` (the packed copy would double them), or when a packed layer's output
    does not match ``F.linear``'s on a probe input.
    """
    if not can_pack(model):
        return 0
    found = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is nn.Linear
    ]
    if not found or sum(c.weight.numel() * c.weight.element_size() for _, _, c in found) > budget_bytes:
        return 0
    if not _agrees(found[0][2]):
        return 0
    for parent, name, child in found:
        setattr(parent, name, PackedLinear(child))
    return len(found)


@torch.inference_mode()
def _agrees(linear: nn.Linear) -> bool:
    x = torch.randn(3, linear.in_features, generator=torch.Generator().manual_seed(0))
    try:
        out = PackedLinear(linear)(x)
    except RuntimeError:  # a torch build whose oneDNN lacks the operator for this CPU
        return False
    return torch.allclose(out, F.linear(x, linear.weight, linear.bias), rtol=1e-4, atol=1e-5)
