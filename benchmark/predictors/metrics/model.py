"""Function-space metrics, which need forward or backward passes through the models.

Adapted to causal LMs as ../shared/PAPERS.md describes: activations are the mean hidden
state of the last block over a shared calibration set (10 training inputs per task);
gradients are of each expert's answer-token loss on 10 samples of its own task, w.r.t. its
parameters and w.r.t. its input embeddings (averaged over samples and positions, since
different tasks' inputs differ in length); base knowledge is the base model's exact-match
accuracy and mean answer log-likelihood on an expert's training data (Will-it-Merge).
"""

from __future__ import annotations

import torch

from ...suite.generation import encode, exact_match

CALIBRATION_PER_TASK = 10
GRADIENT_SAMPLES = 10
KNOWLEDGE_SAMPLES = 100


def calibration_set(suite) -> list[tuple[str, str]]:
    return [ex for t in suite.manifest.tasks for ex in suite.examples(t.id, "train")[:CALIBRATION_PER_TASK]]


@torch.no_grad()
def mean_activation(model, tokenizer, examples, prompting, seq_len: int | None) -> torch.Tensor:
    ids, mask = encode(tokenizer, examples, prompting, answer_only=False, seq_len=seq_len)
    real = ids != tokenizer.pad_token_id
    hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[-1]
    return (hidden * real.unsqueeze(-1)).sum((0, 1)).double() / real.sum()


def gradients(model, tokenizer, examples, prompting, seq_len: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(parameter gradient, flattened; input-embedding gradient, averaged to one hidden vector)."""
    ids, mask = encode(tokenizer, examples, prompting, answer_only=True, seq_len=seq_len)
    model.zero_grad(set_to_none=True)
    embeds = model.get_input_embeddings()(ids)
    embeds.retain_grad()  # keep the lookup in the graph so the embedding matrix gets its input-side gradient
    logits = model(inputs_embeds=embeds).logits[:, :-1]
    target = ids[:, 1:].masked_fill(~mask[:, 1:], -100)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1))
    loss.backward()
    params = torch.cat([p.grad.reshape(-1).double() for _, p in sorted(model.named_parameters()) if p.grad is not None])
    real = (ids != tokenizer.pad_token_id).unsqueeze(-1)
    inputs = (embeds.grad * real).sum((0, 1)).double() / real.sum()
    model.zero_grad(set_to_none=True)
    return params, inputs


@torch.no_grad()
def base_knowledge(base, tokenizer, examples, prompting, seq_len: int | None) -> dict[str, float]:
    """The base's accuracy on an expert's training data and its mean per-token answer log-likelihood."""
    ids, mask = encode(tokenizer, examples, prompting, answer_only=True, seq_len=seq_len)
    logp = torch.log_softmax(base(input_ids=ids).logits[:, :-1].double(), -1)
    token_logp = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1) * mask[:, 1:]
    per_example = token_logp.sum(1) / mask[:, 1:].sum(1)
    correct = exact_match(base, tokenizer, examples, prompting)
    return {"accuracy": sum(correct) / len(correct), "loglik": float(per_example.mean())}


def vector_metrics(prefix: str, a: torch.Tensor, b: torch.Tensor, with_ratio: bool) -> dict[str, float]:
    out = {f"{prefix}_l2_distance": float((a - b).norm()),
           f"{prefix}_cosine_similarity": float(a @ b / (a.norm() * b.norm())),
           f"{prefix}_dot_product": float(a @ b)}
    if with_ratio:
        out[f"{prefix}_magnitude_ratio"] = float(torch.minimum(a.norm(), b.norm()) / torch.maximum(a.norm(), b.norm()))
    return out
