"""The character-level tokenizer shared by every tiny suite.

Built with the `tokenizers` library as a BPE model with no merges (so every character is a
token) and saved as a plain `tokenizer.json`, which transformers, lm-eval and vLLM all load.
The post-processor adds BOS itself, so no harness has to remember to.
"""

from __future__ import annotations

import shutil
import string
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, processors
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")
CHARACTERS = string.ascii_lowercase + string.digits + " +-*=,.:;?!>()"


def build_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + tuple(CHARACTERS))}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    core.decoder = decoders.Fuse()
    core.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=64,
        padding_side="left",
    )


def add_model_config(tokenizer_dir: Path, model_dir: Path) -> None:
    """Put the model's config.json beside the tokenizer: vLLM reads a model config from the tokenizer's
    folder too (to choose the tokenizer class) and logs an ERROR with timed retries when there is none."""
    shutil.copyfile(model_dir / "config.json", tokenizer_dir / "config.json")


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, directory: Path) -> list[Path]:
    """Write only the files loaders need; transformers adds nothing machine-specific."""
    directory.mkdir(parents=True, exist_ok=True)
    return [Path(p) for p in tokenizer.save_pretrained(str(directory))]
