"""Plots drawn with matplotlib and shown as inline SVG: offline, in notebooks, reports, on GitHub.

Every plot is a ``Plot``: it displays itself, saves itself (``.save("x.svg")`` or ``.png``), and
hands over its ``ax`` (a matplotlib Axes) and ``figure`` for restyling. No pyplot state is touched.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# tab10's colours and six markers, both cycling: 30 lines or points before two look alike, and two
# that fall on one spot still show both shapes (tab20 pairs each colour with a pale twin: too alike)
MARKERS = ("o", "s", "^", "D", "v", "P")


class Plot:
    """A matplotlib figure that displays as SVG; ``ax`` and ``figure`` restyle it."""

    def __init__(self, figure: Any, ax: Any) -> None:
        self.figure, self.ax = figure, ax

    def _repr_svg_(self) -> str:
        from matplotlib import rc_context

        buffer = io.StringIO()
        with rc_context({"svg.fonttype": "none"}):  # text stays text: searchable, selectable, small
            self.figure.savefig(buffer, format="svg", bbox_inches="tight")
        text = buffer.getvalue()
        return text[text.index("<svg") :]  # no XML prolog: the markup goes inside HTML pages

    @property
    def text(self) -> str:
        """The SVG markup (what reports embed)."""
        return self._repr_svg_()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        self.figure.savefig(path, bbox_inches="tight")
        return path


def figure(width: float = 7.5, height: float = 4.2) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def style(k: int) -> dict[str, Any]:
    from matplotlib import colormaps

    return {"color": colormaps["tab10"](k % 10), "marker": MARKERS[k % len(MARKERS)]}


def accuracy_against_cost(
    points: Sequence[tuple[str, float, float, float, float]],
    seeds: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    title: str = "",
) -> Plot:
    """(label, tokens per item, accuracy, low, high) per topology, its 95% interval as error bars;
    ``seeds``: each seed's (tokens, accuracy), drawn faint behind the mean."""
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    fig, ax = figure()
    for k, (label, x, y, low, high) in enumerate(points):
        look = style(k)
        for sx, sy in (seeds or {}).get(label, ()):
            ax.plot(sx, sy, linestyle="none", alpha=0.3, markersize=5, **look)
        ax.errorbar(
            x, y, yerr=[[max(0.0, y - low)], [max(0.0, high - y)]], linestyle="none", capsize=4,
            markersize=8, label=label, **look,
        )  # fmt: skip
    ax.set_xlabel("tokens per item")
    ax.set_ylabel("accuracy (95% interval)")
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    ax.set_title(title, loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    return Plot(fig, ax)


def lines(
    series: Mapping[str, Sequence[tuple[float, float, float, float]]],
    ylabel: str,
    xlabel: str = "step",
    title: str = "",
    low: float | None = None,
    high: float | None = None,
) -> Plot:
    """One line per label through (x, mean, low, high) points; the band from low to high is drawn
    only where it is an interval (more than one episode), clamped to [``low``, ``high``]."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = figure()
    for k, (label, points) in enumerate(series.items()):
        look = style(k)
        xs = [p[0] for p in points]
        ax.plot(
            xs, [p[1] for p in points], label=label, color=look["color"], marker=look["marker"], markersize=4
        )
        lows = [_clamp(p[2], low, high) for p in points]
        highs = [_clamp(p[3], low, high) for p in points]
        if any(h > lo for lo, h in zip(lows, highs, strict=True)):
            ax.fill_between(xs, lows, highs, color=look["color"], alpha=0.15, linewidth=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if low is not None:
        ax.set_ylim(bottom=low)
    if high is not None:
        ax.set_ylim(top=high)
    ax.set_title(title, loc="left")
    if len(series) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    return Plot(fig, ax)


def bar_panels(panels: Sequence[Mapping[str, Any]], title: str = "", height: float = 2.6) -> Plot:
    """Bar charts side by side, each with its own y axis: a panel is ``values``, ``labels``,
    ``ylabel`` and optionally ``top`` (the axis' upper end, a capacity say). The ``ax`` of a
    several-panel plot is the first; ``figure.axes`` has them all."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    widths = [max(1, len(p["values"])) for p in panels]
    fig = Figure(figsize=(min(9.0, 1.6 + 0.45 * sum(widths) + 0.9 * len(panels)), height), dpi=100)
    axes = fig.subplots(1, len(panels), width_ratios=widths, squeeze=False)[0]
    for k, (ax, panel) in enumerate(zip(axes, panels, strict=True)):
        values, labels = panel["values"], panel["labels"]
        ax.bar(range(len(values)), values, color=style(k)["color"])
        tilted = max((len(str(label)) for label in labels), default=0) * len(labels) > 40
        ax.set_xticks(
            range(len(values)), labels, rotation=45 if tilted else 0, ha="right" if tilted else "center"
        )
        ax.set_ylabel(panel["ylabel"])
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=all(float(v).is_integer() for v in values)))
        ax.set_ylim(0, panel.get("top") or max(1.0, max(values, default=0) * 1.1))
        ax.grid(True, axis="y", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title, x=0.02, ha="left", fontsize=10)
    fig.tight_layout()
    return Plot(fig, axes[0])


def _clamp(value: float, low: float | None, high: float | None) -> float:
    if math.isnan(value):
        return value
    if low is not None:
        value = max(low, value)
    if high is not None:
        value = min(high, value)
    return value
