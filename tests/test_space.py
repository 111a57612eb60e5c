"""The leaderboard as a static Hugging Face Space. `publish --space ... --dry-run` builds the Space's folder
from the committed leaderboard offline; served over HTTP on localhost, its page works in headless Chromium:
every board can be picked and every entry opened, URL fragments link to both, nothing is fetched from
off the machine, the console stays clean, labels do not overlap and nothing is wider than a phone."""

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.publish.html import fragment
from benchmark.publish.leaderboard import FILES
from benchmark.publish.results import Results
from benchmark.publish.space import SPACE_FILES, export_space, external_references

REPO = Path(__file__).parents[1]
LEADERBOARD = REPO / "leaderboard"
HUB_COLOURS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}


@pytest.fixture(scope="module")
def space(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("space") / "space"
    result = CliRunner().invoke(app, ["publish", "--space", "willitmerge/leaderboard", "--dry-run", "--out", str(out),
                                      "--root", str(REPO)])
    assert result.exit_code == 0, result.output
    return out


def test_space_folder_is_the_page_and_its_data_under_a_static_space_card(space):
    _, front, body = (space / "README.md").read_text(encoding="utf-8").split("---\n", 2)
    config = yaml.safe_load(front)
    assert config["sdk"] == "static" and config["app_file"] == "index.html"
    assert config["title"] and len(config["short_description"]) <= 60
    assert {config["colorFrom"], config["colorTo"]} <= HUB_COLOURS
    assert body == "\n" + (LEADERBOARD / "README.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in space.iterdir()) == sorted(SPACE_FILES)
    assert all((space / f).read_bytes() == (LEADERBOARD / f).read_bytes() for f in SPACE_FILES if f != "README.md")


def test_external_references_are_what_a_browser_would_fetch_from_elsewhere(tmp_path):
    page = ('<link rel="stylesheet" href="https://cdn.example/x.css"><script src="//cdn.example/x.js"></script>'
            '<style>@import "http://fonts.example/f.css"; body{background:url(https://img.example/b.png)}</style>'
            '<img srcset="local.png 1x, http://img.example/2x.png 2x"><div style="background:url(\'ftp://x/y\')">'
            '</div><a href="https://github.com/x">a link loads nothing</a><img src="data:,"><a href="#board=a-b">'
            '<link rel="icon" href="data:,"><img src="plots/local.png">')
    assert external_references(page) == ["https://cdn.example/x.css", "//cdn.example/x.js",
                                         "http://fonts.example/f.css", "https://img.example/b.png",
                                         "http://img.example/2x.png", "ftp://x/y"]
    assert external_references((LEADERBOARD / "index.html").read_text(encoding="utf-8")) == []
    board = tmp_path / "leaderboard"
    for name in FILES:
        (board / name).parent.mkdir(parents=True, exist_ok=True)
        (board / name).write_text("")
    (board / "index.html").write_text('<script src="https://cdn.example/plot.js"></script>')
    with pytest.raises(ValueError, match=r"index.html loads https://cdn.example/plot.js from elsewhere; inline it"):
        export_space(board, tmp_path / "out")
    assert not (tmp_path / "out").exists()


class _Recorded(SimpleHTTPRequestHandler):
    """Serves the Space's folder quietly, noting each path asked for."""

    paths: list[str] = []

    def log_message(self, format, *args) -> None:
        self.paths.append(self.path)


@pytest.fixture(scope="module")
def served(space):
    """The Space's folder at /space/ of a server on localhost, beside /frame.html, which shows it in a frame
    with a fragment the way a Space's page on huggingface.co does."""
    (space.parent / "frame.html").write_text('<!DOCTYPE html><link rel="icon" href="data:,"><iframe '
                                             'src="space/#board=tiny-methods&entry=dare" width="1000" height="800">'
                                             '</iframe>')
    _Recorded.paths = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Recorded, directory=str(space.parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _requests(browser) -> list[str]:
    """Every URL the browser asked for since the last call (Chrome's performance log)."""
    messages = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
    return [m["params"]["request"]["url"] for m in messages if m["method"] == "Network.requestWillBeSent"]


def _off_machine(urls: list[str]) -> list[str]:
    return [u for u in urls if urlsplit(u).scheme not in ("data", "about") and urlsplit(u).hostname != "127.0.0.1"]


def _console_errors(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def _shown(browser) -> list[tuple[str, str]]:
    return [tuple(s) for s in browser.execute_script("return [...document.querySelectorAll('section.board:not([hidden])')]"
                                                     ".map(s=>[s.dataset.suite, s.dataset.track])")]


def _fragment(browser) -> dict[str, list[str]]:
    return parse_qs(browser.execute_script("return location.hash").removeprefix("#"))


def _open_entries(browser) -> list[str]:
    return browser.execute_script("return [...document.querySelectorAll('section.board:not([hidden]) "
                                  "details.entry[open]')].map(d=>d.dataset.name)")


# Text boxes in a frame turned back by each text's own rotation (so slanted labels are compared along their
# slant), and the pairs of them that overlap by more than a pixel each way; circles count as boxes too.
OVERLAPS = """
const [root, selector]=arguments, items=[...root.querySelectorAll(selector)];
const boxes=items.map(t=>{
  const b=t.getBBox(), m=t.getScreenCTM(), a=-Math.atan2(m.b,m.a), c=Math.cos(a), s=Math.sin(a);
  const p=[[b.x,b.y],[b.x+b.width,b.y],[b.x,b.y+b.height],[b.x+b.width,b.y+b.height]].map(([x,y])=>{
    const q=new DOMPoint(x,y).matrixTransform(m); return [q.x*c-q.y*s, q.x*s+q.y*c]});
  const xs=p.map(v=>v[0]), ys=p.map(v=>v[1]);
  return [Math.min(...xs),Math.max(...xs),Math.min(...ys),Math.max(...ys)]});
const label=t=>t.textContent||t.tagName, found=[];
for(let i=0;i<boxes.length;i++)for(let j=i+1;j<boxes.length;j++){
  const [a,b]=[boxes[i],boxes[j]];
  if(Math.min(a[1],b[1])-Math.max(a[0],b[0])>1&&Math.min(a[3],b[3])-Math.max(a[2],b[2])>1)
    found.push(label(items[i])+' / '+label(items[j]))}
return found;
"""


def _check_layout(browser, suite: str, track: str) -> None:
    """No labels overlap; a cost plot spreads its points over its height; nothing is wider than the window."""
    section = browser.find_element("css selector", "section.board:not([hidden])")
    if track == "methods":
        assert browser.execute_script(OVERLAPS, section, "text.column-label") == [], (suite, "heatmap columns")
        assert browser.execute_script(OVERLAPS, section, "text.point-label, circle.cost") == [], (suite, "cost plot")
        spread, plot = browser.execute_script(
            "const ys=[...arguments[0].querySelectorAll('circle.cost')].map(c=>c.getBoundingClientRect().y);"
            "return [Math.max(...ys)-Math.min(...ys), arguments[0].querySelector('figure[id^=cost] svg')"
            ".getBoundingClientRect().height]", section)
        assert spread > 0.5 * plot, (suite, "points crowd one edge of the cost plot", spread, plot)
        scale = browser.execute_script(  # drawn px per SVG unit: below 1 the heatmap's 10 px numbers shrink
            "const s=arguments[0].querySelector('figure[id^=heatmap] svg');"
            "return s.getBoundingClientRect().width / s.viewBox.baseVal.width", section)
        assert scale > 0.99, (suite, "the heatmap's numbers are shrunk to", 10 * scale, "px")
    page, window, widest = browser.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth,"
        " Math.max(0, ...[...arguments[0].querySelectorAll('figure')].map(f=>f.getBoundingClientRect().right))]",
        section)
    assert page <= window and widest <= window, (suite, track, "wider than the window", page, widest, window)


def test_space_served_over_http_works_in_chromium(space, served, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    results = Results.model_validate_json((space / "results.json").read_text(encoding="utf-8"))
    boards = [(b.suite, b.track, [r.name for r in b.rows]) for b in results.boards]
    boards += [(s, "transfer", []) for s in dict.fromkeys(t.test_suite for t in results.transfer)]
    assert fragment("smol", "methods", "ties") == "#board=smol-methods&entry=ties"
    size = browser.get_window_size()
    _requests(browser), _console_errors(browser)  # what earlier tests left in the logs
    root, served = served, served + "space/"
    try:
        browser.set_window_size(1400, 1000)
        browser.get(root + "frame.html")  # in a frame, the page reads the fragment the frame was given
        browser.switch_to.frame(0)
        assert _shown(browser) == [("tiny", "methods")] and _open_entries(browser) == ["dare"]
        browser.switch_to.default_content()
        browser.get(served)
        assert _shown(browser) == [boards[0][:2]] and _fragment(browser) == {"board": ["-".join(boards[0][:2])]}
        suite_select, track_select = (Select(browser.find_element(By.ID, i)) for i in ("suite-select", "track-select"))
        for suite, track, names in boards:  # every board by the selectors, every entry by its link
            suite_select.select_by_value(suite)
            track_select.select_by_value(track)
            assert set(_shown(browser)) == {(suite, track)}, (suite, track)
            assert _fragment(browser) == {"board": [f"{suite}-{track}"]}
            _check_layout(browser, suite, track)
            links = {a.get_attribute("data-entry"): a for a in
                     browser.find_elements(By.CSS_SELECTOR, "section.board:not([hidden]) a.entry-link")}
            assert sorted(links) == sorted(names)
            for name in names:
                links[name].click()
                assert name in _open_entries(browser), (suite, track, name)
                assert _fragment(browser) == {"board": [f"{suite}-{track}"], "entry": [name]}
        for suite, track, names in boards:  # every board, and its last entry, straight from a link
            entry = names[-1] if names else None
            browser.get("about:blank")
            browser.get(served + (f"#board={suite}-{track}" + (f"&entry={entry}" if entry else "")))
            assert set(_shown(browser)) == {(suite, track)} and _open_entries(browser) == ([entry] if entry else [])
            assert browser.execute_script("return [document.getElementById('suite-select').value,"
                                          " document.getElementById('track-select').value]") == [suite, track]
        browser.get("about:blank")
        browser.get(served + "#predictors-tiny")  # the links the page gave before fragments named boards
        assert _shown(browser) == [("tiny", "predictors")] and _fragment(browser) == {"board": ["tiny-predictors"]}
        browser.get(served + "#board=no-such-board&entry=ties")  # falls back to the first board, and says so
        assert _shown(browser) == [boards[0][:2]] and _fragment(browser) == {"board": ["-".join(boards[0][:2])]}
        browser.set_window_size(390, 900)  # a phone: plots shrink, tables scroll inside the page
        for suite, track, _ in boards:
            browser.get(served + f"#board={suite}-{track}")
            _check_layout(browser, suite, track)
        requests, errors = _requests(browser), _console_errors(browser)
        assert errors == []
        assert requests and _off_machine(requests) == []
        # the page fetches nothing, not even from its own server
        assert set(_Recorded.paths) == {"/frame.html", "/space/"}, _Recorded.paths
        # the two checks above see what they should: a request off the machine and a console error
        browser.execute_script("document.body.append(Object.assign(new Image(), {src: 'http://example.invalid/x.png'}));"
                               "console.error('probe')")
        seen: list[str] = []
        WebDriverWait(browser, 10).until(lambda b: seen.extend(_off_machine(_requests(b))) or seen)
        assert seen == ["http://example.invalid/x.png"]
        assert any("probe" in e for e in _console_errors(browser))
    finally:
        browser.set_window_size(size["width"], size["height"])


def test_space_folder_is_only_written_into_a_new_or_empty_folder(space, tmp_path):
    (tmp_path / "stale.txt").write_text("from an older export")
    result = CliRunner().invoke(app, ["publish", "--space", "willitmerge/leaderboard", "--dry-run", "--out",
                                      str(tmp_path), "--root", str(REPO)])
    assert result.exit_code == 1 and "is not an empty folder" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stale.txt"]
    result = CliRunner().invoke(app, ["publish", "--space", "not/a/space", "--dry-run", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "Give ORG/NAME" in result.output and not (tmp_path / "x").exists()
