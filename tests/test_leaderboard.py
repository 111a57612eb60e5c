"""The leaderboard: ranks from paired comparisons, byte-identical output, and a page that works in
a real headless Chromium (publishing it is tested in test_dataset_export.py)."""

import dataclasses
import hashlib
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from benchmark.evaluation import EvalSettings
from benchmark.publish import build_leaderboard
from benchmark.publish.leaderboard import FILES
from benchmark.scoring.ranking import RULE
from benchmark.publish.html import render_html
from benchmark.tracks.columns import format_interval
from benchmark.publish.results import transfer_board
from benchmark.isolation import Limits, isolation
from benchmark.predictors.metrics import DEMYSTIFYING_METRICS
from benchmark.predictors.suites import load_prediction_suite
from benchmark.store import JobStore
from benchmark.submissions.loading import load_predictor
from benchmark.tracks import Harness, TransferTrack, hidden_from_submissions, transfer_pending
from benchmark.suite import find_suite

REPO = Path(__file__).parents[1]


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
                  show_progress=False, transfers=[(micro_suite.name, "demystifying-vitb16")])
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
    assert set(by_name["ta"].scores.tuned.chosen) == {p.id for p in micro_suite.manifest.pairs}  # α per pair
    assert by_name["weight-avg"].scores.vs_weight_avg is None  # it is the reference
    wtl = by_name["ta"].scores.vs_weight_avg
    assert wtl.wins + wtl.ties + wtl.losses == by_name["ta"].scores.pairs == len(micro_suite.manifest.pairs)
    preds = {r.name: r for r in predictors.rows}
    assert preds["kinship"].status == "incomplete" and preds["kinship"].rank is None  # declared for tiny only
    assert preds["l1-pearson-linear"].rank is not None and preds["random"].rank is not None
    text = (out / "README.md").read_text()
    assert "| rank | method |" in text and "| rank | predictor |" in text and "**broken** (failed)" in text
    assert RULE in text and results.ranking == RULE
    for b in (methods, predictors):  # paired comparisons behind every rank
        ranked = [r for r in b.rows if r.rank is not None]
        assert len(b.comparisons) == len(ranked) * (len(ranked) - 1) // 2
        assert ranked[0].to_above is None and all(r.to_above.name == above.name for above, r in zip(ranked, ranked[1:]))
        assert all(r.rank == 1 + len(r.beaten_by) for r in ranked)
        assert all(r.provenance for r in b.rows if r.status == "complete")


def test_transfer_board_is_pending_until_both_suites_have_metrics_and_ground_truth(built, micro_suite, tmp_path):
    out, results, _, _ = built
    (pending,) = results.transfer
    assert (pending.train_suite, pending.test_suite, pending.status, pending.rows) == (
        micro_suite.name, "demystifying-vitb16", "pending", [])
    assert pending.reason.startswith(f"pending: no metrics for {micro_suite.name} (0 of ")
    assert f"no ground truth for {micro_suite.name}" in pending.reason and pending.reason in (out / "README.md").read_text()
    assert transfer_pending([find_suite("tiny"), find_suite("demystifying-vitb16")], tmp_path) is None


def _shared(pairs, features):
    return [dataclasses.replace(p, metrics={m: p.metrics[m] for m in features}, handles=None, base=None,
                                calibration=()) for p in pairs]


@pytest.fixture(scope="module")
def transferred(tmp_path_factory):
    """The learned baseline fit on every pair of tiny and scored on the ViT suite (28 metrics in common)."""
    cache = tmp_path_factory.mktemp("transfer")
    tiny, vit = find_suite("tiny"), find_suite("demystifying-vitb16")
    truths = load_prediction_suite("tiny", cache, show_progress=False), load_prediction_suite(vit.root, cache)
    harness = Harness(JobStore(cache / "jobs"), Limits(seconds=600, memory_mb=4096),
                      tuple(hidden_from_submissions(cache, [tiny, vit])), cache)
    track = TransferTrack(harness, tiny, vit, lambda: truths[0], lambda: truths[1])
    return track.run(REPO / "submissions/predictors/l1-pearson-linear"), truths, track


