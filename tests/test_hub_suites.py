"""Suites of real Hub models: declared suites, their fetch and lock, the vocab rule, and `suite import`.

The Hub cannot be reached here, so fetching is tested where it can run: its offline failure (for
real, in a fresh process) and its lock checks on local folders. The import test imports the tiny
suite's own folders and reproduces committed ground-truth jobs exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from benchmark.evaluation import EvalSettings, measure_base_accuracy
from benchmark.groundtruth import JOB_PACK
from benchmark.groundtruth.dataset import BUNDLED_ROOT
from benchmark.groundtruth.jobs import Job, denominator_jobs, key_of, partner_groups
from benchmark.groundtruth.plan import measured_cost_here, plan_suite
from benchmark.groundtruth.runner import GridRunner
from benchmark.merging import get_method
from benchmark.store import JobStore
from benchmark.suite import Suite, SuiteKind, all_suites, bundled_suites
from benchmark.suite.build.declared import (DECLARED_FILE, AdapterShape, Architecture, DeclaredSuiteError,
                                            declared_suites, read_declared)
from benchmark.suite.build.fetch import (Lock, LockedRepo, check_snapshot, hash_folder, locked_revision, read_lock,
                                         write_lock)
from benchmark.suite.build.importer import SuiteImportError, import_suite
from benchmark.suite.build.vocab import VocabMismatch, align_expert_file

REPO = Path(__file__).resolve().parents[1]


def _declared(name: str):
    return next(d for d in declared_suites() if d.suite.name == name)


def test_shipped_declared_suites_name_real_repos_and_tasks_lm_eval_finds():
    from lm_eval.tasks import TaskManager

    lots, mergebench = _declared("lots-of-loras-mistral7b"), _declared("mergebench-llama3.2-3b")
    experts = lots.suite.experts
    assert len(experts) >= 20 and all(e.format == "lora" for e in experts)
    assert all(e.repo == f"Lots-of-LoRAs/Mistral-7B-Instruct-v0.2-4b-r16-{e.task}" for e in experts)
    ni = TaskManager(include_path=str(lots.root / "tasks"), include_defaults=False).all_tasks
    assert {t.lm_eval_task for t in lots.suite.tasks} <= set(ni)
    registry = set(TaskManager().all_tasks)
    assert {t.lm_eval_task for t in mergebench.suite.tasks} <= registry
    assert mergebench.suite.vocab == "truncate-to-base"
    assert all(e.repo.startswith("MergeBench/Llama-3.2-3B_") for e in mergebench.suite.experts)


def test_one_registry_lists_every_kind_of_suite():
    """`suite list` prints `all_suites`: the bundled suites (weights and results), the recipes not shipped
    built and the declared suites, each with its kind, which equals the string a `SuiteSpec` holds."""
    entries = all_suites()
    kinds = {e.name: e.kind for e in entries}
    assert len(kinds) == len(entries) and set(kinds.values()) == set(SuiteKind)
    assert [e.name for e in entries[:len(bundled_suites())]] == [s.name for s in bundled_suites()]
    assert all(kinds[s.name] == s.kind for s in bundled_suites())
    assert {n for n, k in kinds.items() if k is SuiteKind.DECLARED} == {d.suite.name for d in declared_suites()}
    assert kinds["micro"] is SuiteKind.RECIPE
    assert all(e.summary.startswith("recipe only") for e in entries if e.kind is SuiteKind.RECIPE)


def test_declared_file_errors_name_the_file_field_and_fix(tmp_path):
    text = (_declared("mergebench-llama3.2-3b").root / DECLARED_FILE).read_text()
    (tmp_path / DECLARED_FILE).write_text(text.replace("repo: MergeBench/Llama-3.2-3B_math\n    revision: null",
                                                       "repo: MergeBench/Llama-3.2-3B_math\n    revision: main"))
    with pytest.raises(DeclaredSuiteError, match=r"declared.yaml.*field experts\.1.*pin a 40-hex commit sha"):
        read_declared(tmp_path)
    (tmp_path / DECLARED_FILE).write_text(text.replace("task: humaneval", "task: mbpp"))
    with pytest.raises(DeclaredSuiteError, match="expert 'coding': task 'mbpp' is not declared"):
        read_declared(tmp_path)
    (tmp_path / DECLARED_FILE).write_text(text.replace("methods: [weight_avg,", "methods: [knots, weight_avg,"))
    with pytest.raises(DeclaredSuiteError, match=r"declared.yaml: field methods: no merge method 'knots'; registered"):
        plan_suite(read_declared(tmp_path), measured_cost_here("smol"))


def test_parameter_counts_match_real_models():
    """The byte estimate's formula against models built by transformers and peft, and the declared
    Mistral shapes against transformers' MistralConfig (whose defaults are Mistral-7B's)."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig

    for tied in (True, False):
        arch = Architecture(vocab=97, hidden=48, intermediate=80, layers=2, heads=6, kv_heads=2, tied_embeddings=tied,
                            source="test")
        model = LlamaForCausalLM(LlamaConfig(vocab_size=97, hidden_size=48, intermediate_size=80, num_hidden_layers=2,
                                             num_attention_heads=6, num_key_value_heads=2, tie_word_embeddings=tied))
        assert arch.parameters() == sum(p.numel() for p in model.parameters())
    shape = AdapterShape(rank=4, target_modules=["q_proj", "v_proj", "down_proj"], dtype="float32", source="test")
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj", "down_proj"]))
    assert shape.parameters(arch) == sum(p.numel() for n, p in peft_model.named_parameters() if "lora_" in n)
    mistral, declared = MistralConfig(), _declared("lots-of-loras-mistral7b").suite.base.architecture
    assert (declared.vocab, declared.hidden, declared.intermediate, declared.layers, declared.heads,
            declared.kv_heads) == (mistral.vocab_size, mistral.hidden_size, mistral.intermediate_size,
                                   mistral.num_hidden_layers, mistral.num_attention_heads, mistral.num_key_value_heads)


