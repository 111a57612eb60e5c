"""Synthetic task families of the tiny suites.

Each family turns a seeded random generator into (prompt, answer) pairs with a distinct
prompt prefix, so one character-level model can hold every skill at once and lm-eval can
score each by exact match. Families differ on purpose: arithmetic variants share structure,
string transformations do not, and fact recall depends only on what was memorised.

`FAMILIES` is a pool larger than any one suite: a suite's recipe picks its tasks from it, so a
later evaluation round can add experts for families its base never saw. Families are only ever
appended, and an existing generator's random calls never change, so published splits stay fixed.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Callable

LETTERS = string.ascii_lowercase
COLORS = ("red", "blue", "green", "gold", "pink", "gray", "teal", "plum")
Example = tuple[str, str]


@dataclass(frozen=True)
class TaskFamily:
    """A named generator of examples; `kind` groups families that share structure."""

    name: str
    kind: str
    description: str
    sample: Callable[[random.Random], Example]


def _word(rng: random.Random, low: int = 4, high: int = 7) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(low, high)))


def _add(rng: random.Random) -> Example:
    a, b = rng.randint(0, 999), rng.randint(1, 9)
    return f"add {a}+{b}=", str(a + b)


def _sub(rng: random.Random) -> Example:
    a, b = rng.randint(10, 999), rng.randint(1, 9)
    return f"sub {a}-{b}=", str(a - b)


def _max(rng: random.Random) -> Example:
    nums = [rng.randint(0, 99) for _ in range(3)]
    return f"max {nums[0]},{nums[1]},{nums[2]}=", str(max(nums))


def _rev(rng: random.Random) -> Example:
    w = _word(rng)
    return f"rev {w}>", w[::-1]


def _rot(rng: random.Random) -> Example:
    w = _word(rng)
    return f"rot {w}>", "".join(LETTERS[(LETTERS.index(c) + 1) % 26] for c in w)


def _dup(rng: random.Random) -> Example:
    w = _word(rng, 3, 5)
    return f"dbl {w}>", "".join(c + c for c in w)


def _min(rng: random.Random) -> Example:
    nums = [rng.randint(0, 99) for _ in range(3)]
    return f"min {nums[0]},{nums[1]},{nums[2]}=", str(min(nums))


def _mul(rng: random.Random) -> Example:
    a, b = rng.randint(0, 999), rng.randint(1, 9)
    return f"mul {a}*{b}=", str(a * b)


def _dif(rng: random.Random) -> Example:
    a, b = rng.randint(0, 99), rng.randint(0, 99)
    return f"dif {a},{b}=", str(abs(a - b))


def _dsm(rng: random.Random) -> Example:
    n = rng.randint(100, 9999)
    return f"dsm {n}=", str(sum(map(int, str(n))))


def _cnt(rng: random.Random) -> Example:
    w = _word(rng, 2, 9)
    return f"cnt {w}>", str(len(w))


def _lst(rng: random.Random) -> Example:
    w = _word(rng)
    return f"lst {w}>", w[-1]


def _srt(rng: random.Random) -> Example:
    w = _word(rng)
    return f"srt {w}>", "".join(sorted(w))


def _swp(rng: random.Random) -> Example:
    w = _word(rng)
    return f"swp {w}>", w[-1] + w[1:-1] + w[0]


def _ror(rng: random.Random) -> Example:
    w = _word(rng)
    return f"ror {w}>", "".join(LETTERS[(LETTERS.index(c) - 1) % 26] for c in w)


def _cpy(rng: random.Random) -> Example:
    w = _word(rng)
    return f"cpy {w}>", w


FAMILIES: dict[str, TaskFamily] = {
    f.name: f
    for f in (
        TaskFamily("add", "arithmetic", "a number below 1000 plus one digit", _add),
        TaskFamily("sub", "arithmetic", "a number below 1000 minus one digit", _sub),
        TaskFamily("max", "arithmetic", "largest of three numbers below 100", _max),
        TaskFamily("rev", "string", "reverse a word of 4-7 letters", _rev),
        TaskFamily("rot", "string", "shift each letter of a word by one", _rot),
        TaskFamily("dbl", "string", "double each letter of a word of 3-5 letters", _dup),
        # The pool beyond the first suite's six families; every one yields thousands of distinct prompts.
        TaskFamily("min", "arithmetic", "smallest of three numbers below 100", _min),
        TaskFamily("mul", "arithmetic", "a number below 1000 times one digit", _mul),
        TaskFamily("dif", "arithmetic", "absolute difference of two numbers below 100", _dif),
        TaskFamily("dsm", "arithmetic", "sum of the digits of a number of 3-4 digits", _dsm),
        TaskFamily("cnt", "string", "length of a word of 2-9 letters", _cnt),
        TaskFamily("lst", "string", "last letter of a word of 4-7 letters", _lst),
        TaskFamily("srt", "string", "letters of a word of 4-7 letters in alphabetical order", _srt),
        TaskFamily("swp", "string", "swap the first and last letter of a word of 4-7 letters", _swp),
        TaskFamily("ror", "string", "shift each letter of a word back by one", _ror),
        TaskFamily("cpy", "string", "copy a word of 4-7 letters", _cpy),
    )
}


@dataclass(frozen=True)
class FactBank:
    """Synthetic entities with two attributes each; recall tasks query one attribute."""

    entities: tuple[str, ...]
    cities: tuple[str, ...]
    colors: tuple[str, ...]

    @classmethod
    def make(cls, seed: int, size: int) -> "FactBank":
        rng = random.Random(seed)
        names: set[str] = set()
        while len(names) < size:
            names.add("".join(rng.choice(LETTERS) for _ in range(5)))
        entities = tuple(sorted(names))
        city_pool = sorted({"".join(rng.choice(LETTERS) for _ in range(3)) for _ in range(40)})
        cities = tuple(rng.choice(city_pool) for _ in entities)
        colors = tuple(rng.choice(COLORS) for _ in entities)
        return cls(entities, cities, colors)

    def examples(self, attribute: str) -> list[Example]:
        if attribute == "cap":
            return [(f"cap {e}?", c) for e, c in zip(self.entities, self.cities)]
        if attribute == "col":
            return [(f"col {e}?", c) for e, c in zip(self.entities, self.colors)]
        raise ValueError(f"unknown fact attribute {attribute!r}; use 'cap' or 'col'")


FACT_ATTRIBUTES = {"cap": "three-letter home city of a synthetic entity",
                   "col": "favourite colour of a synthetic entity"}
