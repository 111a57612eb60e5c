"""The build recipe on the micro suite: determinism, manifest, LoRA materialisation."""

import json
import shutil

import pytest
import torch

from benchmark.suite import ManifestError, load_suite
from benchmark.suite.build.scratch import build_suite
from benchmark.suite.build.recipe import MICRO
from benchmark.suite.suite import lora_deltas


def test_two_builds_give_identical_files(micro_suite, tmp_path):
    again = build_suite(MICRO, tmp_path / "again", show_progress=False)
    first = {f.path: f.sha256 for f in micro_suite.manifest.files}
    second = {f.path: f.sha256 for f in again.files}
    assert first == second
    assert len(first) > 10


def test_manifest_lists_every_file_and_pair(micro_suite):
    m = micro_suite.manifest
    assert micro_suite.verify() == []
    assert {e.task for e in m.experts} == {t.id for t in m.tasks}
    for pair in m.pairs:
        assert m.expert(pair.expert_a).task != m.expert(pair.expert_b).task
    per_task = [sum(e.task == t.id for e in m.experts) for t in m.tasks]
    n = len(m.experts)
    assert len(m.pairs) == n * (n - 1) // 2 - sum(k * (k - 1) // 2 for k in per_task)


def test_splits_are_disjoint_and_sized(micro_suite):
    for task in micro_suite.manifest.tasks:
        test = {p for p, _ in micro_suite.examples(task.id, "test")}
        dev = {p for p, _ in micro_suite.examples(task.id, "dev")}
        assert len(test) == task.sizes["test"] and len(dev) == task.sizes["dev"]
        assert not test & dev
        train = {p for p, _ in micro_suite.examples(task.id, "train")}
        if task.kind == "recall":
            assert test | dev <= train, "recall is memorisation: train holds every fact"
        else:
            assert not train & (test | dev)
        assert all(p.startswith(task.prompt_prefix) for p in test)


def test_lora_expert_materialises_as_peft_merge(micro_suite):
    from peft import PeftModel

    expert = next(e for e in micro_suite.manifest.experts if e.format == "lora")
    peft_model = PeftModel.from_pretrained(micro_suite.model(), str(micro_suite.root / expert.path))
    merged = peft_model.merge_and_unload().state_dict()
    ours = micro_suite.expert_state_dict(expert.id)
    assert set(lora_deltas(micro_suite.root / expert.path)), "adapter has LoRA tensors"
    config = json.loads((micro_suite.root / expert.path / "adapter_config.json").read_text())
    assert config["r"] == expert.recipe["stored_rank"] < expert.recipe["lora_rank"], "the build ships the truncated rank"
    for name, tensor in ours.items():
        torch.testing.assert_close(tensor, merged[name], rtol=0, atol=1e-6)


def test_corrupt_manifest_names_file_and_field(micro_suite, tmp_path):
    copy = tmp_path / "suite"
    shutil.copytree(micro_suite.root, copy)
    data = json.loads((copy / "manifest.json").read_text())
    del data["experts"][0]["task"]
    (copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=r"manifest.json.*experts\.0\.task"):
        load_suite(copy)


def test_unknown_suite_lists_the_bundled_ones():
    with pytest.raises(FileNotFoundError, match="bundled suites are"):
        load_suite("no-such-suite")


def test_truncated_lora_keeps_the_top_singular_directions(micro_suite, tmp_path):
    """Eckart-Young, checked from the saved adapter: the stored delta has the stored rank and
    misses exactly the dropped singular values; at the trained rank nothing is lost."""
    from peft import get_peft_model

    from benchmark.suite.build.recipe import LORA_TARGETS
    from benchmark.suite.build.training import lora_config, truncate_lora

    base = micro_suite.model()
    torch.manual_seed(0)
    trained = get_peft_model(micro_suite.model(), lora_config(8, LORA_TARGETS))
    with torch.no_grad():
        for name, p in trained.named_parameters():
            if "lora_B" in name:
                p.normal_()
    trained.save_pretrained(tmp_path / "wide")
    wide = lora_deltas(tmp_path / "wide")
    for rank in (8, 3):
        truncate_lora(trained, base, rank).save_pretrained(tmp_path / f"r{rank}")
        assert json.loads((tmp_path / f"r{rank}" / "adapter_config.json").read_text())["r"] == rank
        stored = lora_deltas(tmp_path / f"r{rank}")
        assert stored.keys() == wide.keys()
        for name, delta in wide.items():
            s = torch.linalg.svdvals(delta.double())
            assert int(torch.linalg.matrix_rank(stored[name])) == rank
            residual = torch.linalg.matrix_norm((delta - stored[name]).double())
            torch.testing.assert_close(residual, s[rank:].square().sum().sqrt(), rtol=1e-4, atol=1e-5)
