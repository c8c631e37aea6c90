"""Small offline SVG charts for simulations: a histogram, bars, and lines over steps with bands."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")


def histogram_svg(
    counts: Sequence[float], labels: Sequence[str], title: str = "", width: int = 360, height: int = 200
) -> str:
    """Bars of ``counts``, one per label."""
    top = max(counts, default=0) or 1
    pad, bar_w = 30, (width - 40) / max(1, len(counts))
    bars = []
    for k, (count, label) in enumerate(zip(counts, labels, strict=True)):
        h = (height - 2 * pad) * count / top
        x = 30 + k * bar_w
        bars.append(
            f'<rect x="{x:.1f}" y="{height - pad - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
            f'fill="{PALETTE[0]}"><title>{html.escape(label)}: {count:g}</title></rect>'
            f'<text x="{x + bar_w / 2:.1f}" y="{height - pad + 12}" font-size="9" text-anchor="middle">'
            f"{html.escape(label)}</text>"
        )
    return _frame(width, height, title, "".join(bars))


def lines_svg(
    series: Mapping[str, Sequence[tuple[float, float, float, float]]],
    title: str = "",
    xlabel: str = "step",
    width: int = 480,
    height: int = 260,
) -> str:
    """One line per label through (x, mean) points, with a band from low to high (an interval)."""
    points = [p for line in series.values() for p in line]
    if not points:
        return _frame(width, height, title, '<text x="20" y="40">nothing to plot yet</text>')
    xs = [p[0] for p in points]
    ys = [v for p in points for v in p[1:] if v == v]  # NaN-free
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys, default=0.0), max(ys, default=1.0)
    y1 = y1 if y1 > y0 else y0 + 1

    def at(x: float, y: float) -> tuple[float, float]:
        return 50 + (width - 70) * (x - x0) / (x1 - x0), height - 35 - (height - 60) * (y - y0) / (y1 - y0)

    parts = []
    for k, (label, line) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        band = [at(x, hi) for x, _, _, hi in line] + [at(x, lo) for x, _, lo, _ in reversed(line)]
        band_points = " ".join(f"{a:.1f},{b:.1f}" for a, b in band)
        line_points = " ".join(f"{a:.1f},{b:.1f}" for a, b in (at(x, m) for x, m, _, _ in line))
        parts.append(
            f'<polygon points="{band_points}" fill="{colour}" opacity="0.2"/>'
            f'<polyline points="{line_points}" fill="none" stroke="{colour}" stroke-width="2"/>'
            f'<text x="{width - 15}" y="{30 + 14 * k}" font-size="11" text-anchor="end" fill="{colour}">'
            f"{html.escape(label)}</text>"
        )
    axes = (
        f'<text x="50" y="{height - 8}" font-size="10">{html.escape(xlabel)} {x0:g}</text>'
        f'<text x="{width - 20}" y="{height - 8}" font-size="10" text-anchor="end">{x1:g}</text>'
        f'<text x="5" y="{height - 35}" font-size="10">{y0:.3g}</text>'
        f'<text x="5" y="35" font-size="10">{y1:.3g}</text>'
    )
    return _frame(width, height, title, "".join(parts) + axes)


_CELL_FILL = {"W": "#555", "F": "#55a868", "N": "#937860", ".": "#fff"}


def grid_svg(
    rows: Sequence[str],
    marks: Mapping[tuple[int, int], tuple[str, str, bool]],
    title: str = "",
    cell: int = 24,
) -> str:
    """A grid world: ``rows`` of static cells (W wall, F food, N nest, . empty) and ``marks`` on
    cells, each (kind "agent" or "prey", label, highlighted: an agent carrying something)."""
    height, width = len(rows), max((len(r) for r in rows), default=0)
    parts = []
    for i, row in enumerate(rows):
        for j, symbol in enumerate(row):
            parts.append(
                f'<rect x="{j * cell}" y="{20 + i * cell}" width="{cell}" height="{cell}" '
                f'fill="{_CELL_FILL.get(symbol, "#ddd")}" stroke="#ccc"/>'
            )
    for (i, j), (kind, label, highlighted) in marks.items():
        x, y = j * cell + cell / 2, 20 + i * cell + cell / 2
        colour = PALETTE[3] if kind == "prey" else PALETTE[1] if highlighted else PALETTE[0]
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="{cell * 0.4:.1f}" fill="{colour}"><title>{html.escape(kind)} '
            f"{html.escape(label)} at ({i}, {j})</title></circle>"
            f'<text x="{x}" y="{y + 4}" font-size="{cell // 2}" text-anchor="middle" fill="#fff">'
            f"{html.escape(label)}</text>"
        )
    return _frame(width * cell, 20 + height * cell, title, "".join(parts))


def _frame(width: int, height: int, title: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">'
        f'<text x="10" y="16" font-size="12" font-weight="bold">{html.escape(title)}</text>{body}</svg>'
    )
