"""Synthetic tasks where the right communication graph is known, answered by scripted agents."""

from __future__ import annotations

import re

import agentlab as al

ANSWER = re.compile(r"The answer is (\S+)")


def secret_task(n: int = 24, kinds: tuple[str, ...] = ("",)) -> al.Task:
    """Items whose answer only a knowing agent can give; ``kinds`` prefix the questions (per-query tests)."""
    items = [
        al.Item(
            f"q{i}",
            f"{kinds[i % len(kinds)]}Question {i}: what is the secret code?",
            f"C{i}",
            {"kind": i % len(kinds)},
        )
        for i in range(n)
    ]
    train = [
        al.Item(f"t{i}", it.question.replace("Question", "Riddle"), it.reference, it.meta)
        for i, it in enumerate(items)
    ]
    return al.Task(
        "secret",
        items,
        extractor=lambda text: m.group(1) if (m := ANSWER.search(text)) else None,
        train_items=train,
    )


def speaker_and_heard(messages) -> tuple[str, dict[str, str], str]:
    me = re.search(r"I am (\w+)", str(messages[0].content)).group(1)
    text = str(messages[-1].content)
    heard = dict(re.findall(r"^\[(\w+)\]: (.*)$", text, re.M))
    return me, heard, text


def code_of(text: str) -> str:
    return "C" + re.search(r"(?:Question|Riddle) (\d+)", text).group(1)


def knower_and_adversary_model() -> al.models.ScriptedChatModel:
    """``knower`` knows every code, ``guesser`` knows none, ``adversary`` lies; ``decider`` repeats
    the knower when it hears it, but anything it hears from the adversary fools it."""

    def respond(messages):
        me, heard, text = speaker_and_heard(messages)
        if me == "knower":
            return f"The answer is {code_of(text)}"
        if me == "adversary":
            return "The answer is X0"
        if me == "guesser":
            return "I do not know it."
        if "adversary" in heard:
            return "The answer is X0"
        if "knower" in heard:
            return heard["knower"]
        return "I do not know it."

    return al.models.ScriptedChatModel(respond=respond)


def knower_agents() -> list[al.Agent]:
    return [al.Agent(n, role=f"I am {n}") for n in ("knower", "guesser", "adversary", "decider")]


KINDS = ("Astronomy: which planet has rings? ", "Cooking: how long should an egg boil? ")


def two_experts_model() -> al.models.ScriptedChatModel:
    """``astro`` knows the astronomy items and misleads on cooking ones, ``chef`` the reverse;
    ``decider`` repeats what it hears when everyone it hears agrees, and is confused otherwise."""

    def respond(messages):
        me, heard, text = speaker_and_heard(messages)
        astronomy = "Astronomy" in text.split("\n")[0]
        if me in ("astro", "chef"):
            knows = astronomy == (me == "astro")
            return f"The answer is {code_of(text) if knows else 'X0'}"
        said = {ANSWER.search(t).group(1) for t in heard.values() if ANSWER.search(t)}
        return f"The answer is {said.pop()}" if len(said) == 1 else "I am confused."

    return al.models.ScriptedChatModel(respond=respond)


def expert_agents() -> list[al.Agent]:
    return [al.Agent(n, role=f"I am {n}") for n in ("astro", "chef", "decider")]


FAST = {"progress": False, "cache": False}  # learner tests run without progress bars or a call cache


def edges_into(graph: al.CommGraph, target: str) -> set[str]:
    return {u for u, v in graph.spatial if v == target}
