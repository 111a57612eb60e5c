"""Examples as model inputs, and greedy answers scored by exact match, with plain transformers.

Shared by the suite build (expert accuracies in the manifest, training batches) and the metric
library (base knowledge, gradients); the ground truth scores through lm-eval instead, and a
test checks that the two evaluators agree example by example.
"""

from __future__ import annotations

from typing import Sequence

import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast


def encode(tokenizer: PreTrainedTokenizerFast, examples: Sequence[tuple[str, str]], seq_len: int,
           answer_only: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded `<s>prompt answer</s>` rows and a mask of the positions that carry loss.

    Right padding needs no attention mask in a causal model: real tokens never attend to
    the padding after them.
    """
    ids = torch.full((len(examples), seq_len), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(examples), seq_len), dtype=torch.bool)
    prompts = tokenizer([p for p, _ in examples])["input_ids"]
    answers = tokenizer([a for _, a in examples], add_special_tokens=False)["input_ids"]
    for row, (p, a) in enumerate(zip(prompts, answers)):
        seq = p + a + [tokenizer.eos_token_id]
        if len(seq) > seq_len:
            raise ValueError(f"example {examples[row]} is {len(seq)} tokens, over seq_len={seq_len}; "
                             "raise seq_len in the recipe")
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, (len(p) if answer_only else 1) : len(seq)] = True
    return ids, mask


@torch.no_grad()
def greedy_answers(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, prompts: Sequence[str],
                   max_new_tokens: int, batch_size: int = 512) -> list[str]:
    """Greedy continuations, batched by prompt length so no padding changes any number."""
    by_length: dict[int, list[int]] = {}
    encoded = [tokenizer(p)["input_ids"] for p in prompts]
    for i, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(i)
    answers = [""] * len(prompts)
    for _, members in sorted(by_length.items()):
        for start in range(0, len(members), batch_size):
            chunk = members[start:start + batch_size]
            ids = torch.tensor([encoded[i] for i in chunk])
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                 do_sample=False, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id)
            for i, row in zip(chunk, out[:, ids.shape[1]:].tolist()):
                if tokenizer.eos_token_id in row:
                    row = row[: row.index(tokenizer.eos_token_id)]
                answers[i] = tokenizer.decode(row, skip_special_tokens=True)
    return answers


def exact_match(model, tokenizer, examples: Sequence[tuple[str, str]], max_new_tokens: int) -> list[bool]:
    answers = greedy_answers(model, tokenizer, [p for p, _ in examples], max_new_tokens)
    return [got == want for got, (_, want) in zip(answers, examples)]
