"""The boards' settings, read from `boards.yaml` beside this module and checked when loaded."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ..merging import METHODS, MergeMethod, get_method
from ..submissions.schema import did_you_mean

BOARDS_FILE = Path(__file__).with_name("boards.yaml")


class MethodBoard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str

    @field_validator("reference")
    @classmethod
    def _registered(cls, name: str) -> str:
        if name not in METHODS:
            raise ValueError(f"no registered merge method {name!r}{did_you_mean(name, METHODS)}")
        return name


class Boards(BaseModel):
    model_config = ConfigDict(extra="forbid")

    methods: MethodBoard

    @property
    def reference(self) -> str:
        return self.methods.reference

    def reference_method(self) -> MergeMethod:
        return get_method(self.methods.reference)

    @property
    def reference_label(self) -> str:
        """The reference as the tables print it, e.g. `weight-avg`."""
        return self.methods.reference.replace("_", "-")


def load_boards(path: Path = BOARDS_FILE) -> Boards:
    try:
        return Boards.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as err:
        first = err.errors()[0]
        raise ValueError(f"{path}: field `{'.'.join(map(str, first['loc']))}`: {first['msg']}") from None


BOARDS = load_boards()
