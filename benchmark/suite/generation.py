"""Examples as model inputs, and greedy answers scored by exact match, with plain transformers.

Shared by the suite build (expert accuracies in the manifest, training batches) and the metric
library (base knowledge, gradients); the ground truth scores through lm-eval instead, and a
test checks that the two evaluators agree example by example. How an answer is written after
its prompt and where generation stops come from the suite's `Prompting` (manifest).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

from .manifest import Prompting

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerBase


def encode(tokenizer: PreTrainedTokenizerBase, examples: Sequence[tuple[str, str]], prompting: Prompting,
           answer_only: bool, seq_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded `prompt + delimiter + answer + terminator [EOS]` rows and a mask of the positions
    that carry loss; rows are padded to `seq_len`, or to the longest row when it is None.

    Right padding needs no attention mask in a causal model: real tokens never attend to
    the padding after them.
    """
    prompts = tokenizer([p for p, _ in examples])["input_ids"]
    answers = tokenizer([prompting.delimiter + a + prompting.terminator for _, a in examples],
                        add_special_tokens=False)["input_ids"]
    tail = [tokenizer.eos_token_id] if prompting.eos else []
    rows = [p + a + tail for p, a in zip(prompts, answers)]
    width = seq_len or max(map(len, rows))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.full((len(examples), width), pad, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.bool)
    for row, (p, seq) in enumerate(zip(prompts, rows)):
        if len(seq) > width:
            raise ValueError(f"example {examples[row]} is {len(seq)} tokens, over seq_len={width}; "
                             "raise seq_len in the recipe")
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, (len(p) if answer_only else 1) : len(seq)] = True
    return ids, mask


def read_answer(text: str, prompting: Prompting) -> str:
    """What exact match compares: the text before the first stop string (lm-eval's `until`),
    stripped when the suite's tasks apply lm-eval's `remove_whitespace` filter."""
    for stop in prompting.stop:
        text = text.split(stop, 1)[0]
    return text.strip() if prompting.strip else text


@torch.no_grad()
def greedy_answers(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
                   prompting: Prompting, batch_size: int = 512) -> list[str]:
    """Greedy continuations, batched by prompt length so no padding changes any number."""
    by_length: dict[int, list[int]] = {}
    encoded = [tokenizer(p)["input_ids"] for p in prompts]
    for i, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(i)
    answers = [""] * len(prompts)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for _, members in sorted(by_length.items()):
        for start in range(0, len(members), batch_size):
            chunk = members[start:start + batch_size]
            ids = torch.tensor([encoded[i] for i in chunk])
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=prompting.max_new_tokens,
                                 do_sample=False, eos_token_id=tokenizer.eos_token_id, pad_token_id=pad)
            for i, row in zip(chunk, out[:, ids.shape[1]:].tolist()):
                if tokenizer.eos_token_id in row:
                    row = row[: row.index(tokenizer.eos_token_id)]
                answers[i] = read_answer(tokenizer.decode(row, skip_special_tokens=True), prompting)
    return answers


def exact_match(model, tokenizer, examples: Sequence[tuple[str, str]], prompting: Prompting) -> list[bool]:
    answers = greedy_answers(model, tokenizer, [p for p, _ in examples], prompting)
    return [got == want for got, (_, want) in zip(answers, examples)]
