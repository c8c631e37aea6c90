"""Running an untrusted program to its end: ``run_untrusted(program, Limits(...))``.

``isolation="guard"`` is the weaker mode for machines where the namespaces cannot be set up: the
same limits, user and harness, a throw-away host directory, and only the in-process guard in the
way of a hostile program. It is never chosen silently.
"""

from __future__ import annotations

import secrets

from agentlab.sandbox.limits import Limits, Outcome, Status
from agentlab.sandbox.process import SandboxProcess


def run_untrusted(program: str, limits: Limits = Limits()) -> Outcome:
    """Run ``program`` (Python source) under the limits; it passes when it runs to its last
    statement within the time and exits 0. Raises ``SandboxUnavailable`` (why, and how to fix it)
    when the namespaces cannot be set up and the guard was not chosen.

    >>> run_untrusted("assert 1 + 1 == 2").status
    'passed'
    >>> run_untrusted("import sys; sys.exit(0); assert False").status
    'incomplete'
    >>> run_untrusted("while True: pass", Limits(seconds=0.5)).status
    'timeout'
    """
    nonce = secrets.token_hex(16).encode()
    sandboxed = SandboxProcess("run", program, limits)
    try:
        sandboxed.send(nonce + b"\n")
        sandboxed.end_input()
        returncode = sandboxed.wait()
        finished = returncode == 0 and sandboxed.replies_so_far(len(nonce) + 1) == nonce
    finally:
        output, limit = sandboxed.close()
    status: Status
    if returncode is None:
        status = "timeout"
    elif returncode != 0 or limit == "output":
        status = "failed"
    else:
        status = "passed" if finished else "incomplete"
    seconds, isolation, bounds = sandboxed.seconds, sandboxed.isolation, sandboxed.bounds
    return Outcome(status, returncode, output, seconds, isolation, bounds, limit)
