"""One registry for every suite, found by name or by path through one interface.

Kinds (`SuiteKind`): `weights` (a base and experts with a checksummed manifest: the bundled
`data/<name>/` folders and any folder built with `willitmerge suite build`), `results` (an external
published-result folder, see `external/FORMAT.md`: pairs with precomputed metrics and the
published merge results, no weights), `declared` (a base and experts named on the Hub, see
`declared/`) and `recipe` (a recipe `suite build` can build). The first two are folders every
command opens, and each declares a spec: version, citation, the files that define it
(fingerprinted by everything computed from it) and the files hidden from submissions; the last two
are listed by `all_suites` so one can see what can be fetched or built.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from .build.declared import declared_suites
from .build.recipe import RECIPES
from .manifest import MANIFEST_NAME
from .results_suite import (ResultSuite, fingerprint_paths, hidden_paths, is_result_suite, read_result_spec,
                            read_result_suite)
from .suite import Suite

PACKAGE_DATA = Path(__file__).parent
BUNDLED_ROOTS = (PACKAGE_DATA / "data", PACKAGE_DATA / "external")
WEIGHT_SUITE_CITATION = "willitmerge: a benchmark for model mergeability (2026), suite {name} v{version}"


class SuiteKind(StrEnum):
    """What a suite is, which decides what runs on it and how to get it."""

    WEIGHTS = "weights"  # every track runs on it
    RESULTS = "results"  # the predictor track only
    DECLARED = "declared"  # nothing runs until `willitmerge suite fetch` downloads it
    RECIPE = "recipe"  # nothing runs until `willitmerge suite build` builds it


class SuiteNotFound(FileNotFoundError):
    """No suite by that name or path; the message lists what exists."""


@dataclass(frozen=True)
class SuiteSpec:
    """What the registry knows of a suite without loading its weights or data."""

    name: str
    kind: SuiteKind  # WEIGHTS or RESULTS: the kinds a folder can be
    version: str
    citation: str
    root: Path
    bundled: bool

    def open(self, with_results: bool = True) -> Suite | ResultSuite:
        """The suite itself; `with_results=False` reads a result suite without its hidden targets."""
        return Suite(self.root) if self.kind is SuiteKind.WEIGHTS else read_result_suite(self.root, with_results=with_results)

    def fingerprint_paths(self) -> list[Path]:
        """The files whose bytes define the suite's numbers (a weight suite's manifest lists every
        file's sha256; a result suite's two tables)."""
        return [self.root / MANIFEST_NAME] if self.kind is SuiteKind.WEIGHTS else fingerprint_paths(self.root)

    def hidden_paths(self) -> list[Path]:
        """Files of the suite folder itself that submissions must not read (a weight suite's ground
        truth lives apart from it, see `benchmark.groundtruth.ground_truth_dir`)."""
        return [] if self.kind is SuiteKind.WEIGHTS else hidden_paths(self.root, read_result_spec(self.root))

    @property
    def has_weights(self) -> bool:
        return self.kind is SuiteKind.WEIGHTS


def _spec_of(root: Path, bundled: bool) -> SuiteSpec | None:
    if (root / MANIFEST_NAME).is_file():
        suite = Suite(root)
        return SuiteSpec(suite.name, SuiteKind.WEIGHTS, suite.version,
                         WEIGHT_SUITE_CITATION.format(name=suite.name, version=suite.version), suite.root, bundled)
    if is_result_suite(root):
        spec = read_result_spec(root)
        return SuiteSpec(spec.name, SuiteKind.RESULTS, spec.version, spec.citation, root.resolve(), bundled)
    return None


def bundled_suites() -> list[SuiteSpec]:
    """Every suite shipped in the package, sorted by name."""
    specs = [_spec_of(folder, True) for base in BUNDLED_ROOTS if base.is_dir() for folder in sorted(base.iterdir())
             if folder.is_dir()]
    return sorted((s for s in specs if s is not None), key=lambda s: s.name)


@dataclass(frozen=True)
class SuiteEntry:
    """A suite of any kind as `willitmerge suite list` shows it: what it holds and how to get it."""

    name: str
    kind: SuiteKind
    version: str
    summary: str


def all_suites() -> list[SuiteEntry]:
    """Every suite the package knows, of every kind: the bundled ones, then the recipes not shipped
    built, then the declared ones, each group sorted by name."""
    bundled = bundled_suites()
    entries = [SuiteEntry(s.name, s.kind, s.version, _bundled_summary(s)) for s in bundled]
    entries += [SuiteEntry(name, SuiteKind.RECIPE, RECIPES[name].version,
                           f"recipe only (build with `willitmerge suite build {name} --out DIR`)")
                for name in sorted(set(RECIPES) - {s.name for s in bundled})]
    entries += [SuiteEntry(d.suite.name, SuiteKind.DECLARED, d.suite.version,
                           f"declared: {len(d.suite.experts)} experts on the Hub "
                           f"(`willitmerge suite fetch {d.suite.name} --dry-run`)") for d in declared_suites()]
    return entries


def _bundled_summary(spec: SuiteSpec) -> str:
    """Its kind and size: reads the manifest, or a result suite's pairs without its hidden targets."""
    suite = spec.open(with_results=False)
    size = (f"{len(suite.manifest.experts)} experts, {len(suite.manifest.pairs)} pairs"
            if spec.kind is SuiteKind.WEIGHTS
            else f"{len(suite.pairs())} pairs, {len(suite.spec.methods)} methods, published results")
    return f"bundled {spec.kind}\t{size}"


def is_bundled(root: Path) -> bool:
    """Whether a suite folder is one the package ships."""
    return Path(root).resolve().parent in {base.resolve() for base in BUNDLED_ROOTS}


def find_suite(name_or_path: str | Path) -> SuiteSpec:
    """A bundled suite by name, or any suite folder by path. A bare name means a bundled suite even
    if a folder of that name sits in the current directory: write `./name` for the folder."""
    text = str(name_or_path)
    if "/" not in text and text not in (".", ".."):
        for spec in bundled_suites():
            if spec.name == text:
                return spec
    path = Path(name_or_path)
    if path.is_dir():
        spec = _spec_of(path.resolve(), False)  # a broken manifest or suite.yaml raises its own error, naming the field
        if spec is None:
            raise SuiteNotFound(f"{path}: neither a {MANIFEST_NAME} (a suite with weights) nor a suite.yaml "
                                "(a result suite, see benchmark/suite/external/FORMAT.md)")
        return spec
    raise SuiteNotFound(f"no suite {str(name_or_path)!r}: bundled suites are "
                        f"{', '.join(s.name for s in bundled_suites())}; or pass the folder of a built suite "
                        "(`willitmerge suite build`) or of a result suite")


def load_suite(name_or_path: str | Path) -> Suite:
    """A suite with weights, by name or path (`find_suite(...).open()` for any kind)."""
    spec = find_suite(name_or_path)
    if spec.kind is not SuiteKind.WEIGHTS:
        raise SuiteNotFound(f"suite {spec.name!r} holds published results, not weights; it serves the predictor "
                            "track only")
    return Suite(spec.root)
