"""Where agentlab keeps its caches: converted models and model calls."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$AGENTLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/agentlab``, else ``~/.cache/agentlab``."""
    if root := os.environ.get("AGENTLAB_CACHE_DIR"):
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "agentlab"
