"""Training a topology learner by REINFORCE (Williams, 1992), as GPTSwarm, AgentPrune, G-Designer
and AgentDropout do: each step samples graphs for a batch of training items, runs every (item,
graph) pair in one batched run, and descends

    loss = -mean_(item, graph) [ (R(item, graph) - b(item)) · log p(graph) ] + regularisers,

where R is the item's score minus ``token_penalty`` × its tokens and b the mean reward of the item's
samples (or a running mean with one sample; 0 with ``baseline=False``, as the authors' code does).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from agentlab.cache import CallCache
from agentlab.tasks.task import Item, Task
from agentlab.team import Team
from agentlab.topologies.edges import SampledGraph

if TYPE_CHECKING:
    from agentlab.topologies.learning import GraphLearner


def train(
    learner: GraphLearner,
    task: Task,
    epochs: int = 1,
    batch_size: int = 8,
    samples_per_query: int = 4,
    seed: int | None = None,
    token_budget: int | None = None,
    cache: bool | str | Path | CallCache = True,
    progress: bool = True,
) -> GraphLearner:
    """``learner.fit``: see there."""
    if task.train_items:
        raise ValueError(
            f"fit got the test split of {task.name!r}; pass task.train(n): learners train on "
            "held-out items, never on test items"
        )
    if not len(task):
        raise ValueError("fit got a task with no items")
    if samples_per_query < 1 or batch_size < 1 or epochs < 1:
        raise ValueError("epochs, batch_size and samples_per_query must be at least 1")
    if token_budget is not None and token_budget < 1:
        raise ValueError(f"token_budget is a number of training tokens, at least 1; got {token_budget}")
    rng = random.Random(learner.settings.seed if seed is None else seed)
    optimizer = torch.optim.Adam(learner.param_groups(), lr=learner.settings.lr)
    items = list(task.items)
    steps = epochs * math.ceil(len(items) / batch_size)
    bar = tqdm(
        total=steps, desc=f"{type(learner).__name__} on {task.name}", unit="step", disable=not progress
    )
    baseline: float | None = None
    steps_before = len(learner.log.steps)  # a learner may be fitted again: its first step here
    for _ in range(epochs):
        order = items[:]
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            dists = learner.distributions(batch, training=True)
            samples = [[learner.sample(d, rng) for _ in range(samples_per_query)] for d in dists]
            spent = learner.log.usage.total_tokens
            rewards, scores, tokens = evaluate(learner, task, batch, samples, cache)
            step_tokens = learner.log.usage.total_tokens - spent
            first = len(learner.log.steps) == steps_before
            if token_budget is not None and first and step_tokens > token_budget:
                bar.close()
                raise ValueError(
                    f"token_budget={token_budget} cannot fit one training step: the first step "
                    f"({len(batch)} items x {samples_per_query} graphs) used {step_tokens} tokens. "
                    "Raise token_budget, or lower batch_size or samples_per_query. The learner is "
                    "unchanged; with the call cache on, a rerun repeats none of the step's calls"
                )
            flat = [r for row in rewards for r in row]
            terms: dict[str, torch.Tensor] = {}
            advantages = []
            for row in rewards:
                if not learner.settings.baseline:
                    base = 0.0
                elif samples_per_query > 1:
                    base = sum(row) / len(row)
                else:
                    base = baseline if baseline is not None else row[0]
                advantages.append([r - base for r in row])
            mean_reward = sum(flat) / len(flat)
            baseline = mean_reward if baseline is None else 0.9 * baseline + 0.1 * mean_reward
            terms["policy"] = -torch.stack(
                [
                    a * s.log_prob
                    for arow, srow in zip(advantages, samples, strict=True)
                    for a, s in zip(arow, srow, strict=True)
                ]
            ).mean()
            terms.update(learner.regularizers(dists))
            loss = torch.stack(list(terms.values())).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            learner.after_step(len(learner.log.steps) + 1)
            learner.log.steps.append(
                {
                    "reward": mean_reward,
                    "score": sum(scores) / len(scores),
                    "tokens_per_item": sum(tokens) / len(tokens),
                    **{k: float(v.detach()) for k, v in terms.items()},
                }
            )
            bar.update(1)
            bar.set_postfix(
                reward=f"{mean_reward:.3f}",
                calls=learner.log.calls,
                tokens=learner.log.usage.total_tokens,
                cached=learner.log.cache_hits,
                refresh=False,
            )
            if token_budget is not None and learner.log.usage.total_tokens >= token_budget:
                learner.log.stopped = (
                    f"token budget {token_budget} reached ({learner.log.usage.total_tokens} used)"
                )
                bar.close()
                return learner
    bar.close()
    return learner


def evaluate(
    learner: GraphLearner,
    task: Task,
    batch: Sequence[Item],
    samples: Sequence[Sequence[SampledGraph]],
    cache: bool | str | Path | CallCache,
) -> tuple[list[list[float]], list[float], list[float]]:
    """Run every sampled graph on its item in one engine run; rewards per (item, sample)."""
    copies, graphs = [], {}
    for item, row in zip(batch, samples, strict=True):
        for k, sampled in enumerate(row):
            copy = replace(item, id=f"{item.id}~{k}")
            copies.append(copy)
            graphs[copy.id] = learner.comm(sampled)
    team = Team(
        learner.team_agents(),
        lambda item: graphs[item.id],
        model=learner.model,
        name=f"{type(learner).__name__} sample",
    )
    run = team.run(
        replace(task, items=copies, name=f"{task.name}[learning]"),
        rounds=learner.rounds,
        cache=cache,
        progress=False,
    )
    tokens: dict[str, int] = defaultdict(int)
    for m in run.records:
        tokens[m.item_id] += m.usage.total_tokens
    learner.log.usage += run.usage
    learner.log.calls += run.calls
    learner.log.cache_hits += run.cache_hits
    score = {r.item_id: r.score for r in run.results}
    rewards = [
        [
            score[f"{item.id}~{k}"] - learner.settings.token_penalty * tokens[f"{item.id}~{k}"]
            for k in range(len(row))
        ]
        for item, row in zip(batch, samples, strict=True)
    ]
    return rewards, list(score.values()), list(tokens.values())
