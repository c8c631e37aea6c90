"""Confidence intervals for accuracies and paired tests between topologies."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence


def wilson_interval(successes: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (95% by default); sound at 0% and 100% and for small n.

    >>> [round(x, 3) for x in wilson_interval(8, 10)]
    [0.49, 0.943]
    """
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mcnemar_exact(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided exact McNemar p-value for paired right/wrong outcomes of two systems on the same items.

    Only the discordant items count: under the null hypothesis each of them is equally likely to
    favour either system, so the smaller count is Binomial(n_discordant, 1/2).

    >>> round(mcnemar_exact([1, 1, 1, 1, 1, 1, 0, 1], [0, 0, 0, 0, 0, 0, 0, 1]), 4)
    0.0312
    """
    if len(a) != len(b):
        raise ValueError(f"paired outcomes need equal lengths; got {len(a)} and {len(b)}")
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x >= 1 > y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y >= 1 > x)
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], samples: int = 10_000, seed: int = 0
) -> tuple[float, tuple[float, float], float]:
    """Mean difference a - b over paired items, its 95% percentile interval, and a two-sided p-value
    (twice the share of resamples on the far side of zero)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired scores need equal, non-zero lengths; got {len(a)} and {len(b)}")
    rng = random.Random(seed)
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    n = len(diffs)
    means = sorted(sum(rng.choice(diffs) for _ in range(n)) / n for _ in range(samples))
    observed = sum(diffs) / n
    low, high = means[int(0.025 * samples)], means[int(0.975 * samples) - 1]
    if observed == 0:
        return observed, (low, high), 1.0
    far = sum(m <= 0 for m in means) if observed > 0 else sum(m >= 0 for m in means)
    return observed, (low, high), min(1.0, 2 * far / samples)


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and its Student-t interval over independent runs (episodes, seeds); with one value
    the interval is that value. NaNs (a metric an episode could not give) are left out."""
    from scipy.stats import t

    kept = [v for v in values if v == v]
    if not kept:
        return float("nan"), float("nan"), float("nan")
    mean, std = mean_and_std(kept)
    if len(kept) < 2:
        return mean, mean, mean
    half = float(t.ppf(0.5 + confidence / 2, len(kept) - 1)) * std / math.sqrt(len(kept))
    return mean, mean - half, mean + half
