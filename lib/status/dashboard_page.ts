/**
 * The dashboard page: one HTML document with inline CSS and JS and no external assets. It draws
 * this node and its peers as a graph (links coloured by health, with RTT and throughput) or as a
 * table; on a mesh leader (a status document with `mesh`) the graph is the whole mesh, every
 * member and every link between two, and clicking a member shows its peers and services. It is fed by server-sent events from `events`, or by polling `status` when SSE fails. Paths
 * are relative so the page works wherever it is mounted next to `status`.
 * @module
 */

/**
 * The page's model of a peer's path, as script text: `pathView(peer)` says how the path is shown
 * (the link's style, its label, the table cells, the tooltip line). It is kept apart from the
 * drawing so that tests can run it without a browser; the page's script includes it.
 */
export const PATH_VIEW_JS: string = `
  // path: the link's data-path (its style); label: beside the RTT on the link; cell: the table's
  // Path column; tip: the tooltip line; tcp: tagged "tcp" (udp is the default, not marked).
  function pathView(p) {
    var path = typeof p.path === "string" ? p.path : "";
    var transport = p.transport === "tcp" || p.transport === "udp" ? p.transport : "";
    var v = { path: path, via: "", tcp: transport === "tcp", transport: transport,
      label: "", cell: path || "–", tip: "" };
    if (path === "relay") {
      v.via = p.via ? String(p.via) : "";
      v.label = v.via ? "via " + v.via : "via a relay";
      v.cell = "relay " + v.label;
      v.tip = "path relay, " + v.label;
    } else if (path === "none") {
      // With relays, none means neither a direct path nor a relay works.
      v.label = v.cell = v.tip = "no path";
    } else if (path === "idle") {
      // Sessions on demand: nothing asked for a path yet; not a failure.
      v.label = v.cell = "idle";
      v.tip = "idle: no session until there is traffic";
    } else if (path === "direct") {
      var c = (p.candidates || []).filter(function (x) { return x && x.chosen; })[0];
      v.tip = "path direct" + (c ? " to " + c.endpoint + " (" + c.kind + ")" : "");
    } else if (path) {
      v.tip = "path " + path;
    }
    if (v.tip && transport && path !== "none" && path !== "idle") v.tip += ", over " + transport;
    return v;
  }
`;

/**
 * The page's model of a service (a `node.services` entry of the status document), as script
 * text: `serviceView(service)` says how the Services panel shows it (its state, the count of
 * healthy instances, each instance with its health and whether it leads, the leader's line).
 * Kept apart from the drawing, as `pathView` is, so tests run it without a browser.
 */
export const SERVICE_VIEW_JS: string = `
  // state: up (every instance healthy), degraded (some), down (none), unknown (no instance).
  function serviceView(s) {
    var list = Array.isArray(s.instances) ? s.instances : [];
    var leader = s.leader && typeof s.leader === "object" ? s.leader : null;
    var healthy = 0;
    var instances = list.map(function (i) {
      var ok = i.healthy === true;
      if (ok) healthy++;
      var leads = !!leader && leader.node === i.node && leader.address === i.address;
      var why = ok ? "" : i.reason === "node-down" ? "node down"
        : i.reason === "check-failing" ? "check failing" : String(i.reason || "unhealthy");
      return { node: String(i.node || "?"), address: String(i.address || ""), healthy: ok,
        health: ok ? "up" : "down", why: why, leader: leads, local: i.local === true,
        tip: String(i.node || "?") + " " + String(i.address || "") +
          (i.local ? " (this node)" : "") + (ok ? ", healthy" : ", " + why) +
          (i.rpc ? "" : ", DNS only (answers no calls)") + (leads ? ", leader" : "") };
    });
    var total = instances.length;
    var state = total === 0 ? "unknown" : healthy === total ? "up" : healthy === 0 ? "down"
      : "degraded";
    var leaderText = leader ? String(leader.node) + " · token " + leader.token : "none";
    return { name: String(s.name || ""), healthy: healthy, total: total, state: state,
      summary: healthy + "/" + total + " healthy", instances: instances,
      leader: leader ? String(leader.node) : "", leaderText: leaderText,
      leaderTip: leader ? "leader " + leader.node + " " + leader.address + ", fencing token " +
        leader.token + ", lease until " + leader.expiresAt : "no leader known" };
  }
`;

/**
 * The page's model of the mesh view (the `mesh` section of a mesh leader's status document), as
 * script text: `endState(view)` says how one side's view of a link is shown (`none` when that
 * side has not reported the link, `stale` when its report is old), and `meshLinkView(link)` the
 * link (its state, each side's, its label and tooltip). Kept apart from the drawing, as
 * `pathView` is, so tests run it without a browser.
 */
