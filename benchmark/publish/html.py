"""`leaderboard/index.html`: one self-contained static page (inline CSS, JS and SVG; no network).

One board shows at a time, picked by suite × track (methods, predictors, transfer). The URL's
fragment names the board and the open entry (`#board=smol-methods&entry=ties`): it is read on load
and rewritten as the reader picks a board or opens an entry, so either can be linked. Tables sort by
clicking a header (numbers numerically, unranked rows last); an entry's name opens its detail
(about, what beats it, per-method scores of a predictor or per-task `na` of a method, the isolation
it ran under when recorded, the cache keys of its records). Plots are SVG drawn here from
`results.json` data: a predicted-vs-actual scatter per predictor, a task-by-task heatmap of `na` per
merge method, and cost (seconds per merge) against score (drawn by `plots`). The page loads nothing
from elsewhere, so it can be served as a static Hugging Face Space or opened from disk; narrow
screens scroll tables sideways and shrink plots.
"""

from __future__ import annotations

import html
import math
import re
from urllib.parse import urlencode

from ..scoring.records import dump
from ..tracks.entry import ScatterPlot
from ..tracks.columns import (BOARD_COLUMNS, PER_METHOD_COLUMNS, TRANSFER_COLUMNS, Column, columns,
                               format_number, format_status)
