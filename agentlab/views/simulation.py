"""``sim.show()``: a state timeline beside the messages. An episode picker and a step slider over
the environment's own picture of its recorded state (the lake, the guess histogram), the rewards
and invalid actions of that step, and the messages that made it. The pure part, ``step_view``, is
what the tests read; the widgets only wire controls to it."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentlab.views.explorer import message_html

if TYPE_CHECKING:
    from agentlab.envs.simulate import Simulation
    from agentlab.views.plots import Plot

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


def simulation_summary(simulations: Mapping[tuple[str, int], Simulation]) -> str:
    """Warnings, then one row per simulation: its episodes, calls and tokens, and each metric's
    mean with its 95% interval over episodes (the value alone for one episode)."""
    from agentlab.views.health import warnings_html

    esc = html.escape
    names = list(dict.fromkeys(n for sim in simulations.values() for n in sim.summary()))
    several = any(sim.episodes > 1 for sim in simulations.values())
    head = "".join(
        f"<th>{h}</th>" for h in ("run", "episodes", "calls", "cached", "tokens", "tokens by phase", *names)
    )
    rows, warned = [], []
    for (label, seed), sim in simulations.items():
        summary = sim.summary()
        cells = "".join(_metric_cell(summary.get(n), sim.episodes > 1) for n in names)
        phases = ", ".join(f"{esc(k)} {u.total_tokens}" for k, u in sim.by_phase.items())
        rows.append(
            f"<tr><td>{esc(label)}/seed{seed}{' ⚠' if sim.warnings else ''}</td><td>{sim.episodes}</td>"
            f"<td>{sim.calls}</td><td>{sim.cache_hits}</td><td>{sim.usage.total_tokens}</td><td>{phases}</td>"
            f"{cells}</tr>"
        )
        warned += [f"{label}/seed{seed}: {w}" for w in sim.warnings]
    note = "<p><small>metrics: mean [95% interval over episodes]</small></p>" if several else ""
    return (
        f"{warnings_html(warned)}<div style='overflow-x:auto'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>{note}"
    )


def state_plot(simulations: Mapping[str, Simulation], variable: str) -> Plot:
    """``variable`` of the state over steps, one line per simulation (label -> simulation), with
    its 95% band over episodes where there are several; clamped at 0 when it never goes below."""
    from agentlab.views.plots import lines

    series = {label: sim.series(variable) for label, sim in simulations.items()}
    low = 0.0 if all(p[1] >= 0 for points in series.values() for p in points) else None
    several = any(sim.episodes > 1 for sim in simulations.values())
    env = next(iter(simulations.values())).env
    ylabel = variable + (" (mean, 95% band over episodes)" if several else "")
    return lines(series, ylabel=ylabel, title=f"{env}: {variable}", low=low)


def _metric_cell(value: tuple[float, float, float] | None, interval: bool) -> str:
    if value is None:
        return "<td></td>"
    mean, low, high = value
    return f"<td>{mean:.3g} [{low:.3g}, {high:.3g}]</td>" if interval else f"<td>{mean:.3g}</td>"


def simulation_report(simulations: Mapping[tuple[str, int], Simulation], title: str = "simulation") -> str:
    """A self-contained page: where it came from, warnings, each simulation's metrics and costs,
    every numeric state variable over steps for all of them together, each one's state timeline."""
    from agentlab.views.report import STYLE, provenance_html

    esc = html.escape
    sims = list(simulations.values())
    variables = list(dict.fromkeys(v for sim in sims for v in sim.variables() if v not in sim.clock))
    labelled = {f"{label}/seed{seed}": sim for (label, seed), sim in simulations.items()}
    plots = "".join(
        state_plot(labelled, v).text for v in variables if all(v in sim.variables() for sim in sims)
    )
    timelines = "".join(
        f"<h3>{esc(label)}, episode 0</h3>{state_strip(sim)}" for label, sim in labelled.items()
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{STYLE}</style>"
        f"</head><body><h1>{esc(title)}</h1>{provenance_html(sims)}{simulation_summary(simulations)}"
        f"<h2>State over steps</h2>{plots}"
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