def test_transfer_fits_on_one_suite_and_scores_the_other(transferred):
    entry, (tiny, vit), track = transferred
    assert entry.status == "complete", entry.reason
    methods = sorted(set(tiny.methods) & set(vit.methods))
    assert len(methods) >= 3 and sorted(entry.scores.methods) == methods
    assert entry.scores.features == len(DEMYSTIFYING_METRICS) and entry.scores.fit_pairs == len(tiny.pairs)
    _, predictor = load_predictor(REPO / "submissions/predictors/l1-pearson-linear")  # our own baseline, in process
    train, test = _shared(tiny.pairs, DEMYSTIFYING_METRICS), _shared(vit.pairs, DEMYSTIFYING_METRICS)
    for m in methods:  # the sandboxed run is exactly: fit on all of tiny, predict the ViT pairs
        y = tiny.targets[(m, "na")]
        predictor.fit([p for p, v in zip(train, y) if np.isfinite(v)], y[np.isfinite(y)], m)
        actual = vit.targets[(m, "na")]
        keep = np.isfinite(actual)
        rho = stats.spearmanr(predictor.predict(test, m)[keep], actual[keep])[0]
        assert entry.scores.methods[m].spearman == pytest.approx(rho, abs=1e-6)
        assert entry.scores.methods[m].pairs == keep.sum()
    low, high = entry.scores.spearman_ci
    assert low < entry.scores.spearman < high
    assert entry.scores.spearman == pytest.approx(np.mean([entry.scores.methods[m].spearman for m in methods]))
    never = lambda: pytest.fail("a cached transfer loads no suite")  # noqa: E731
    again = TransferTrack(track.harness, track.train, track.suite, never, never)
    assert again.run(REPO / "submissions/predictors/l1-pearson-linear") == entry
    assert track.run(REPO / "submissions/predictors/random") is None  # does not declare `transfer`


def test_leaderboard_is_byte_identical_when_regenerated(built):
    out, _, _, digests = built
    assert digests == {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in FILES}


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
    tasks = {t for r in methods.rows for t in r.plots.task_na or {}}
    assert len(browser.find_elements(By.CSS_SELECTOR, "rect.heat")) == complete_methods * len(tasks)
    scatters = browser.find_elements(By.CSS_SELECTOR, f"#predictors-{predictors.suite} figure.scatter")
    assert len(scatters) == sum(r.status == "complete" for r in predictors.rows)
    assert all(len(f.find_elements(By.TAG_NAME, "circle")) > 100 for f in scatters)


def test_page_selects_boards_and_shows_entry_detail_in_chromium(built, transferred, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _, results, _, _ = built
    methods, predictors = _boards(results)
    entry = transferred[0]
    boards = results.boards
    page = results.model_copy(update={"transfer": [
        transfer_board("tiny", predictors.suite, [entry], None, boards), *results.transfer]})
    (tmp_path / "index.html").write_text(render_html(page))
    browser.get((tmp_path / "index.html").as_uri())
    visible = lambda: [s.get_attribute("id") for s in browser.find_elements(By.CSS_SELECTOR, "section.board")  # noqa: E731
                       if s.is_displayed()]
    assert visible() == [f"methods-{methods.suite}"]  # one board at a time, the first by default
    suite, track = Select(browser.find_element(By.ID, "suite-select")), Select(browser.find_element(By.ID, "track-select"))
    suite.select_by_value(predictors.suite)
    track.select_by_value("predictors")
    assert visible() == [f"predictors-{predictors.suite}"]
    track.select_by_value("methods")  # a result suite has no method board
    assert visible() == [] and browser.find_element(By.ID, "no-board").text == f"No methods board for {predictors.suite}."
    track.select_by_value("transfer")
    assert visible() == [f"transfer-tiny-{predictors.suite}", f"transfer-{methods.suite}-{predictors.suite}"]
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, f"#table-transfer-tiny-{predictors.suite} td")]
    l1 = next(r for r in predictors.rows if r.name == "l1-pearson-linear")
    assert cells[:3] == ["l1-pearson-linear", format_interval(entry.scores.spearman, entry.scores.spearman_ci),
                         format_interval(l1.primary, l1.primary_ci)]  # the transfer figure beside the within-suite one
    assert results.transfer[0].reason in browser.find_element(By.ID, f"transfer-{methods.suite}-{predictors.suite}").text
    track.select_by_value("predictors")
    browser.find_element(By.CSS_SELECTOR, f"a[href='#board={predictors.suite}-predictors&entry=l1-pearson-linear']").click()
    detail = browser.find_element(By.ID, f"entry-predictors-{predictors.suite}-l1-pearson-linear")
    assert detail.get_attribute("open") is not None
    per_method = detail.find_elements(By.CSS_SELECTOR, "table.per-method tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in per_method] == sorted(l1.scores.methods)
    assert l1.provenance.entry_key in detail.text
    suite.select_by_value(methods.suite)
    track.select_by_value("methods")
    for name in ("weight-avg", "ta"):
        browser.find_element(By.CSS_SELECTOR, f"a[href='#board={methods.suite}-methods&entry={name}']").click()
    weight_avg = browser.find_element(By.ID, f"entry-methods-{methods.suite}-weight-avg")
    row = next(r for r in methods.rows if r.name == "weight-avg")
    tasks = [r.find_elements(By.TAG_NAME, "td")[0].text for r in weight_avg.find_elements(By.CSS_SELECTOR, "table.per-task tbody tr")]
    assert tasks == sorted(row.plots.task_na)
    assert row.isolation == isolation().tool and f"isolation\n{row.isolation}" in weight_avg.text  # recorded per entry
    assert row.provenance.records_digest in weight_avg.text
