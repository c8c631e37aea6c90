"""AgentsNet coordination tasks: every node of a generated graph is an agent that talks only to its
neighbours, then each answers for itself and the answers are scored together.

After Grötschla et al., "AgentsNet: Coordination and Collaborative Reasoning in Multi-Agent LLMs"
(2025). Followed from the paper: the five problems and their scoring rules (partial credit for
colouring, matching and vertex cover), the graph generators (Watts–Strogatz k=4 p=0.4,
Barabási–Albert m=2, Delaunay triangulation of uniform points), the rounds (2·diameter+1 for
consensus and leader election and for graphs over 16 nodes, otherwise a fixed number, 4 by
default), synchronous rounds with one JSON message per neighbour, the ``### Final Answer ###``
answer format. Ours: the prompt wording; an agent remembers its own last message (a temporal
self-loop) instead of its whole chat; no re-ask when a reply does not parse; Watts–Strogatz at 4
nodes with k=3 (a ring) rather than k=4. ``lenient=True`` also accepts a reply without the answer
marker (its last valid option) and a message that is not JSON (sent to every neighbour), which
weak models need.

``variant="authors"`` runs it as the authors' code and run script do: 4, 5 and 6 rounds of
message passing for 4, 8 and 16 nodes (``main.sh``); Watts–Strogatz with k=4 at every size, so
the 4-node graphs are complete (``utils.generate_ws_graph``); one re-ask when a message is not
JSON or an answer cannot be read, counted per item in ``scoring`` (``reasks``,
``unparsed_after_reask``); and agents that keep their whole chat (``history=True``). Their
published graphs load from a local copy of the ``disco-eth/AgentsNet`` dataset (``graphs=``).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import networkx as nx

from agentlab.agent import Agent
from agentlab.graph import CommGraph, EachAgent
from agentlab.tasks.registries import LOADERS
from agentlab.tasks.task import Item, Task

# One hundred first names, one per node; none is an answer word (Yes, No, None).
NAMES = tuple(
    """
    Ada Ben Cleo Dev Emil Farah Gio Hugo Iris Jonas Kai Lila Milo Nora Otto Pia Quinn Rosa Sami Tara
    Uma Vito Wren Xena Yuri Zoe Abel Bea Cyrus Dina Ezra Faye Gus Hedy Ivo Jade Kofi Lars Mina Nils
    Olga Pavel Rhea Soren Tess Ugo Vera Wes Yara Zane Anya Bruno Cara Dario Elsa Finn Greta Hans
    Ines Joel Kira Leon Maya Nico Opal Pablo Rina Saul Tomas Una Viggo Wanda Xavi Yoko Zeno Alma
    Boris Celia Dane Edda Felix Gwen Hiro Ilse Jules Karl Lena Marco Nadia Oren Petra Raul Sina Theo
    Ulla Vik Willa Yann Zora Lior
    """.split()  # noqa: SIM905 (a hundred names read better as text than as a list literal)
)
MAX_NODES = len(NAMES)


def _watts_strogatz(n: int, seed: int) -> nx.Graph:
    return nx.connected_watts_strogatz_graph(n, min(4, n - 1), 0.4, seed=seed)


def _watts_strogatz_k4(n: int, seed: int) -> nx.Graph:
    """The authors' generator: k=4 at every size, so 4 nodes make the complete graph."""
    return nx.connected_watts_strogatz_graph(n, 4, 0.4, seed=seed)


def _barabasi_albert(n: int, seed: int) -> nx.Graph:
    return nx.barabasi_albert_graph(n, min(2, n - 1), seed=seed)


def _delaunay(n: int, seed: int) -> nx.Graph:
    import numpy as np
    from scipy.spatial import Delaunay

    points = np.random.default_rng(seed).random((n, 2))
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    for simplex in Delaunay(points).simplices:
        graph.add_edges_from(nx.utils.pairwise(simplex.tolist(), cyclic=True))
    return graph


GENERATORS: dict[str, Callable[[int, int], nx.Graph]] = {
    "ws": _watts_strogatz,
    "ba": _barabasi_albert,
    "dt": _delaunay,
}