def test_dry_run_plans_jobs_bytes_and_gpu_hours_from_the_measured_cost():
    from transformers import LlamaConfig

    from benchmark.suite import load_suite

    suite = load_suite("smol")  # its tokenizer folder carries the base's config.json (the base is in the cache)
    smol = LlamaConfig.from_pretrained(str(suite.root / suite.manifest.tokenizer))
    assert Architecture(vocab=smol.vocab_size, hidden=smol.hidden_size, intermediate=smol.intermediate_size,
                        layers=smol.num_hidden_layers, heads=smol.num_attention_heads,
                        kv_heads=smol.num_key_value_heads, tied_embeddings=smol.tie_word_embeddings,
                        source="smol").parameters() == 134_515_008  # SmolLM2-135M-Instruct
    measured = measured_cost_here("smol")
    assert measured.parameters == 134_515_008
    assert measured.jobs == len((BUNDLED_ROOT / "smol" / JOB_PACK).read_text().splitlines())
    assert measured.seconds_per_example > 0 and measured.fixed_seconds > 0
    plan = plan_suite(_declared("lots-of-loras-mistral7b"), measured)
    n = plan.experts
    assert plan.pairs == n * (n - 1) // 2  # one expert per task: every pair crosses tasks
    # 5 single-candidate methods and wim_weighted (3 candidates tuned on dev, then one test job)
    assert plan.jobs == 1 + n + (plan.pairs + plan.groups) * (5 + 4)
    assert plan.base_bytes == 7_241_732_096 * 2  # Mistral-7B's parameter count in bf16
    assert plan.gpu_hours > 0
    text = "\n".join(plan.lines)
    for needed in ("job plan", "download", "GPU-hours", "measured here", "assumption: FLOPs per token"):
        assert needed in text
    from typer.testing import CliRunner

    from benchmark.cli import app

    result = CliRunner().invoke(app, ["suite", "fetch", "mergebench-llama3.2-3b", "--dry-run"])
    assert result.exit_code == 0 and "job plan: 6 pairs" in result.output and "GPU-hours" in result.output


def _run_cli(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "WILLITMERGE_"))}
    env |= {"HOME": str(home), "HF_HOME": str(home / "hf"), "WILLITMERGE_CACHE": str(home / "cache"),
            "PYTHONPATH": str(REPO)}
    code = "import sys; from benchmark.cli import main; sys.argv = ['willitmerge', *sys.argv[1:]]; main()"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300)


