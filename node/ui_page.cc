// Copyright shoal authors. The page GET /ui serves (ui.h): plain HTML, CSS
// and JavaScript, compiled in; it polls /ui/state every second. Element
// ids and classes are what the browser test (tests/integration/
// test_browser.py) reads: tr.member[data-status], #matrix td.cell,
// .share[data-share], #events li, #key / #owners.

#include "shoal/node/ui.h"

namespace shoal::node {

const char* const kUiPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>shoal</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2733; background: #f7f9fb; }
h1 { font-size: 1.3em; margin: 0 0 .2em; } h2 { font-size: 1.05em; margin: 1.2em 0 .4em; }
.sub { color: #5b6b7c; margin-bottom: 1em; }
.grid { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1.2em; }
section { background: #fff; border: 1px solid #dde3ea; border-radius: 6px; padding: .8em 1em; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .2em .5em; border-bottom: 1px solid #eef1f4; font-variant-numeric: tabular-nums; }
.status { font-weight: 600; }
.alive { color: #19803a; } .suspect { color: #b7791f; } .faulty { color: #c53030; }
.leave { color: #5b6b7c; } .tombstone { color: #a0aec0; }
#matrix td.cell { text-align: center; font-family: monospace; }
#matrix td.disagree { background: #fde2e1; }
.share { display: grid; grid-template-columns: 12em 1fr 4em; align-items: center; gap: .5em; margin: .15em 0; }
.bar { background: #3182ce; height: .9em; border-radius: 2px; }
#events { list-style: none; padding: 0; margin: 0; font-family: monospace; font-size: 12px; max-height: 22em; overflow: auto; }
#owners { font-family: monospace; margin-top: .4em; }
#error { color: #c53030; }
</style>
</head>
<body data-polls="0">
<h1>shoal cluster <span id="cluster"></span></h1>
<div class="sub">seen from <b id="self"></b> &middot; <span id="count"></span> members &middot; updated <span id="updated">never</span> <span id="error"></span></div>
<div class="grid">
<section><h2>Members</h2>
<table id="members"><thead><tr><th>name</th><th>address</th><th>status</th><th>incarnation</th><th>labels</th></tr></thead><tbody></tbody></table></section>
<section><h2>Who sees whom (rows ask, columns are asked about)</h2>
<table id="matrix"><thead></thead><tbody></tbody></table>
<div class="sub">columns numbered as the rows; a alive, S suspect, F faulty, L leave, T tombstone, . unknown; red: not what most see</div></section>
<section><h2>Share of the ring</h2><div id="shares"></div></section>
<section><h2>Last member events</h2><ul id="events"></ul></section>
<section><h2>Who owns a key</h2>
<input id="key" placeholder="user:42" size="30"> <button id="lookup">look up</button>
<div id="owners"></div></section>
</div>
<script>
"use strict";
const LETTER = {alive: "a", suspect: "S", faulty: "F", leave: "L", tombstone: "T"};
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function labels(l) { return Object.entries(l || {}).map(([k, v]) => k + "=" + v).join(" "); }
function render(s) {
  document.getElementById("cluster").textContent = "'" + s.cluster + "'";
  document.getElementById("self").textContent = s.self;
  document.getElementById("count").textContent = s.members.length;
  const tbody = document.querySelector("#members tbody");
  tbody.replaceChildren();
  for (const m of s.members) {
    const tr = el("tr", {class: "member", "data-name": m.name, "data-status": m.status});
    tr.append(el("td", {}, m.name), el("td", {}, m.address),
              el("td", {class: "status " + m.status}, m.status),
              el("td", {}, String(m.incarnation)), el("td", {}, labels(m.labels)));
    tbody.append(tr);
  }
  // The matrix: a row per member that answered (its view), a column per
  // member this node knows.
  const names = s.members.map(m => m.name);
  const askers = Object.keys(s.views).sort();
  const head = document.querySelector("#matrix thead"), body = document.querySelector("#matrix tbody");
  // Columns by number (the row of the same member says its name).
  const number = n => String(names.indexOf(n) + 1);
  const hr = el("tr"); hr.append(el("th", {}, ""));
  for (const n of names) hr.append(el("th", {title: n}, number(n)));
  head.replaceChildren(hr); body.replaceChildren();
  for (const a of askers) {
    const tr = el("tr", {class: "row", "data-asker": a});
    tr.append(el("th", {}, (names.includes(a) ? number(a) + " " : "") + a));
    for (const n of names) {
      const st = s.views[a][n] || "unknown";
      const counts = {};
      for (const b of askers) { const x = s.views[b][n] || "unknown"; counts[x] = (counts[x] || 0) + 1; }
      const most = Object.entries(counts).sort((p, q) => q[1] - p[1])[0][0];
      tr.append(el("td", {class: "cell " + st + (st === most ? "" : " disagree"), "data-status": st}, LETTER[st] || "."));
    }
    body.append(tr);
  }
  const shares = document.getElementById("shares"); shares.replaceChildren();
  for (const [m, f] of Object.entries(s.shares)) {
    const row = el("div", {class: "share", "data-member": m, "data-share": String(f)});
    const bar = el("div", {class: "bar"}); bar.style.width = (100 * f).toFixed(1) + "%";
    const track = el("div"); track.append(bar);
    row.append(el("span", {}, m), track, el("span", {}, (100 * f).toFixed(1) + "%"));
    shares.append(row);
  }
  const events = document.getElementById("events"); events.replaceChildren();
  for (const e of s.events) {
    events.append(el("li", {}, "#" + e.seq + " " + e.member + " " + e.from + " -> " + e.to +
                               " inc " + e.incarnation + " (from " + e.source + ")"));
  }
  document.getElementById("updated").textContent = new Date().toLocaleTimeString();
  document.body.dataset.polls = String(Number(document.body.dataset.polls) + 1);
}
async function poll() {
  try {
    const r = await fetch("/ui/state", {cache: "no-store"});
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = "node not answering: " + e.message;
  }
  setTimeout(poll, 1000);
}
async function lookup() {
  const k = document.getElementById("key").value;
  const out = document.getElementById("owners");
  try {
    const r = await fetch("/ui/key?k=" + encodeURIComponent(k), {cache: "no-store"});
    const text = await r.text();
    if (!r.ok) { out.textContent = text; return; }
    const j = JSON.parse(text);
    out.textContent = j.owners.length ? j.owners.join(" -> ") : "(no members)";
  } catch (e) { out.textContent = "node not answering: " + e.message; }
}
document.getElementById("lookup").addEventListener("click", lookup);
document.getElementById("key").addEventListener("keydown", e => { if (e.key === "Enter") lookup(); });
poll();
</script>
</body>
</html>
)HTML";

}  // namespace shoal::node
