"""What a cached result depends on besides its inputs: the code that computed it and the
libraries it ran on.

`code_fingerprint(*roots)` hashes the source of the given functions and classes and, through
the names their code looks up, of every function, class and simple constant of this package
they reach. An edit changes the fingerprint of exactly the results whose code reaches it: a
change to TIES's arithmetic recomputes TIES's rows, never TSV's. Sources are compared as
syntax trees without docstrings, so comments, docstrings and formatting never invalidate a
cache. A fingerprint hashes what each piece of code is (its name and syntax tree), never where it
lives: moving a function to another module keeps every key. Code reached only through an attribute
of an argument (`suite.examples(...)`) is not visible to the tracer: name it among the roots.

Fingerprints that results were stored under before this rule (when the module path was hashed
too) stay valid through `LINEAGE_FILE`: for each, the content fingerprint of the very same code,
computed by both rules in one process, maps to the fingerprint its records are stored under.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
import textwrap
import types
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGE = __name__.split(".")[0]
PACKAGE_ROOT = Path(__file__).resolve().parent
LINEAGE_FILE = PACKAGE_ROOT / "provenance_lineage.json"
SIMPLE_CONSTANTS = (bool, int, float, str, bytes, type(None))


def _in_package(obj) -> bool:
    try:
        path = inspect.getsourcefile(obj)
    except TypeError:
        return False
    return path is not None and Path(path).resolve().is_relative_to(PACKAGE_ROOT)


def _is_simple(value) -> bool:
    if isinstance(value, (tuple, frozenset)):
        return all(_is_simple(v) for v in value)
    return isinstance(value, SIMPLE_CONSTANTS)


def _normalised_source(obj) -> str:
    """The syntax tree of obj's source with docstrings removed, as text."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)) and body and \
                isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and \
                isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def _functions_of(cls: type) -> list[types.FunctionType]:
    found = []
    for member in vars(cls).values():
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        elif isinstance(member, property):
            found += [f for f in (member.fget, member.fset) if f is not None]
            continue
        elif isinstance(member, functools.cached_property):
            member = member.func
        if isinstance(member, types.FunctionType):
            found.append(member)
    return found


class _Tracer:
    """`sources`: where each piece of reached code lives -> what it is (its name and normalised source)."""

    def __init__(self, stop_at: tuple = ()):
        self.sources: dict[str, str] = {}
        self.stop_at = stop_at

    def visit(self, obj) -> None:
        obj = inspect.unwrap(obj) if callable(obj) else obj
        if isinstance(obj, types.MethodType):
            obj = obj.__func__
        if not isinstance(obj, (type, types.FunctionType)) or not _in_package(obj) or obj in self.stop_at:
            return
        key = f"{obj.__module__}.{obj.__qualname__}"
        if key in self.sources:
            return
        self.sources[key] = f"{obj.__qualname__}\n{_normalised_source(obj)}"
        if isinstance(obj, types.FunctionType) and _is_simple(obj.__defaults__ or ()):
            self.sources[key] += repr(obj.__defaults__)  # `k: int = SUBSPACE_K` names the constant, not its value
        if isinstance(obj, type):
            for base in obj.__mro__[1:]:
                self.visit(base)
            for fn in _functions_of(obj):
                self._visit_code(fn.__code__, fn.__globals__)
        else:
            self._visit_code(obj.__code__, obj.__globals__)

    def _visit_code(self, code: types.CodeType, namespace: dict) -> None:
        for name in code.co_names:
            if name not in namespace:  # a builtin, an attribute or a local import
                continue
            value = namespace[name]
            if isinstance(value, types.ModuleType):
                if value.__name__.split(".")[0] == PACKAGE:  # `w.layer_svds(...)`: follow the attributes used
                    for attribute in code.co_names:
                        if hasattr(value, attribute):
                            self._visit_value(f"{value.__name__}.{attribute}", getattr(value, attribute))
            else:
                self._visit_value(f"{namespace['__name__']}.{name}", value)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self._visit_code(const, namespace)

    def _visit_value(self, key: str, value) -> None:
        if isinstance(value, (type, types.FunctionType)) or callable(getattr(value, "__wrapped__", None)):
            self.visit(value)
        elif _is_simple(value) and key.split(".")[0] == PACKAGE:
            self.sources.setdefault(key, f"{key.rsplit('.', 1)[-1]} = {value!r}")


def _trace(roots: tuple, stop_at: tuple) -> dict[str, str]:
    tracer = _Tracer(stop_at)
    for root in roots:
        tracer.visit(root)
    return tracer.sources


def content_fingerprint(*roots, stop_at: tuple = ()) -> str:
    """sha256 over what `roots` and all package code they reach are, wherever each lives."""
    return hashlib.sha256(json.dumps(sorted(set(_trace(roots, stop_at).values()))).encode()).hexdigest()


@functools.cache
def _lineage() -> dict[str, str]:
    return json.loads(LINEAGE_FILE.read_text())["fingerprints"]


@functools.cache
def code_fingerprint(*roots, stop_at: tuple = ()) -> str:
    """The fingerprint results computed by `roots` are stored under: the content fingerprint of them and
    all package code they reach, except `stop_at` and what only they reach (code a key covers by another
    entry, e.g. the metric library's), or the fingerprint the same code had before (`LINEAGE_FILE`)."""
    content = content_fingerprint(*roots, stop_at=stop_at)
    return _lineage().get(content, content)


def traced_names(*roots, stop_at: tuple = ()) -> list[str]:
    """What `code_fingerprint(*roots, stop_at=...)` covers, for explaining a cache key."""
    return sorted(_trace(roots, stop_at))


def library_versions(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions (`absent` when not installed)."""
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found
