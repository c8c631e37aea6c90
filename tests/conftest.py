from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from langchain_core.messages import BaseMessage

import agentlab as al


@pytest.fixture(autouse=True)
def private_call_cache(tmp_path, monkeypatch):
    """Each test gets its own call cache file, so no test sees another's cached replies."""
    monkeypatch.setenv("AGENTLAB_CALL_CACHE", str(tmp_path / "calls.sqlite"))


def speaker(messages: Sequence[BaseMessage]) -> str:
    """The agent behind a prompt: the teams built here give each agent the role 'I am <name>'."""
    match = re.search(r"I am (\w+)", str(messages[0].content))
    return match.group(1) if match else "?"


def heard(messages: Sequence[BaseMessage]) -> list[str]:
    """The senders an agent's prompt quotes, in order."""
    return re.findall(r"^\[(\w+)\]:", str(messages[-1].content), flags=re.MULTILINE)


def team_of(names, spatial=(), temporal=(), decision=None, model=None) -> al.Team:
    agents = [al.Agent(n, role=f"I am {n}") for n in names]
    return al.Team(agents, al.CommGraph(names, spatial, temporal, decision), model=model)


@pytest.fixture
def echo_model():
    """Each agent says who it is and whom it heard, then 'The answer is 7'."""

    def respond(messages):
        return f"{speaker(messages)} heard {','.join(heard(messages)) or 'nobody'}. The answer is 7"

    return al.models.ScriptedChatModel(respond=respond)


@pytest.fixture
def small_task():
    return al.tasks.load("arithmetic", n=5, seed=0)