def generate_graph(generator: str, n: int, seed: int, variant: str = "ours") -> nx.Graph:
    """A connected graph of ``n`` nodes named from ``NAMES`` (names drawn with the same seed)."""
    if generator not in GENERATORS:
        raise ValueError(f"unknown graph generator {generator!r}; choose from {sorted(GENERATORS)}")
    if not 4 <= n <= MAX_NODES:
        raise ValueError(f"AgentsNet graphs have 4 to {MAX_NODES} nodes; got {n}")
    make = _watts_strogatz_k4 if generator == "ws" and variant == "authors" else GENERATORS[generator]
    graph = make(n, seed)
    names = random.Random(seed).sample(NAMES, n)
    return nx.relabel_nodes(graph, dict(zip(sorted(graph.nodes), names, strict=True)))


# ---- the five problems: what agents are told, what they may answer, how the answers score ----

Answers = Mapping[str, str | None]


@dataclass(frozen=True)
class Problem:
    goal: str  # what the agents must achieve together
    question: str  # asked in the last round
    options: Callable[[nx.Graph, str], list[str]]  # the valid answers of one node
    score: Callable[[nx.Graph, Answers], float]
    rounds_from_diameter: bool = False  # consensus and leader election need information to cross the graph


def _colors(graph: nx.Graph) -> list[str]:
    return [f"Group {k}" for k in range(1, max(d for _, d in graph.degree) + 2)]


def _score_coloring(graph: nx.Graph, answers: Answers) -> float:
    if not all(answers[v] in _colors(graph) for v in graph):
        return 0.0
    return sum(answers[u] != answers[v] for u, v in graph.edges) / graph.number_of_edges()


def _score_consensus(graph: nx.Graph, answers: Answers) -> float:
    values = {answers[v] for v in graph}
    return float(values <= {"0", "1"} and len(values) == 1)


def _score_leader(graph: nx.Graph, answers: Answers) -> float:
    values = [answers[v] for v in graph]
    return float(all(a in ("Yes", "No") for a in values) and values.count("Yes") == 1)


def _score_matching(graph: nx.Graph, answers: Answers) -> float:
    """Share of nodes whose answer is consistent: a neighbour that names them back, or "None" only
    when every neighbour is matched elsewhere."""
    consistent = 0
    for v in graph:
        partner = answers[v]
        if partner == "None":
            consistent += all(answers[u] != "None" for u in graph[v])
        else:
            consistent += partner in graph[v] and answers[partner] == v
    return consistent / graph.number_of_nodes()


def _score_vertex_cover(graph: nx.Graph, answers: Answers) -> float:
    """Coverage (share of edges with a "Yes" end) times minimality (share of "Yes" nodes that the
    cover cannot lose)."""
    cover = {v for v in graph if answers[v] == "Yes"}
    if not cover:
        return 0.0

    def covered(chosen: set[str]) -> int:
        return sum(u in chosen or v in chosen for u, v in graph.edges)

    total = graph.number_of_edges()
    needed = sum(covered(cover - {v}) < total for v in cover)
    return covered(cover) / total * needed / len(cover)


PROBLEMS: dict[str, Problem] = {
    "coloring": Problem(
        "Together, split yourselves into groups so that no two neighbours are in the same group.",
        "Which group are you in?",
        lambda graph, v: _colors(graph),
        _score_coloring,
    ),
    "consensus": Problem(
        "Together, agree on one value, 0 or 1, that every agent in the network will give.",
        "Which value did the network agree on?",
        lambda graph, v: ["0", "1"],
        _score_consensus,
        rounds_from_diameter=True,
    ),
    "leader_election": Problem(
        "Together, elect exactly one leader for the whole network.",
        "Are you the leader? Answer Yes or No.",
        lambda graph, v: ["Yes", "No"],
        _score_leader,
        rounds_from_diameter=True,
    ),
    "matching": Problem(
        "Together, form pairs of neighbours: each agent is in at most one pair, both members of a "
        "pair name each other, and nobody stays unpaired while a neighbour of theirs is unpaired too.",
        "Which neighbour is your partner? Answer None if all your neighbours are paired with others.",
        lambda graph, v: [*sorted(graph[v]), "None"],
        _score_matching,
    ),
    "vertex_cover": Problem(
        "Together, choose coordinators so that of any two neighbours at least one is a coordinator, "
        "with no more coordinators than needed: every coordinator has a neighbour who is not one.",
        "Are you a coordinator? Answer Yes or No.",
        lambda graph, v: ["Yes", "No"],
        _score_vertex_cover,
    ),
}