def test_fetch_offline_fails_at_once_names_the_repo_and_writes_nothing(tmp_path):
    started = time.perf_counter()
    result = _run_cli(["suite", "fetch", "lots-of-loras-mistral7b"], tmp_path)
    elapsed = time.perf_counter() - started
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 1, out
    assert "could not resolve the revision of 'mistralai/Mistral-7B-Instruct-v0.2'" in out
    assert "nothing was changed" in out and "Traceback" not in out
    assert elapsed < 120  # interpreter start and imports included; the Hub is asked once
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_fetch_with_a_complete_lock_offline_still_changes_nothing(tmp_path):
    """With every revision locked the Hub is still asked (does the commit exist?) before any download."""
    spec = _declared("mergebench-llama3.2-3b")
    lock = Lock(suite=spec.suite.name, declared_sha256="0" * 64,
                repos=[LockedRepo(repo=m.repo, revision="c" * 40, files=[]) for m in spec.suite.repos()])
    path = write_lock(tmp_path / "cache", lock)
    before = sorted(tmp_path.rglob("*"))
    result = _run_cli(["suite", "fetch", "mergebench-llama3.2-3b"], tmp_path)
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 1 and "could not resolve the revision of 'meta-llama/Llama-3.2-3B'" in out, out
    assert sorted(tmp_path.rglob("*")) == before and read_lock(tmp_path / "cache", spec.suite.name) == lock
    assert path.is_file()


