"""Merge-method submissions as the harness sees them: a spec to key cached results by, the
tuning candidates, and a sandboxed worker that performs the merges. The harness never imports
submission code; it reads `submission.yaml`, hashes the folder, and checks what comes back.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from ..groundtruth.dataset import BUNDLED_ROOT
from ..isolation import Limits, isolation
from ..merging import METHODS, expand_search_space, get_method, load_mergekit_method
from ..sandbox import SandboxedWorker, SubmissionFailed
from ..suite import Suite, SuiteSpec, bundled_suites
from ..suite.suite import StateDict
from .checks import check_submission
from .loading import folder_sha256, package_code_used
from .schema import MethodSubmission


@dataclass(frozen=True)
class SubmittedMethod:
    """One parameter setting of a method submission; `spec()` is what results are cached under.

    A registry submission's spec is the registered method's own, so its results are shared
    with the ground-truth grid; a mergekit submission's is the template's (`mergekit:<name>`);
    other submissions are keyed by their folder's content hash.
    """

    folder: Path
    submission: MethodSubmission = field(repr=False, compare=False)
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_folder(cls, folder: Path, suites=()) -> "SubmittedMethod":
        """The folder's method, checked by `check_submission` (`suites`: suite names known besides
        the bundled ones); SubmissionError names the file, the field and the fix."""
        spec = check_submission(folder, MethodSubmission, suites)
        return cls(Path(folder).resolve(), spec, tuple(sorted(spec.params.items())))

    @property
    def name(self) -> str:
        return self.submission.name

    def _method(self):
        """The method object where the harness may build it without running submission code."""
        s = self.submission
        if s.registry is not None:
            return get_method(s.registry, **dict(self.params))
        if s.mergekit is not None:
            return load_mergekit_method(self.folder / s.mergekit, s.name)
        return None

    def spec(self) -> dict[str, Any]:
        method = self._method()
        if method is not None:
            return method.spec()
        return {"method": f"submission:{self.submission.name}",
                "params": dict(self.params) | {"folder_sha256": folder_sha256(self.folder)}}

    @property
    def libraries(self) -> tuple[str, ...]:
        method = self._method()
        return method.libraries if method is not None else ()

    def code_roots(self) -> tuple:
        method = self._method()
        if method is not None:
            return method.code_roots()
        return package_code_used(self.folder, self.submission.entry_point)

    def search_space(self) -> dict[str, tuple[Any, ...]]:
        s = self.submission
        if s.search_space is not None:
            return {k: tuple(v) for k, v in s.search_space.items()}
        return dict(METHODS[s.registry].search_space) if s.registry is not None else {}

    def candidates(self) -> list["SubmittedMethod"]:
        """Every point of the dev search space, each a SubmittedMethod of its own (itself if none)."""
        return [SubmittedMethod(self.folder, self.submission, tuple(sorted((dict(self.params) | point).items())))
                for point in expand_search_space(self.search_space())] or [self]


@dataclass(frozen=True)
class MergeCost:
    """One sandboxed merge as the harness measured it (never as the worker reported it): wall-clock seconds
    of the merge request (merging and writing the safetensors), the worker tree's peak held MB so
    far, and the isolation it ran under (`benchmark.sandbox.Isolation.tool`)."""

    seconds: float
    peak_rss_mb: float
    isolation: str


def suite_folders(suite: Suite | SuiteSpec) -> list[Path]:
    """What a sandboxed worker reads of a suite: its folder and, for a base pinned outside it, the base's
    folder in the cache (dequantized here, by the harness, if it is not there yet)."""
    if isinstance(suite, SuiteSpec):
        suite = suite.open(with_results=False)
    base = getattr(suite, "base_dir", None)
    return [Path(suite.root)] + ([Path(base)] if base is not None and not Path(base).is_relative_to(suite.root) else [])


def hidden_from_submissions(cache: Path, suites=()) -> list[Path]:
    """What a sandboxed submission must not read: every bundled suite's ground truth and published
    results, those of `suites` (specs), the ground truths and results in the cache, the leaderboard."""
    repo = Path(__file__).resolve().parents[2]
    hidden = [BUNDLED_ROOT, Path(cache) / "jobs", Path(cache) / "groundtruth", repo / "leaderboard"]
    for spec in [*bundled_suites(), *suites]:
        hidden += spec.hidden_paths()
    return sorted({p for p in hidden if p.exists()})


def check_merged(state: StateDict, base: dict[str, torch.Tensor], who: str) -> None:
    """Merged weights must have exactly the base's tensors, shapes and no NaN/inf."""
    missing, extra = sorted(set(base) - set(state)), sorted(set(state) - set(base))
    if missing or extra:
        raise SubmissionFailed("invalid", f"{who}: merged weights lack {missing[:3]} / have unknown {extra[:3]} tensors")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(base[name].shape):
            raise SubmissionFailed("invalid", f"{who}: tensor {name} has shape {tuple(tensor.shape)}, "
                                              f"expected {tuple(base[name].shape)}")
        if not torch.isfinite(tensor).all():
            raise SubmissionFailed("nan", f"{who}: tensor {name} contains NaN or inf")


class SandboxedMerger:
    """Merges for one method submission, done by one sandboxed worker started on first use."""

    def __init__(self, suite: Suite, limits: Limits, hidden: list[Path]):
        self.suite, self.limits, self.hidden = suite, limits, hidden
        self._scratch = tempfile.TemporaryDirectory(prefix="willitmerge-merges-")
        self._worker: SandboxedWorker | None = None
        self._base = None
        self._merges = 0

    def merge(self, method: SubmittedMethod, experts: tuple[str, ...]) -> tuple[StateDict, MergeCost]:
        """The merged weights, checked, and what the merge cost as measured from outside the worker."""
        if self._worker is None:
            self._worker = SandboxedWorker("benchmark.submissions.method_worker", self.limits,
                                           writable=[Path(self._scratch.name)], hidden=self.hidden,
                                           env={"OMP_NUM_THREADS": "1"},
                                           readable=[method.folder, *suite_folders(self.suite)])
            self._worker.request({"suite": str(self.suite.root)})  # start-up and suite loading: not a merge's cost
            self._base = dict(self.suite.base_tensors())
        self._merges += 1
        out = Path(self._scratch.name).resolve() / f"merge-{self._merges}.safetensors"  # deleted once read
        self._worker.request({"suite": str(self.suite.root), "folder": str(method.folder),
                              "params": dict(method.params), "experts": list(experts), "out": str(out)})
        usage = self._worker.usage
        try:
            state = load_file(str(out))
        except Exception as err:  # noqa: BLE001 - a worker that claims success but wrote garbage
            raise SubmissionFailed("invalid", f"{method.name}: unreadable merged weights ({err})") from err
        finally:
            out.unlink(missing_ok=True)
        check_merged(state, self._base, f"{method.name} on {'+'.join(experts)}")
        return state, MergeCost(usage.seconds, usage.peak_rss_mb, isolation().tool)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
        self._scratch.cleanup()
