"""Coordination metrics of a multi-agent run against a single-agent baseline on the same items.

After Kim et al., "Towards a Science of Scaling Agent Systems" (2025), computed from the records
alone. Our operational definitions:

- overhead: tokens per item of the team over those of the single agent, minus one (0.5 = 50% more);
- message density: messages delivered (sender to one receiver) per agent call;
- redundancy: mean cosine similarity of the bag-of-words of agents' replies to the same item in
  the same round (1 = everyone said the same thing);
- efficiency: accuracy divided by the team's relative token cost (tokens per item over the single
  agent's), so a team that matches the single agent at twice the cost scores half its accuracy;
- error amplification: the team's error rate over the single agent's (above 1: the team errs more).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from itertools import combinations

from agentlab.run import Run


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(a[w] * b[w] for w in a.keys() & b.keys())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def redundancy(run: Run) -> float | None:
    """Mean pairwise reply similarity within (item, round); None when no round has two replies."""
    groups: dict[tuple[str, int], list[Counter[str]]] = defaultdict(list)
    for m in run.records:
        if m.error is None:
            groups[(m.item_id, m.round)].append(Counter(m.content.lower().split()))
    pairs = [_cosine(a, b) for replies in groups.values() for a, b in combinations(replies, 2)]
    return sum(pairs) / len(pairs) if pairs else None


def coordination_metrics(run: Run, single: Run) -> dict[str, float | None]:
    """The five metrics of ``run`` against the single-agent ``single``, which must cover the same items."""
    if {r.item_id for r in run.results} != {r.item_id for r in single.results}:
        raise ValueError("coordination metrics compare runs on the same items; these item sets differ")
    per_item = run.usage.total_tokens / max(1, run.n_items)
    base_per_item = single.usage.total_tokens / max(1, single.n_items)
    relative_cost = per_item / base_per_item if base_per_item else None
    base_error = 1 - single.accuracy
    return {
        "overhead": relative_cost - 1 if relative_cost is not None else None,
        "message_density": sum(len(m.receivers) for m in run.records) / max(1, run.calls),
        "redundancy": redundancy(run),
        "efficiency": run.accuracy / relative_cost if relative_cost else None,
        "error_amplification": (1 - run.accuracy) / base_error if base_error else None,
    }
