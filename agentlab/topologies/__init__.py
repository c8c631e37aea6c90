"""Communication graphs: preset cards (``al.topologies.load(name, n_agents=, model=, roles=)``) and
the learners that design them (``GPTSwarm``, ``AgentPrune``, ``GDesigner``, ``AgentDropout``,
``CommFormer``).

A learner registers itself by its class statement (``class Mine(GraphLearner, name="mine")``) and
is found by that name in ``learners``; a preset is a card in ``topologies/`` or a function
registered with ``@preset("name")``.
"""

import importlib
from typing import Any

from agentlab.topologies.presets import PRESETS, SPATIAL, graph, load, names, preset
from agentlab.topologies.roles import ROLES, roles


def __getattr__(name: str) -> Any:
    # learners load torch-geometric and a sentence encoder, so they are imported when first used
    if name.startswith("_"):
        raise AttributeError(name)
    learning = importlib.import_module("agentlab.topologies.learning")
    if name == "learners":
        return learning.LEARNERS
    if name in ("GraphLearner", "LearnerSettings"):
        return getattr(learning, name)
    for key in learning.LEARNERS:
        cls = learning.LEARNERS.resolve(key)
        if cls.__name__ == name:
            return cls
    raise AttributeError(f"module 'agentlab.topologies' has no attribute {name!r}")


__all__ = [
    "PRESETS",
    "ROLES",
    "SPATIAL",
    "AgentDropout",
    "AgentPrune",
    "CommFormer",
    "GDesigner",
    "GPTSwarm",
    "GraphLearner",
    "LearnerSettings",
    "graph",
    "learners",
    "load",
    "names",
    "preset",
    "roles",
]
