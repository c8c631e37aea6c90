"""Built-in tasks: ``al.tasks.load(name, ...)`` and ``al.tasks.list()``."""

# Named `list` for the notebook spelling al.tasks.list(); nothing in this file uses the builtin.
from agentlab.tasks.registry import list_tasks as list
from agentlab.tasks.registry import load
from agentlab.tasks.task import Item, Task

__all__ = ["Item", "Task", "list", "load"]
