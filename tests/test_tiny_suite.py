"""The bundled tiny suite as a user meets it: loads, verifies, reproduces its own numbers."""

import json
import shutil

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.suite import load_suite
from benchmark.suite.build.tokenizer import CHARACTERS
from benchmark.suite.generation import exact_match

runner = CliRunner()


def test_meets_the_suite_contract(tiny_suite):
    m = tiny_suite.manifest
    base = [t.base_accuracy["test"] for t in m.tasks]
    assert len(m.tasks) >= 8 and min(t.sizes["test"] for t in m.tasks) >= 500
    assert min(base) <= 0.1 and max(base) >= 0.7
    assert len(m.experts) >= 16 and len(m.pairs) >= 100
    assert {"full", "lora"} <= {e.format for e in m.experts}
    for t in m.tasks:
        assert sum(e.task == t.id for e in m.experts) >= 2
    for e in m.experts:
        own, floor = e.accuracy[e.task], m.task(e.task).base_accuracy["test"]
        assert own >= 0.9 or own >= floor + 0.4, f"{e.id}: own-task accuracy {own} (base {floor})"
    assert m.total_bytes <= 50e6


def test_loads_with_plain_transformers(tiny_suite):
    tok = AutoTokenizer.from_pretrained(str(tiny_suite.root / "tokenizer"))
    base = AutoModelForCausalLM.from_pretrained(str(tiny_suite.root / "base"))
    assert 0.5e6 < sum(p.numel() for p in base.parameters()) < 2e6
    full = next(e for e in tiny_suite.manifest.experts if e.format == "full")
    expert = AutoModelForCausalLM.from_pretrained(str(tiny_suite.root / full.path))
    prompt, answer = tiny_suite.examples(full.task, "test")[0]
    prompting = tiny_suite.manifest.prompting
    assert exact_match(expert, tok, [(prompt, answer)], prompting) == exact_match(
        tiny_suite.model(tiny_suite.expert_state_dict(full.id)), tok, [(prompt, answer)], prompting)


def test_tokenizer_round_trips_and_adds_bos(tiny_suite):
    tok = tiny_suite.tokenizer()
    texts = [CHARACTERS] + [p + a for t in tiny_suite.manifest.tasks for p, a in tiny_suite.examples(t.id, "test")]
    for text in texts:
        ids = tok(text)["input_ids"]
        assert ids[0] == tok.bos_token_id and len(ids) == len(text) + 1
        assert tok.decode(ids, skip_special_tokens=True) == text
    assert tok.unk_token_id not in tok(CHARACTERS)["input_ids"]


def test_verify_passes_and_names_a_flipped_byte(tiny_suite, tmp_path):
    assert tiny_suite.verify() == []
    copy = tmp_path / "tiny"
    shutil.copytree(tiny_suite.root, copy)
    target = copy / tiny_suite.manifest.experts[3].path / (
        "model.safetensors" if tiny_suite.manifest.experts[3].format == "full" else "adapter_model.safetensors")
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    problems = load_suite(copy).verify()
    assert problems == [f"{target.relative_to(copy).as_posix()}: sha256 differs from the manifest"]
    result = runner.invoke(app, ["suite", "verify", str(copy)])
    assert result.exit_code == 1 and target.name in result.output


def test_info_json_summarises_the_manifest(tiny_suite):
    result = runner.invoke(app, ["suite", "info", "tiny", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert [t["id"] for t in info["tasks"]] == [t.id for t in tiny_suite.manifest.tasks]
    assert info["pairs"]["count"] == len(tiny_suite.manifest.pairs)
    assert info["bytes"] == tiny_suite.manifest.total_bytes
    first = tiny_suite.manifest.experts[0]
    assert info["experts"][0] == {"id": first.id, "task": first.task, "recipe": first.recipe,
                                  "own_task_accuracy": first.accuracy[first.task]}


@pytest.mark.parametrize("fmt", ["full", "lora"])
def test_own_task_accuracy_reproduces_through_lm_eval_hf(tiny_suite, tmp_path, fmt):
    """lm-eval's hf backend, on the bundled YAML, gives the manifest's figure for one expert of each
    format; a LoRA expert goes through lm-eval's own peft loading of the shipped (truncated) adapter."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    expert = next(e for e in tiny_suite.manifest.experts if e.format == fmt and 0.2 < e.accuracy[e.task] < 1.0)
    task = tiny_suite.manifest.task(expert.task)
    weights = ({"pretrained": str(tiny_suite.root / expert.path)} if fmt == "full" else
               {"pretrained": str(tiny_suite.root / "base"), "peft": str(tiny_suite.root / expert.path)})
    lm = HFLM(**weights, tokenizer=str(tiny_suite.root / "tokenizer"), device="cpu", batch_size=128)
    manager = TaskManager(include_path=str(tiny_suite.lm_eval_task_dir(tmp_path / "tasks")), include_defaults=False)
    out = simple_evaluate(model=lm, tasks=[task.lm_eval_task], task_manager=manager, log_samples=True)
    accuracy = out["results"][task.lm_eval_task]["exact_match,none"]
    assert len(out["samples"][task.lm_eval_task]) == task.sizes["test"]
    assert accuracy == pytest.approx(expert.accuracy[expert.task], abs=2 / task.sizes["test"])
