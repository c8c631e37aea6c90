"""The library's protocols, each a ``Protocol`` on the runtime: a fixed communication graph
(``GraphProtocol``: presets, per-round wiring, a learner's per-query graphs, AgentsNet's) and a
routing decided at run time (``RoutedProtocol``). An environment's episode is one too
(``agentlab.envs.simulate``). Write your own with ``@al.protocol``."""

from agentlab.protocols.graph import GraphDecision, GraphProtocol, Wiring, decide, outcome_of, run_wiring
from agentlab.protocols.routed import RoutedProtocol

__all__ = ["GraphDecision", "GraphProtocol", "RoutedProtocol", "Wiring", "decide", "outcome_of", "run_wiring"]
