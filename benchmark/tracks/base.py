"""The skeleton every track runs a submission through, so a track only says what is its own.

check (the folder, as `submit check` does) -> entered? -> key -> cached entry? -> compute in the
sandbox -> store. A submission's failure is its failed entry, never an exception; a bug of the
harness while evaluating one submission is that submission's `harness-error` entry, never the end
of the leaderboard for everyone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ..groundtruth.dataset import BUNDLED_ROOT
from ..isolation import Limits
from ..sandbox import SubmissionFailed
from ..store import JobStore
from ..submissions import MethodSubmission, PredictorSubmission, SubmissionError, check_submission
from ..suite import Suite, SuiteSpec, bundled_suites
from .entry import About, Entry, Provenance, TrackName

REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Harness:
    """What every track runs submissions with: the job store (cached entries and evaluations), the
    sandbox's limits, the paths a submission must not see, and the cache folder (metrics, ground truths)."""

    store: JobStore
    limits: Limits
    hidden: tuple[Path, ...]
    cache: Path

    @classmethod
    def open(cls, cache: Path, limits: Limits = Limits(), suites=(), packs: tuple[Path, ...] = (),
             also_hidden: tuple[Path, ...] = ()) -> "Harness":
        return cls(JobStore(Path(cache) / "jobs", packs=packs), limits,
                   tuple(hidden_from_submissions(cache, suites)) + tuple(also_hidden), Path(cache))


def hidden_from_submissions(cache: Path, suites=()) -> list[Path]:
    """What a sandboxed submission must not read: every bundled suite's ground truth and published
    results, those of `suites` (specs), the ground truths, results and blind rounds in the cache, the
    leaderboard (blind rounds' commitments and sealed files included)."""
    hidden = [BUNDLED_ROOT, Path(cache) / "jobs", Path(cache) / "groundtruth", Path(cache) / "blind",
              REPOSITORY / "leaderboard"]
    for spec in [*bundled_suites(), *suites]:
        hidden += spec.hidden_paths()
    return sorted({p for p in hidden if p.exists()})


def suite_folders(suite: Suite | SuiteSpec) -> list[Path]:
    """What a sandboxed worker reads of a suite: its folder and, for a base pinned outside it, the base's
    folder in the cache (dequantized here, by the harness, if it is not there yet)."""
    if isinstance(suite, SuiteSpec):
        suite = suite.open(with_results=False)
    base = getattr(suite, "base_dir", None)
    return [Path(suite.root)] + ([Path(base)] if base is not None and not Path(base).is_relative_to(suite.root) else [])


class Track(ABC):
    """One board's runtime: built for its suite(s), `run(folder)` gives the submission's entry."""

    name: ClassVar[TrackName]
    submission: ClassVar[type[PredictorSubmission] | type[MethodSubmission]]

    def __init__(self, harness: Harness, suite: SuiteSpec):
        self.harness, self.suite = harness, suite

    def known_suites(self) -> list[str]:
        """Suite names a submission may declare besides the bundled ones (`check_submission`)."""
        return [self.suite.name]

    def listed(self, spec) -> bool:
        """Whether the submission has an entry on this board at all (transfer: only if it declares it)."""
        return True

    def not_entered(self, spec) -> str | None:
        """Why the submission is incomplete here without running (not submitted for this suite), or None."""
        if self.suite.name not in spec.suites:
            return f"not submitted for suite {self.suite.name!r} (its `suites` field)"
        return None

    def key(self, folder: Path, spec) -> str | None:
        """The job-store key the whole entry is cached under; None for a track that assembles its entry
        from cached records on every run (methods)."""
        return None

    @abstractmethod
    def compute(self, folder: Path, spec, entry: Entry) -> None:
        """Run the submission (in the sandbox) and fill `entry`: its status, scores, plots, samples and
        isolation. Raises SubmissionFailed for what the submission did wrong."""

    def run(self, folder: Path) -> Entry | None:
        try:
            return self._run(Path(folder))
        except Exception as err:  # noqa: BLE001 - see Entry.harness_failure
            return Entry.harness_failure(self.name, self.suite.name, folder, err)

    def _run(self, folder: Path) -> Entry | None:
        try:
            spec = check_submission(folder, self.submission, self.known_suites())
        except SubmissionError as err:
            return Entry.failed(self.name, self.suite.name, folder, f"invalid: {err}")
        if not self.listed(spec):
            return None
        entry = Entry(track=self.name, suite=self.suite.name, name=spec.name, about=About.of(spec), status="failed")
        reason = self.not_entered(spec)
        if reason is not None:
            entry.status, entry.reason = "incomplete", reason
            return entry
        key = self.key(folder, spec)
        if key is not None:
            entry.provenance = Provenance(entry_key=key)
            cached = self.harness.store.get(key)
            if cached is not None:
                return Entry.from_record(cached)
        try:
            self.compute(folder, spec, entry)
        except SubmissionFailed as failure:
            entry.status, entry.reason = "failed", f"{failure.kind}: {failure.reason}"
            return entry
        if key is not None:
            self.harness.store.put(key, entry.to_record())
        return entry
