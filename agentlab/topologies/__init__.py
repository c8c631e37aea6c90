"""Communication graphs: preset cards (``al.topologies.load(name, n_agents=, model=, roles=)``) and
three learners that design them (``GPTSwarm``, ``AgentPrune``, ``GDesigner``)."""

from typing import Any

from agentlab.topologies.presets import SPATIAL, graph, load, names
from agentlab.topologies.roles import ROLES, roles

_LEARNERS = {
    "GPTSwarm": "agentlab.topologies.gptswarm",
    "AgentPrune": "agentlab.topologies.agentprune",
    "GDesigner": "agentlab.topologies.gdesigner",
}


def __getattr__(name: str) -> Any:
    # learners load torch-geometric and a sentence encoder, so they are imported when first used
    if name in _LEARNERS:
        import importlib

        return getattr(importlib.import_module(_LEARNERS[name]), name)
    raise AttributeError(f"module 'agentlab.topologies' has no attribute {name!r}")


__all__ = ["ROLES", "SPATIAL", "AgentPrune", "GDesigner", "GPTSwarm", "graph", "load", "names", "roles"]
