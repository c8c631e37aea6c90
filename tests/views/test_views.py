"""Views: pure renderers tested directly, the explorer driven as a user would, a report in a real browser."""

import math
import re
import shutil
import subprocess

import pytest

import agentlab as al
from agentlab.views.explorer import item_view
from agentlab.views.svg import edge_tokens, graph_svg, layout, token_bars_html


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


@pytest.mark.parametrize(
    ("preset", "n"), [("chain", 4), ("star", 6), ("debate", 3), ("debate", 16), ("random", 12), ("tree", 7)]
)
def test_no_node_or_full_name_of_a_drawn_graph_overlaps_another(preset, n, echo_model):
    from agentlab.views.svg import _node_box

    graph = al.topologies.load(preset, n_agents=n, model=echo_model).graph
    renamed = {a: f"{a}_with_a_long_descriptive_name" for a in graph.agents}
    long = al.CommGraph(
        [renamed[a] for a in graph.agents],
        [(renamed[u], renamed[v]) for u, v in graph.spatial],
        [(renamed[u], renamed[v]) for u, v in graph.temporal],
    )
    for g in (graph, long):
        pos, labels = layout(g)
        boxes = [_node_box(pos[a]) for a in g.agents] + [labels[a].box(a) for a in g.agents]
        crossing = [(p, q) for k, p in enumerate(boxes) for q in boxes[k + 1 :] if p.meets(q)]
        assert not crossing, f"{preset}: {crossing[:2]}"
        svg = graph_svg(g)
        assert all(f">{a}</text>" in svg for a in g.agents)  # full names, not cut
    drawn = graph_svg(al.topologies.load("debate", n_agents=3, model=echo_model).graph)
    assert "temporal: heard in the next round" in drawn and "self: re-reads its own last message" in drawn
    assert "spatial: heard" not in drawn  # a legend of the edges it has


def test_the_cost_plot_is_matplotlib_with_a_legend_outside_and_round_ticks(runs):
    plot = al.compare(runs).plot()
    ax = plot.ax
    assert ax.get_xlabel() == "tokens per item" and ax.get_ylabel().startswith("accuracy")
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["chain", "star", "debate"]
    assert legend.get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1  # outside the data
    ticks = list(ax.get_xticks())
    step = ticks[1] - ticks[0]
    assert round(step / 10 ** math.floor(math.log10(step)), 6) in (1, 2, 2.5, 5)  # round-number ticks
    assert all(abs(t / step - round(t / step)) < 1e-6 for t in ticks)
    assert plot._repr_svg_().startswith("<svg") and ">chain<" in plot._repr_svg_()


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


def screenshot(page, shot, width=900, height=700):
    """``page`` as headless Chromium draws it, read back as RGB pixels."""
    assert CHROMIUM, (
        "the browser test needs Debian's chromium: apt-get install chromium (scripts/setup.sh does)"
    )
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
         f"--window-size={width},{height}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    assert len(image.getcolors(maxcolors=1 << 20)) > 20, "the screenshot is blank"
    return image


def shown(image, rgb, tolerance=12):
    """Pixels of ``image`` within ``tolerance`` of the colour ``rgb``."""
    colors = image.getcolors(maxcolors=1 << 20)
    return sum(n for n, c in colors if all(abs(a - b) <= tolerance for a, b in zip(c, rgb, strict=True)))


TAB10 = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
         (227, 119, 194), (127, 127, 127)]  # fmt: skip


def test_an_exported_report_shows_the_graph_in_a_headless_browser(runs, tmp_path):
    image = screenshot(runs["star"].to_html(tmp_path / "report.html"), tmp_path / "shot.png")
    colors = image.getcolors(maxcolors=1 << 20)
    # the graph's spatial edges are the only blue on the page: find them on screen
    blue = sum(n for n, (r, g, b) in colors if b > r + 60 and b > g + 30)
    assert blue > 50, "no edge of the graph is visible in the screenshot"


def test_a_comparison_of_eight_topologies_over_three_seeds_draws_each_apart_in_a_browser(
    echo_model, tmp_path
):
    presets = ["single", "chain", "star", "debate", "mesh", "tree", "random", "layered"]
    runs = {}
    for name in presets:
        for seed in range(3):
            team = al.topologies.load(name, n_agents=1 if name == "single" else 3, model=echo_model)
            runs[(name, seed)] = team.run(
                al.tasks.load("arithmetic", n=4, seed=seed), progress=False, cache=False
            )
    page = al.compare(runs).to_html(tmp_path / "comparison.html")
    image = screenshot(page, tmp_path / "comparison.png", 1200, 2000)
    missing = [k for k, rgb in enumerate(TAB10) if shown(image, rgb) < 20]
    assert not missing, f"topologies {[presets[k] for k in missing]} cannot be seen in the plot"
    text = page.read_text()
    assert text.count("<td>single/seed2</td>") == 7  # each other topology's seed 2 is paired with it


def test_a_simulation_page_shows_its_plots_and_pictures_in_a_browser(tmp_path):
    from agentlab.models import ScriptedChatModel

    llm = ScriptedChatModel(respond=lambda m: "I catch 9 tonnes")
    team = al.Team(
        [al.Agent(f"f{i}", role=f"You are fisher {i}.") for i in range(5)], model=llm, name="fishers"
    )
    env = al.envs.load("govsim/fishery", months=2, discussion=False, reflection=False)
    sim = team.simulate(env, episodes=2, cache=False, progress=False)
    page = sim.to_html(tmp_path / "sim.html")
    text = page.read_text()
    assert "govsim/fishery: stock" in text and "tonnes caught" in text and "tonnes left" in text
    image = screenshot(page, tmp_path / "sim.png", 1200, 1600)
    assert shown(image, TAB10[0]) > 200, "the stock line and the catches are not on screen"
    assert shown(image, TAB10[1]) > 200, "the lake's bar is not on screen"


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
    assert "accuracy against cost" in page and "<svg" in page and "paired item by item with chain" in page
    assert "McNemar p" in page and "difference [95% CI], bootstrap p" in page
    again = rerun.summary()
    assert again["computed_calls"] == 0 and again["computed_tokens"] == 0
    assert again["cached_tokens"] == first.summary()["computed_tokens"] > 0  # paid for once, not again
    assert f"<td>{again['cached_tokens']}</td>" in page
    table = text_table([first, rerun])
    assert "computed" in table.splitlines()[0] and "model s" in table.splitlines()[0]
    assert "chain #2" in table  # a rerun of one team is told apart