FINAL_MARK = "### Final Answer ###"


@cache
def _graph(edges: tuple[tuple[str, str], ...], nodes: tuple[str, ...]) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    return graph


def graph_of(item: Item) -> nx.Graph:
    """The item's graph (kept as plain lists in ``item.reference`` so results stay JSON)."""
    return _graph_of_reference(item.reference)


def _graph_of_reference(reference: Mapping[str, Any]) -> nx.Graph:
    return _graph(tuple(map(tuple, reference["edges"])), tuple(reference["nodes"]))


def parse_messages(text: str) -> dict[str, str] | None:
    """The first JSON object in ``text`` whose values are all strings (one message per neighbour)."""
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"\{", text)):
        try:
            value, _ = decoder.raw_decode(text[start:])
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
            return value
    return None


def extract_answer(text: str, options: Sequence[str], lenient: bool = False) -> str | None:
    """The option after the last ``### Final Answer ###``; leniently, else the last option named."""
    alternatives = "|".join(re.escape(o) for o in sorted(options, key=len, reverse=True))
    marked = re.findall(rf"{re.escape(FINAL_MARK)}\s*\**\s*({alternatives})\b", text)
    if marked:
        return marked[-1]
    if lenient:
        named = re.findall(rf"\b({alternatives})\b", text)
        return named[-1] if named else None
    return None


