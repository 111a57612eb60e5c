"""Merge methods written as mergekit YAML, run through mergekit's Python API.

A template names the base as `{{base}}`; a `models` entry whose model is `{{expert}}` is
repeated once per expert. mergekit reads and writes model folders, so this path costs a
disk round trip that the built-in in-memory methods avoid.
"""

from __future__ import annotations

import copy
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from safetensors.torch import load_file

from ..suite.suite import StateDict

BASE_PLACEHOLDER = "{{base}}"
EXPERT_PLACEHOLDER = "{{expert}}"


class MergekitTemplateError(ValueError):
    """A mergekit template that cannot be filled in; the message says what to change."""


@dataclass(frozen=True)
class MergekitMethod:
    name: str
    template: str
    source: str = "<inline>"
    libraries = ("mergekit",)

    def __post_init__(self):
        spec = self._parse()
        if not any(m.get("model") == EXPERT_PLACEHOLDER for m in spec.get("models", [])):
            raise MergekitTemplateError(f"{self.source}: field `models` needs one entry with "
                                        f"`model: \"{EXPERT_PLACEHOLDER}\"` (repeated once per expert)")

    def _parse(self) -> dict[str, Any]:
        try:
            spec = yaml.safe_load(self.template)
        except yaml.YAMLError as err:
            raise MergekitTemplateError(f"{self.source}: not valid YAML ({err})") from err
        if not isinstance(spec, dict) or "merge_method" not in spec:
            raise MergekitTemplateError(f"{self.source}: a mergekit config needs a top-level `merge_method`")
        return spec

    def spec(self) -> dict[str, Any]:
        """The one name of a mergekit method everywhere: `mergekit:<name>` and its template's hash."""
        return {"method": f"mergekit:{self.name}",
                "params": {"template_sha256": hashlib.sha256(self.template.encode()).hexdigest()}}

    def candidates(self) -> list["MergekitMethod"]:
        return [self]  # parameters live in the template

    def code_roots(self) -> tuple:
        return (MergekitMethod,)

    def config_for(self, base_dir: Path, expert_dirs: list[Path]) -> dict[str, Any]:
        """The filled-in mergekit configuration for these folders."""
        spec = self._parse()
        models = []
        for entry in spec.get("models", []):
            if entry.get("model") == EXPERT_PLACEHOLDER:
                for d in expert_dirs:
                    models.append(copy.deepcopy(entry) | {"model": str(d)})
            else:
                models.append(entry)
        spec["models"] = models
        if spec.get("base_model") == BASE_PLACEHOLDER:
            spec["base_model"] = str(base_dir)
        return spec

    def merge_folders(self, base_dir: Path, expert_dirs: list[Path]) -> StateDict:
        from mergekit.config import MergeConfiguration
        from mergekit.io.tasks import LoaderCache
        from mergekit.merge import MergeOptions, run_merge

        config = MergeConfiguration.model_validate(self.config_for(base_dir, expert_dirs))
        with tempfile.TemporaryDirectory(prefix="willitmerge-mergekit-") as out:
            try:
                run_merge(config, out, MergeOptions(copy_tokenizer=False, write_model_card=False, quiet=True,
                                                    random_seed=0))
            finally:
                # mergekit keeps a loader, with its files mapped, per model folder for the life of the
                # process; every merge here reads new folders, so a worker merging 112 pairs of a 135M
                # model kept ~1 GB more mapped per merge until its address space ran out.
                LoaderCache().loaders.clear()
            state: StateDict = {}
            for shard in sorted(Path(out).glob("*.safetensors")):
                state.update(load_file(str(shard)))
        return state


def load_mergekit_method(path: Path, name: str | None = None) -> MergekitMethod:
    return MergekitMethod(name or path.stem, path.read_text(), source=str(path))
