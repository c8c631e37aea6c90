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
