"""Where a run came from: the model and its settings, the run settings, the task's options (its
seed among them), agentlab's version and commit, and the date, for reports that stand alone."""

from __future__ import annotations

import datetime
import functools
import subprocess
from pathlib import Path
from typing import Any


def version() -> str:
    from importlib import metadata

    try:
        return metadata.version("agentlab")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


@functools.cache
def commit() -> str | None:
    """The git commit agentlab runs from (with "+changes" when the work tree differs), where it
    is a checkout; None for an installed wheel."""
    here = Path(__file__).resolve().parent
    try:
        git = ["git", "-C", str(here)]
        head = subprocess.run(
            [*git, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def model_settings(model: Any) -> dict[str, Any]:
    """A chat model's name and the settings that decide its replies, as it reports them."""
    params = dict(getattr(model, "_identifying_params", {}) or {})
    params = {k: v for k, v in params.items() if isinstance(v, str | int | float | bool | type(None))}
    return {"class": type(model).__name__, **params}


_PLAIN = str | int | float | bool | type(None) | list


def provenance(models: list[Any], settings: Any, task_options: dict[str, Any]) -> dict[str, Any]:
    distinct = {id(m): m for m in models}
    return {
        "models": [model_settings(m) for m in distinct.values()],
        "settings": settings.model_dump(exclude_defaults=True, mode="json") if settings is not None else {},
        "task_options": {k: v for k, v in task_options.items() if isinstance(v, _PLAIN)},
        "agentlab": version(),
        "commit": commit(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
