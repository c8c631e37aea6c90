"""A grid world drawn as SVG (a picture of a state, not a chart: charts are ``views.plots``)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")


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
