"""How a run behaves, as opposed to what it runs: one object for ``team.run``, the ``Engine`` and
experiment files (whose top-level keys of the same names fill it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Budget(BaseModel):
    """Limits on what a run may spend; reaching one stops the run cleanly after the current step.

    Tokens and calls count what the model computed for this run, in earlier (resumed) sessions
    too; cache hits are free. Seconds count this session only.

    >>> Budget(max_calls=10).exceeded(tokens=0, calls=12, seconds=1.0)
    'budget max_calls=10 reached (12 used)'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int | None = Field(None, ge=1)
    max_calls: int | None = Field(None, ge=1)
    max_seconds: float | None = Field(None, gt=0)

    def exceeded(self, tokens: int, calls: int, seconds: float) -> str | None:
        for name, used, limit in (
            ("max_tokens", tokens, self.max_tokens),
            ("max_calls", calls, self.max_calls),
            ("max_seconds", seconds, self.max_seconds),
        ):
            if limit is not None and used >= limit:
                return f"budget {name}={limit} reached ({used:g} used)"
        return None


class RunSettings(BaseModel):
    """Retries, time limits, how many items are in flight, streaming, concurrency and budget.

    >>> RunSettings(retries=0, window=64).window
    64
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # how often a call that failed in a way that may pass (time-out, rate limit, dropped
    # connection, out of memory) is tried again; other errors are recorded on the message at once
    retries: int = Field(2, ge=0)
    retry_backoff: float = Field(1.0, ge=0)  # seconds before the first retry, doubled for each next one
    # seconds one model.batch may take before its calls count as timed out, so a model that hangs
    # without raising is not waited on; when streaming: seconds without any call finishing
    timeout: float | None = Field(None, gt=0)
    # items in flight at once; a finished item lets the next one in. Bounds memory and batch size
    # on huge tasks without changing any item's messages
    window: int | None = Field(1024, ge=1)
    # feed calls one by one into a running continuous batch (a GPU's), releasing follow-up calls
    # the moment their inputs end; None: whenever the model can
    stream: bool | None = None
    max_concurrency: int | None = Field(None, ge=1)  # model.batch's thread limit, for remote APIs
    tool_timeout: float | None = Field(30.0, gt=0)  # seconds one tool call may take; then it is an error
    budget: Budget | None = None  # per run: per topology and seed in an experiment file
    fail_fast: bool = False  # raise on the first failed call instead of recording it and going on