export const MESH_VIEW_JS: string = `
  var LINK_STATES = { up: 1, degraded: 1, down: 1, unknown: 1, idle: 1 };
  function endState(v) {
    if (!v || typeof v !== "object") return "none";
    if (v.stale === true) return "stale";
    return LINK_STATES[v.state] ? v.state : "unknown";
  }
  function meshRtt(v) { return v && typeof v.rttMs === "number" ? v.rttMs : null; }
  function endLine(name, v) {
    var e = endState(v);
    if (e === "none") return name + ": no report";
    var bits = [name + ": " + (e === "stale" ? "stale report (says " + v.state + ")" : e)];
    if (meshRtt(v) !== null) bits.push("RTT " + meshRtt(v).toFixed(2) + " ms");
    if (v.path) bits.push("path " + v.path);
    if (typeof v.rxRate === "number") bits.push("in " + v.rxRate + " B/s, out " + v.txRate + " B/s");
    return bits.join(", ");
  }
  // state: the merged state (down when a side says down or is stale); a, b: each side's view;
  // rtt: the lower RTT the sides measured; path: the first side's that says one.
  function meshLinkView(l) {
    var state = LINK_STATES[l.state] ? l.state : "unknown";
    var a = endState(l.aView), b = endState(l.bView);
    var rtts = [meshRtt(l.aView), meshRtt(l.bView)].filter(function (x) { return x !== null; });
    var rtt = rtts.length ? Math.min.apply(null, rtts) : null;
    var path = (l.aView && l.aView.path) || (l.bView && l.bView.path) || "";
    var why = a === "stale" || b === "stale" ? "stale report"
      : a === "down" || b === "down" ? "no answer" : "";
    return { state: state, a: a, b: b, rtt: rtt, path: path, why: why,
      tip: l.a + " – " + l.b + ": " + state + "\\n" + endLine(l.a, l.aView) + "\\n" +
        endLine(l.b, l.bView) };
  }
`;

/** The dashboard's HTML. */
export const DASHBOARD_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>weft mesh</title>
<link rel="icon" href="data:,">
<style>
:root {
  --bg: #f7f8fa; --panel: #ffffff; --fg: #1d2330; --muted: #667085; --line: #d9dde5;
  --up: #1f9d55; --degraded: #d99100; --down: #d33a3a; --unknown: #8a909c; --idle: #b7bcc6; --self: #3b6fd8;
  --relay: #7a4fd0; --tcp: #0e7c86;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #12151c; --panel: #1a1f29; --fg: #e6e9ef; --muted: #9aa3b2; --line: #2c3340;
    --relay: #a98bf0; --tcp: #3fb8c2; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 24px; padding: 14px 20px;
  background: var(--panel); border-bottom: 1px solid var(--line); }
h1 { font-size: 18px; margin: 0; font-weight: 650; }
h1 .brand { color: var(--self); }
#meta { color: var(--muted); font-size: 13px; }
#summary { font-size: 13px; display: flex; gap: 12px; }
.controls { margin-left: auto; display: flex; gap: 6px; align-items: center; }
button { font: inherit; font-size: 13px; padding: 5px 12px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--line); background: var(--bg); color: var(--fg); }
button[aria-pressed="true"] { background: var(--self); border-color: var(--self); color: #fff; }
.conn { font-size: 12px; color: var(--muted); margin-left: 8px; min-width: 90px; }
.conn::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%;
  margin-right: 6px; background: var(--unknown); }
.conn[data-state="live"]::before { background: var(--up); }
.conn[data-state="polling"]::before { background: var(--degraded); }
.conn[data-state="offline"]::before { background: var(--down); }
main { padding: 16px 20px; display: grid; gap: 16px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; }
#graph { display: block; width: 100%; height: auto; max-height: 72vh; }
.legend { display: flex; gap: 16px; padding: 8px 14px; font-size: 12px; color: var(--muted);
  border-top: 1px solid var(--line); }
.swatch { display: inline-block; width: 18px; height: 4px; border-radius: 2px; margin-right: 6px;
  vertical-align: middle; }
svg text { font-size: 13px; fill: var(--fg); paint-order: stroke; stroke: var(--panel);
  stroke-width: 4px; stroke-linejoin: round; }
