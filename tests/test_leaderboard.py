"""The leaderboard: ranks that respect uncertainty, byte-identical output, a page that works in
a real headless Chromium, and a publish that fails cleanly offline."""

import hashlib
import shutil
import textwrap
from pathlib import Path

import pytest

from benchmark.evaluation import EvalSettings
from benchmark.publish import build_leaderboard
from benchmark.publish.hub import publish_to_hub
from benchmark.publish.leaderboard import FILES
from benchmark.publish.ranking import rank_groups
from benchmark.sandbox import Limits

REPO = Path(__file__).parents[1]


def test_rank_groups_share_rank_when_intervals_overlap_the_leader():
    entries = [{"name": "a", "status": "complete", "primary": 0.9, "primary_ci": [0.8, 1.0]},
               {"name": "b", "status": "complete", "primary": 0.85, "primary_ci": [0.79, 0.9]},
               {"name": "c", "status": "complete", "primary": 0.5, "primary_ci": [0.45, 0.55]},
               {"name": "d", "status": "complete", "primary": 0.45, "primary_ci": [0.3, 0.6]},
               {"name": "e", "status": "failed", "primary": None, "primary_ci": None}]
    ranked = rank_groups(entries)
    assert [(e["name"], e["rank"]) for e in ranked] == [("a", 1), ("b", 1), ("c", 3), ("d", 3), ("e", None)]


def _submission(root: Path, track: str, name: str, body: str) -> None:
    folder = root / "submissions" / track / name
    folder.mkdir(parents=True)
    (folder / "submission.yaml").write_text(textwrap.dedent(body))


@pytest.fixture(scope="module")
def board_root(micro_suite, tmp_path_factory):
    """A checkout with two built-in methods and one that fails, and three predictors."""
    root = tmp_path_factory.mktemp("checkout")
    common = "authors: [test]\nlicence: MIT\n"
    _submission(root, "methods", "weight-avg", f"name: weight-avg\nkind: method\n{common}description: mean\n"
                                               "registry: weight_avg\nsuites: [micro]\n")
    _submission(root, "methods", "ta", f"name: ta\nkind: method\n{common}description: task arithmetic, tuned\n"
                                       "registry: task_arithmetic\nsearch_space: {alpha: [0.3, 1.0]}\nsuites: [micro]\n")
    _submission(root, "methods", "broken", f"name: broken\nkind: method\n{common}description: nan\n"
                                           "entry_point: m.py:Broken\nsuites: [micro]\n")
    (root / "submissions/methods/broken/m.py").write_text(textwrap.dedent("""\
        from dataclasses import dataclass
        from benchmark.merging import MergeMethod

        @dataclass(frozen=True)
        class Broken(MergeMethod):
            name = "broken"
            description = "returns NaN"

            def merge_tensor(self, name, base, deltas, context):
                return deltas[0] * float("nan")
        """))
    for name in ("random", "l1-pearson-linear", "kinship"):
        shutil.copytree(REPO / "submissions" / "predictors" / name, root / "submissions" / "predictors" / name)
    return root


