"""Protocols and scripted models that experiment files in tests name by import path."""

import agentlab as al
from agentlab.models import ScriptedChatModel


@al.protocol
async def critique(ctx, item):
    """A solver drafts, a critic checks, the solver revises: three asks in a row per item."""
    draft = await ctx.ask("solver", ctx.question, receivers=["critic"])
    notes = await ctx.ask("critic", "Check this answer.", heard=[draft], receivers=["solver"])
    return await ctx.ask("solver", "Revise your answer given the notes.", heard=[notes])


def _drafts_checks_revises(messages):
    """Drafts a number from the question's length; the critic quotes the draft; the revision
    repeats the number the critic quoted (so each answer depends on the whole exchange)."""
    text = messages[-1].text
    if text.startswith("Check this answer"):
        return "You said " + text.rsplit("The answer is ", 1)[-1].split()[0]
    if text.startswith("Revise"):
        return "The answer is " + text.rsplit("You said ", 1)[-1].split()[0]
    return f"The answer is {len(text) % 13}"


class Critiqued(ScriptedChatModel):
    respond: object = _drafts_checks_revises
    name_: str = "critiqued"
