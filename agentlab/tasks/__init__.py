"""Tasks: ``al.tasks.load(name, ...)``, ``al.tasks.list()``, and ``@al.tasks.register(name)`` for
a task built in code."""

# Named `list` for the notebook spelling al.tasks.list(); nothing in this file uses the builtin.
from agentlab.tasks.loading import list_tasks as list
from agentlab.tasks.loading import load, names
from agentlab.tasks.registries import register
from agentlab.tasks.task import Item, Task

__all__ = ["Item", "Task", "list", "load", "names", "register"]
