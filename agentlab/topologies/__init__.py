"""Preset communication graphs: ``al.topologies.load(name, n_agents=, model=, roles=)``."""

from agentlab.topologies.presets import SPATIAL, load, names

__all__ = ["SPATIAL", "load", "names"]
