"""The metric library: every pairwise metric of Demystifying Mergeability for causal LMs,
plus kinship, sign agreement, task-vector norm, top singular value and base knowledge.

`MetricLibrary(suite, cache)` computes what belongs to one expert once (task vector, SVDs,
activations, gradients, base knowledge) and each pair's metrics once, caching the latter on
disk under a key of the suite, the pair and the code that computes them (`metric_code()`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np
import torch

from ...provenance import code_fingerprint, library_versions
from ...store import JobStore, job_key
from ...suite.suite import WEIGHT_LOADING, Suite
from . import model as fn
from . import weights as w

DEMYSTIFYING_METRICS = (
    "task_vector_cosine_similarity", "task_vector_l2_distance", "task_vector_dot_product", "weight_space_angle",
    "task_vector_magnitude_ratio", "effective_rank", "effective_rank_mergeability_score", "stable_rank",
    "spectral_gap", "singular_value_ratio", "layerwise_effective_rank", "layerwise_effective_rank_mergeability_score",
    "singular_value_overlap", "subspace_overlap", "right_subspace_overlap_top_k", "right_subspace_overlap_bottom_k",
    "interaction_matrix_overlap_top_k", "interaction_matrix_overlap_bottom_k", "activation_l2_distance",
    "activation_cosine_similarity", "activation_magnitude_ratio", "activation_dot_product",
    "encoder_gradient_cosine_similarity", "encoder_gradient_l2_distance", "encoder_gradient_dot_product",
    "input_gradient_cosine_similarity", "input_gradient_l2_distance", "input_gradient_dot_product",
)
EXTRA_METRICS = ("kinship_pearson", "sign_agreement", "tv_norm_mean", "tv_norm_min", "top_singular_value_mean",
                 "top_singular_value_min", "base_accuracy_mean", "base_accuracy_min", "base_loglik_mean",
                 "base_loglik_min")


class MetricLibrary:
    """Pair metrics are cached in `cache`/metrics under a key of the suite, the pair, the code that
    computes them (`metric_code()`) and the library versions, so an edited metric recomputes them."""

    def __init__(self, suite, cache: Path, packs: tuple[Path, ...] = ()):
        self.suite = suite
        self.store = JobStore(Path(cache) / "metrics", packs=packs)
        self._experts: dict[str, dict] = {}
        self._base = None
        self._spill_dir: Path | None = None

    def _spill(self, name: str, vector: torch.Tensor) -> torch.Tensor:
        """`vector` moved to a memory-mapped file: an expert's float64 task vector and gradient are
        2 GB on a 135M model, and keeping all 16 of smol's in RAM needs 43 GB. The numbers are unchanged."""
        if self._spill_dir is None:
            self._spill_dir = _fresh_spill_dir(self.store.root)
            weakref.finalize(self, shutil.rmtree, self._spill_dir, True)
        path = self._spill_dir / f"{name}.npy"
        np.save(path, vector.numpy())
        return torch.from_numpy(np.load(path, mmap_mode="c"))

    def _base_model(self):
        if self._base is None:
            self._base = self.suite.model()
        return self._base

    def expert_features(self, expert_id: str) -> dict:
        """Everything about one expert that pair metrics need; computed once."""
        if expert_id not in self._experts:
            suite, m = self.suite, self.suite.manifest
            entry = m.expert(expert_id)
            base = self.suite.base_state_dict()
            state = suite.expert_state_dict(expert_id)
            tv = {k: state[k] - base[k] for k in base}
            svds = w.layer_svds(tv)
            magnitudes, flat = w.expert_magnitudes(tv, svds), self._spill(f"{expert_id}-tv", w.flat(tv))
            tv = w.unflat(flat, tv)  # float64 views of the spilled vector (every metric reads τ in float64)
            model, tok = suite.model(state), suite.tokenizer()
            seq_len, prompting = m.recipe.get("seq_len"), m.prompting
            own = suite.examples(entry.task, "train")
            grad_params, grad_inputs = fn.gradients(model, tok, own[:fn.GRADIENT_SAMPLES], prompting, seq_len)
            self._experts[expert_id] = {
                "tv": tv, "flat": flat, "svds": svds, "magnitudes": magnitudes,
                "activation": fn.mean_activation(model, tok, fn.calibration_set(suite), prompting, seq_len),
                "grad_params": self._spill(f"{expert_id}-grad", grad_params), "grad_inputs": grad_inputs,
                "knowledge": fn.base_knowledge(self._base_model(), tok, own[:fn.KNOWLEDGE_SAMPLES], prompting, seq_len),
            }
        return self._experts[expert_id]

    def _key(self, identity: dict) -> str:
        return job_key({"suite_sha256": self.suite.sha256, **identity, "code": metric_code(),
                        "libraries": library_versions("torch", "transformers")})

    def update_metrics(self, expert_id: str) -> dict[str, float]:
        """Per-expert signals for per-update predictors: base knowledge, norm, top singular value. Cached
        like pair metrics: without a cache, reading them needs every expert's features (47 min on smol)."""
        key = self._key({"expert": expert_id})
        cached = self.store.get(key)
        if cached is not None:
            return cached["metrics"]
        f = self.expert_features(expert_id)
        metrics = {"base_accuracy": f["knowledge"]["accuracy"], "base_loglik": f["knowledge"]["loglik"],
                   "tv_norm": f["magnitudes"]["norm"], "top_singular_value": f["magnitudes"]["top_singular_value"]}
        self.store.put(key, {"expert": expert_id, "metrics": metrics})
        return json.loads(json.dumps(metrics))

    def pair_metrics(self, expert_a: str, expert_b: str) -> dict[str, float]:
        key = self._key({"pair": [expert_a, expert_b]})
        cached = self.store.get(key)
        if cached is not None:
            return cached["metrics"]
        a, b = self.expert_features(expert_a), self.expert_features(expert_b)
        metrics = {**w.task_vector_metrics(a["flat"], b["flat"]), **w.effective_rank_metrics(a["tv"], b["tv"]),
                   **w.subspace_metrics(a["svds"], b["svds"]),
                   **fn.vector_metrics("activation", a["activation"], b["activation"], with_ratio=True),
                   **fn.vector_metrics("encoder_gradient", a["grad_params"], b["grad_params"], with_ratio=False),
                   **fn.vector_metrics("input_gradient", a["grad_inputs"], b["grad_inputs"], with_ratio=False),
                   **w.kinship_metrics(a["flat"], b["flat"])}
        for name, (x, y) in {"tv_norm": (a["magnitudes"]["norm"], b["magnitudes"]["norm"]),
                             "top_singular_value": (a["magnitudes"]["top_singular_value"],
                                                    b["magnitudes"]["top_singular_value"]),
                             "base_accuracy": (a["knowledge"]["accuracy"], b["knowledge"]["accuracy"]),
                             "base_loglik": (a["knowledge"]["loglik"], b["knowledge"]["loglik"])}.items():
            metrics[f"{name}_mean"], metrics[f"{name}_min"] = (x + y) / 2, min(x, y)
        self.store.put(key, {"pair": [expert_a, expert_b], "metrics": metrics})
        return json.loads(json.dumps(metrics))


def _fresh_spill_dir(root: Path) -> Path:
    """A folder for this process's spilled features, named by its pid. A killed run cannot remove its own
    (2.5 GB per expert on smol), so folders whose process is gone are removed here."""
    for folder in root.glob("features-*"):
        pid = folder.name.split("-")[1]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"features-{os.getpid()}-", dir=root))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def metric_code() -> str:
    """The fingerprint of the code every pair metric runs (see `benchmark.provenance`); the caching
    around it (this function, the store) computes no number, so the trace stops there."""
    return code_fingerprint(MetricLibrary, Suite.model, Suite.tokenizer, Suite.examples, *WEIGHT_LOADING,
                            stop_at=(metric_code, JobStore, job_key))


__all__ = ["DEMYSTIFYING_METRICS", "EXTRA_METRICS", "MetricLibrary", "metric_code"]
