"""One multi-agent trace through three ways of calling a local model, plus a flat upper reference.

The trace: ITEMS arithmetic items x AGENTS agents x ROUNDS rounds of a star, greedy, at most
MAX_NEW_TOKENS new tokens per call.

  (a) one generate per agent call, in sequence (how the research codebases call a model);
  (b) one padded generate per graph layer of one item at a time (an asyncio.gather per layer);
  (a) and (b) read every prompt in full, as those codebases do (the model's prefix cache off).
  (c) agentlab's engine: every ready call of every item in one batch per step, prompt prefixes read
      once, identical greedy calls of a batch decoded once (call cache off);
  (c0) the engine with the model's prefix cache off;
  (s) the engine on ``generation="static"``: transformers' generate over a static KV cache with the
      decode step compiled (CUDA graphs on a GPU); timed on a second pass over the trace, once the
      first has compiled a step for each shape (its time printed apart);
  flat: transformers' generate_batch on the flat list of the same calls, all known up front
        (an upper reference no multi-agent run can reach, as later calls wait on earlier ones);
  vllm: the engine on ``kind: vllm`` (vLLM's offline engine in this process, prefix caching on;
        with --shape, vLLM's own random weights of the same architecture, every call made to
        exactly --max-new-tokens tokens). Needs vLLM; where it is missing the arm says so.

``--a-items K`` times arm (a) on the first K items only and scales its time to all of them (one call
at a time is linear in the calls), so a GPU check fits in minutes.

Arms run in the order --arms gives; name one twice (--arms c,a,c) to see how much the machine
drifted meanwhile. It prints items/s, generated tokens/s, each arm's ratio to (a) and to the flat
reference, the single-stream decode roofline (memory bandwidth / weight bytes): tokens/s a batch
of one could reach, and the batched bound (``batched_bound``): the trace's own batch width times that
roofline, or the device's peak FLOPs, whichever is lower.

    python benchmarks/throughput.py                              # embedded SmolLM2-135M (CPU or GPU)
    python benchmarks/throughput.py --shape qwen2.5-0.5b --items 200 --agents 5 --rounds 2   # on a GPU

``--shape`` builds random weights from a real architecture's config, so no hub is needed; its
outputs are gibberish, but a fixed number of new tokens makes the timing representative.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import torch

import agentlab as al
from agentlab.models import LocalChatModel

SHAPES = {  # Qwen2.5 instruct models' published configs (hidden, intermediate, layers, heads, kv heads)
    "qwen2.5-0.5b": (896, 4864, 24, 14, 2),
    "qwen2.5-1.5b": (1536, 8960, 28, 12, 2),
    "qwen2.5-7b": (3584, 18944, 28, 28, 4),
}
# HBM bandwidth in bytes/s by device name (vendor figures)
BANDWIDTH = {"H100": 3.35e12, "H200": 4.8e12, "A100": 2.0e12}
# dense bf16 FLOP/s by device name (vendor figures, SXM)
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def build_model(args: argparse.Namespace) -> LocalChatModel:
    settings = {"max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size}
    if args.shape is None:
        return al.models.default(**settings)
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from agentlab.models.embedded import converted_path

    hidden, intermediate, layers, heads, kv = SHAPES[args.shape]
    config = Qwen2Config(
        vocab_size=151936,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        max_position_embeddings=32768,
        tie_word_embeddings=args.shape == "qwen2.5-0.5b",
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(device=device, dtype=dtype)
    model.generation_config.eos_token_id = []  # random weights: every call makes exactly max_new_tokens
    # any chat tokenizer whose ids fit the vocabulary: the embedded model's, or a copy of it carried
    # to a machine without the embedded package (benchmarks/gpu_check.sh)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or converted_path())
    return LocalChatModel.from_components(model, tokenizer, model_name=f"random-{args.shape}", **settings)


@contextlib.contextmanager
def _time_limit(seconds: int | None) -> Iterator[None]:
    """A TimeoutError in the arm after ``seconds`` (SIGALRM: it lands once control is back in
    Python; the agentlab model's own watchdog ends a stalled batch before that)."""
    if not seconds:
        yield
        return

    def expired(*_: Any) -> None:
        raise TimeoutError(f"the arm ran past its {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def bandwidth(device: torch.device) -> float:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        known = next((b for key, b in BANDWIDTH.items() if key in name), None)
        if known:
            return known
    x = torch.empty(64 * 2**20, dtype=torch.float32, device=device)  # 256 MiB copied, timed
    y = torch.empty_like(x)
    y.copy_(x)
    started = time.perf_counter()
    for _ in range(5):
        y.copy_(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 5 * 2 * x.numel() * 4 / (time.perf_counter() - started)


class OneByOne(al.models.ScriptedChatModel):
    """Arm (a): the same model, but each call its own generate, one after another."""

    inner: Any = None

    def batch(self, inputs: Any, config: Any = None, **kwargs: Any) -> list[Any]:
        return [self.inner.invoke(conversation) for conversation in inputs]


def generated(run: al.Run) -> int:
    return sum(m.usage.completion_tokens for m in run.records)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--shape", choices=sorted(SHAPES), help="random weights of this shape instead of the embedded model"
    )
    parser.add_argument(
        "--roles", help="a role library (math, knowledge, ...): each agent its own system prompt"
    )
    parser.add_argument(
        "--arms",
        default="c,c0,b,a,flat",
        help="arms to time, in this order: c (engine), c0 (engine, no prefix cache), s (engine, static "
        "compiled), b, a, flat, vllm",
    )
    parser.add_argument("--a-items", type=int, help="time arm (a) on this many items and scale it")
    parser.add_argument("--tokenizer", help="a tokenizer folder for --shape (default: the embedded model's)")
    parser.add_argument(
        "--arm-seconds", type=int, help="each arm's own time limit: one stuck arm cannot hide the others"
    )
    args = parser.parse_args()
    arms = args.arms.split(",")

    llm = build_model(args)
    llm.invoke("Warm up: 1 + 1?")
    task = al.tasks.load("arithmetic", n=args.items, seed=0)

    def star(model: Any) -> al.Team:
        return al.topologies.load("star", n_agents=args.agents, model=model, roles=args.roles)

    team = star(llm)
    weight_bytes = sum(p.numel() * p.element_size() for p in llm.hf_model.parameters())
    roofline = bandwidth(llm.hf_model.device) / weight_bytes
    print(
        f"{llm.model_name} on {llm.hf_model.device}: {weight_bytes / 2**20:.0f} MiB of weights; "
        f"single-stream decode roofline {roofline:.0f} tokens/s; continuous batching "
        f"{'on' if llm.uses_continuous_batching() else 'off'}"
    )
    print(
        f"trace: {args.items} items x {args.agents} agents x {args.rounds} rounds of a star"
        f"{f' with {args.roles} roles' if args.roles else ''}, "
        f"<= {args.max_new_tokens} new tokens per call\n"
    )

    plain = LocalChatModel.from_components(  # the same weights, every prompt read in full
        llm.hf_model,
        llm.tokenizer,
        model_name=llm.model_name,
        prefix_cache_mib=0,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
    )
    runs: dict[str, al.Run] = {}

    def engine() -> int:
        _empty_prefix_cache(llm)
        runs["c"] = team.run(task, rounds=args.rounds, cache=False, progress=False)
        return generated(runs["c"])

    def static() -> int:
        compiled = LocalChatModel.from_components(
            llm.hf_model,
            llm.tokenizer,
            model_name=llm.model_name,
            generation="static",
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
        )
        started = time.perf_counter()
        star(compiled).run(task, rounds=args.rounds, cache=False, progress=False)
        print(
            f"cold run of (s): {time.perf_counter() - started:.1f} s, shapes compiled: "
            f"{len(compiled.static_decoder.compiled_shapes)}; timed: the same calls again, warm"
        )
        started = time.perf_counter()
        run = star(compiled).run(task, rounds=args.rounds, cache=False, progress=False)
        timings["s"] = time.perf_counter() - started
        return generated(run)

    def no_prefix_cache() -> int:
        return generated(star(plain).run(task, rounds=args.rounds, cache=False, progress=False))

    def per_layer() -> int:
        plain_team = star(plain)  # one item at a time: each engine step is one layer of that item
        return sum(
            generated(
                plain_team.run(replace(task, items=[item]), rounds=args.rounds, cache=False, progress=False)
            )
            for item in task.items
        )

    def one_by_one() -> int:
        some = replace(task, items=task.items[: args.a_items]) if args.a_items else task
        return generated(
            star(OneByOne(respond=str, inner=plain)).run(
                some, rounds=args.rounds, cache=False, progress=False
            )
        )

    def on_vllm() -> int:
        vllm_model = _vllm_model(llm, args)
        if vllm_model is None:
            return 0
        vllm_model.invoke("Warm up: 1 + 1?")  # builds the engine (CUDA graphs and all) before timing
        started = time.perf_counter()
        run = star(vllm_model).run(task, rounds=args.rounds, cache=False, progress=False)
        timings["vllm"] = time.perf_counter() - started
        return generated(run)

    def flat() -> int:  # the flat list is the engine's calls
        from agentlab.models.cpu_attention import use_plain_sdpa

        prompts = [_prompt_ids(llm, m.prompt) for m in runs["c"].records]
        use_plain_sdpa(llm.hf_model)  # continuous batching takes only transformers' own attentions
        outputs = llm.hf_model.generate_batch(
            inputs=prompts,
            generation_config=llm.greedy_generation_config(),
            continuous_batching_config=llm.continuous_batching_config(
                max(map(len, prompts)) + args.max_new_tokens
            ),
            progress_bar=False,
        )
        return sum(len(o.generated_tokens) for o in outputs.values())

    measures = {
        "c": ("(c) engine", engine),
        "c0": ("(c0) no prefix cache", no_prefix_cache),
        "s": ("(s) static, compiled", static),
        "b": ("(b) per layer", per_layer),
        "a": ("(a) one by one", one_by_one),
        "flat": ("flat generate_batch", flat),
        "vllm": ("vllm (kind: vllm)", on_vllm),
    }
    timings: dict[str, float] = {}  # an arm's own timing, where it must leave its set-up out
    unknown = [arm for arm in arms if arm not in measures]
    if unknown:
        parser.error(f"unknown arms {unknown}; choose from {', '.join(measures)}")
    if "flat" in arms and ("c" not in arms or arms.index("c") > arms.index("flat")):
        parser.error("the flat arm replays the engine's calls: put c before it")
    rows: dict[str, tuple[float, int]] = {}
    for arm in arms:  # in the order given; an arm named twice is timed twice (drift on a shared machine)
        name, measure = measures[arm]
        name = name if name not in rows else f"{name}, again"
        started = time.perf_counter()
        try:
            # (s) runs the trace twice, the first time compiling its decode steps: three times the limit
            with _time_limit(args.arm_seconds and args.arm_seconds * (3 if arm == "s" else 1)):
                tokens = measure()
        except (TimeoutError, RuntimeError, ValueError) as error:  # the arm's failure is its row
            print(f"{name}: {type(error).__name__}: {error}")
            if arm == "c":
                parser.exit(1, "the engine's arm failed: the other arms replay or compare with it\n")
            continue
        seconds = timings.pop(arm, time.perf_counter() - started)
        if arm == "a" and args.a_items and args.a_items < args.items:
            seconds *= args.items / args.a_items  # scaled: one call at a time is linear in the calls
            tokens = round(tokens * args.items / args.a_items)
            name += "*"
            print(f"* timed on {args.a_items} of the {args.items} items and scaled to all of them")
        if arm == "vllm" and not tokens:
            print("vllm: not installed here (pip install vllm); arm left out")
            continue
        rows[name] = (seconds, tokens)

    engine_run = runs.get("c")
    bound = None
    if engine_run is not None:
        prompt_tokens = sum(m.usage.prompt_tokens for m in engine_run.records)
        served = sum(m.usage.cached_tokens for m in engine_run.records)
        print(
            f"prompt tokens: {prompt_tokens:,}; (c) read {prompt_tokens - served:,} of them, "
            f"the prefix cache served {served:,} ({served / max(prompt_tokens, 1):.0%})"
        )
        bound = batched_bound(engine_run, llm.hf_model, roofline)
    print()
    base = next((v[0] for k, v in rows.items() if k.startswith("(a) one by one")), None)
    flat = rows.get("flat generate_batch", (None, 0))[0]
    head = ("arm", "seconds", "items/s", "tokens/s", "x (a)", "x flat", "x roofline", "x bound")
    print(
        f"{head[0]:<22} {head[1]:>8} {head[2]:>8} {head[3]:>9} {head[4]:>6} {head[5]:>7} {head[6]:>10} "
        f"{head[7]:>8}"
    )
    for name, (seconds, tokens) in rows.items():
        vs_a = f"{base / seconds:.2f}" if base else "-"
        vs_flat = f"{flat / seconds:.2f}" if flat else "-"
        vs_bound = f"{tokens / seconds / bound:.3f}" if bound else "-"
        print(
            f"{name:<22} {seconds:>8.1f} {args.items / seconds:>8.2f} {tokens / seconds:>9.1f} {vs_a:>6} "
            f"{vs_flat:>7} {tokens / seconds / roofline:>10.2f} {vs_bound:>8}"
        )


def batched_bound(run: al.Run, model: Any, roofline: float) -> float:
    """Generated tokens/s no implementation could beat on this trace: each decode step reads the
    weights once for the rows decoded together (the engine's calls per step, weighted by the tokens
    they generated), and every token read or generated costs 2 FLOPs per weight at the device's peak.
    Prints both limits; returns the lower."""
    calls: dict[int, int] = {}
    made: dict[int, int] = {}
    for m in run.records:
        calls[m.step] = calls.get(m.step, 0) + 1
        made[m.step] = made.get(m.step, 0) + m.usage.completion_tokens
    generated = sum(made.values())
    width = sum(calls[s] * made[s] for s in calls) / max(generated, 1)
    read = sum(m.usage.prompt_tokens - m.usage.cached_tokens for m in run.records)
    parameters = sum(p.numel() for p in model.parameters())
    peak = peak_flops(model.device, next(model.parameters()).dtype)
    by_bandwidth = width * roofline
    by_flops = peak / (2 * parameters * (1 + read / max(generated, 1)))
    print(
        f"batched bound: {width:.0f} rows a decode step (mean, by tokens) -> {by_bandwidth:,.0f} tokens/s "
        f"by bandwidth; {by_flops:,.0f} by FLOPs at {peak / 1e12:.1f} TFLOP/s (prompts read included)"
    )
    return min(by_bandwidth, by_flops)


def peak_flops(device: torch.device, dtype: torch.dtype) -> float:
    """The vendor's dense 16-bit figure on a known GPU; otherwise a timed matmul in ``dtype``."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        known = next((f for key, f in PEAK_FLOPS.items() if key in name), None)
        if known:
            return known
    a = torch.randn(1024, 1024, dtype=dtype, device=device)
    a @ a
    started = time.perf_counter()
    for _ in range(10):
        a @ a
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 10 * 2 * 1024**3 / (time.perf_counter() - started)


def _vllm_model(llm: LocalChatModel, args: argparse.Namespace) -> Any:
    """The same model on vLLM: the embedded model's folder, or (with --shape) its config and
    tokenizer with vLLM's random weights; None without vLLM."""
    import importlib.util
    import tempfile

    if importlib.util.find_spec("vllm") is None:
        return None
    engine_args: dict[str, Any] = {"gpu_memory_utilization": 0.4, "max_model_len": 4096}
    if args.shape is None:
        from agentlab.models.embedded import converted_path

        folder = str(converted_path())
    else:
        folder = tempfile.mkdtemp(prefix="agentlab-vllm-")
        llm.hf_model.config.save_pretrained(folder)
        llm.tokenizer.save_pretrained(folder)
        engine_args |= {"load_format": "dummy", "dtype": "bfloat16"}
    return al.models.vllm(
        folder, max_new_tokens=args.max_new_tokens, engine_args=engine_args,
        sampling_args={"ignore_eos": True} if args.shape else {},
    )  # fmt: skip


def _empty_prefix_cache(llm: LocalChatModel) -> None:
    """Each arm starts cold: no prompt read by an earlier arm (or the warm-up) is reused."""
    if llm.prefix_cache is not None:
        llm.prefix_cache.clear()


def _prompt_ids(llm: LocalChatModel, prompt: tuple[tuple[str, str], ...]) -> list[int]:
    from langchain_core.messages import HumanMessage, SystemMessage

    messages = [SystemMessage(text) if role == "system" else HumanMessage(text) for role, text in prompt]
    return llm.tokenizer(llm._template(messages), add_special_tokens=False)["input_ids"]


if __name__ == "__main__":
    main()