svg text.sub { font-size: 11px; fill: var(--muted); }
svg text.linkinfo { font-size: 11.5px; }
svg .link line { stroke-width: 4; stroke-linecap: round; }
svg .link[data-health="down"] line { stroke-dasharray: 10 8; }
svg .link[data-health="unknown"] line { stroke-dasharray: 2 8; }
svg .link[data-health="idle"] line { stroke-dasharray: 1 10; stroke-opacity: 0.5; }
svg .link[data-path="none"] line { stroke-dasharray: 4 6; stroke-opacity: 0.6; }
svg .link[data-path="idle"] line { stroke-dasharray: 1 10; stroke-opacity: 0.5; }
svg .link[data-path="relay"] line { stroke-dasharray: 0 9; stroke-width: 5; }
svg tspan.via { fill: var(--relay); font-weight: 600; }
svg tspan.tag { fill: var(--tcp); font-weight: 700; }
span.tag { display: inline-block; padding: 0 5px; border-radius: 4px; font-size: 11px;
  font-weight: 700; color: #fff; background: var(--tcp); margin-right: 6px; vertical-align: middle; }
td[data-path="relay"] { color: var(--relay); }
svg .node circle { stroke-width: 3; }
svg .mesh .node { cursor: pointer; }
svg .mesh .node[data-selected="true"] circle { stroke: var(--fg); }
svg .mesh .link[data-state="down"] line { stroke-dasharray: 10 8; }
svg .end { stroke: var(--panel); stroke-width: 2; fill: var(--unknown); }
svg .end[data-state="up"] { fill: var(--up); }
svg .end[data-state="degraded"] { fill: var(--degraded); }
svg .end[data-state="idle"] { fill: var(--idle); }
svg .end[data-state="down"], svg .end[data-state="stale"] { fill: var(--down); }
svg .end[data-state="none"] { fill: var(--panel); stroke: var(--unknown); }
.end-swatch { width: 9px; height: 9px; border-radius: 50%; background: var(--up); }
#node-detail h2 { font-size: 14px; margin: 0; padding: 10px 14px; border-bottom: 1px solid var(--line); }
#node-detail .report { font-size: 12.5px; color: var(--muted); padding: 8px 14px; }
#node-detail .report[data-stale="true"] { color: var(--down); }
svg rect.card { fill: var(--panel); fill-opacity: 0.94; stroke: var(--line); }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th, td { text-align: left; padding: 8px 12px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 2px 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; color: #fff; background: var(--unknown); }
.badge[data-health="up"] { background: var(--up); }
.badge[data-health="degraded"] { background: var(--degraded); }
.badge[data-health="down"] { background: var(--down); }
.badge[data-health="idle"] { background: var(--idle); }
#services h2, #segments h2, #log h2 { font-size: 14px; margin: 0; padding: 10px 14px; border-bottom: 1px solid var(--line); }
#events { list-style: none; margin: 0; padding: 6px 14px; font-size: 12.5px; max-height: 180px;
  overflow: auto; }
#events li { padding: 3px 0; color: var(--muted); }
#events li b { color: var(--fg); }
.empty { color: var(--muted); padding: 30px; text-align: center; }
#service-list td, #segment-list td { white-space: normal; }
#segment-list td.seg { font-weight: 600; }
#service-list td.svc { font-weight: 600; }
.inst { display: inline-flex; align-items: center; gap: 5px; margin: 2px 10px 2px 0;
  font-size: 12.5px; }
.inst::before { content: ""; width: 9px; height: 9px; border-radius: 50%;
  background: var(--unknown); }
.inst[data-health="up"]::before { background: var(--up); }
.inst[data-health="down"]::before { background: var(--down); }
.inst .why { color: var(--down); font-size: 11.5px; }
.inst .lead { display: inline-block; padding: 0 5px; border-radius: 4px; font-size: 11px;
  font-weight: 700; color: #fff; background: var(--self); }
</style>
</head>
<body>
<header>
  <h1><span class="brand">weft</span> <span id="node-name">…</span></h1>
  <div id="meta"></div>
  <div id="summary"></div>
  <div class="controls">
    <button id="show-graph" type="button" aria-pressed="true">Graph</button>
    <button id="show-table" type="button" aria-pressed="false">Table</button>
    <span id="conn" class="conn" data-state="connecting">connecting</span>
  </div>
</header>
<main>
  <section id="graph-view" class="panel">
    <svg id="graph" viewBox="0 0 1000 600" role="img" aria-label="mesh graph"></svg>
    <div class="legend">
      <span><span class="swatch" style="background:var(--up)"></span>up</span>
      <span><span class="swatch" style="background:var(--degraded)"></span>degraded</span>
      <span><span class="swatch" style="background:var(--down)"></span>down</span>
      <span><span class="swatch" style="background:var(--unknown)"></span>unknown</span>
      <span data-legend="none"><span class="swatch" style="background:repeating-linear-gradient(90deg,var(--muted) 0 4px,transparent 4px 10px)"></span>no path</span>
      <span data-legend="relay"><span class="swatch" style="background:radial-gradient(circle,var(--relay) 0 2px,transparent 2.5px) 0 50%/7px 4px repeat-x"></span>relayed (via …)</span>
      <span data-legend="idle"><span class="swatch" style="background:repeating-linear-gradient(90deg,var(--muted) 0 1px,transparent 1px 8px)"></span>idle (no session until traffic)</span>
      <span data-legend="tcp"><span class="tag">tcp</span>over TCP</span>
      <span data-legend="router">⇄ routes subnets</span>
      <span data-legend="exit">⇱ exit node</span>
      <span data-legend="ends" hidden><span class="swatch end-swatch"></span>each side's own view (red: down, or its report is stale)</span>
    </div>
  </section>
  <section id="node-detail" class="panel" hidden>
    <h2><span id="detail-name"></span> <button id="detail-close" type="button">close</button></h2>
    <div id="detail-report" class="report"></div>
    <table id="detail-peers">
      <thead><tr><th>Peer</th><th>State</th><th>RTT</th><th>Path</th><th>Rx rate</th>
        <th>Tx rate</th></tr></thead>
      <tbody></tbody>
    </table>
    <div id="detail-services" class="report"></div>
  </section>
  <section id="table-view" class="panel" hidden>
    <table id="peers">
      <thead><tr>
        <th>Name</th><th>Address</th><th>Endpoint</th><th>Path</th><th>Transport</th><th>Health</th>
        <th>RTT</th><th>Loss</th>
        <th>Rx rate</th><th>Tx rate</th><th>Received</th><th>Sent</th><th>Last handshake</th>
      </tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section id="services" class="panel" hidden>
    <h2>Services</h2>
    <table id="service-list">
      <thead><tr><th>Service</th><th>Health</th><th>Instances</th><th>Leader</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section id="segments" class="panel" hidden>
    <h2>Layer 2 segments</h2>
    <table id="segment-list">
      <thead><tr><th>Segment</th><th>VNI</th><th>Bridge</th><th>Members</th><th>State</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section id="log" class="panel">
    <h2>Health events</h2>
    <ol id="events"><li class="none">no transitions since the page opened</li></ol>
  </section>
</main>
<script>
"use strict";
(function () {
  var SVG = "http://www.w3.org/2000/svg";
  var POLL_MS = 2000;
  // A remote listener wants the token on every request; the page was opened with ?token=,
  // and its own requests carry it on (EventSource cannot send an Authorization header).
  var TOKEN = new URLSearchParams(location.search).get("token");
  var AUTH = TOKEN ? "?token=" + encodeURIComponent(TOKEN) : "";
  var STALE_MS = 7000;
  var HEALTH = { up: 1, degraded: 1, down: 1, unknown: 1, idle: 1 };
  var prev = new Map();
  var rates = new Map();
  var names = new Map();
  var doc = null;
  var lastUpdate = 0;
  var pollTimer = null;
  var es = null;
  var mode = "connecting";

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function health(p) { return HEALTH[p.health] ? p.health : "unknown"; }
  function shortKey(k) { return String(k || "").slice(0, 8) + "…"; }
  function peerName(p) { return p.name || shortKey(p.publicKey); }
  function peerAddress(p) {
    if (p.address) return p.address;
    var a = (p.allowedIps || [])[0];
    return a ? String(a).replace(/\\/(32|128)$/, "") : "";
  }
  function bytes(n) {
    if (typeof n !== "number" || !isFinite(n)) return "–";
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + " " + u[i];
  }
  function rate(n) { return typeof n === "number" ? bytes(n) + "/s" : "–"; }
  function rtt(ms) {
    if (typeof ms !== "number") return "–";
    return (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : Math.round(ms)) + " ms";
  }
  function loss(x) { return typeof x === "number" ? Math.round(x * 1000) / 10 + "%" : "–"; }
  function ago(s) {
    if (typeof s !== "number") return "never";
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s ago";
    return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m ago";
  }
  function duration(s) {
    if (typeof s !== "number") return "";
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return d ? d + "d " + h + "h" : h ? h + "h " + m + "m" : m ? m + "m " + (s % 60) + "s" : s + "s";
  }

  // Throughput from byte deltas; a span under half a second keeps the last figure, since
  // bursts of change events would otherwise divide by almost nothing.
  function updateRates(peers) {
    var now = performance.now();
    var seen = new Set();
    peers.forEach(function (p) {
      seen.add(p.publicKey);
      var last = prev.get(p.publicKey);
      if (last && now - last.t < 500) return;
      if (last) {
        var dt = (now - last.t) / 1000;
        rates.set(p.publicKey, {
          rx: Math.max(0, (p.rxBytes - last.rx) / dt),
          tx: Math.max(0, (p.txBytes - last.tx) / dt),
        });
      }
      prev.set(p.publicKey, { rx: p.rxBytes, tx: p.txBytes, t: now });
    });
    Array.from(prev.keys()).forEach(function (k) {
      if (!seen.has(k)) { prev.delete(k); rates.delete(k); }
    });
  }

  function sortedPeers() {
    return (doc.peers || []).slice().sort(function (a, b) {
      return peerName(a) < peerName(b) ? -1 : peerName(a) > peerName(b) ? 1 : 0;
    });
  }

  function renderHeader() {
    var n = doc.node || {};
    $("node-name").textContent = n.name || shortKey(n.publicKey);
    var bits = [];
    if (n.addresses && n.addresses.length) bits.push(n.addresses.join(", "));
    if (n.role) bits.push(n.role);
    if (n.version) bits.push("v" + n.version);
    if (typeof n.uptimeSeconds === "number") bits.push("up " + duration(n.uptimeSeconds));
    $("meta").textContent = bits.join(" · ");
    var counts = { up: 0, degraded: 0, down: 0, unknown: 0, idle: 0 };
    (doc.peers || []).forEach(function (p) { counts[health(p)]++; });
    var s = $("summary");
    s.textContent = "";
    ["up", "degraded", "down", "unknown", "idle"].forEach(function (h) {
      if (!counts[h]) return;
      var b = el("span", { class: "badge", "data-health": h }, counts[h] + " " + h);
      s.appendChild(b);
    });
  }

  // A card behind a label keeps it off the lines; sized once the text is laid out (text cannot
  // be measured while the graph is hidden, so it is drawn again when shown).
  function card(label) {
    var box = label.getBBox();
    if (box.width > 0) {
      label.insertBefore(svg("rect", { class: "card", x: box.x - 6, y: box.y - 3,
        width: box.width + 12, height: box.height + 6, rx: 5 }), label.firstChild);
    }
  }

${PATH_VIEW_JS}
${SERVICE_VIEW_JS}
${MESH_VIEW_JS}
  // The path line of a tooltip (mesh peers), with its line feed; none outside a mesh.
  function pathText(v) { return v.tip ? "\\n" + v.tip : ""; }

  // The mesh view of a mesh leader's document, when it lists its links; else null (the star).
  function meshOf(d) {
    var m = d && d.mesh;
    return m && Array.isArray(m.members) && Array.isArray(m.links) && !m.linksOmitted &&
      m.members.length > 0 ? m : null;
  }

  function renderGraph() {
    var mesh = meshOf(doc);
    document.querySelector('[data-legend="ends"]').hidden = !mesh;
    if (mesh) { renderMesh(mesh); return; }
    var g = $("graph");
    while (g.firstChild) g.removeChild(g.firstChild);
    g.removeAttribute("class");
    var peers = sortedPeers();
    var n = peers.length;
    // One or two peers sit on one line: a short drawing then suffices.
    var width = 1000, height = n <= 2 ? 340 : 600;
    g.setAttribute("viewBox", "0 0 " + width + " " + height);
    var rx = n > 8 ? 340 : 320, ry = n > 8 ? 235 : 200;
    var cx = n === 1 ? width / 2 - rx / 2 : width / 2, cy = height / 2;
    var links = svg("g", { class: "links" });
    var nodes = svg("g", { class: "nodes" });
    g.appendChild(links);
    g.appendChild(nodes);
    var self = doc.node || {};
    var selfNode = svg("g", { class: "node self", "data-node": self.name || "self",
      transform: "translate(" + cx + "," + cy + ")" });
    selfNode.appendChild(svg("circle", { r: 34, fill: "var(--self)", stroke: "var(--panel)" }));
    var selfLabel = svg("g");
    selfLabel.appendChild(svg("text", { "text-anchor": "middle", y: 54, "font-weight": 650 },
      self.name || shortKey(self.publicKey)));
    selfLabel.appendChild(svg("text", { class: "sub", "text-anchor": "middle", y: 70 },
      (self.addresses || [])[0] || ""));
    selfNode.appendChild(selfLabel);
    selfNode.appendChild(svg("title", {}, "this node\\n" + (self.publicKey || "")));
    nodes.appendChild(selfNode);
    card(selfLabel);
    if (n === 0) {
      nodes.appendChild(svg("text", { class: "sub", "text-anchor": "middle", x: cx, y: cy - 60 },
        "no peers"));
    }
    // Past a dozen links the figures would pile up in the middle; they stay in the tooltips.
    var dense = n > 12;
    peers.forEach(function (p, i) {
      var a = n === 1 ? 0 : -Math.PI / 2 + (i + 0.5) * 2 * Math.PI / n;
      var cos = Math.cos(a), sin = Math.sin(a);
      var x = cx + rx * cos, y = cy + ry * sin;
      var h = health(p);
      var colour = "var(--" + h + ")";
      var r = rates.get(p.publicKey);
      var pv = pathView(p);
      var link = svg("g", { class: "link", "data-peer": peerName(p), "data-health": h,
        "data-path": pv.path, "data-via": pv.via, "data-transport": pv.transport });
      link.appendChild(svg("line", { x1: cx, y1: cy, x2: x, y2: y, stroke: colour }));
      var bits = [];
      if (typeof p.rttMs === "number") bits.push(rtt(p.rttMs));
      if (typeof p.loss === "number" && p.loss > 0) bits.push(loss(p.loss) + " loss");
      var info = bits.length ? bits.join(" · ") : h === "down" ? "no answer" : "no RTT yet";
      if (pv.path === "none" || pv.path === "idle") info = pv.label;
      link.appendChild(svg("title", {}, peerName(p) + ": " + h +
        (p.healthReason ? " (" + p.healthReason + ")" : "") +
        "\\nRTT " + rtt(p.rttMs) + ", loss " + loss(p.loss) + pathText(pv) +
        "\\n↓ " + rate(r && r.rx) + "  ↑ " + rate(r && r.tx)));
      links.appendChild(link);
      if (!dense) {
        var mx = cx + (x - cx) * 0.55, my = cy + (y - cy) * 0.55;
        var label = svg("g", { class: "linklabel" });
        var infoText = svg("text", { class: "linkinfo", "text-anchor": "middle", x: mx, y: my - 3 },
          info);
        // The relay and the tcp tag ride on the RTT line, coloured as in the legend.
        if (pv.path === "relay") {
          infoText.appendChild(svg("tspan", { class: "via" }, " · " + pv.label));
        }
        if (pv.tcp && pv.path !== "none" && pv.path !== "idle") {
          infoText.appendChild(svg("tspan", { class: "tag" }, " · tcp"));
        }
        label.appendChild(infoText);
        label.appendChild(svg("text", { class: "sub", "text-anchor": "middle", x: mx, y: my + 12 },
          "↓ " + rate(r && r.rx) + "  ↑ " + rate(r && r.tx)));
        link.appendChild(label);
        card(label);
      }

      var node = svg("g", { class: "node peer", "data-node": peerName(p), "data-health": h,
        transform: "translate(" + x + "," + y + ")" });
      node.appendChild(svg("circle", { r: 26, fill: colour, stroke: "var(--panel)" }));
      // Labels go outward: beside nodes on the flanks, above or below the others.
      var anchor = "middle", lx = 0, ly;
      if (Math.abs(cos) > 0.55) {
        anchor = cos > 0 ? "start" : "end";
        lx = cos > 0 ? 34 : -34;
        ly = -1;
      } else ly = sin > 0 ? 44 : -48;
      node.appendChild(svg("text", { "text-anchor": anchor, x: lx, y: ly, "font-weight": 600 },
        peerName(p)));
      node.appendChild(svg("text", { class: "sub", "text-anchor": anchor, x: lx, y: ly + 15 },
        peerAddress(p)));
      node.appendChild(svg("title", {}, peerName(p) + " (" + h + ")\\n" + (p.publicKey || "") +
        "\\nendpoint " + (p.endpoint || "unknown") + pathText(pv) +
        "\\nlast handshake " + ago(p.lastHandshakeAgeSeconds)));
      nodes.appendChild(node);
    });
  }


  // The whole mesh (the leader's page): every member on a circle, this node first at the top,
  // every link between two members coloured by its merged state, with a dot near each end for
  // that side's own view. Clicking a member shows its peers and services below.
  function renderMesh(mesh) {
    var g = $("graph");
    while (g.firstChild) g.removeChild(g.firstChild);
    g.setAttribute("class", "mesh");
    var self = doc.node || {};
    var members = mesh.members.filter(function (m) { return m.publicKey === self.publicKey; })
      .concat(mesh.members.filter(function (m) { return m.publicKey !== self.publicKey; }));
    var n = members.length;
    var width = 1000, height = n <= 2 ? 340 : 600;
    g.setAttribute("viewBox", "0 0 " + width + " " + height);
    var cx = width / 2, cy = height / 2, rx = n === 1 ? 0 : n === 2 ? 260 : 340;
    var ry = n <= 2 ? 0 : 220;
    var byPeer = new Map((doc.peers || []).map(function (p) { return [p.publicKey, p]; }));
    var pos = new Map();
    members.forEach(function (m, i) {
      var a = n <= 2 ? Math.PI * (1 - i) : -Math.PI / 2 + i * 2 * Math.PI / n;
      pos.set(m.name, { x: cx + rx * Math.cos(a), y: cy + ry * Math.sin(a), cos: Math.cos(a),
        sin: Math.sin(a), m: m });
    });
    var links = svg("g", { class: "links" });
    var nodes = svg("g", { class: "nodes" });
    g.appendChild(links);
    g.appendChild(nodes);
    if (n === 1) {
      nodes.appendChild(svg("text", { class: "sub", "text-anchor": "middle", x: cx, y: cy - 60 },
        "no other members"));
    }
    var dense = mesh.links.length > 15;
    mesh.links.forEach(function (l, i) {
      var pa = pos.get(l.a), pb = pos.get(l.b);
      if (!pa || !pb) return;
      var v = meshLinkView(l);
      var attrs = { class: "link", "data-link": l.a + "|" + l.b, "data-state": v.state,
        "data-health": v.state, "data-a-state": v.a, "data-b-state": v.b,
        "data-stale": String(l.stale === true), "data-path": v.path };
      // Links of this node also carry the peer's name, as in the star.
      if (pa.m.publicKey === self.publicKey) attrs["data-peer"] = l.b;
      if (pb.m.publicKey === self.publicKey) attrs["data-peer"] = l.a;
      var link = svg("g", attrs);
      link.appendChild(svg("line", { x1: pa.x, y1: pa.y, x2: pb.x, y2: pb.y,
        stroke: "var(--" + v.state + ")" }));
      [["a", pa, pb, v.a], ["b", pb, pa, v.b]].forEach(function (e) {
        var t = 0.16;
        link.appendChild(svg("circle", { class: "end", "data-end": e[0], "data-state": e[3], r: 6,
          cx: e[1].x + (e[2].x - e[1].x) * t, cy: e[1].y + (e[2].y - e[1].y) * t }));
      });
      link.appendChild(svg("title", {}, v.tip));
      links.appendChild(link);
      if (!dense) {
        // Labels off the middle, alternating, so that crossing diagonals keep theirs apart.
        var t2 = i % 2 ? 0.62 : 0.38;
        var mx = pa.x + (pb.x - pa.x) * t2, my = pa.y + (pb.y - pa.y) * t2;
        var label = svg("g", { class: "linklabel" });
        var info = v.why || (v.rtt !== null ? rtt(v.rtt) : "no RTT yet");
        var text = svg("text", { class: "linkinfo", "text-anchor": "middle", x: mx, y: my + 4 },
          info);
        if (v.path === "relay") text.appendChild(svg("tspan", { class: "via" }, " · relay"));
        if (v.path === "tcp") text.appendChild(svg("tspan", { class: "tag" }, " · tcp"));
        label.appendChild(text);
        link.appendChild(label);
        card(label);
      }
    });
    members.forEach(function (m) {
      var p = pos.get(m.name);
      var isSelf = m.publicKey === self.publicKey;
      var peer = byPeer.get(m.publicKey);
      var h = isSelf ? "self" : m.offline ? "down" : peer ? health(peer) : "unknown";
      var stale = !!(m.report && m.report.stale);
      var node = svg("g", { class: "node" + (isSelf ? " self" : " peer"), "data-node": m.name,
        "data-health": h, "data-stale": String(stale), "data-offline": String(!!m.offline), "data-selected": String(selected === m.name),
        transform: "translate(" + p.x + "," + p.y + ")" });
      node.appendChild(svg("circle", { r: isSelf ? 32 : 26,
        fill: isSelf ? "var(--self)" : "var(--" + h + ")", stroke: "var(--panel)" }));
      var anchor = "middle", lx = 0, ly;
      if (Math.abs(p.cos) > 0.55) {
        anchor = p.cos > 0 ? "start" : "end";
        lx = p.cos > 0 ? 38 : -38;
        ly = -1;
      } else ly = p.sin > 0 ? 48 : -50;
      node.appendChild(svg("text", { "text-anchor": anchor, x: lx, y: ly, "font-weight": 650 },
        m.name + (m.leader ? " ★" : "") +
          (m.routes && m.routes.length ? " ⇄" : "") + (m.exitNode ? " ⇱" : "")));
      node.appendChild(svg("text", { class: "sub", "text-anchor": anchor, x: lx, y: ly + 15 },
        m.address + (m.offline ? " · offline" : stale ? " · stale" : "")));
      node.appendChild(svg("title", {}, m.name + (isSelf ? " (this node)" : " (" + h + ")") +
        "\\n" + m.publicKey + "\\n" + (m.report ? "report " + ago(m.report.ageSeconds) +
          (stale ? " (stale)" : "") : "no report yet") + "\\nclick for its peers and services"));
      node.addEventListener("click", function () { select(m.name); });
      nodes.appendChild(node);
    });
  }

  // The member clicked: its peers as its report says, and the services it offers.
  var selected = null;
  function select(name) {
    selected = name;
    renderDetail();
    if (doc) renderGraph();
  }
  function renderDetail() {
    var mesh = meshOf(doc);
    var m = mesh && selected !== null
      ? mesh.members.filter(function (x) { return x.name === selected; })[0] : null;
    var panel = $("node-detail");
    panel.hidden = !m;
    if (!m) return;
    panel.setAttribute("data-node", m.name);
    $("detail-name").textContent = m.name + " · " + m.address + (m.leader ? " · leader" : "") +
      (m.routes && m.routes.length ? " · routes " + m.routes.join(", ") : "") +
      (m.exitNode ? " · exit node" : "") +
      (m.offline ? " · offline (stopped on purpose)" : "");
    var rep = $("detail-report");
    rep.setAttribute("data-stale", String(!!(m.report && m.report.stale)));
    rep.textContent = !m.report ? "no link report yet"
      : "link report " + ago(m.report.ageSeconds) + (m.report.stale ? " (stale: the node stopped reporting)" : "");
    var body = document.querySelector("#detail-peers tbody");
    body.textContent = "";
    (m.peers || []).forEach(function (p) {
      var st = endState(p);
      var tr = el("tr", { "data-peer": p.name, "data-state": st });
      tr.appendChild(el("td", { title: p.publicKey || "" }, p.name));
      var hc = el("td");
      hc.appendChild(el("span", { class: "badge", "data-health": st === "stale" ? "down" : st }, st));
      tr.appendChild(hc);
      tr.appendChild(el("td", { class: "num" }, rtt(p.rttMs)));
      tr.appendChild(el("td", {}, p.path || "–"));
      tr.appendChild(el("td", { class: "num" }, rate(p.rxRate)));
      tr.appendChild(el("td", { class: "num" }, rate(p.txRate)));
      body.appendChild(tr);
    });
    if (!(m.peers || []).length) {
      var tr0 = el("tr");
      tr0.appendChild(el("td", { colspan: 6, class: "empty" }, "no peers reported"));
      body.appendChild(tr0);
    }
    var svcs = ((doc.node || {}).services || []).filter(function (s) {
      return (s.instances || []).some(function (i) { return i.node === m.name; });
    });
    var box = $("detail-services");
    box.textContent = "";
    box.appendChild(document.createTextNode(svcs.length ? "services: " : "no services"));
    svcs.forEach(function (s) {
      var i = s.instances.filter(function (x) { return x.node === m.name; })[0];
      var v = serviceView(s);
      var leads = v.leader === m.name;
      var chip = el("span", { class: "inst", "data-service": s.name,
        "data-health": i.healthy ? "up" : "down" }, s.name);
      if (leads) chip.appendChild(el("span", { class: "lead" }, "leader"));
      box.appendChild(chip);
    });
  }

  function renderTable() {
    var body = document.querySelector("#peers tbody");
    body.textContent = "";
    var peers = sortedPeers();
    if (peers.length === 0) {
      var tr0 = el("tr");
      tr0.appendChild(el("td", { colspan: 13, class: "empty" }, "no peers"));
      body.appendChild(tr0);
    }
    peers.forEach(function (p) {
      var h = health(p);
      var r = rates.get(p.publicKey);
      var tr = el("tr", { "data-peer": peerName(p), "data-health": h });
      tr.appendChild(el("td", { title: p.publicKey || "" }, peerName(p)));
      tr.appendChild(el("td", {}, peerAddress(p)));
      tr.appendChild(el("td", {}, p.endpoint || "–"));
      var pv = pathView(p);
      tr.appendChild(el("td", { "data-path": pv.path, "data-via": pv.via, title: pv.tip },
        pv.cell));
      var tc = el("td", { "data-transport": pv.transport });
      if (pv.tcp) tc.appendChild(el("span", { class: "tag" }, "tcp"));
      else tc.textContent = pv.transport || "–";
      tr.appendChild(tc);
      var hc = el("td");
      hc.appendChild(el("span", { class: "badge", "data-health": h, title: p.healthReason || "" }, h));
      tr.appendChild(hc);
      tr.appendChild(el("td", { class: "num" }, rtt(p.rttMs)));
      tr.appendChild(el("td", { class: "num" }, loss(p.loss)));
      tr.appendChild(el("td", { class: "num" }, rate(r && r.rx)));
      tr.appendChild(el("td", { class: "num" }, rate(r && r.tx)));
      tr.appendChild(el("td", { class: "num" }, bytes(p.rxBytes)));
      tr.appendChild(el("td", { class: "num" }, bytes(p.txBytes)));
      tr.appendChild(el("td", {}, ago(p.lastHandshakeAgeSeconds)));
      body.appendChild(tr);
    });
  }

  // Mesh agents list their services (maybe none); other agents have no such field: no panel.
  function renderServices() {
    var list = (doc.node || {}).services;
    $("services").hidden = !Array.isArray(list);
    if (!Array.isArray(list)) return;
    var body = document.querySelector("#service-list tbody");
    body.textContent = "";
    if (list.length === 0) {
      var tr0 = el("tr");
      tr0.appendChild(el("td", { colspan: 4, class: "empty" }, "no services in the mesh"));
      body.appendChild(tr0);
    }
    list.forEach(function (s) {
      var v = serviceView(s);
      var tr = el("tr", { "data-service": v.name, "data-health": v.state,
        "data-leader": v.leader });
      tr.appendChild(el("td", { class: "svc" }, v.name));
      var hc = el("td");
      hc.appendChild(el("span", { class: "badge", "data-health": v.state }, v.summary));
      tr.appendChild(hc);
      var ic = el("td");
      v.instances.forEach(function (i) {
        var chip = el("span", { class: "inst", "data-node": i.node, "data-health": i.health,
          "data-leader": String(i.leader), title: i.tip }, i.node + (i.local ? " (here)" : ""));
        if (i.why) chip.appendChild(el("span", { class: "why" }, i.why));
        if (i.leader) chip.appendChild(el("span", { class: "lead" }, "leader"));
        ic.appendChild(chip);
      });
      if (v.instances.length === 0) ic.textContent = "–";
      tr.appendChild(ic);
      tr.appendChild(el("td", { class: "leader", title: v.leaderTip }, v.leaderText));
      body.appendChild(tr);
    });
  }

  // The segments this node is in (node.segments): shown only when there are some.
  function renderSegments() {
    var list = (doc.node || {}).segments;
    var has = Array.isArray(list) && list.length > 0;
    $("segments").hidden = !has;
    if (!has) return;
    var body = document.querySelector("#segment-list tbody");
    body.textContent = "";
    list.forEach(function (g) {
      var up = g.up === true;
      var tr = el("tr", { "data-segment": String(g.name), "data-up": String(up) });
      tr.appendChild(el("td", { class: "seg" }, String(g.name)));
      tr.appendChild(el("td", { class: "num" }, String(g.vni)));
      tr.appendChild(el("td", {}, String(g.bridge) + ", mtu " + String(g.mtu)));
      var mc = el("td");
      (Array.isArray(g.members) ? g.members : []).forEach(function (m) {
        mc.appendChild(el("span", { class: "inst", "data-node": String(m.name),
          "data-health": "up", title: String(m.address) }, String(m.name)));
      });
      tr.appendChild(mc);
      var sc = el("td");
      sc.appendChild(el("span", { class: "badge", "data-health": up ? "up" : "down" },
        up ? "up" : "down"));
      if (!up && g.error) sc.appendChild(document.createTextNode(" " + String(g.error)));
      tr.appendChild(sc);
      body.appendChild(tr);
    });
  }

  function update(d) {
    if (!d || typeof d !== "object" || !Array.isArray(d.peers)) return;
    doc = d;
    lastUpdate = Date.now();
    d.peers.forEach(function (p) { names.set(p.publicKey, peerName(p)); });
    updateRates(d.peers);
    renderHeader();
    renderGraph();
    renderTable();
    renderServices();
    renderSegments();
    renderDetail();
    setConn(mode);
  }

  function logEvent(ev) {
    if (!ev || !ev.peer) return;
    var list = $("events");
    var li = el("li");
    var at = new Date(typeof ev.at === "number" ? ev.at : Date.now());
    li.appendChild(document.createTextNode(at.toLocaleTimeString() + "  "));
    li.appendChild(el("b", {}, names.get(ev.peer) || shortKey(ev.peer)));
    li.appendChild(document.createTextNode("  " + ev.from + " → " + ev.to +
      (ev.reason ? "  (" + ev.reason + ")" : "")));
    var none = list.querySelector(".none");
    if (none) list.removeChild(none);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 30) list.removeChild(list.lastChild);
  }

  function setConn(m) {
    mode = m;
    var c = $("conn");
    var stale = lastUpdate && Date.now() - lastUpdate > STALE_MS;
    var state = stale ? "offline" : m;
    c.setAttribute("data-state", state);
    c.textContent = stale ? "stale" : m;
  }

  function poll() {
    fetch("status" + AUTH, { cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (d) { if (mode !== "live") { mode = "polling"; } update(d); })
      .catch(function () { if (mode !== "live") setConn("offline"); });
  }
  function startPolling() {
    if (pollTimer !== null) return;
    setConn("polling");
    poll();
    pollTimer = setInterval(poll, POLL_MS);
  }
  function stopPolling() {
    if (pollTimer !== null) clearInterval(pollTimer);
    pollTimer = null;
  }

  function connect() {
    if (typeof EventSource !== "function") { startPolling(); return; }
    es = new EventSource("events" + AUTH);
    es.addEventListener("open", function () { stopPolling(); setConn("live"); });
    es.addEventListener("status", function (m) { update(JSON.parse(m.data)); });
    es.addEventListener("health", function (m) { logEvent(JSON.parse(m.data)); });
    es.addEventListener("error", function () {
      // Poll until the stream is back; the browser's own retry would leave the view frozen.
      es.close();
      es = null;
      mode = "polling";
      startPolling();
      setTimeout(connect, 10000);
    });
  }

  function show(view) {
    var graph = view === "graph";
    $("graph-view").hidden = !graph;
    $("table-view").hidden = graph;
    $("show-graph").setAttribute("aria-pressed", String(graph));
    $("show-table").setAttribute("aria-pressed", String(!graph));
    try { localStorage.setItem("weft-view", view); } catch (_) { /* storage may be off */ }
    if (graph && doc) renderGraph();
  }
  $("show-graph").addEventListener("click", function () { show("graph"); });
  $("detail-close").addEventListener("click", function () { select(null); });
  $("show-table").addEventListener("click", function () { show("table"); });
  var saved = null;
  try { saved = localStorage.getItem("weft-view"); } catch (_) { /* storage may be off */ }
  show(saved === "table" ? "table" : "graph");
  setInterval(function () { setConn(mode); }, 1000);
  connect();
})();
</script>
</body>
</html>
`;
