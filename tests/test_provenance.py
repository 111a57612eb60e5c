"""Cache keys depend on what code is, not on where it lives or on what else a process imported."""

import importlib.util
import json
import subprocess
import sys

import benchmark.provenance as provenance

SOURCE = '''
LIMIT = 3


def helper(x):
    return x * LIMIT


def root(x):
    """Docstrings never count."""
    return helper(x) + 1
'''


def _module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_moving_code_to_another_module_keeps_its_fingerprint_and_an_edit_changes_it(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "PACKAGE_ROOT", tmp_path)
    (tmp_path / "old.py").write_text(SOURCE)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "new.py").write_text(SOURCE.replace('"""Docstrings never count."""', "# nor comments"))
    (tmp_path / "edited.py").write_text(SOURCE.replace("LIMIT = 3", "LIMIT = 4"))
    old, new = _module(tmp_path / "old.py", "benchmark.old"), _module(tmp_path / "sub" / "new.py", "benchmark.sub.new")
    edited = _module(tmp_path / "edited.py", "benchmark.edited")
    assert provenance.traced_names(old.root) == ["benchmark.old.LIMIT", "benchmark.old.helper", "benchmark.old.root"]
    assert provenance.content_fingerprint(old.root) == provenance.content_fingerprint(new.root)
    assert provenance.content_fingerprint(old.root) != provenance.content_fingerprint(edited.root)


def test_lineage_maps_only_fingerprints_of_code_that_exists_unchanged(monkeypatch, tmp_path):
    """A fingerprint in the lineage file answers for exactly that content; any other content is its own key."""
    from benchmark.merging import get_method

    roots = get_method("ties").code_roots()
    content = provenance.content_fingerprint(*roots)
    lineage = tmp_path / "lineage.json"
    lineage.write_text(json.dumps({"about": "", "fingerprints": {content: "f" * 64}}))
    monkeypatch.setattr(provenance, "LINEAGE_FILE", lineage)
    provenance._lineage.cache_clear(), provenance.code_fingerprint.cache_clear()
    try:
        assert provenance.code_fingerprint(*roots) == "f" * 64
        assert provenance.code_fingerprint(*get_method("tsv").code_roots()) == \
            provenance.content_fingerprint(*get_method("tsv").code_roots())
    finally:
        provenance._lineage.cache_clear(), provenance.code_fingerprint.cache_clear()


def test_every_key_root_set_has_the_same_fingerprint_whatever_the_process_imported():
    """The merge-cost, evaluation and metric fingerprints in a bare process and in one that imported the CLI,
    the leaderboard, the Ray executor and the suite builders first."""
    probe = ("import importlib, json, sys\n"
             "for m in sys.argv[1:]: importlib.import_module(m)\n"
             "from benchmark.evaluation import EvalSettings\n"
             "from benchmark.predictors.metrics import metric_code\n"
             "from benchmark.merging import get_method, merge_provenance\n"
             "print(json.dumps([EvalSettings(backend='vllm').fingerprint()['code'], metric_code(),\n"
             "                  merge_provenance(get_method('ties'))['code']]))\n")
    runs = [json.loads(subprocess.run([sys.executable, "-c", probe, *modules], capture_output=True, text=True,
                                      check=True).stdout)
            for modules in ([], ["benchmark.cli", "benchmark.publish.leaderboard", "benchmark.groundtruth.ray_executor",
                                 "benchmark.suite.build.scratch", "benchmark.suite.build.pretrained",
                                 "benchmark.tracks"])]
    assert runs[0] == runs[1]
