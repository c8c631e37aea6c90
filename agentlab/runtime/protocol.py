"""A protocol: how a team's agents work on one item, as an async function ``(ctx, item) -> str``.

The runtime runs one coroutine per item and batches every pending ask of every item, so a protocol
reads as plain sequential Python and still runs like a batched engine. What it returns is the text
the task reads the answer from (a fixed graph returns its decision instead).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, overload

from agentlab.runtime.context import Context, MemoryBy

if TYPE_CHECKING:
    from agentlab.run import ItemResult
    from agentlab.tasks.task import Item, Task

ProtocolFunction = Callable[[Context, "Item"], Coroutine[Any, Any, Any]]


class Protocol:
    """An async function ``(ctx, item)`` run once per item. Library protocols (a fixed graph, a
    route) subclass it; a user writes one with ``@al.protocol``.

    ``memory_by``: whether an agent's memory counts its own turns ("turns") or the rounds of the
    item ("rounds": a fixed graph, where a silent round is a turn not taken).
    """

    name: str = "protocol"
    memory_by: MemoryBy = "turns"

    def __init__(self, function: ProtocolFunction, name: str | None = None) -> None:
        if not inspect.iscoroutinefunction(function):
            what = getattr(function, "__name__", repr(function))
            raise TypeError(
                f"a protocol is an async function (async def {what}(ctx, item): ...); {what} is not. "
                "Make it async and await ctx.ask(...) for each agent turn"
            )
        self.function, self.name = function, name or function.__name__
        functools.update_wrapper(self, function)  # type: ignore[arg-type]

    def __call__(self, ctx: Context, item: Item) -> Coroutine[Any, Any, Any]:
        return self.function(ctx, item)

    def rounds(self, item: Item, task: Task | None, run_rounds: int | None) -> int | None:
        """The item's rounds, where the protocol has them (a task's re-ask reads them)."""
        return run_rounds

    def calls_for(self, item: Item, task: Task | None, run_rounds: int | None) -> int | None:
        """How many calls the item will make, when known in advance (a fixed graph's)."""
        return None

    def finished(self, item: Item, result: ItemResult) -> None:
        """Told each item's result as it finishes (a routing that learns across items learns here)."""

    def __repr__(self) -> str:
        return f"protocol {self.name!r}"


@overload
def protocol(function: ProtocolFunction, *, name: str | None = None) -> Protocol: ...
@overload
def protocol(function: None = None, *, name: str | None = None) -> Callable[[ProtocolFunction], Protocol]: ...
def protocol(
    function: ProtocolFunction | None = None, *, name: str | None = None
) -> Protocol | Callable[[ProtocolFunction], Protocol]:
    """Makes an async function ``(ctx, item)`` a protocol a ``Team`` runs on every item.

    >>> import agentlab as al
    >>> @al.protocol
    ... async def vote_of_two(ctx, item):
    ...     a, b = await ctx.gather(ctx.ask("a", ctx.question), ctx.ask("b", ctx.question))
    ...     return a if a == b else await ctx.ask("a", f"b says {b}. Your final answer?")
    >>> vote_of_two
    protocol 'vote_of_two'
    """
    if function is None:
        return lambda f: Protocol(f, name)
    return Protocol(function, name)


def load_protocol(path: str) -> Protocol:
    """The protocol at an import path, ``mypkg.protocols:critique`` (or ``mypkg.protocols.critique``),
    as experiment files name one; a ``ValueError`` that says what is wrong and how to fix it."""
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(f"protocol {path!r}: give an import path, e.g. mypkg.protocols:critique")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(
            f"protocol {path!r}: cannot import {module_name!r} ({error}); install its package, or run "
            "from the folder that holds it (it must be importable: PYTHONPATH)"
        ) from None
    if not hasattr(module, attribute):
        from agentlab.registry import did_you_mean

        found = [
            n for n, v in vars(module).items() if isinstance(v, Protocol) or inspect.iscoroutinefunction(v)
        ]
        raise ValueError(
            f"protocol {path!r}: {module_name} has no {attribute!r}{did_you_mean(attribute, found)}; "
            f"its protocols: {found or 'none'}"
        )
    found = getattr(module, attribute)
    if isinstance(found, Protocol):
        return found
    if inspect.iscoroutinefunction(found):
        return Protocol(found)
    raise ValueError(
        f"protocol {path!r} is a {type(found).__name__}, not a protocol: define it with "
        "@al.protocol async def ...(ctx, item)"
    )
