"""Untrusted code: run it with ``run_untrusted(program, Limits(...))``; see ``runner``."""

from agentlab.sandbox.namespaces import SandboxUnavailable
from agentlab.sandbox.runner import ISOLATION_VARIABLE, Isolation, Limits, Outcome, run_untrusted

__all__ = ["ISOLATION_VARIABLE", "Isolation", "Limits", "Outcome", "SandboxUnavailable", "run_untrusted"]
