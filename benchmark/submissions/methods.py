"""Merge-method submissions as the harness sees them: a spec to key cached results by and the
tuning candidates. The harness never imports submission code; it reads `submission.yaml` and hashes
the folder (the sandboxed merges are `benchmark.tracks.methods`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..merging import METHODS, expand_search_space, get_method, load_mergekit_method
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
