"""Finding the YAML cards: inside the wheel (agentlab/cards/) or at the repository root in a checkout."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from agentlab._yaml import load_file

_PACKAGE = Path(__file__).parent


def card_dir(kind: str) -> Path:
    for candidate in (_PACKAGE / "cards" / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"no {kind} cards found in {_PACKAGE / 'cards'} or {_PACKAGE.parent}; "
        "reinstall agentlab (pip install -e .)"
    )


def card_names(kind: str) -> list[str]:
    """Names are paths below the card folder: ``tasks/agentsnet/coloring.yaml`` is "agentsnet/coloring"."""
    root = card_dir(kind)
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))


def load_card(kind: str, name: str) -> dict[str, Any]:
    path = card_dir(kind) / f"{name}.yaml"
    if ".." in name.split("/") or not path.is_file():
        names = card_names(kind)
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown {kind[:-1] if kind.endswith('s') else kind} {name!r}{hint} Known: {names}")
    return load_file(path)
