"""How a learned graph's answer is decided: the decision a setting names, the FinalRefer decider
the papers add, and which agents' words can reach what decides."""

from __future__ import annotations

from collections.abc import Sequence

from agentlab.graph import Decision, FinalAgent, MajorityVote
from agentlab.topologies.edges import Pair


def decision_from(spec: str | Decision | None, names: Sequence[str]) -> Decision:
    if spec is None or spec == "last":
        return FinalAgent(names[-1])
    if spec == "majority":
        return MajorityVote()
    if isinstance(spec, str):
        if spec not in names:
            raise ValueError(
                f"decision {spec!r} is not one of the agents {list(names)}, nor 'last', 'majority', "
                "'vote' (a learned majority vote) or 'final_refer' (a decider that hears everyone)"
            )
        return FinalAgent(spec)
    return spec


def reaching(spatial: Sequence[Pair], targets: Sequence[int]) -> set[int]:
    """The agents with a spatial path to any of ``targets`` (the targets included)."""
    found, frontier = set(targets), list(targets)
    while frontier:
        node = frontier.pop()
        for u, v in spatial:
            if v == node and u not in found:
                found.add(u)
                frontier.append(u)
    return found


DECIDER = "final_refer"  # the name of the FinalRefer agent a learner adds
FINAL_REFER_ROLE = (
    "You make the final decision. You are shown what the other agents answered; judge their "
    "answers and give the one final answer, in the form the question asks for."
)
