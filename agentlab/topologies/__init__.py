"""Preset communication graphs: ``al.topologies.load(name, n_agents=, model=, roles=)``."""

from agentlab.topologies.presets import SPATIAL, graph, load, names

__all__ = ["SPATIAL", "graph", "load", "names"]
