"""The package's shape: imports follow the data flow, between and inside packages, without cycles and at
the top of modules, and no suite is special-cased in code."""

import ast
import importlib.util
import inspect
import sys
from pathlib import Path

from benchmark.suite import RECIPES, bundled_suites
from benchmark.suite.build.declared import declared_suites

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "benchmark"
_spec = importlib.util.spec_from_file_location("architecture_report", ROOT / "tools" / "architecture_report.py")
report = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)

# Lower layers never import higher ones: suite -> merge -> evaluate -> ground truth -> scores -> leaderboard.
LAYERS = ["lazy_import", "seeding", "linalg", "provenance", "store", "hub", "isolation", "sandbox", "suite", "merging", "evaluation",
          "groundtruth", "scoring", "predictors", "submissions", "tracks", "blind", "publish", "cli", "__init__"]
# Inside each package the same rule, module by module in data-flow order: a module imports only modules
# listed before it (a package's __init__, which gathers its API, comes after what it exports).
MODULE_ORDER = {
    "benchmark.suite": ["manifest", "generation", "lm_eval_tasks", "pretrained_base", "suite", "results_suite",
                        "build", "registry", "__init__"],
    "benchmark.suite.build": ["tasks", "vocab", "tokenizer", "lexicon", "lexicon_pool", "recipe", "training",
                              "declared", "fetch", "importer", "scratch", "on_base", "pretrained", "pool_accuracy",
                              "pool", "__init__"],
    "benchmark.merging": ["registry", "methods", "mergekit_adapter", "merge", "streaming", "__init__"],
    "benchmark.evaluation": ["vllm_compat", "worker_extension", "engine", "cuda", "settings", "base_accuracy",
                             "__init__"],
    "benchmark.groundtruth": ["jobs", "runner", "ray_executor", "grid", "targets", "dataset", "plan", "__init__"],
    "benchmark.scoring": ["records", "correlation", "paired", "ranking", "methods", "transfer", "__init__"],
    "benchmark.predictors": ["api", "metrics", "suites", "zero_shot", "harness"],
    "benchmark.predictors.metrics": ["weights", "model", "__init__"],
    "benchmark.submissions": ["schema", "checks", "loading", "template", "changed", "method_worker",
                              "predictor_worker", "methods", "__init__"],
    "benchmark.tracks": ["boards", "entry", "protocol", "base", "columns", "predictors", "transfer", "methods",
                         "__init__"],
    "benchmark.blind": ["secret", "draw", "layout", "figures", "opening", "scoring", "reveal", "__init__"],
    "benchmark.publish": ["results", "blind_ranks", "markdown", "check_report", "plots", "html", "leaderboard",
                          "layout", "card", "export", "hub", "space", "__init__"],
    "benchmark.cli": ["common", "suite", "groundtruth", "submit", "board", "blind", "dataset", "__init__"],
}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _position(package: str, module: str) -> str | None:
    """`module`'s entry in `package`'s order (a sub-package counts as one entry), None if outside it."""
    if module == package:
        return "__init__"
    if module.startswith(package + "."):
        return module[len(package) + 1:].split(".")[0]
    return None


def test_imports_follow_the_flow():
    upward = [(i.source, i.target) for i in report.all_imports()
              if LAYERS.index(_layer(i.target)) > LAYERS.index(_layer(i.source))]
    assert not upward, f"imports against the flow {' -> '.join(LAYERS)}: {upward}"


def test_every_package_orders_its_modules():
    packages = {report.module_of(p.parent / "__init__.py") for p in report.package_files() if p.parent != PACKAGE}
    for package in sorted(packages):
        folder = ROOT.joinpath(*package.split("."))
        modules = {p.stem for p in folder.glob("*.py")} | {p.parent.name for p in folder.glob("*/__init__.py")}
        assert set(MODULE_ORDER.get(package, ())) == modules, \
            f"tests/test_architecture.py MODULE_ORDER[{package!r}]: list exactly its modules {sorted(modules)}"


def test_modules_import_only_modules_before_them_in_their_package():
    backward = []
    for i in report.all_imports():
        for package, order in MODULE_ORDER.items():
            source, target = _position(package, i.source), _position(package, i.target)
            if source and target and source != target and order.index(target) > order.index(source):
                backward.append(f"{i.source}:{i.line} imports {i.target}")
    assert not backward, f"imports against the module order of their package (MODULE_ORDER): {backward}"


def test_no_import_cycles():
    """Among all modules, function-level imports included (imports under TYPE_CHECKING never run)."""
    cycles = report.import_cycles(report.all_imports())
    assert not cycles, f"import cycles: {cycles}"


def test_own_package_imported_at_module_level():
    inner = report.function_level_imports(report.all_imports())
    unexplained = [f"{i.source}:{i.line} {i.function}()" for i in inner
                   if (i.source, i.function) not in report.FUNCTION_IMPORTS_KEPT]
    assert not unexplained, f"imports of benchmark inside functions: {unexplained}; import at the top of the module"
    stale = set(report.FUNCTION_IMPORTS_KEPT) - {(i.source, i.function) for i in inner}
    assert not stale, f"report.FUNCTION_IMPORTS_KEPT lists {sorted(stale)}, which import at module level now: drop them"


def test_no_suite_is_special_cased_in_code():
    """Only the CLI (an option's default) and the module that defines the recipes may name a bundled or
    declared suite; the names come from the registry."""
    names = {s.name for s in bundled_suites()} | {d.suite.name for d in declared_suites()}
    allowed = {*(PACKAGE / "cli").glob("*.py"), *(Path(inspect.getsourcefile(type(r))) for r in RECIPES.values())}
    found = []
    for path in sorted(set(PACKAGE.rglob("*.py")) - allowed):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        found += [f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and node.value in names and id(node) not in docstrings]
    assert not found, f"suite names in code: {found}; take them from the suite's data or a CLI option"
