"""A model that cannot fit where it is put is refused before its weights are read, with both sizes."""

import pytest

import agentlab as al
from agentlab.models import weights
from tests.models.tiny_model import tiny_llama, tiny_tokenizer


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny")
    tok = tiny_tokenizer()
    tiny_llama(tok).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_weights_are_counted_from_the_config_in_the_dtype_asked_for(folder):
    model = tiny_llama(tiny_tokenizer())
    parameters = sum(p.numel() for p in model.parameters())
    assert weights.weight_bytes(str(folder), "auto")[0] == 4 * parameters  # saved in float32
    assert weights.weight_bytes(str(folder), "bfloat16")[0] == 2 * parameters


@pytest.mark.parametrize("device_map", [{"": "cpu"}, "cpu", "auto"])
def test_a_model_larger_than_the_free_memory_is_refused_with_both_sizes(folder, monkeypatch, device_map):
    monkeypatch.setattr(weights, "free_memory", lambda device: 2**16)
    with pytest.raises(ValueError, match=r"weights take 0\.\d MiB in float32, and .* 0\.\d MiB free.*dtype="):
        al.models.local(str(folder), device_map=device_map)


def test_offloading_asked_for_is_not_refused(folder, monkeypatch):
    monkeypatch.setattr(weights, "free_memory", lambda device: 2**16)
    llm = al.models.local(str(folder), device_map={"": "cpu"}, model_kwargs={"max_memory": {"cpu": "1GiB"}})
    assert llm.hf_model is not None
