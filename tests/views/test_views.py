"""Views: pure renderers tested directly, the explorer driven as a user would, a report in a real browser."""

import re
import shutil
import subprocess

import pytest

import agentlab as al
from agentlab.views.explorer import item_view
from agentlab.views.svg import Point, edge_tokens, graph_svg, scatter_svg, token_bars_html


@pytest.fixture
def runs(echo_model, small_task):
    return {
        name: al.topologies.load(name, n_agents=3, model=echo_model).run(
            small_task, progress=False, cache=False
        )
        for name in ("chain", "star", "debate")
    }


def test_a_graph_drawing_shows_every_agent_and_edge_with_its_tokens(runs):
    run = runs["chain"]
    svg = graph_svg(run.graph, edge_tokens(run.records))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert all(f"<title>{a}</title>" in svg for a in run.graph.agents)
    carried = edge_tokens(run.records)
    assert carried[("agent0", "agent1")] == sum(
        m.usage.completion_tokens for m in run.records if m.sender == "agent0"
    )
    assert f"agent0 → agent1: {carried[('agent0', 'agent1')]} tokens" in svg
    widths = [float(w) for w in re.findall(r"stroke-width='([\d.]+)'", svg)[:2]]
    assert max(widths) == pytest.approx(6.2)  # the heaviest edge is drawn widest
    debate = graph_svg(runs["debate"].graph)
    assert "stroke-dasharray" in debate  # temporal edges are dashed


def test_token_bars_split_prompt_and_completion():
    bars = token_bars_html({"a": al.Usage(30, 10), "b": al.Usage(10, 0)})
    assert "width:75.0%" in bars and "width:25.0%" in bars and "30+10" in bars and "10+0" in bars


def test_the_cost_plot_places_each_point_by_tokens_and_accuracy():
    svg = scatter_svg([Point("cheap", 10, 0.5, 0.3, 0.7), Point("dear", 100, 0.9, 0.8, 1.0)])
    assert "cheap: 50.0% [30.0%, 70.0%], 10 tokens/item" in svg
    xs = [float(x) for x in re.findall(r"<circle cx='([\d.]+)'", svg)]
    ys = [float(y) for y in re.findall(r"<circle cx='[\d.]+' cy='([\d.]+)'", svg)]
    assert xs[0] < xs[1] and ys[0] > ys[1]  # dearer is further right, more accurate is higher


def test_item_view_shows_only_what_has_happened_by_that_step(runs):
    run = runs["chain"]
    item = run.results[0].item_id
    early, late = item_view(run, item, 0), item_view(run, item, 2)
    assert [m.sender for m in early["messages"]] == ["agent0"]
    assert [m.sender for m in late["messages"]] == ["agent0", "agent1", "agent2"]
    assert "stroke='#d62728'" in early["graph"]  # agent0, speaking now, is ringed
    assert "agent1 → agent2" not in early["edge_bars"] and "agent1 → agent2" in late["edge_bars"]
    assert "✘ wrong" in late["verdict"] or "✔ correct" in late["verdict"]


def test_the_explorer_follows_its_controls(runs):
    run = runs["chain"]
    explorer = run.show()
    assert explorer.step.options == (0, 1, 2) and explorer.step.value == 2
    at_end = explorer.graph_view.value
    explorer.step.value = 0
    assert explorer.graph_view.value != at_end
    assert [label for label, _ in explorer.message.options] == ["r0 agent0"]
    assert "heard nobody" in explorer.text.value
    explorer.item.value = run.results[1].item_id
    assert explorer.step.value == 2 and len(explorer.message.options) == 3
    explorer.message.value = 0
    assert "<b>agent0</b>" in explorer.text.value
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_compare_tables_plots_and_draws_each_graph(runs, tmp_path):
    comparison = al.compare(runs)
    assert [r["topology"] for r in comparison.rows] == ["chain", "star", "debate"]
    assert (
        comparison.rows[0]["mcnemar_p_vs_first"] is None and comparison.rows[1]["mcnemar_p_vs_first"] == 1.0
    )
    assert "tokens/item" in comparison.table()
    page = comparison._repr_html_()
    assert page.count("<svg") == 4  # the plot and three graphs
    assert comparison.plot()._repr_svg_().startswith("<svg")
    with pytest.raises(ValueError, match="share a label"):
        al.compare([runs["chain"], runs["chain"]])


def test_every_result_object_renders_as_html(runs, small_task, echo_model):
    team = al.topologies.load("star", n_agents=3, model=echo_model)
    for obj in (runs["chain"], team, team.graph, small_task, al.compare(runs)):
        page = obj._repr_html_()
        assert page and "<" in page


def test_a_learned_team_is_drawn_beside_the_graph_it_started_from(echo_model, small_task):
    learner = al.topologies.GPTSwarm([al.Agent(f"a{i}") for i in range(3)], model=echo_model)
    run = learner.team().run(small_task, progress=False, cache=False)
    assert run.origin is not None and len(run.origin.spatial) == 3
    page = al.compare({"learned": run})._repr_html_()
    assert "learned: started from" in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_an_exported_report_shows_the_graph_in_a_headless_browser(runs, tmp_path):
    assert CHROMIUM, (
        "the browser test needs Debian's chromium: apt-get install chromium (scripts/setup.sh does)"
    )
    page = runs["star"].to_html(tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={shot}",
            "--window-size=900,700",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    colors = image.getcolors(maxcolors=1 << 20)
    assert len(colors) > 20, "the screenshot is blank"
    # the graph's spatial edges are the only blue on the page: find them on screen
    blue = sum(n for n, (r, g, b) in colors if b > r + 60 and b > g + 30)
    assert blue > 50, "no edge of the graph is visible in the screenshot"


def test_a_report_plots_accuracy_against_tokens_tests_pairs_and_splits_cached_from_computed(
    echo_model, small_task, tmp_path
):
    from agentlab.views.report import report_html, text_table

    cache = al.CallCache(tmp_path / "calls.sqlite")
    first = al.topologies.load("chain", n_agents=2, model=echo_model).run(
        small_task, progress=False, cache=cache
    )
    rerun = al.topologies.load("chain", n_agents=2, model=echo_model).run(
        small_task, progress=False, cache=cache
    )
    star = al.topologies.load("star", n_agents=3, model=echo_model).run(
        small_task, progress=False, cache=False
    )
    page = report_html({"chain": first, "chain again": rerun, "star": star})
    assert "Accuracy against cost" in page and "<svg" in page and "Paired tests against chain" in page
    assert "McNemar exact p" in page and "bootstrap 95% interval" in page
    again = rerun.summary()
    assert again["computed_calls"] == 0 and again["computed_tokens"] == 0
    assert again["cached_tokens"] == first.summary()["computed_tokens"] > 0  # paid for once, not again
    assert f"<td>{again['cached_tokens']}</td>" in page
    table = text_table([first, rerun])
    assert "computed" in table.splitlines()[0] and "model s" in table.splitlines()[0]
