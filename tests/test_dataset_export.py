"""The published dataset's layout: `dataset export` writes it offline, `datasets.load_dataset` opens every config
it declares, `read_dataset` (what `download` runs on a Hub snapshot) reads it back into the tables it was made
from, and `publish` fails offline without changing anything."""

import hashlib
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from benchmark.blind.layout import BLIND_DIR
from benchmark.cli import app
from benchmark.cli import dataset as cli_dataset
from benchmark.groundtruth.dataset import BUNDLED_ROOT
from benchmark.publish.export import export_dataset
from benchmark.publish.hub import publish_to_hub
from benchmark.publish.layout import INDEX, LayoutError, read_dataset, read_index
from benchmark.publish.leaderboard import FILES
from benchmark.suite import SuiteKind, bundled_suites
from benchmark.suite.results_suite import read_result_suite

REPO = Path(__file__).parents[1]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ground_truth_folders() -> list[Path]:
    """Every published ground truth, found here from the files alone: the bundled ones and revealed rounds'."""
    metas = [*BUNDLED_ROOT.glob("*/meta.json"), *(REPO / BLIND_DIR).glob("*/groundtruth/meta.json")]
    return sorted(p.parent for p in metas)


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "dataset"
    export_dataset(out, root=REPO)
    return out


@pytest.fixture
def offline_hf(tmp_path, monkeypatch) -> Path:
    """`datasets` offline, with its caches in a temporary folder, so nothing is written under ~."""
    for var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    return tmp_path / "datasets-cache"


def test_every_published_table_is_a_config(layout):
    expected = {f"{json.loads((f / 'meta.json').read_text())['suite']}-{t}"
                for f in _ground_truth_folders() for t in json.loads((f / "meta.json").read_text())["rows"]}
    expected |= {f"{s.name}-{t}" for s in bundled_suites() if s.kind is SuiteKind.RESULTS for t in ("pairs", "results")}
    index = read_index(layout)
    assert {t.config for t in index.tables()} == expected
    front = (layout / "README.md").read_text().split("---\n")[1]
    assert front.count("config_name:") == len(expected) and "license: mit" in front
    path = {t.config: layout / t.path for t in index.tables()}
    for folder in _ground_truth_folders():  # copied byte for byte
        meta = json.loads((folder / "meta.json").read_text())
        assert all(_sha256(path[f"{meta['suite']}-{t}"]) == _sha256(folder / f"{t}.parquet") for t in meta["rows"])
    assert {f.path for f in index.files} >= {f"leaderboard/{f}" for f in FILES}


def test_datasets_opens_every_config_offline(layout, offline_hf):
    import datasets

    index = read_index(layout)
    for table in index.tables():
        ds = datasets.load_dataset(str(layout), table.config, split="train", cache_dir=str(offline_hf))
        file = layout / table.path
        assert ds.num_rows == pq.read_metadata(file).num_rows == table.rows > 0, table.config
        schema = pq.read_schema(file)
        assert [(f.name, f.type) for f in ds.features.arrow_schema] == [(f.name, f.type) for f in schema], table.config
    default = datasets.load_dataset(str(layout), split="train", cache_dir=str(offline_hf))
    assert default.num_rows == index.tables()[0].rows and index.tables()[0].config.endswith("-pairs")
    assert any(offline_hf.rglob("*.arrow"))  # the tables were prepared in the test's cache


def test_an_unknown_config_is_refused_naming_every_config(layout, offline_hf):
    import datasets

    with pytest.raises(ValueError, match="'no-such' not found") as err:
        datasets.load_dataset(str(layout), "no-such", cache_dir=str(offline_hf))
    assert all(t.config in str(err.value) for t in read_index(layout).tables())


def test_read_dataset_gives_back_the_tables_it_was_made_from(layout):
    tables = read_dataset(layout)
    for folder in _ground_truth_folders():
        meta = json.loads((folder / "meta.json").read_text())
        for table in meta["rows"]:
            pd.testing.assert_frame_equal(tables[f"{meta['suite']}-{table}"],
                                          pd.read_parquet(folder / f"{table}.parquet"))
    for spec in (s for s in bundled_suites() if s.kind is SuiteKind.RESULTS):
        source = read_result_suite(spec.root)
        pd.testing.assert_frame_equal(tables[f"{spec.name}-pairs"], source.pairs())
        pd.testing.assert_frame_equal(tables[f"{spec.name}-results"], source.results())
        assert read_result_suite(layout / "data" / spec.name / "suite").verify() == []


def test_read_dataset_refuses_a_layout_that_differs_from_its_index(layout, tmp_path):
    changed = tmp_path / "changed"
    shutil.copytree(layout, changed)
    pairs = next(t.path for t in read_index(changed).tables() if t.table == "pairs")
    pd.read_parquet(changed / pairs).iloc[:-1].to_parquet(changed / pairs, index=False)
    (changed / "stray.txt").write_text("x")
    with pytest.raises(LayoutError, match=f"{pairs}: .*{INDEX}.*stray.txt: not listed in {INDEX}"):
        read_dataset(changed)
    (changed / INDEX).unlink()
    with pytest.raises(LayoutError, match="not a willitmerge dataset layout"):
        read_dataset(changed)


def test_export_is_deterministic_and_never_overwrites(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        export_dataset(out, [str(BUNDLED_ROOT / "tiny")], leaderboard=False, repo_id="org/name")
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    assert "load_dataset('org/name', 'tiny-pairs'" in (first / "README.md").read_text()
    with pytest.raises(FileExistsError, match="not an empty folder"):
        export_dataset(first, leaderboard=False)
    with pytest.raises(FileNotFoundError, match="run `willitmerge leaderboard` first"):
        export_dataset(tmp_path / "c", [str(BUNDLED_ROOT / "tiny")], root=tmp_path)
    assert not (tmp_path / "c").exists()


def test_cli_export_lists_the_configs(tmp_path):
    result = CliRunner().invoke(app, ["dataset", "export", str(tmp_path / "out"), "--suite", str(BUNDLED_ROOT / "tiny"),
                                      "--no-leaderboard"])
    assert result.exit_code == 0, result.output
    assert re.search(r"tiny-updates\s+112 rows", result.output) and "5 configs" in result.output
    again = CliRunner().invoke(app, ["dataset", "export", str(tmp_path / "out")])
    assert again.exit_code == 1 and "nothing is overwritten" in again.output


def test_cli_download_reads_a_snapshot_back(layout, monkeypatch):
    """The Hub cannot be reached here: the snapshot download is replaced by the export it would fetch, and
    the command runs its real reading part on it."""
    monkeypatch.setattr(cli_dataset, "download_dataset", lambda repo_id, revision: layout)
    result = CliRunner().invoke(app, ["download", "org/name"])
    assert result.exit_code == 0, result.output
    assert f"every file matches {INDEX}" in result.output
    assert all(re.search(rf"{t.config}\s+{t.rows} rows", result.output) for t in read_index(layout).tables())


def test_publish_offline_fails_clearly_and_changes_nothing():
    digests = {f: _sha256(REPO / "leaderboard" / f) for f in FILES}
    with pytest.raises(ConnectionError, match="offline or the repo does not exist; nothing was changed"):
        publish_to_hub("willitmerge/does-not-exist", REPO, [str(BUNDLED_ROOT / "tiny")])
    assert digests == {f: _sha256(REPO / "leaderboard" / f) for f in FILES}