def _write_model(folder: Path, tensors: dict[str, torch.Tensor]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    save_file(tensors, str(folder / "model.safetensors"))
    return folder


def test_lock_verifies_a_snapshot_byte_for_byte(tmp_path):
    snapshot = _write_model(tmp_path / "snap", {"w": torch.ones(3, 3)})
    files = hash_folder(snapshot)
    locked = LockedRepo(repo="org/model", revision="a" * 40, files=files)
    check_snapshot("org/model", snapshot, files, locked)
    (snapshot / "config.json").write_text("{}")
    with pytest.raises(DeclaredSuiteError, match=r"org/model@a{40} differs from the lock: config.json"):
        check_snapshot("org/model", snapshot, hash_folder(snapshot), locked)
    (snapshot / "model.safetensors").unlink()
    with pytest.raises(DeclaredSuiteError, match="only as safetensors"):
        check_snapshot("org/model", snapshot, hash_folder(snapshot), None)
    spec = _declared("mergebench-llama3.2-3b")
    locked_base = locked.model_copy(update={"repo": spec.suite.base.repo})
    lock = Lock(suite=spec.suite.name, declared_sha256="0" * 64, repos=[locked_base])
    write_lock(tmp_path / "cache", lock)
    assert read_lock(tmp_path / "cache", spec.suite.name) == lock
    assert locked_revision(spec.suite.base, lock) == "a" * 40  # the lock's commit, not the Hub's current one
    assert locked_revision(spec.suite.experts[0], lock) is None  # resolved on first fetch
    with pytest.raises(DeclaredSuiteError, match="the suite pins b{40}, the lock has a{40}"):
        locked_revision(spec.suite.base.model_copy(update={"revision": "b" * 40}), lock)


@pytest.fixture
def vocab_models(tmp_path):
    base = _write_model(tmp_path / "base", {"model.embed_tokens.weight": torch.randn(10, 4), "lm_head.weight":
                                            torch.randn(10, 4), "model.layer.weight": torch.randn(4, 4)})
    wider = {"model.embed_tokens.weight": torch.randn(12, 4), "lm_head.weight": torch.randn(12, 4),
             "model.layer.weight": torch.randn(4, 4)}
    return base / "model.safetensors", _write_model(tmp_path / "expert", wider) / "model.safetensors", wider


def test_vocab_refuse_names_the_tensor_and_both_shapes(vocab_models, tmp_path):
    base, expert, _ = vocab_models
    with pytest.raises(VocabMismatch, match=r"tensor lm_head.weight has shape \[12, 4\], the base's has "
                                            r"\[10, 4\] \(vocab rule 'refuse'\); set `vocab: truncate-to-base`"):
        align_expert_file(expert, base, tmp_path / "out.safetensors", "refuse")
    assert not (tmp_path / "out.safetensors").exists()


def test_vocab_truncate_keeps_the_base_rows(vocab_models, tmp_path):
    base, expert, wider = vocab_models
    changed = align_expert_file(expert, base, tmp_path / "out.safetensors", "truncate-to-base")
    assert changed == {"model.embed_tokens.weight": [12, 10], "lm_head.weight": [12, 10]}
    out = load_file(str(tmp_path / "out.safetensors"))
    assert torch.equal(out["model.embed_tokens.weight"], wider["model.embed_tokens.weight"][:10])
    assert torch.equal(out["model.layer.weight"], wider["model.layer.weight"])
    save_file({**wider, "model.layer.weight": torch.randn(4, 5)}, str(expert))
    with pytest.raises(VocabMismatch, match=r"model.layer.weight has shape \[4, 5\].*not a vocabulary difference"):
        align_expert_file(expert, base, tmp_path / "out2.safetensors", "truncate-to-base")


def test_import_of_the_tiny_folders_reproduces_the_bundled_ground_truth(tiny_suite, tmp_path):
    """Imported as a user's models (named `tiny`, as partner groups are seeded by the name), every file a
    job reads has the bundled bytes and every job is the same job; the manifest's hash (the job keys'
    suite part) differs, as the import does not know the build's accuracies. Two real jobs, scored
    afresh on the import, equal the committed ground truth's records exactly."""
    root, bundled = tiny_suite.root, tiny_suite.manifest
    settings = EvalSettings(backend="hf")  # the committed tiny ground truth's backend

    def measure(suite_root):
        return measure_base_accuracy(suite_root, settings)
    with pytest.raises(SuiteImportError, match="task 'nope' is not among the task YAMLs"):
        import_suite(tmp_path / "bad", "tiny", root / "base", [("nope", root / "experts/add-ft")],
                     [root / t.lm_eval_yaml for t in bundled.tasks], data_root=root,
                     measure_base=measure)
    manifest = import_suite(tmp_path / "tiny", "tiny", root / "base",
                            [(e.task, root / e.path) for e in bundled.experts],
                            [root / t.lm_eval_yaml for t in bundled.tasks], data_root=root,
                            tokenizer=root / "tokenizer", measure_base=measure)
    imported = Suite(tmp_path / "tiny")
    assert imported.verify() == []
    ours, theirs = {f.path: f.sha256 for f in manifest.files}, {f.path: f.sha256 for f in bundled.files}
    assert {p: s for p, s in theirs.items() if p in ours} == {p: ours[p] for p in theirs if p in ours}
    assert set(ours) - set(theirs) == set()
    assert {p for p in theirs if p not in ours} == {t.splits["train"] for t in bundled.tasks}  # training data only
    assert [(e.id, e.task, e.format, e.path) for e in manifest.experts] == \
        [(e.id, e.task, e.format, e.path) for e in bundled.experts]
    assert manifest.pairs == bundled.pairs and manifest.prompting == bundled.prompting
    assert [(t.id, t.lm_eval_yaml, t.splits["test"], t.splits["dev"]) for t in manifest.tasks] == \
        [(t.id, t.lm_eval_yaml, t.splits["test"], t.splits["dev"]) for t in bundled.tasks]
    assert denominator_jobs(imported) == denominator_jobs(tiny_suite)
    assert partner_groups(imported) == partner_groups(tiny_suite)
    assert imported.sha256 != tiny_suite.sha256

    committed = JobStore(tmp_path / "committed", packs=(BUNDLED_ROOT / "tiny" / JOB_PACK,))
    pair = next(p for p in bundled.pairs if bundled.expert(p.expert_b).format == "lora")
    jobs = [Job("base", (), tuple(t.id for t in bundled.tasks)),
            Job("merge", (pair.expert_a, pair.expert_b), tuple(bundled.expert(e).task for e in (pair.expert_a,
                pair.expert_b)), get_method("weight_avg"))]
    runner = GridRunner(imported, settings, JobStore(tmp_path / "jobs"))
    try:
        for job in jobs:
            record = committed.get(key_of(job, tiny_suite, settings))
            assert record is not None, f"the committed tiny ground truth lacks {job}"
            fresh = runner.result(job)
            if job.kind == "base":  # the import measured the base with the same engine
                assert {t.id: t.base_accuracy["test"] for t in manifest.tasks} == \
                    {t: s["accuracy"] for t, s in record["scores"].items()}
            assert {t: (s.accuracy, s.n, "".join(map(str, s.correct))) for t, s in fresh.items()} == \
                {t: (s["accuracy"], s["n"], s["correct"]) for t, s in record["scores"].items()}
    finally:
        runner.close()
    assert runner.computed == len(jobs)
