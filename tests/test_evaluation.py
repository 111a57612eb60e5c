"""lm-eval on a reused engine: swapping weights gives exactly a fresh engine's results,
and the vLLM and transformers backends agree example by example."""

import pytest

from benchmark.evaluation import Engine, EvalSettings
from benchmark.merging import get_method, merge_experts, save_merged


@pytest.mark.parametrize("backend", ["vllm", "hf"])
def test_reused_engine_equals_fresh_engine(backend, micro_suite, tmp_path):
    tasks = [t.id for t in micro_suite.manifest.tasks]
    pair = micro_suite.manifest.pairs[-1]
    merged = merge_experts(micro_suite, get_method("task_arithmetic"), [pair.expert_a, pair.expert_b])
    lora = next(e for e in micro_suite.manifest.experts if e.format == "lora")
    models = {"merged": merged, "lora": micro_suite.expert_state_dict(lora.id)}
    fresh_models = ["merged"] if backend == "vllm" else list(models)  # a vLLM start costs ~45 s here
    with Engine(micro_suite, EvalSettings(backend=backend)) as engine:
        base_first = engine.evaluate(tasks)
        reused = {name: engine.evaluate(tasks, state) for name, state in models.items()}
        base_again = engine.evaluate(tasks, micro_suite.base_state_dict())
    assert base_again == base_first
    for name in fresh_models:
        folder = save_merged(models[name], micro_suite.base_dir, tmp_path / name)
        with Engine(micro_suite, EvalSettings(backend=backend), model_dir=folder) as fresh:
            assert fresh.evaluate(tasks) == reused[name], f"{backend}: swapped {name} differs from a fresh engine"
    assert reused["merged"] != base_first, "the swap must change what the engine computes"


def test_vllm_and_hf_agree_on_the_bundled_base_and_an_expert(tiny_suite):
    tasks = [t.id for t in tiny_suite.manifest.tasks]
    expert = next(e for e in tiny_suite.manifest.experts if e.format == "lora")
    results = {}
    for backend in ("vllm", "hf"):
        with Engine(tiny_suite, EvalSettings(backend=backend, limit=200)) as engine:
            results[backend] = (engine.evaluate(tasks), engine.evaluate(tasks, tiny_suite.expert_state_dict(expert.id)))
    assert results["vllm"] == results["hf"]
    base, expert_scores = results["vllm"]
    assert expert_scores[expert.task].accuracy > base[expert.task].accuracy


def test_the_suite_build_evaluator_and_lm_eval_agree_example_by_example(tiny_suite):
    """One evaluator: the manifest's accuracies (and `base_accuracy["dev"]`, which wim_weighted merges by)
    and the base-knowledge metric come from `benchmark.suite.generation.exact_match`; the ground truth from
    lm-eval. On every task, both splits, the base and one expert of each format, they agree per example."""
    from benchmark.suite.generation import exact_match

    m = tiny_suite.manifest
    tasks = [t.id for t in m.tasks]
    tokenizer = tiny_suite.tokenizer()
    experts = [next(e for e in m.experts if e.format == kind) for kind in ("full", "lora")]
    with Engine(tiny_suite, EvalSettings(backend="hf", dev_limit=None)) as engine:
        for who, state in [("base", None)] + [(e.id, tiny_suite.expert_state_dict(e.id)) for e in experts]:
            model = tiny_suite.model(state)
            for split in ("test", "dev"):
                scores = engine.evaluate(tasks, state or tiny_suite.base_state_dict(), split=split)
                for task in tasks:
                    flags = exact_match(model, tokenizer, tiny_suite.examples(task, split), m.prompting)
                    assert list(scores[task].correct) == [int(f) for f in flags], f"{who} on {task} ({split})"
                    recorded = (m.task(task).base_accuracy[split] if who == "base" else
                                m.expert(who).accuracy[task] if split == "test" else None)
                    if recorded is not None:
                        assert scores[task].accuracy == pytest.approx(recorded, abs=1e-9), f"{who} on {task}"