@dataclass(eq=False, repr=False)  # Task.__repr__ stays short
class AgentsNetTask(Task):
    """One AgentsNet problem over generated graphs; each item is a graph and brings its own team graph.

    >>> import agentlab as al
    >>> task = al.tasks.load("agentsnet/coloring", sizes=[4], generators=["ws"], samples=2)
    >>> task.rounds_for(task.items[0]), task.graph_for(task.items[0]).decision
    (5, EachAgent())
    """

    problem: str = "coloring"
    fixed_rounds: int = 4
    rounds_by_size: Mapping[int, int] = field(default_factory=dict)  # over fixed_rounds, per node count
    reask_once: bool = False  # ask again, once, when a message is not JSON or an answer unreadable
    lenient: bool = False
    # True: each agent keeps its whole chat, as the authors' LiteralMessagePassing does: the setup
    # is said once, in the first turn, and later turns carry only the neighbours' messages and
    # what to do next. False: every turn is a fresh prompt with the setup and the agent's own last
    # message (a temporal self-edge).
    history: bool = False
    _graphs: dict[str, CommGraph] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.problem not in PROBLEMS:
            raise ValueError(f"unknown AgentsNet problem {self.problem!r}; choose from {sorted(PROBLEMS)}")
        self.extractor = self._extract
        self.scorer = self._score
        super().__post_init__()

    def message_rounds(self, item: Item) -> int:
        """The paper's rounds of message passing for this graph."""
        graph = graph_of(item)
        if PROBLEMS[self.problem].rounds_from_diameter or graph.number_of_nodes() > 16:
            return 2 * nx.diameter(graph) + 1
        return self.rounds_by_size.get(graph.number_of_nodes(), self.fixed_rounds)

    def rounds_for(self, item: Item) -> int:
        """Agent turns: an opening turn, then one per round of message passing (the last one answers)."""
        return self.message_rounds(item) + 1

    def graph_for(self, item: Item) -> CommGraph:
        """Nodes are agents; each hears its neighbours' messages of the last round and its own."""
        if item.id not in self._graphs:
            graph = graph_of(item)
            heard = [(u, v) for u, v in graph.edges] + [(v, u) for u, v in graph.edges]
            own = [] if self.history else [(v, v) for v in graph]  # with history it remembers itself
            self._graphs[item.id] = CommGraph(list(graph.nodes), temporal=heard + own, decision=EachAgent())
        return self._graphs[item.id]

    def team(self, model: Any, name: str | None = None) -> Any:
        """A team with one agent per name the graphs use, wired per item by ``graph_for``."""
        from agentlab.team import Team

        used = sorted({v for item in [*self.items, *self.train_items] for v in item.reference["nodes"]})
        memory = "full" if self.history else "none"
        agents = [Agent(v, template="{context}\n\n{task}", memory=memory) for v in used]
        return Team(agents, self.graph_for, model=model, name=name or f"agentsnet/{self.problem}")

    def prompt_for(self, item: Item, agent: str, round: int, rounds: int) -> str:
        graph, problem = graph_of(item), PROBLEMS[self.problem]
        neighbours = sorted(graph[agent])
        left = rounds - 1 - round  # rounds of message passing still to come after this turn
        setup = (
            f"You are {agent}, one of {graph.number_of_nodes()} agents in a network. You can only "
            f"talk to your neighbours: {', '.join(neighbours)}. {problem.goal} Every round, each agent "
            f"writes to its neighbours at the same time and reads their replies in the next round. "
        )
        if self.history and round > 0:
            setup = ""  # said in the first turn, which the agent's chat still holds
        if left == 0:
            options = problem.options(graph, agent)
            return (
                f"{setup}Message passing is over. {problem.question} End your reply with "
                f"'{FINAL_MARK}' followed by exactly one of: {', '.join(options)}."
            )
        example = json.dumps({n: "..." for n in neighbours[:2]})
        return (
            f"{setup}{left} round{'s' if left > 1 else ''} of messages remain before everyone must answer: "
            f"{problem.question} Think briefly, then write one JSON object that maps each neighbour's "
            f"name to your message for them, like {example}."
        )

    def reask(self, text: str, item: Item, agent: str, round: int, rounds: int) -> str | None:
        if not self.reask_once:
            return None
        if round == rounds - 1:
            graph = graph_of(item)
            options = PROBLEMS[self.problem].options(graph, agent)
            if extract_answer(text, options, self.lenient) is not None:
                return None
            return (
                f"Your answer could not be read. End your reply with '{FINAL_MARK}' followed by "
                f"exactly one of: {', '.join(options)}."
            )
        if parse_messages(text) is not None:
            return None
        return (
            "Your messages could not be read as JSON. Reply again with one JSON object that maps "
            "each neighbour's name to your message for them."
        )

    def heard(self, text: str, sender: str, receiver: str) -> str:
        if sender == receiver:
            return text  # an agent remembers what it said
        messages = parse_messages(text)
        if messages is None:
            return text if self.lenient else ""
        return messages.get(receiver, "")

    def _extract(self, text: str, item: Item) -> str | None:
        graph = graph_of(item)
        options = {o for v in graph for o in PROBLEMS[self.problem].options(graph, v)}
        return extract_answer(text, sorted(options), self.lenient)

    def _score(self, prediction: Any, reference: Any) -> float:
        if not isinstance(prediction, Mapping):
            return 0.0
        graph = _graph_of_reference(reference)
        return PROBLEMS[self.problem].score(graph, {v: prediction.get(v) for v in graph})


def _item(split: str, generator: str, n: int, k: int, graph: nx.Graph) -> Item:
    reference = {"nodes": list(graph.nodes), "edges": [list(e) for e in graph.edges]}
    meta = {"generator": generator, "nodes": n, "diameter": nx.diameter(graph)}
    return Item(f"{split}-{generator}-{n}-{k}", f"{generator} graph, {n} nodes", reference, meta)


def generate_items(
    sizes: Sequence[int],
    generators: Sequence[str],
    samples: int,
    seed: int,
    split: str,
    variant: str = "ours",
) -> list[Item]:
    rng = random.Random(f"agentsnet-{split}-{seed}")
    items = []
    for generator in generators:
        for n in sizes:
            for k in range(samples):
                graph = generate_graph(generator, n, rng.randrange(2**31), variant)
                items.append(_item(split, generator, n, k, graph))
    return items


