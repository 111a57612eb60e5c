"""How well the base already answers each family of the lexicon pool, so a blind round can draw families
across the base's range (some it barely knows, some it mostly knows) without building their experts.

`python -m benchmark.suite.build.pool_accuracy` measures every family on 100 examples, prompted as the
smol build prompts, and writes `pool_base_accuracy.json` beside this module (minutes on one core).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
import transformers

from ...store import default_cache
from ..generation import exact_match
from ..pretrained_base import ensure_base, gguf_path
from .lexicon import check_pins
from .lexicon_pool import LEXICON_POOL, SMALL
from .pretrained import TaskSplits, _evaluator
from .recipe import SMOL, LexiconTaskRecipe
from .scratch import accuracy_of

RESULTS = Path(__file__).with_name("pool_base_accuracy.json")
COMMAND = "python -m benchmark.suite.build.pool_accuracy"


def examples_of(name: str, n: int) -> int:
    """`n`, or all of a small recall family's facts but its demonstrations."""
    shots = SMOL.prompting.shots
    return min(n, SMALL.get(name, n + shots) - shots)


def pool_splits(n: int) -> dict[str, TaskSplits]:
    """Every family split as the smol recipe splits its tasks, with `examples_of` test examples and no dev set.
    A published family keeps its recipe (its `pool` of common words), so its examples are the first n of
    its published test set."""
    published = {t.name: t for t in SMOL.tasks}
    return {name: TaskSplits(dataclasses.replace(published.get(name, LexiconTaskRecipe(name)),
                                                 n_test=examples_of(name, n), n_dev=0, n_train=None), SMOL)
            for name in LEXICON_POOL}


def measure_pool_accuracy(n: int = 100) -> dict[str, float]:
    """The base's greedy exact-match accuracy on each family, scored as the smol build scores its base
    (bf16 copy of the dequantized base, the GGUF's tokenizer, 1-shot prompts)."""
    check_pins()
    torch.use_deterministic_algorithms(True)
    base_dir = ensure_base(SMOL.base, default_cache())
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf_path(SMOL.base).parent),
                                                           gguf_file=SMOL.base.gguf_file)
    evaluator = _evaluator(transformers.LlamaForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32))
    return {name: accuracy_of(exact_match(evaluator, tokenizer, splits.test, SMOL.prompting))
            for name, splits in pool_splits(n).items()}


def main(n: int = 100) -> None:
    """Measure on one thread (the other core stays free) and write the results file."""
    torch.set_num_threads(1)
    accuracy = measure_pool_accuracy(n)
    examples = {name: examples_of(name, n) for name in accuracy}
    RESULTS.write_text(json.dumps({"command": COMMAND, "n": n, "examples": examples, "accuracy": accuracy},
                                  indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