from . import plots
from .results import Board, Results, TransferBoard

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
.scroll{overflow-x:auto;max-width:100%}
th,td{padding:.3rem .5rem;border-bottom:1px solid #ddd;text-align:right}
th{cursor:pointer;background:#f3f3f3;user-select:none}
th.sorted-asc::after{content:" ▲"} th.sorted-desc::after{content:" ▼"}
td.name,th.name{text-align:left}
td:not(.name){white-space:nowrap}
tr.unranked{color:#888}
.plots{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
figure{margin:0;max-width:100%;min-width:0} figcaption{font-size:.8rem;text-align:center}
figure svg{display:block;max-width:100%;height:auto}
.scroll>svg{max-width:none}
svg text{font-size:10px;font-family:system-ui,sans-serif}
.selector{padding:.5rem 0;border-bottom:1px solid #ddd}
.selector label{margin-right:1rem;white-space:nowrap}
section.board[hidden],#no-board[hidden]{display:none}
td.name a{color:inherit}
details.entry{margin:.3rem 0;border-left:3px solid #ddd;padding-left:.6rem}
details.entry[open]{border-color:#2b6cb0}
details.entry summary{cursor:pointer;font-weight:600}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.1rem .8rem;font-size:.85rem}
dl.facts dt{color:#555} dl.facts dd{margin:0;overflow-wrap:anywhere}
@media (max-width:40rem){body{margin:1rem auto;padding:0 .6rem}h1{font-size:1.6rem}
 dl.facts{grid-template-columns:auto} dl.facts dd{margin-bottom:.3rem}}
"""

SCRIPT = """
function sortTable(th){
  const table=th.closest('table'), body=table.tBodies[0], col=[...th.parentNode.children].indexOf(th);
  const asc=!th.classList.contains('sorted-asc');
  table.querySelectorAll('th').forEach(h=>h.classList.remove('sorted-asc','sorted-desc'));
  th.classList.add(asc?'sorted-asc':'sorted-desc');
  const key=r=>{const v=r.children[col].dataset.value;return v===''?null:(isNaN(+v)?v:+v)};
  const rows=[...body.rows].sort((a,b)=>{
    const x=key(a),y=key(b); if(x===null&&y===null)return 0; if(x===null)return 1; if(y===null)return -1;
    return (x<y?-1:x>y?1:0)*(asc?1:-1)});
  rows.forEach(r=>body.appendChild(r));
}
document.querySelectorAll('table.sortable th').forEach(th=>th.addEventListener('click',()=>sortTable(th)));
const suiteSelect=document.getElementById('suite-select'), trackSelect=document.getElementById('track-select');
const first=document.querySelector('section.board');
// The fragment is `board=SUITE-TRACK` and optionally `&entry=NAME`; the track follows the last hyphen.
function setFragment(entry){
  const p=new URLSearchParams({board:suiteSelect.value+'-'+trackSelect.value}); if(entry)p.set('entry',entry);
  history.replaceState(null,'','#'+p);
  // a Space shows the page in a frame of huggingface.co/spaces/ORG/NAME, which hands its own fragment in on load;
  // this message (the Hub's, for static Spaces) keeps that outer address in step
  if(window.parent!==window&&document.referrer&&new URL(document.referrer).origin==='https://huggingface.co')
    window.parent.postMessage({hash:'#'+p},'https://huggingface.co');
}
function showBoard(suite,track){
  suiteSelect.value=suite; trackSelect.value=track; let shown=0;
  document.querySelectorAll('section.board').forEach(s=>{
    s.hidden=!(s.dataset.track===track&&s.dataset.suite===suite); shown+=!s.hidden});
  const none=document.getElementById('no-board'); none.hidden=shown>0;
  none.textContent=shown?'':'No '+track+' board for '+suite+'.';
}
function openEntry(name){
  const d=[...document.querySelectorAll('section.board:not([hidden]) details.entry')].find(d=>d.dataset.name===name);
  if(d){d.open=true; d.scrollIntoView()} return !!d;
}
const offered=(select,value)=>[...select.options].some(o=>o.value===value);
function applyFragment(){
  const raw=location.hash.slice(1), params=new URLSearchParams(raw), board=params.get('board')||'';
  let cut=board.lastIndexOf('-'), suite=board.slice(0,cut), track=board.slice(cut+1), entry=params.get('entry');
  if(!board){  // older links name an element: a board (#methods-smol) or an entry's detail (#entry-...)
    const el=document.getElementById(decodeURIComponent(raw)), section=el&&el.closest('section.board');
    if(section){suite=section.dataset.suite; track=section.dataset.track; if(el.matches('details.entry'))entry=el.dataset.name}
  }
  if(!(offered(suiteSelect,suite)&&offered(trackSelect,track))){
    if(!first)return; suite=first.dataset.suite; track=first.dataset.track; entry=null}
  showBoard(suite,track);
  setFragment(entry&&openEntry(entry)?entry:null);  // the URL names only what is shown
}
const picked=()=>{showBoard(suiteSelect.value,trackSelect.value); setFragment(null)};
suiteSelect.addEventListener('change',picked); trackSelect.addEventListener('change',picked);
document.querySelectorAll('a.entry-link').forEach(a=>a.addEventListener('click',e=>{
  e.preventDefault(); const name=a.dataset.entry; if(openEntry(name))setFragment(name)}));
document.querySelectorAll('details.entry').forEach(d=>d.addEventListener('toggle',()=>{
  const named=new URLSearchParams(location.hash.slice(1)).get('entry');
  if(d.open)setFragment(d.dataset.name); else if(named===d.dataset.name)setFragment(null)}));
window.addEventListener('hashchange',applyFragment);
applyFragment();
"""


def _esc(text) -> str:
    return html.escape(str(text))


def _cell(text: str, value, cls: str = "", markup: str | None = None) -> str:
    """A sortable cell showing `text` (or ready `markup`) and sorting by `value`."""
    v = "" if value is None else (f"{value:.6g}" if isinstance(value, float) else _esc(value))
    return f'<td{f" class={chr(34)}{cls}{chr(34)}" if cls else ""} data-value="{v}">{markup or _esc(text)}</td>'


def _entry_id(b: Board, name: str) -> str:
    return "entry-" + re.sub(r"[^A-Za-z0-9_.-]", "-", f"{b.track}-{b.suite}-{name}")


def fragment(suite: str, track: str, entry: str | None = None) -> str:
    """The URL fragment that opens a board (and an entry's detail) on load: `#board=SUITE-TRACK&entry=NAME`."""
    return "#" + urlencode({"board": f"{suite}-{track}"} | ({"entry": entry} if entry else {}))


def _table(b: Board) -> str:
    spec = columns(BOARD_COLUMNS[b.track], "html", blind=b.blind_round is not None)
    rows = []
    for r in b.rows:
        link = (f'<a class="entry-link" href="{_esc(fragment(b.suite, b.track, r.name))}" data-entry="{_esc(r.name)}">'
                f"{_esc(r.name)}</a>")
        cells = [_cell(c.text(r), c.value(r), c.css, link if c.names_entry else None) for c in spec]
        rows.append(f'<tr class="{"ranked" if r.rank is not None else "unranked"}">{"".join(cells)}</tr>')
    return _scrolling(f'<table class="sortable" id="table-{b.track}-{b.suite}">{_head(spec)}'
                      f'<tbody>{"".join(rows)}</tbody></table>')


def _scrolling(table: str) -> str:
    """A wide table (or heatmap) scrolls sideways inside the page on a narrow screen instead of widening it."""
    return f'<div class="scroll">{table}</div>'


def _blind_note(b: Board) -> str:
    if b.blind_round is None:
        return ""
    flagged = [r.name for r in b.rows if r.blind is not None and r.blind.flagged]
    return (f'<p class="blind-note">Ranked on blind round <code>{_esc(b.blind_round)}</code>: experts and tasks no '
            f"entry could have seen. The public score stands beside the blind one; typical gap, public minus blind: "
            f"{'—' if b.typical_gap is None else f'{b.typical_gap:.3f}'}. Flagged (public far above blind): "
            f"{_esc(', '.join(flagged) or 'none')}.</p>")


def _head(spec: list[Column], suite: str = "") -> str:
    ths = "".join(f'<th class="{c.css}">{_esc(c.title("html", suite))}</th>' for c in spec)
    return f"<thead><tr>{ths}</tr></thead>"


def _scatter(name: str, plot: ScatterPlot, rho) -> str:
    if not plot.points:
        return ""
    drawing = plots.scatter(plot.points, "prediction (z per fold)", f"measured na ({plot.method})",
                            f"predicted vs actual for {name}")
    return (f'<figure class="scatter" data-name="{_esc(name)}">{drawing}'
            f"<figcaption>{_esc(name)} (Spearman {format_number(rho)})</figcaption></figure>")


def _colour(value: float) -> str:
    v = min(max(value, 0.0), 1.0)
    return f"rgb({int(255 - 200 * v)},{int(255 - 130 * v)},{int(255 - 40 * v)})"


def _heatmap(b: Board) -> str:
    rows = [r for r in b.rows if r.plots.task_na]
    if not rows:
        return ""
    na = {r.name: r.plots.task_na for r in rows}
    drawing = plots.heatmap([r.name for r in rows], sorted({t for r in rows for t in r.plots.task_na}),
                            lambda name, task: na[name].get(task), _colour,
                            lambda name, task, v: f"{name} on {task}: {v:.3f}", "na per task and method")
    # the cells' numbers are the point: at their drawn size, scrolling sideways on a narrow screen, not shrunk
    return (f'<figure id="heatmap-{b.suite}">{_scrolling(drawing)}'
            "<figcaption>mean acc(merged)/acc(expert) on each task over "
            "the pairs that include it</figcaption></figure>")


def _cost_plot(b: Board) -> str:
    """Mean na against seconds per merge (log scale), both axes spanning the entries' values."""
    rows = [r for r in b.rows if r.status == "complete" and r.scores.seconds_per_merge]
    if not rows:
        return ""
    points = [(math.log10(r.scores.seconds_per_merge), r.primary, r.name) for r in rows]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x, y = plots.Axis(*plots.padded(xs, 0.1), 48, 340), plots.Axis(*plots.padded(ys, 0.12), 270, 12)
    drawing = plots.labelled_scatter(points, x, y, 470, (plots.log_ticks(x.lo, x.hi, "s"), plots.nice_ticks(y.lo, y.hi)),
                                     ("seconds per merge (log scale)", "mean na"), "cost vs score", "cost")
    return f'<figure id="cost-{b.suite}">{drawing}<figcaption>cost against score</figcaption></figure>'


def _text(value) -> str:
    """A provenance or isolation value as one line of text."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in sorted(value.items()))
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _facts(items: list[tuple[str, str]]) -> str:
    return '<dl class="facts">' + "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in items if v) + "</dl>"


def _detail_table(cls: str, head: list[str], rows: list[list[str]]) -> str:
    ths = "".join(f"<th>{_esc(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return _scrolling(f'<table class="{cls}"><thead><tr>{ths}</tr></thead><tbody>{trs}</tbody></table>')


def _entry_details(b: Board, r) -> str:
    """One entry's detail: who and what, why unranked, what beats it, per-method (predictors) or per-task
    (methods) scores, the isolation it ran under when recorded, and where its records are cached."""
    about = r.about
    facts = [("status", format_status(r)),
             ("significantly behind", (", ".join(r.beaten_by) or "no entry") if r.rank is not None else ""),
             ("description", about.description or ""), ("authors", _text(about.authors or [])),
             ("licence", about.licence or ""), ("source", _text(about.source or {})),
             ("isolation", _text(r.isolation or ""))]
    facts += [(f"cache: {k}", _text(v)) for k, v in sorted(dump(r.provenance).items())]
    parts = [_facts(facts)]
    if b.track == "predictors" and r.scores is not None and r.scores.methods:
        parts.append(_detail_table("per-method", [c.title("html") for c in PER_METHOD_COLUMNS],
                                   [[c.text(m) for c in PER_METHOD_COLUMNS] for m in sorted(r.scores.methods.items())]))
    if b.track == "methods" and r.plots.task_na:
        parts.append(_detail_table("per-task", ["task", "na (mean acc(merged)/acc(expert))"],
                                   [[t, f"{v:.3f}"] for t, v in sorted(r.plots.task_na.items())]))
    return (f'<details class="entry" id="{_entry_id(b, r.name)}" data-name="{_esc(r.name)}">'
            f'<summary>{_esc(r.name)}</summary>{"".join(parts)}</details>')


def _transfer_section(t: TransferBoard) -> str:
    """A transfer board, shown under track `transfer` of the suite it is scored on."""
    head = (f'<section class="board" id="transfer-{_esc(t.train_suite)}-{_esc(t.test_suite)}" data-track="transfer" '
            f'data-suite="{_esc(t.test_suite)}"><h2>Transfer: fit on <code>{_esc(t.train_suite)}</code>, scored on '
            f'<code>{_esc(t.test_suite)}</code></h2><p>Predictors that declare <code>transfer: true</code>, fit on every '
            f'pair of {_esc(t.train_suite)} and predicting every pair of {_esc(t.test_suite)} from the metrics both '
            "suites share: Spearman with measured na, mean over the merge methods both have (interval: bootstrap over "
            f"{_esc(t.test_suite)}'s pairs), beside the same predictor's leave-one-task-out figures within "
            f"{_esc(t.test_suite)}.</p>")
    if t.status == "pending":
        return head + f'<p class="pending">{_esc(t.reason)}</p></section>'
    spec = columns(TRANSFER_COLUMNS, "html")
    rows = [f'<tr class="{"ranked" if r.status == "complete" else "unranked"}">'
            + "".join(_cell(c.text(r), c.value(r), c.css) for c in spec) + "</tr>" for r in t.rows]
    return (head + _scrolling(f'<table class="sortable" id="table-transfer-{_esc(t.train_suite)}-{_esc(t.test_suite)}">'
                              f'{_head(spec, t.test_suite)}<tbody>{"".join(rows)}</tbody></table>') + "</section>")


def _selector(results: Results) -> str:
    suites = list(dict.fromkeys([b.suite for b in results.boards] + [t.test_suite for t in results.transfer]))
    tracks = ["methods", "predictors"] + (["transfer"] if results.transfer else [])
    options = lambda values: "".join(f'<option value="{_esc(v)}">{_esc(v)}</option>' for v in values)  # noqa: E731
    return (f'<nav class="selector"><label>Suite <select id="suite-select">{options(suites)}</select></label>'
            f'<label>Track <select id="track-select">{options(tracks)}</select></label></nav>'
            '<p id="no-board" hidden></p>')


def render_html(results: Results) -> str:
    body = ["<h1>willitmerge leaderboard</h1>",
            "<p>Generated by <code>willitmerge leaderboard</code>; the same data as "
            f'<a href="results.json"><code>results.json</code></a> (schema {results.schema_version}). Pick a board '
            "(suite × track) below; click a column header to sort, an entry's name for its detail. The address "
            "then links to that board and entry.</p>",
            f"<p id=\"ranking-rule\"><strong>How ranks work.</strong> {_esc(results.ranking)} Incomplete and failed "
            "entries are never averaged over the cells they have.</p>",
            f"<p>Sandbox: {_esc(results.sandbox)}.</p>", _selector(results)]
    for b in results.boards:
        title = "Merge methods" if b.track == "methods" else "Mergeability predictors"
        body += [f'<section class="board" id="{b.track}-{b.suite}" data-track="{b.track}" data-suite="{_esc(b.suite)}">'
                 f'<h2>{title} on <code>{_esc(b.suite)}</code>, version {_esc(b.suite_version)}</h2>',
                 f"<p>Primary: {_esc(b.primary)}.</p>", _blind_note(b), _table(b)]
        if b.track == "methods":
            body += ['<div class="plots">', _heatmap(b), _cost_plot(b), "</div>"]
        else:
            figures = [_scatter(r.name, r.plots.scatter, r.primary) for r in b.rows if r.plots.scatter]
            body += ['<h3>Predicted vs actual (held-out folds)</h3><div class="plots">', *figures, "</div>"]
        body += ["<h3>Entries</h3>", *(_entry_details(b, r) for r in b.rows)]
        body.append("</section>")
    body += [_transfer_section(t) for t in results.transfer]
    # the empty icon keeps browsers from asking the server for /favicon.ico, which a Space does not have
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
            f"<title>willitmerge leaderboard</title><style>{STYLE}</style></head><body>{''.join(body)}"
            f"<script>{SCRIPT}</script></body></html>\n")
