"""A function defined by untrusted code, called from trusted code: the code runs in the sandbox,
each call's arguments are sent in and its result comes back as a plain value (``literals``).

This is how generated code is tested (``agentlab.tasks.humaneval``): the tests run here, in a
process the code never shares, on values that can only be numbers, strings, bytes, booleans,
None and containers of them. A test's own frames, the harness's memory, ``sys.settrace``,
patched modules, a decorator wrapped around the test, or an object whose ``__eq__`` is always
true are all out of the code's reach.
"""

from __future__ import annotations

from typing import Any

from agentlab.sandbox import literals
from agentlab.sandbox.limits import Limits, Outcome
from agentlab.sandbox.process import SandboxProcess


class CallFailed(RuntimeError):
    """A call that returned no plain value. ``reason``: "raised" (the function raised; the message
    is its error), "not plain" (it returned another kind of object), "ended" (its process ended),
    or the bound that stopped it: "time", "memory", "tasks", "output"."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


class SandboxedFunction:
    """``entry`` of ``code``, defined and run in the sandbox, called here like a function.

    >>> with SandboxedFunction("def add(a, b):\\n    return a + b\\n", "add") as add:
    ...     add(2, 3), add([1], b=[2])
    (5, [1, 2])
    """

    def __init__(self, code: str, entry: str, limits: Limits = Limits()) -> None:
        self.code, self.entry, self.limits = code, entry, limits
        self.calls = 0
        self.failure: CallFailed | None = None  # the first call that failed
        self.outcome: Outcome | None = None  # set on close
        self._process: SandboxProcess | None = None

    def __enter__(self) -> SandboxedFunction:
        self._process = SandboxProcess("serve", self.code, self.limits, entry=self.entry)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        process = self._process
        if process is None:
            raise RuntimeError("use a SandboxedFunction inside `with SandboxedFunction(...) as f:`")
        try:
            request = literals.encode((args, kwargs))
        except literals.NotPlain as error:
            raise TypeError(f"arguments of {self.entry} must be plain values: {error}") from None
        self.calls += 1
        if not process.send(request):
            return self._failed("ended", f"{self.entry}'s process ended before call {self.calls}")
        line = process.read_line()
        if line is None:
            return self._failed(process.limit or "ended", f"no reply to call {self.calls}")
        try:
            kind, value = literals.decode(line)
        except (literals.NotPlain, ValueError, TypeError) as error:
            return self._failed("not plain", str(error))
        if kind == "ok":
            return value
        if kind == "error" and type(value) is str:
            return self._failed("not plain" if value.startswith("NotPlain") else "raised", value)
        return self._failed("not plain", f"a reply of kind {str(kind)[:40]!r}")

    def _failed(self, reason: str, message: str) -> Any:
        failure = CallFailed(reason, message)
        self.failure = self.failure or failure
        raise failure

    def close(self) -> Outcome:
        """Ends the process (once) and says how the calls went: ``passed`` when every call
        returned a plain value, ``timeout`` when time ran out, else ``failed``."""
        if self.outcome is None and self._process is not None:
            process = self._process
            process.end_input()
            output, limit = process.close()
            failure = self.failure
            status = "passed" if failure is None else "timeout" if failure.reason == "time" else "failed"
            self.outcome = Outcome(
                status, process.process.returncode if process.process else None, output,
                process.seconds, process.isolation, process.bounds, limit,
            )  # fmt: skip
        assert self.outcome is not None, "close() before the function was started"
        return self.outcome
