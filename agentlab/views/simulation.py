"""``sim.show()``: a state timeline beside the messages. An episode picker and a step slider over
the environment's own picture of its recorded state (the lake, the guess histogram), the rewards
and invalid actions of that step, and the messages that made it. The pure part, ``step_view``, is
what the tests read; the widgets only wire controls to it."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from agentlab.views.explorer import message_html

if TYPE_CHECKING:
    from agentlab.envs.simulate import Simulation

MAX_FRAMES = 24  # pictures per episode in a report's state timeline


def step_view(sim: Simulation, episode: int, step: int) -> dict[str, Any]:
    """What the explorer shows for one step of one episode."""
    row = sim.timeline[episode][step]
    item_prefix = f"ep{episode}-t{step}-"
    messages = [m for m in sim.records if m.item_id.startswith(item_prefix)]
    picture = sim.pictures(row["state"]) if sim.pictures is not None else ""
    invalid = "".join(
        f"<li><b>{html.escape(a)}</b>: {html.escape(i['why'])} — "
        f"<code>{html.escape(i['text'][:200])}</code></li>"
        for a, i in row["invalid"].items()
    )
    rewards = ", ".join(f"{html.escape(a)} {r:g}" for a, r in row["rewards"].items() if r)
    return {
        "picture": picture,
        "title": f"episode {episode} · step {step} · {row['phase']}",
        "rewards": rewards or "no rewards",
        "invalid": f"<ul>{invalid}</ul>" if invalid else "",
        "state": json.dumps(row["state"]),
        "messages": messages,
    }


def simulation_explorer(sim: Simulation) -> Any:
    import ipywidgets as widgets

    episode = widgets.Dropdown(options=list(range(sim.episodes)), description="episode")
    step = widgets.IntSlider(min=0, max=max(0, len(sim.timeline[0]) - 1), description="step")
    out = widgets.HTML()

    def render(*_: Any) -> None:
        step.max = max(0, len(sim.timeline[episode.value]) - 1)
        view = step_view(sim, episode.value, min(step.value, step.max))
        said = "".join(message_html(m) for m in view["messages"]) or (
            "<p style='color:#888'>(messages are on disk: keep_records=True keeps them here)</p>"
        )
        out.value = (
            f"<h4>{html.escape(view['title'])}</h4><div style='display:flex;gap:16px'>"
            f"<div>{view['picture']}<p>{view['rewards']}</p>{view['invalid']}</div>"
            f"<div style='max-height:480px;overflow:auto'>{said}</div></div>"
        )

    episode.observe(render, names="value")
    step.observe(render, names="value")
    render()
    return widgets.VBox([widgets.HBox([episode, step]), out])


def simulation_report(simulations: dict[tuple[str, int], Simulation], title: str = "simulation") -> str:
    """A self-contained page: each simulation's metrics with 95% intervals over episodes, its
    tokens per phase, and every numeric state variable over steps for all of them together."""
    from agentlab.views.charts import lines_svg

    esc = html.escape
    rows = []
    for (label, seed), sim in simulations.items():
        cells = "".join(
            f"<td>{esc(name)}</td><td>{mean:.3f} [{lo:.3f}, {hi:.3f}]</td>"
            for name, (mean, lo, hi) in sim.summary().items()
        )
        phases = ", ".join(f"{esc(k)} {u.total_tokens}" for k, u in sim.by_phase.items())
        rows.append(
            f"<tr><th>{esc(label)}/seed{seed}</th><td>{sim.episodes} episodes, {sim.calls} calls "
            f"({sim.cache_hits} cached), tokens by phase: {phases}</td>{cells}</tr>"
        )
    first = next(iter(simulations.values()), None)
    numeric = []
    if first is not None and first.timeline and first.timeline[0]:
        state = first.timeline[0][0]["state"]
        numeric = [k for k, v in state.items() if isinstance(v, int | float) and not isinstance(v, bool)]
    plots = "".join(
        lines_svg(
            {f"{label}/seed{seed}": sim.series(key) for (label, seed), sim in simulations.items()}, title=key
        )
        for key in numeric
    )
    timelines = "".join(
        f"<h3>{esc(label)}/seed{seed}, episode 0</h3>{state_strip(sim)}"
        for (label, seed), sim in simulations.items()
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title></head>"
        f"<body style='font-family:sans-serif'><h1>{esc(title)}</h1><table border='1' cellpadding='4'>"
        f"{''.join(rows)}</table><h2>State over steps (mean, 95% band over episodes)</h2>{plots}"
        f"<h2>State timeline (the environment's picture after each step)</h2>{timelines}</body></html>"
    )


def state_strip(sim: Simulation, episode: int = 0, most: int = MAX_FRAMES) -> str:
    """The environment's picture after each step of one episode, side by side; a long episode
    shows ``most`` steps spread evenly over it, its last step included."""
    rows = sim.timeline[episode] if episode < len(sim.timeline) else []
    if not rows or sim.pictures is None:
        return "<p>(no recorded states)</p>"
    shown = range(len(rows))
    if len(rows) > most:
        shown = sorted({round(k * (len(rows) - 1) / (most - 1)) for k in range(most)})
    frames = "".join(
        f"<figure style='margin:0'>{sim.pictures(rows[k]['state'])}<figcaption>step {k} · "
        f"{html.escape(rows[k]['phase'])}</figcaption></figure>"
        for k in shown
    )
    return f"<div style='display:flex;gap:12px;overflow-x:auto'>{frames}</div>"
