"""Pretraining and fine-tuning loops for the tiny suites, deterministic on one machine.

Plain torch on purpose: a dozen lines of loop are easier to audit and to make
bit-reproducible than a trainer framework, and the models are small enough for 2 cores.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.tuners.lora import LoraLayer
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from .recipe import ExpertRecipe, ModelRecipe, PretrainRecipe
Progress = Callable[[int], None]


def model_config(recipe: ModelRecipe, tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
    vocab = 64 * math.ceil(len(tokenizer) / 64)
    return LlamaConfig(
        vocab_size=vocab,
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size,
        num_hidden_layers=recipe.num_layers,
        num_attention_heads=recipe.num_heads,
        num_key_value_heads=recipe.num_heads,
        max_position_embeddings=recipe.max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
    )


def _loss(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=ids).logits[:, :-1]
    target = ids[:, 1:].masked_fill(~mask[:, 1:], -100)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1))


def _schedule(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def _run(model, params, batches, lr: float, total: int, warmup: int, progress: Progress | None,
         loss_fn: Callable[..., torch.Tensor] = _loss) -> float:
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _schedule(s, total, warmup))
    model.train()
    loss_value = float("nan")
    for step in range(total):
        ids, mask = batches(step)
        loss = loss_fn(model, ids, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        loss_value = loss.item()
        if progress:
            progress(1)
    model.eval()
    return loss_value


def pretrain(config: LlamaConfig, recipe: PretrainRecipe, ids: torch.Tensor, mask: torch.Tensor,
             progress: Progress | None = None) -> tuple[LlamaForCausalLM, float]:
    """Train the base from scratch on a corpus of exactly steps × batch_size rows, in order."""
    torch.manual_seed(recipe.seed)
    model = LlamaForCausalLM(config)
    b = recipe.batch_size
    loss = _run(model, list(model.parameters()), lambda s: (ids[s * b:(s + 1) * b], mask[s * b:(s + 1) * b]),
                recipe.lr, recipe.steps, recipe.warmup, progress)
    return model, loss


def lora_config(rank: int, targets: tuple[str, ...]) -> LoraConfig:
    return LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=list(targets))


def _fresh_copy(base: LlamaForCausalLM) -> LlamaForCausalLM:
    model = LlamaForCausalLM(base.config)
    model.load_state_dict(base.state_dict())
    return model


def finetune(base: LlamaForCausalLM, recipe: ExpertRecipe, task: tuple[torch.Tensor, torch.Tensor],
             replay: tuple[torch.Tensor, torch.Tensor], progress: Progress | None = None):
    """Fine-tune a copy of the base; returns the trained model (a peft model for LoRA) and its loss.

    Each batch holds round(replay × batch_size) rows of the pretraining mix and the rest
    from the task's train split, sampled with a generator seeded by the recipe.
    """
    torch.manual_seed(recipe.seed)
    model = _fresh_copy(base)
    if recipe.method == "lora":
        model = get_peft_model(model, lora_config(recipe.lora_rank, recipe.lora_targets))
    params = [p for p in model.parameters() if p.requires_grad]
    gen = torch.Generator().manual_seed(recipe.seed)
    n_replay = round(recipe.replay * recipe.batch_size)
    n_task = recipe.batch_size - n_replay

    def batches(_step: int):
        ti = torch.randint(len(task[0]), (n_task,), generator=gen)
        ri = torch.randint(len(replay[0]), (n_replay,), generator=gen)
        return torch.cat([task[0][ti], replay[0][ri]]), torch.cat([task[1][ti], replay[1][ri]])

    loss = _run(model, params, batches, recipe.lr, recipe.steps, max(1, recipe.steps // 20), progress)
    return model, loss


@torch.no_grad()
def truncate_lora(trained: PeftModel, base: LlamaForCausalLM, rank: int) -> PeftModel:
    """A rank-`rank` LoRA model whose every B·A is the best rank-`rank` approximation (SVD) of the trained one.

    A wide LoRA learns a task with a smaller delta than a narrow one, which DARE's rescaled
    survivors need; its deltas are concentrated enough that the top singular directions
    carry nearly all of them, so the adapter can ship at the narrow rank's size.
    """
    wide = {name: m for name, m in trained.named_modules() if isinstance(m, LoraLayer)}
    narrow = get_peft_model(_fresh_copy(base), lora_config(rank, tuple(trained.peft_config["default"].target_modules)))
    for name, layer in narrow.named_modules():
        if not isinstance(layer, LoraLayer):
            continue
        source = wide[name]
        delta = (source.lora_B["default"].weight @ source.lora_A["default"].weight).double() * source.scaling["default"]
        u, s, vh = torch.linalg.svd(delta, full_matrices=False)
        root = (s[:rank] / layer.scaling["default"]).sqrt()
        layer.lora_B["default"].weight.copy_((u[:, :rank] * root).float())
        layer.lora_A["default"].weight.copy_((root[:, None] * vh[:rank]).float())
    narrow.eval()
    return narrow


def _answer_loss_bf16(model: PeftModel, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Answer-token loss under bf16 autocast, projecting onto the vocabulary only where there is loss:
    with a 49k vocabulary and short answers that projection is most of the work."""
    llama = model.get_base_model()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = llama.model(input_ids=ids).last_hidden_state[:, :-1]
        selected = mask[:, 1:]
        logits = llama.lm_head(hidden[selected])
    return torch.nn.functional.cross_entropy(logits.float(), ids[:, 1:][selected])


def finetune_lora(base: LlamaForCausalLM, recipe: ExpertRecipe, task: tuple[torch.Tensor, torch.Tensor],
                  progress: Progress | None = None) -> tuple[PeftModel, float]:
    """A LoRA expert of a pretrained base: fp32 adapter weights, bf16 autocast, batches sampled with a
    generator seeded by the recipe and cut to their longest row (rows are right-padded)."""
    torch.manual_seed(recipe.seed)
    model = get_peft_model(_fresh_copy(base), lora_config(recipe.lora_rank, recipe.lora_targets))
    params = [p for p in model.parameters() if p.requires_grad]
    gen = torch.Generator().manual_seed(recipe.seed)
    ids, mask = task
    lengths = mask.long().cumsum(1).argmax(1) + 1

    def batches(_step: int):
        rows = torch.randint(len(ids), (recipe.batch_size,), generator=gen)
        width = int(lengths[rows].max())
        return ids[rows, :width], mask[rows, :width]

    loss = _run(model, params, batches, recipe.lr, recipe.steps, max(1, recipe.steps // 20), progress,
                loss_fn=_answer_loss_bf16)
    return model, loss
