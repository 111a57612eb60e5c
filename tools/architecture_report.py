"""Where the package's architecture stands against its targets: `python tools/architecture_report.py`.

Prints the import cycles among `benchmark` modules, the files over MAX_LINES lines, the `dict[str, Any]`
annotations left in score and result interfaces, the imports of our own package made inside
functions, and the harness logic in `benchmark/cli/`; exits 1 if any target is missed. The
analysis reads syntax trees only, and `tests/test_architecture.py` asserts on the same functions.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "benchmark"
MAX_LINES = 350
# Score and result interfaces: what a track returns and what scoring and publishing read.
RESULT_INTERFACES = ("tracks", "scoring", "publish/results.py")
# What the command line may not call into (it parses arguments and prints): module -> names it may still
# import from there (an entry point, or a value built from its options).
# The tracks' entry points are what it calls: a board's Track, built with a Harness, run on a folder,
# and the column spec it prints with.
TRACK_ENTRY_POINTS = ("Track", "Harness", "MethodTrack", "PredictorTrack", "TransferTrack", "score_in_process",
                      "columns", "METHOD_COLUMNS", "PREDICTOR_COLUMNS", "PER_METHOD_COLUMNS", "TRANSFER_COLUMNS")
HARNESS_INTERNALS = {"benchmark.sandbox": (), "benchmark.isolation": ("Limits",),
                     "benchmark.store": ("default_cache",), "benchmark.predictors.harness": (),
                     "benchmark.submissions.methods": (), "benchmark.groundtruth.runner": (),
                     "benchmark.tracks": TRACK_ENTRY_POINTS}
# Imports of our own package inside functions that stay, and why.
FUNCTION_IMPORTS_KEPT = {
    # `import benchmark` stays light (0.02 s, not 5): every sandboxed worker imports the root package first
    ("benchmark", "load_ground_truth"): "keeps `import benchmark` light",
    ("benchmark", "load_suite"): "keeps `import benchmark` light",
    # its code is part of the committed merge costs' key, and so is what its module names at its top: it
    # changes with the next issue that changes keys
    ("benchmark.submissions.loading", "load_method"): "traced by committed cache keys",
}


@dataclass(frozen=True)
class Import:
    """One import of a `benchmark` module: where it is (`function` is None at module level)."""

    source: str
    target: str
    line: int
    function: str | None
    names: tuple[str, ...]


def module_of(path: Path) -> str:
    """The dotted module name of a file of the package (a package's own name for its `__init__.py`)."""
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:`: never executed, they are annotations' imports."""
    return {id(node) for block in tree.body if isinstance(block, ast.If) and
            isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING" for node in ast.walk(block)}


def imports_of(path: Path, annotations_too: bool = False) -> Iterator[Import]:
    """Every executed import of a `benchmark` module in a file (with `annotations_too`, also those under
    TYPE_CHECKING), each `from X import m` of a submodule m as an import of X.m."""
    source = module_of(path)
    package = source.split(".") if path.name == "__init__.py" else source.split(".")[:-1]
    tree = ast.parse(path.read_text())
    skipped = set() if annotations_too else _type_checking_only(tree)
    functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    owner = {id(node): fn.name for fn in functions for node in ast.walk(fn)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module or ""
            if base.split(".")[0] != "benchmark":
                continue
            names = tuple(alias.name for alias in node.names)
            submodules = [f"{base}.{name}" for name in names if _is_module(f"{base}.{name}")]
            for target in submodules or [base]:
                yield Import(source, target, node.lineno, owner.get(id(node)), names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "benchmark":
                    yield Import(source, alias.name, node.lineno, owner.get(id(node)), ())


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def all_imports(annotations_too: bool = False) -> list[Import]:
    return [found for path in package_files() for found in imports_of(path, annotations_too)]


def import_cycles(imports: list[Import]) -> list[list[str]]:
    """The strongly connected components of the module import graph that hold a cycle (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for found in imports:
        graph.setdefault(found.source, set()).add(found.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def long_files(limit: int = MAX_LINES) -> list[tuple[str, int]]:
    counts = [(str(path.relative_to(ROOT)), len(path.read_text().splitlines())) for path in package_files()]
    return [(name, count) for name, count in counts if count > limit]


def function_level_imports(imports: list[Import]) -> list[Import]:
    return [found for found in imports if found.function is not None]


def unexplained(inner: list[Import]) -> list[Import]:
    return [found for found in inner if (found.source, found.function) not in FUNCTION_IMPORTS_KEPT]


def untyped_results() -> list[str]:
    """`dict[str, Any]` annotations in the score and result interfaces (an absent package counts none)."""
    found = []
    for part in RESULT_INTERFACES:
        path = PACKAGE / part
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.is_file() else []:
            tree = ast.parse(file.read_text())
            annotations = [node.annotation for node in ast.walk(tree) if isinstance(node, (ast.arg, ast.AnnAssign))]
            annotations += [node.returns for node in ast.walk(tree)
                            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
            found += [f"{file.relative_to(ROOT)}:{a.lineno}" for a in annotations if a is not None
                      and any(ast.unparse(n).replace(" ", "") == "dict[str,Any]" for n in ast.walk(a))]
    return found


def cli_harness_calls(imports: list[Import]) -> list[str]:
    """Names the command line imports from the harness's internals (HARNESS_INTERNALS)."""
    found = []
    for item in imports:
        if not item.source.startswith("benchmark.cli"):
            continue
        for module, allowed in HARNESS_INTERNALS.items():
            if item.target == module or item.target.startswith(module + "."):
                found += [f"{item.source}:{item.line} {item.target}.{name}" for name in item.names or ("*",)
                          if name not in allowed]
    return found


def main() -> int:
    imports = all_imports()
    cycles, long, inner = import_cycles(imports), long_files(), function_level_imports(imports)
    untyped, harness = untyped_results(), cli_harness_calls(imports)
    print(f"import cycles among benchmark modules: {len(cycles)} (target 0)")
    for cycle in cycles:
        print("  " + " <-> ".join(cycle))
    typed = [c for c in import_cycles(all_imports(annotations_too=True)) if c not in cycles]
    print(f"  more with the imports made for annotations only (under TYPE_CHECKING, never run): {len(typed)}")
    for cycle in typed:
        print("    " + " <-> ".join(cycle))
    print(f"files over {MAX_LINES} lines: {len(long)} (target 0)")
    for name, count in long:
        print(f"  {name}: {count}")
    present = [part for part in RESULT_INTERFACES if (PACKAGE / part).exists()]
    print(f"dict[str, Any] annotations in score/result interfaces ({', '.join(present)}): {len(untyped)}")
    for where in untyped:
        print(f"  {where}")
    print(f"imports of our own package inside functions: {len(unexplained(inner))} (target 0), "
          f"besides {len(inner) - len(unexplained(inner))} kept on purpose")
    for item in inner:
        why = FUNCTION_IMPORTS_KEPT.get((item.source, item.function))
        print(f"  {item.source}:{item.line} {item.function}() imports {item.target}" + (f" (kept: {why})" if why else ""))
    print(f"harness logic in benchmark/cli (imports of {', '.join(HARNESS_INTERNALS)}): {len(harness)} (target 0)")
    for where in harness:
        print(f"  {where}")
    missed = [name for name, count in [("cycles", len(cycles)), ("long files", len(long)),
                                       ("function-level imports", len(unexplained(inner))),
                                       ("cli harness logic", len(harness))]
              if count]
    print("targets missed: " + (", ".join(missed) if missed else "none"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
