"""One runtime for every way agents run: a protocol is a coroutine per item (``@al.protocol``), and
every pending ask of every item goes to the model together (``driver``).

Layers: this package depends on messages, the call cache, run settings and tools; graphs, routes,
environments and experiments are built on it, never the other way round.
"""

from agentlab.runtime.asks import Ask, Reply
from agentlab.runtime.calls import AgentCallError, ModelCalls, ModelReply, StreamCalls
from agentlab.runtime.context import Context, Gather, ProtocolError, Scope, Signal
from agentlab.runtime.driver import Driver, Job, Outcome, Unit
from agentlab.runtime.protocol import Protocol, load_protocol, protocol

__all__ = [
    "AgentCallError",
    "Ask",
    "Context",
    "Driver",
    "Gather",
    "Job",
    "ModelCalls",
    "ModelReply",
    "Outcome",
    "Protocol",
    "ProtocolError",
    "Reply",
    "Scope",
    "Signal",
    "StreamCalls",
    "Unit",
    "load_protocol",
    "protocol",
]
