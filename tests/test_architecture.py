"""The package's shape: imports follow the data flow, and no suite is special-cased in code."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "benchmark"
# Lower layers never import higher ones: suite -> merge -> evaluate -> ground truth -> scores -> leaderboard.
LAYERS = ["seeding", "linalg", "provenance", "store", "hub", "isolation", "sandbox", "suite", "merging", "evaluation",
          "groundtruth", "scoring", "predictors", "submissions", "publish", "cli", "__init__"]


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path):
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
            if target.split(".")[0] == "benchmark":
                yield module, target


def test_imports_follow_the_flow():
    upward = [(source, target) for path in PACKAGE.rglob("*.py") for source, target in _imports(path)
              if LAYERS.index(_layer(target)) > LAYERS.index(_layer(source))]
    assert not upward, f"imports against the flow {' -> '.join(LAYERS)}: {upward}"


def test_no_suite_is_special_cased_in_code():
    """Only a CLI option's default and the recipe that defines the tiny suite may name it."""
    allowed = {*(PACKAGE / "cli").glob("*.py"), PACKAGE / "suite" / "recipe.py"}
    found = []
    for path in sorted(set(PACKAGE.rglob("*.py")) - allowed):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                      and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        found += [f"{path.relative_to(PACKAGE)}:{node.lineno}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and node.value in ("tiny", "demystifying-vitb16")
                  and id(node) not in docstrings]
    assert not found, f"suite names in code: {found}"
