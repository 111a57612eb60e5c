"""A library's name bound now and imported on first use.

transformers takes seconds to import, and every sandboxed predictor worker imports the suite module
only to read metrics; a learned predictor starts one worker per fold. Binding the name to a
`LazyName` keeps the code that calls it unchanged, so no cache key moves (`benchmark.provenance`
hashes the calling code, never the library's).
"""

from __future__ import annotations

import importlib


class LazyName:
    """Stands for `from module import name`: calls, attributes and isinstance go to the real object."""

    def __init__(self, module: str, name: str):
        self._module, self._name, self._object = module, name, None

    def _resolve(self):
        if self._object is None:
            self._object = getattr(importlib.import_module(self._module), self._name)
        return self._object

    def __call__(self, *args, **kwargs):
        return self._resolve()(*args, **kwargs)

    def __getattr__(self, attribute: str):
        return getattr(self._resolve(), attribute)

    def __instancecheck__(self, instance) -> bool:
        return isinstance(instance, self._resolve())

    def __repr__(self) -> str:
        state = "imported" if self._object is not None else "not imported yet"
        return f"<{self._module}.{self._name}, {state}>"