@pytest.fixture(scope="module")
def built(board_root, micro_suite, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    kwargs = dict(cache=cache, settings=EvalSettings(backend="hf"), limits=Limits(seconds=120, memory_mb=4096),
                  suites=[str(micro_suite.root), "demystifying-vitb16"],
                  show_progress=False)
    first = build_leaderboard(board_root, board_root / "leaderboard", **kwargs)
    digests = {f: hashlib.sha256((board_root / "leaderboard" / f).read_bytes()).hexdigest() for f in FILES}
    second = build_leaderboard(board_root, board_root / "leaderboard", **kwargs)
    return board_root / "leaderboard", first, second, digests


def _boards(results):
    """The micro suite's method board and the published suite's predictor board."""
    by_key = {(b.track, b.suite): b for b in results.boards}
    return by_key[("methods", "micro")], by_key[("predictors", "demystifying-vitb16")]


def test_leaderboard_ranks_complete_entries_and_lists_the_rest(built, micro_suite):
    out, results, _, _ = built
    assert [(b.track, b.suite) for b in results.boards] == [
        ("methods", "micro"), ("predictors", "micro"), ("predictors", "demystifying-vitb16")]
    methods, predictors = _boards(results)
    # the micro suite has no ground truth in this cache yet: its predictor entries say how to compute it
    micro_predictors = results.boards[1]
    assert all(r.status == "incomplete" and "willitmerge groundtruth --suite" in r.reason for r in micro_predictors.rows)
    by_name = {r.name: r for r in methods.rows}
    assert by_name["weight-avg"].rank == 1 or by_name["ta"].rank == 1
    assert by_name["broken"].rank is None and by_name["broken"].reason.startswith("nan:")
    assert set(by_name["ta"].scores["tuned"]["chosen"]) == {p.id for p in micro_suite.manifest.pairs}  # α per pair
    assert by_name["weight-avg"].scores["vs_weight_avg"] is None  # it is the reference
    wtl = by_name["ta"].scores["vs_weight_avg"]
    assert wtl["wins"] + wtl["ties"] + wtl["losses"] == by_name["ta"].scores["pairs"] == len(micro_suite.manifest.pairs)
    preds = {r.name: r for r in predictors.rows}
    assert preds["kinship"].status == "incomplete" and preds["kinship"].rank is None  # declared for tiny only
    assert preds["l1-pearson-linear"].rank is not None and preds["random"].rank is not None
    text = (out / "README.md").read_text()
    assert "| rank | method |" in text and "| rank | predictor |" in text and "**broken** (failed)" in text


def test_leaderboard_is_byte_identical_when_regenerated(built):
    out, _, _, digests = built
    assert digests == {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in FILES}


def test_publish_offline_fails_clearly_and_changes_nothing(built):
    out, _, _, digests = built
    with pytest.raises(ConnectionError, match="offline or the repo does not exist; nothing was changed"):
        publish_to_hub("willitmerge/does-not-exist", out, "tiny")
    assert digests == {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in FILES}


@pytest.fixture(scope="module")
def browser():
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        pytest.fail("Debian packages chromium and chromium-driver are needed (`make setup` installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


def test_page_renders_sorts_and_plots_in_chromium(built, browser):
    from selenium.webdriver.common.by import By

    out, results, _, _ = built
    methods, predictors = _boards(results)
    browser.get((out / "index.html").as_uri())
    table = browser.find_element(By.ID, f"table-methods-{methods.suite}")
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == len(methods.rows)
    names = lambda: [r.find_elements(By.TAG_NAME, "td")[1].text for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]  # noqa: E731
    header = table.find_elements(By.TAG_NAME, "th")[2]  # the primary score
    header.click()
    scored = sorted((r for r in methods.rows if r.primary is not None), key=lambda r: r.primary)
    assert names()[:len(scored)] == [r.name for r in scored]  # ascending, unscored rows last
    header.click()
    assert names()[:len(scored)] == [r.name for r in reversed(scored)]
    assert names()[-1] == "broken"
    complete_methods = sum(r.status == "complete" for r in methods.rows)
    assert len(browser.find_elements(By.CSS_SELECTOR, f"#cost-{methods.suite} circle.cost")) == complete_methods
    tasks = {t for r in methods.rows for t in r.plots.get("task_na", {})}
    assert len(browser.find_elements(By.CSS_SELECTOR, "rect.heat")) == complete_methods * len(tasks)
    scatters = browser.find_elements(By.CSS_SELECTOR, f"#predictors-{predictors.suite} figure.scatter")
    assert len(scatters) == sum(r.status == "complete" for r in predictors.rows)
    assert all(len(f.find_elements(By.TAG_NAME, "circle")) > 100 for f in scatters)