def published_items(
    path: str | Path, sizes: Sequence[int], generators: Sequence[str], samples: int
) -> list[Item]:
    """The authors' graphs from a local copy of the ``disco-eth/AgentsNet`` dataset: a .parquet,
    .jsonl, .json or .csv file (or a folder holding one) whose rows have ``graph_generator``,
    ``num_nodes``, ``index`` and ``graph`` (networkx node-link JSON under ``"graph"``, nodes
    named by their ``name`` attribute)."""
    from networkx.readwrite import json_graph

    from agentlab.tasks.hub import _FORMATS, _local_rows

    path = Path(path)
    if path.is_dir():
        found = sorted(f for f in path.iterdir() if f.suffix in _FORMATS)
        if not found:
            raise FileNotFoundError(f"no .parquet/.jsonl/.json/.csv file of the AgentsNet graphs in {path}")
        path = found[0]
    rows, origin = _local_rows(path, "train")
    wanted = {(g, n, k) for g in generators for n in sizes for k in range(samples)}
    items = []
    for row in rows:
        missing = [f for f in ("graph_generator", "num_nodes", "index", "graph") if f not in row]
        if missing:
            raise ValueError(f"{origin}: a row lacks {missing}; is this the disco-eth/AgentsNet dataset?")
        key = (row["graph_generator"], int(row["num_nodes"]), int(row["index"]))
        if key not in wanted:
            continue
        data = json.loads(row["graph"]) if isinstance(row["graph"], str) else row["graph"]
        graph = json_graph.node_link_graph(data["graph"], edges="links")
        names = {v: str(graph.nodes[v].get("name", v)) for v in graph.nodes}
        items.append((key, _item("test", *key, nx.relabel_nodes(graph, names))))
    found = {key for key, _ in items}
    if found != wanted:
        raise ValueError(
            f"{origin} lacks the graphs {sorted(wanted - found)[:5]} (generator, nodes, index); "
            "pick sizes, generators and samples the dataset has"
        )
    return [item for _, item in sorted(items, key=lambda pair: pair[0])]


@LOADERS.register("agentsnet")
def load_agentsnet(
    card: dict[str, Any],
    sizes: Sequence[int] | None = None,
    generators: Sequence[str] | None = None,
    samples: int | None = None,
    seed: int | None = None,
    limit: int | None = None,
    rounds: int | None = None,
    lenient: bool = False,
    split: str = "test",
    history: bool | None = None,
    variant: str = "ours",
    reask: bool | None = None,
    graphs: str | Path | None = None,
) -> AgentsNetTask:
    """Graphs for every (generator, size, sample); train graphs come from another seed stream.
    ``history=True``: agents keep their whole chat. ``variant="authors"``: the authors' rounds per
    size, generator, re-ask and history (each may still be set alone: ``history``, ``reask``,
    ``rounds``). ``graphs``: the published graphs, from a local copy of the dataset."""
    d = card["defaults"]
    sizes, generators = list(sizes or d["sizes"]), list(generators or d["generators"])
    samples, seed = samples or d["samples"], d["seed"] if seed is None else seed
    if split not in ("test", "train"):
        raise ValueError(f"AgentsNet has splits 'test' and 'train'; got {split!r}")
    if variant not in ("ours", "authors"):
        raise ValueError(
            f"variant is 'ours' or 'authors' (their rounds, generator, re-ask, history); got {variant!r}"
        )
    authors = variant == "authors"
    if graphs is not None and split == "test":
        items = published_items(graphs, sizes, generators, samples)[:limit]
    else:
        items = generate_items(sizes, generators, samples, seed, split, variant)[:limit]
    train = [] if split == "train" else generate_items(sizes, generators, samples, seed, "train", variant)
    return AgentsNetTask(
        card["name"],
        items,
        train_items=train,
        meta={"card": card},
        problem=card["problem"],
        fixed_rounds=rounds or d["rounds"],
        rounds_by_size=AUTHORS_ROUNDS if authors and rounds is None else {},
        reask_once=authors if reask is None else reask,
        lenient=lenient,
        history=authors if history is None else history,
    )


AUTHORS_ROUNDS = {4: 4, 8: 5, 16: 6}  # their main.sh: rounds of message passing per graph size
