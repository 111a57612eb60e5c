"""The streaming merge writes, tensor by tensor, exactly what the in-memory `merge()` returns."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from benchmark.merging import get_method, merge, merge_experts
from benchmark.merging.registry import MergeContext
from benchmark.merging.streaming import TensorFile, stream_merge, stream_merge_experts
from benchmark.suite.suite import LazyTensors, lora_deltas

CTX = MergeContext(("a", "b"), (0.6, 0.2))
METHODS = [get_method("weight_avg"), get_method("task_arithmetic"), get_method("ties")]


def _random_llama(seed: int, dtype=torch.bfloat16, vocab: int = 96) -> dict[str, torch.Tensor]:
    """A 2-layer Llama-shaped state dict, with a 0-dim and a 1-dim tensor among the matrices."""
    gen = torch.Generator().manual_seed(seed)
    shapes = {"model.embed_tokens.weight": (vocab, 32), "model.norm.weight": (32,), "scale": ()}
    for i in range(2):
        layer = f"model.layers.{i}."
        shapes |= {layer + "self_attn.q_proj.weight": (32, 32), layer + "mlp.up_proj.weight": (64, 32),
                   layer + "input_layernorm.weight": (32,)}
    return {name: torch.randn(shape, generator=gen).to(dtype) for name, shape in shapes.items()}


@pytest.fixture
def files(tmp_path):
    paths = []
    for seed in range(3):
        paths.append(tmp_path / f"m{seed}.safetensors")
        save_file(_random_llama(seed), str(paths[-1]))
    return paths


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_streamed_file_equals_the_in_memory_merge(files, tmp_path, method):
    base, *experts = files
    expected = merge(method, LazyTensors(base), [LazyTensors(e) for e in experts], CTX)
    out = stream_merge(method, TensorFile(base), [TensorFile(e) for e in experts], CTX, tmp_path / "out.safetensors")
    streamed = load_file(str(out))
    assert list(streamed) == list(expected)
    for name, tensor in expected.items():
        assert streamed[name].dtype == torch.bfloat16 and torch.equal(streamed[name], tensor), name
    assert not (tmp_path / "out.safetensors.partial").exists()


def test_streamed_lora_expert_equals_the_suite_lazy_expert(files, tmp_path):
    """A LoRA expert computes one tensor's B·A at a time, bit for bit as `Suite.expert_tensors` does."""
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 4, "lora_alpha": 8}))
    gen = torch.Generator().manual_seed(9)
    save_file({"base_model.model.model.layers.1.mlp.up_proj.lora_A.weight": torch.randn(4, 32, generator=gen),
               "base_model.model.model.layers.1.mlp.up_proj.lora_B.weight": torch.randn(64, 4, generator=gen)},
              str(adapter / "adapter_model.safetensors"))
    base, full, _ = files
    method = get_method("ties")
    expected = merge(method, LazyTensors(base), [LazyTensors(full), LazyTensors(base, lora_deltas(adapter))], CTX)
    out = stream_merge(method, TensorFile(base), [TensorFile(full), TensorFile(base, lora_dir=adapter)], CTX,
                       tmp_path / "out.safetensors")
    streamed = load_file(str(out))
    assert all(torch.equal(streamed[n], t) for n, t in expected.items())


def test_suite_pair_streams_to_the_same_weights_as_merge_experts(tiny_suite, tmp_path):
    """tiny's first pair with a LoRA expert, through the suite's manifest, as the grid would merge it."""
    pair = ["add-ft", "sub-lora"]
    method = get_method("task_arithmetic")
    expected = merge_experts(tiny_suite, method, pair)
    folder = stream_merge_experts(tiny_suite, method, pair, tmp_path / "merged")
    streamed = load_file(str(folder / "model.safetensors"))
    assert (folder / "config.json").is_file()
    assert streamed.keys() == expected.keys() and all(torch.equal(streamed[n], t) for n, t in expected.items())


def test_shape_mismatch_is_refused_before_writing(files, tmp_path):
    bigger = tmp_path / "bigger.safetensors"
    save_file(_random_llama(5, vocab=100), str(bigger))
    out = tmp_path / "out.safetensors"
    with pytest.raises(ValueError) as err:
        stream_merge(get_method("weight_avg"), TensorFile(files[0]), [TensorFile(files[1]), TensorFile(bigger)], CTX,
                     out)
    message = str(err.value)
    assert "model.embed_tokens.weight" in message and "(100, 32)" in message and "(96, 32)" in message
    assert str(bigger) in message
    assert not out.exists() and not (tmp_path / "out.safetensors.partial").exists()
