"""Run-time routing: graphs that decide, from what agents say, who speaks next and who hears it.

``al.topologies.load("blackboard", n_agents=3, model=llm)`` (or ``semi-centralized``,
``evolving``) builds a team on one; ``al.Team(agents, al.routing.Blackboard(...))`` does it by
hand. See ``base`` for the protocol a new routing implements, and ``ROUTINGS`` to register one.
"""

from agentlab.routing.base import ROUTINGS, Route, RouteError, RouteTurn, Routing
from agentlab.routing.blackboard import Blackboard
from agentlab.routing.evolving import Evolving
from agentlab.routing.semi_centralized import SemiCentralized

__all__ = [
    "ROUTINGS",
    "Blackboard",
    "Evolving",
    "Route",
    "RouteError",
    "RouteTurn",
    "Routing",
    "SemiCentralized",
]
