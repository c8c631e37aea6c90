"""The oldest versions of the libraries the local model drives that it is known to work with, and a
clear refusal of older ones. ``pyproject.toml`` states the same floors (a test holds them equal).

transformers 5.25: 5.17 lacks ``ContinuousBatchingConfig(page_size=...)``; 5.18, on a CPU, sizes
continuous batching's cache from the machine's memory and was killed for it (21 GB on a 24 GB
machine, 2026-12-04); 5.25 is what the suite runs on.
"""

from __future__ import annotations

from importlib import metadata

FLOORS = {"transformers": "5.25"}


def _parts(version: str) -> tuple[int, ...]:
    numbers = []
    for piece in version.split("+")[0].split("."):
        digits = "".join(c for c in piece if c.isdigit())
        if not digits:
            break
        numbers.append(int(digits))
        if not piece.isdigit():  # 5.25.0rc1: the release candidate of 5.25.0
            break
    return tuple(numbers)


def require(package: str) -> None:
    """An ImportError naming the version needed and the pip line when ``package`` is older."""
    floor = FLOORS[package]
    installed = metadata.version(package)
    if _parts(installed) < _parts(floor):
        raise ImportError(
            f"agentlab's local model needs {package}>={floor}; this environment has {installed}: "
            f"pip install -U '{package}>={floor}'"
        )
