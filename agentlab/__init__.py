"""agentlab: multi-agent LLM experiments on communication graphs.

>>> import agentlab as al
>>> llm = al.models.ScriptedChatModel(respond=lambda msgs: "The answer is 4")
>>> team = al.topologies.load("chain", n_agents=3, model=llm)
>>> run = team.run(al.tasks.load("arithmetic", n=4), cache=False, progress=False)
>>> run.calls, run.usage.completion_tokens
(12, 48)
"""

from agentlab import envs, models, protocols, routing, runtime, tasks, tools, topologies
from agentlab.agent import Agent
from agentlab.cache import CallCache
from agentlab.experiment import Experiment, load_runs
from agentlab.graph import CommGraph, FinalAgent, MajorityVote
from agentlab.message import Message, ToolUse, Usage
from agentlab.run import ItemResult, Run
from agentlab.runtime import AgentCallError, Context, Protocol, ProtocolError, Reply, protocol
from agentlab.settings import Budget, RunSettings
from agentlab.tasks.task import Item, Task
from agentlab.team import Team
from agentlab.views.compare import compare

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentCallError",
    "Budget",
    "CallCache",
    "CommGraph",
    "Context",
    "Experiment",
    "FinalAgent",
    "Item",
    "ItemResult",
    "MajorityVote",
    "Message",
    "Protocol",
    "ProtocolError",
    "Reply",
    "Run",
    "RunSettings",
    "Task",
    "Team",
    "ToolUse",
    "Usage",
    "compare",
    "envs",
    "load_runs",
    "models",
    "protocol",
    "protocols",
    "routing",
    "runtime",
    "tasks",
    "tools",
    "topologies",
]
