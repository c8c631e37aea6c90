"""``run.show()``: an ipywidgets explorer of one run's message flow. The widgets only wire controls to
the pure renderers in ``agentlab.views.svg``; every picture is inline SVG/HTML (no CDN)."""

from __future__ import annotations

import html
import json
from typing import Any

from agentlab.message import Message, Usage
from agentlab.run import Run
from agentlab.views.svg import edge_tokens, graph_svg, token_bars_html


def item_view(run: Run, item_id: str, step: int) -> dict[str, Any]:
    """What the explorer shows for ``item_id`` up to engine step ``step``: the pure part, tested directly."""
    messages = [m for m in run.messages(item_id) if m.step <= step]
    now = [m for m in messages if m.step == step]
    graph = run.graph_of(item_id)
    by_agent: dict[str, Usage] = {}
    for m in messages:
        by_agent[m.sender] = by_agent.get(m.sender, Usage()) + m.usage
    edges = edge_tokens(messages)
    result = next((r for r in run.results if r.item_id == item_id), None)
    rounds = sorted({m.round for m in now})
    return {
        "messages": messages,
        "graph": graph_svg(
            graph,
            edges,
            active=[m.sender for m in now],
            title=f"{item_id} · step {step}" + (f" · round {rounds[0]}" if rounds else ""),
        ),
        "agent_bars": token_bars_html(by_agent, "tokens per agent (so far)"),
        "edge_bars": token_bars_html(
            {f"{u} → {v}": Usage(0, t) for (u, v), t in sorted(edges.items())}, "tokens per edge (carried)"
        ),
        "verdict": _verdict(result),
    }


def _verdict(result: Any) -> str:
    if result is None:
        return "<span style='color:#888'>not finished</span>"
    if result.error is not None:
        return f"<span style='color:#8c1d40;font-weight:bold'>⚠ error</span>: {html.escape(result.error)}"
    ok = result.score >= 1
    color = "#2f8f4e" if ok else ("#c7772b" if result.score > 0 else "#d62728")
    mark = "✔ correct" if ok else (f"partly ({result.score:.2f})" if result.score > 0 else "✘ wrong")
    if not ok and result.score == 0 and result.prediction is None:
        color, mark = "#c7772b", "? no answer read"
    return (
        f"<span style='color:{color};font-weight:bold'>{mark}</span> predicted "
        f"<code>{html.escape(str(result.prediction))}</code>, "
        f"reference <code>{html.escape(str(result.reference))}</code>"
    )


def message_html(m: Message) -> str:
    esc = html.escape
    to = ", ".join(m.receivers) or "nobody"
    prompt = "".join(f"<div><b>{esc(role)}</b>: {esc(text)}</div>" for role, text in m.prompt)
    extra = f"<div style='color:#d62728'>error: {esc(m.error)}</div>" if m.error else ""
    memory = f" (remembers its turns of round {', '.join(map(str, m.remembered))})" if m.remembered else ""
    tools = "".join(
        f"<div>🔧 <code>{esc(u.name)}({esc(json.dumps(u.args))})</code> → "
        + (f"<span style='color:#d62728'>{esc(u.error)}</span>" if u.error else f"{esc(u.output)}")
        + f" <small>({u.seconds * 1000:.0f} ms, asked by model call {u.step + 1}: "
        f"{u.usage.prompt_tokens}+{u.usage.completion_tokens} tokens)</small></div>"
        for u in m.tool_calls
    )
    return (
        f"<div style='font-family:sans-serif;font-size:12px'>"
        f"<b>{esc(m.sender)}</b> → {esc(to)}, round {m.round}, "
        f"{m.usage.prompt_tokens}+{m.usage.completion_tokens} tokens{' (cached)' if m.cached else ''}{extra}"
        f"{tools}<pre style='white-space:pre-wrap;background:#f6f6f6;padding:6px'>{esc(m.content)}</pre>"
        f"<details><summary>prompt{memory}</summary>"
        f"<div style='white-space:pre-wrap'>{prompt}</div></details></div>"
    )


class Explorer:
    """The widget ``run.show()`` returns: pick an item, move through its steps, read any message."""

    def __init__(self, run: Run) -> None:
        import ipywidgets as w

        self.run = run
        ids = [r.item_id for r in run.results] or list(dict.fromkeys(m.item_id for m in run.records))
        if not ids:
            raise ValueError("this run has no messages to explore")
        marks = {r.item_id: ("✔" if r.score >= 1 else "✘") for r in run.results}
        self.item = w.Dropdown(options=[(f"{marks.get(i, '…')} {i}", i) for i in ids], description="item")
        self.step = w.SelectionSlider(options=[0], description="step", continuous_update=False)
        self.message = w.Select(options=[], description="message", rows=8, layout=w.Layout(width="22em"))
        self.graph_view, self.text = w.HTML(), w.HTML()
        self.agent_bars, self.edge_bars, self.verdict = w.HTML(), w.HTML(), w.HTML()
        self.item.observe(lambda _: self._item_changed(), names="value")
        self.step.observe(lambda _: self._refresh(), names="value")
        self.message.observe(lambda _: self._show_message(), names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.item, self.verdict]),
                self.step,
                w.HBox([self.graph_view, w.VBox([self.message, self.text])]),
                w.HBox([self.agent_bars, self.edge_bars]),
            ]
        )
        self._item_changed()

    def _item_changed(self) -> None:
        steps = sorted({m.step for m in self.run.messages(self.item.value)}) or [0]
        self.step.options = steps
        self.step.value = steps[-1]
        self._refresh()

    def _refresh(self) -> None:
        view = item_view(self.run, self.item.value, self.step.value)
        self.graph_view.value = view["graph"]
        self.agent_bars.value, self.edge_bars.value = view["agent_bars"], view["edge_bars"]
        self.verdict.value = view["verdict"]
        self._messages = view["messages"]
        self.message.options = [(f"r{m.round} {m.sender}", k) for k, m in enumerate(self._messages)]
        self.message.value = len(self._messages) - 1 if self._messages else None
        self._show_message()

    def _show_message(self) -> None:
        k = self.message.value
        self.text.value = message_html(self._messages[k]) if k is not None else ""

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
