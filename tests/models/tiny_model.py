"""A tiny random-weight Llama with a real tokenizer and chat template, built offline in a second."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

CORPUS = [
    "Ana has 12 apples. She gets 7 more apples. How many apples does Ana have now? The answer is 19.",
    "What other agents said: the answer is 42. Check the work and give the final answer.",
    "system user assistant solver critic round number plus minus times",
]
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    special = ["<unk>", "<pad>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
    tok.train_from_iterator(
        CORPUS * 5,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tok.decoder = decoders.ByteLevel()
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<|end|>"
    )
    wrapped.chat_template = TEMPLATE
    return wrapped


def _shape(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


def tiny_llama(tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(**_shape(tokenizer))).eval()


def tiny_sliding_window_qwen2(tokenizer: PreTrainedTokenizerFast, window: int = 8) -> Qwen2ForCausalLM:
    """Every layer attends to the last ``window`` tokens only."""
    torch.manual_seed(0)
    config = Qwen2Config(
        **_shape(tokenizer), use_sliding_window=True, sliding_window=window, max_window_layers=0
    )
    return Qwen2ForCausalLM(config).eval()
