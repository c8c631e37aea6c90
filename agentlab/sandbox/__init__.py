"""Untrusted code: run a program with ``run_untrusted(program, Limits(...))``, or call a function
it defines with ``SandboxedFunction``; see ``runner`` and ``calls``."""

from agentlab.sandbox.calls import CallFailed, SandboxedFunction
from agentlab.sandbox.cgroups import CgroupUnavailable
from agentlab.sandbox.limits import ISOLATION_VARIABLE, Isolation, Limits, Outcome
from agentlab.sandbox.namespaces import SandboxUnavailable
from agentlab.sandbox.runner import run_untrusted

__all__ = [
    "ISOLATION_VARIABLE",
    "CallFailed",
    "CgroupUnavailable",
    "Isolation",
    "Limits",
    "Outcome",
    "SandboxUnavailable",
    "SandboxedFunction",
    "run_untrusted",
]
