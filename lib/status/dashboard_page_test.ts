/**
 * The dashboard page is one string: checked here for being a well-formed document whose script
 * parses, whose element ids are the ones its script and the e2e browser test (dashboard_test.ts)
 * use, and whose requests and event names match what dashboard.ts serves.
 */
import assert from "node:assert/strict";
import { DASHBOARD_HTML, MESH_VIEW_JS, PATH_VIEW_JS, SERVICE_VIEW_JS } from "./dashboard_page.ts";

const VOID = new Set(["meta", "link", "br", "img", "input", "hr", "col", "source", "wbr"]);

/** The inline script's text. */
function script(): string {
  const m = /<script>([\s\S]*?)<\/script>/.exec(DASHBOARD_HTML);
  assert.ok(m, "one inline script");
  return m[1];
}

/** The markup outside <script> and <style>, for tag checks. */
function markup(): string {
  return DASHBOARD_HTML.replace(/<script>[\s\S]*?<\/script>/g, "<script></script>")
    .replace(/<style>[\s\S]*?<\/style>/g, "<style></style>");
}

Deno.test("dashboard page: a whole HTML document with balanced elements", () => {
  assert.match(DASHBOARD_HTML, /^<!doctype html>\n<html lang="en">/);
  assert.match(DASHBOARD_HTML.trimEnd(), /<\/html>$/);
  assert.match(DASHBOARD_HTML, /<meta charset="utf-8">/i);
  assert.match(DASHBOARD_HTML, /<meta name="viewport"/);
  assert.match(DASHBOARD_HTML, /<title>[^<]+<\/title>/);
  const stack: string[] = [];
  for (const m of markup().matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*?(\/?)>/g)) {
    const [tag, close, rawName, selfClose] = m;
    const name = rawName.toLowerCase();
    if (VOID.has(name) || selfClose) continue;
    if (!close) stack.push(name);
    else assert.equal(stack.pop(), name, `${tag} closes <${stack.at(-1) ?? "nothing"}>`);
  }
  assert.deepEqual(stack, [], "every element is closed");
  // One of each part, in order.
  const order = ["<head>", "<style>", "</head>", "<body>", "<script>", "</body>"].map((s) =>
    DASHBOARD_HTML.indexOf(s)
  );
  assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1])), String(order));
});

Deno.test("dashboard page: no external assets (the CSP allows none)", () => {
  assert.doesNotMatch(DASHBOARD_HTML, /<script[^>]+src=/);
  // The one link is the empty icon, inline, so the browser asks for no /favicon.ico.
  for (const m of DASHBOARD_HTML.matchAll(/<link[^>]*href="([^"]*)"/g)) {
    assert.match(m[1], /^data:/, m[0]);
  }
  assert.doesNotMatch(DASHBOARD_HTML, /\b(src|href)="(https?:)?\/\//);
  assert.doesNotMatch(DASHBOARD_HTML, /@import|url\(\s*["']?https?:/);
  // Requests are relative, so the page works wherever it is mounted next to `status`.
  assert.doesNotMatch(script(), /fetch\(\s*["']\//);
  assert.doesNotMatch(script(), /EventSource\(\s*["']\//);
});

Deno.test("dashboard page: the script parses, in strict mode", () => {
  const code = script();
  assert.match(code, /^\s*"use strict";/);
  // Compiled, not run: a syntax error throws here.
  new Function(code);
});

Deno.test("dashboard page: ids are unique, and those the script and the e2e test use exist", () => {
  const ids = [...markup().matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(new Set(ids).size, ids.length, `duplicate ids in ${ids}`);
  const used = [...script().matchAll(/\$\("([^"]+)"\)/g)].map((m) => m[1]);
  assert.ok(used.length >= 5, `the script looks up ${used}`);
  for (const id of used) assert.ok(ids.includes(id), `the script uses #${id}`);
  // What tests/e2e/dashboard_test.ts clicks, reads and waits for.
  for (const id of ["graph", "conn", "events", "summary", "peers", "show-graph", "show-table"]) {
    assert.ok(ids.includes(id), `#${id}`);
  }
  assert.match(DASHBOARD_HTML, /<svg id="graph"/);
  assert.match(DASHBOARD_HTML, /<table id="peers">[\s\S]*<tbody/);
  // The graph and table elements the e2e selectors name are made by the script.
  for (const s of [/class: "link"/, /class: "node\b/, /"data-peer"/, /"data-health"/, /"sub"/]) {
    assert.match(script(), s);
  }
});

Deno.test("dashboard page: it asks for what dashboard.ts serves, and listens to its events", async () => {
  const server = await Deno.readTextFile(new URL("./dashboard.ts", import.meta.url));
  const sent = new Set([...server.matchAll(/sseFrame\("([a-z]+)"/g)].map((m) => m[1]));
  assert.ok(sent.has("status") && sent.has("health"), [...sent].join());
  const code = script();
  for (const ev of ["status", "health"]) {
    assert.ok(code.includes(`addEventListener("${ev}"`), `listens for ${ev}`);
  }
  assert.match(code, /new EventSource\("events" \+ AUTH\)/);
  assert.match(code, /fetch\("status" \+ AUTH/);
  assert.match(server, /app\.get\("\/events"/);
});

interface PathView {
  path: string;
  via: string;
  tcp: boolean;
  transport: string;
  label: string;
  cell: string;
  tip: string;
}

/** The page's own `pathView`, compiled from the text the page includes. */
const pathView = new Function(`"use strict";${PATH_VIEW_JS}\nreturn pathView;`)() as (
  p: Record<string, unknown>,
) => PathView;

Deno.test("dashboard page: the path model is the one the page runs", () => {
  assert.ok(script().includes(PATH_VIEW_JS), "the script includes PATH_VIEW_JS as it is");
  assert.match(script(), /pathView\(p\)/);
});

Deno.test("dashboard page: how direct, relayed, TCP and pathless peers are shown", () => {
  const chosen = [
    { endpoint: "203.0.113.1:51820", kind: "observed", chosen: false },
    { endpoint: "192.168.1.5:51820", kind: "lan", chosen: true },
  ];
  const direct = pathView({ path: "direct", transport: "udp", candidates: chosen });
  assert.deepEqual(direct, {
    path: "direct",
    via: "",
    tcp: false,
    transport: "udp",
    label: "",
    cell: "direct",
    tip: "path direct to 192.168.1.5:51820 (lan), over udp",
  });
  const directTcp = pathView({ path: "direct", transport: "tcp", candidates: [] });
  assert.equal(directTcp.tcp, true);
  assert.equal(directTcp.tip, "path direct, over tcp");
  const relayed = pathView({ path: "relay", via: "alpha", transport: "udp" });
  assert.deepEqual(
    [relayed.path, relayed.via, relayed.tcp, relayed.label, relayed.cell, relayed.tip],
    ["relay", "alpha", false, "via alpha", "relay via alpha", "path relay, via alpha, over udp"],
  );
  const relayedTcp = pathView({ path: "relay", via: "Zm9vYmFy", transport: "tcp" });
  assert.equal(relayedTcp.tcp, true);
  assert.equal(relayedTcp.tip, "path relay, via Zm9vYmFy, over tcp");
  // A relayed peer whose relay is not named yet still reads as relayed.
  assert.equal(pathView({ path: "relay", via: null }).cell, "relay via a relay");
  const none = pathView({ path: "none", via: null, transport: "tcp" });
  assert.deepEqual([none.path, none.label, none.cell, none.tip], [
    "none",
    "no path",
    "no path",
    "no path",
  ]);
  // Idle (sessions on demand, no traffic yet) is no failure: said as idle, never "no path".
  const idle = pathView({ path: "idle", via: null, transport: "tcp" });
  assert.deepEqual([idle.path, idle.label, idle.cell, idle.tip, idle.tcp], [
    "idle",
    "idle",
    "idle",
    "idle: no session until there is traffic",
    true,
  ]);
  // A plain `weft up` peer has no path fields: nothing is said about its path.
  assert.deepEqual(pathView({}), {
    path: "",
    via: "",
    tcp: false,
    transport: "",
    label: "",
    cell: "–",
    tip: "",
  });
  // A path state this page does not know yet is shown by name, not dropped.
  assert.equal(pathView({ path: "mystery" }).tip, "path mystery");
  assert.equal(pathView({ path: "direct", transport: "quic" }).transport, "");
});

Deno.test("dashboard page: relayed and TCP links have a style and a legend entry", () => {
  assert.match(DASHBOARD_HTML, /\.link\[data-path="relay"\] line \{[^}]*stroke-dasharray/);
  assert.match(DASHBOARD_HTML, /\.link\[data-path="none"\] line \{[^}]*stroke-dasharray/);
  assert.match(DASHBOARD_HTML, /\.link\[data-path="idle"\] line \{[^}]*stroke-dasharray/);
  // Every mark the graph draws has its legend entry: the paths, and a member's ⇄ and ⇱.
  for (const entry of ["none", "idle", "relay", "tcp", "router", "exit"]) {
    assert.match(markup(), new RegExp(`data-legend="${entry}"`), entry);
  }
  assert.match(script(), /"data-transport"/);
  assert.match(script(), /"data-via"/);
});

interface ServiceView {
  name: string;
  healthy: number;
  total: number;
  state: string;
  summary: string;
  instances: {
    node: string;
    address: string;
    healthy: boolean;
    health: string;
    why: string;
    leader: boolean;
    local: boolean;
    tip: string;
  }[];
  leader: string;
  leaderText: string;
  leaderTip: string;
}

/** The page's own `serviceView`, compiled from the text the page includes. */
const serviceView = new Function(`"use strict";${SERVICE_VIEW_JS}\nreturn serviceView;`)() as (
  s: Record<string, unknown>,
) => ServiceView;

Deno.test("dashboard page: the service model is the one the page runs, in a hidden panel", () => {
  assert.ok(script().includes(SERVICE_VIEW_JS), "the script includes SERVICE_VIEW_JS as it is");
  assert.match(script(), /serviceView\(s\)/);
  assert.match(markup(), /<section id="services" class="panel" hidden>/);
  assert.match(markup(), /<table id="service-list">[\s\S]*<tbody/);
  for (const a of ['"data-service"', '"data-node"', '"data-leader"']) {
    assert.ok(script().includes(a), a);
  }
});

Deno.test("dashboard page: how a service, its instances and its leader are shown", () => {
  const inst = (node: string, address: string, healthy: boolean, extra = {}) => ({
    node,
    address,
    local: false,
    rpc: true,
    healthy,
    ...extra,
  });
  const echo = serviceView({
    name: "echo",
    local: true,
    instances: [
      inst("n1", "10.0.0.1", true, { local: true }),
      inst("n2", "10.0.0.2", false, { reason: "check-failing" }),
      inst("n3", "10.0.0.3", false, { reason: "node-down", rpc: false }),
    ],
    leader: { node: "n1", address: "10.0.0.1", token: 4, expiresAt: "2030-01-01T00:00:00.000Z" },
  });
  assert.deepEqual(
    [echo.name, echo.healthy, echo.total, echo.state, echo.summary, echo.leader, echo.leaderText],
    ["echo", 1, 3, "degraded", "1/3 healthy", "n1", "n1 · token 4"],
  );
  assert.equal(
    echo.leaderTip,
    "leader n1 10.0.0.1, fencing token 4, lease until 2030-01-01T00:00:00.000Z",
  );
  assert.deepEqual(echo.instances.map((i) => [i.node, i.health, i.why, i.leader, i.local]), [
    ["n1", "up", "", true, true],
    ["n2", "down", "check failing", false, false],
    ["n3", "down", "node down", false, false],
  ]);
  assert.equal(echo.instances[0].tip, "n1 10.0.0.1 (this node), healthy, leader");
  assert.equal(echo.instances[2].tip, "n3 10.0.0.3, node down, DNS only (answers no calls)");
  // All healthy, none healthy, no instance known; no leader.
  const all = serviceView({ name: "a", instances: [inst("x", "10.0.0.9", true)], leader: null });
  assert.deepEqual([all.state, all.leader, all.leaderText, all.leaderTip], [
    "up",
    "",
    "none",
    "no leader known",
  ]);
  const down = serviceView({ name: "b", instances: [inst("x", "10.0.0.9", false)] });
  assert.deepEqual([down.state, down.instances[0].why], ["down", "unhealthy"]);
  assert.equal(serviceView({ name: "c", instances: [], leader: null }).state, "unknown");
  // A leader that is not among the instances shown (the view lags) marks none of them.
  const lag = serviceView({
    name: "d",
    instances: [inst("x", "10.0.0.9", true)],
    leader: { node: "y", address: "10.0.0.8", token: 1, expiresAt: "" },
  });
  assert.deepEqual([lag.leader, lag.instances[0].leader], ["y", false]);
  // Malformed input does not throw.
  assert.equal(serviceView({}).total, 0);
});

interface MeshLinkViewModel {
  state: string;
  a: string;
  b: string;
  rtt: number | null;
  path: string;
  why: string;
  tip: string;
}
const meshLinkView = new Function(`"use strict";${MESH_VIEW_JS}\nreturn meshLinkView;`)() as (
  l: Record<string, unknown>,
) => MeshLinkViewModel;

Deno.test("dashboard page: the mesh model is the one the page runs", () => {
  assert.ok(script().includes(MESH_VIEW_JS), "the script includes MESH_VIEW_JS as it is");
  for (const s of [/"data-link"/, /"data-state"/, /"data-a-state"/, /"data-b-state"/]) {
    assert.match(script(), s);
  }
  assert.match(markup(), /<section id="node-detail"/);
});

Deno.test("dashboard page: a mesh link shows both sides' views; stale or down is down", () => {
  const view = (state: string, rttMs: number | null, stale = false) => ({
    state,
    rttMs,
    path: "direct",
    rxRate: 10,
    txRate: 20,
    stale,
  });
  const up = meshLinkView({
    a: "alpha",
    b: "gamma",
    state: "up",
    aView: view("up", 1.5),
    bView: view("up", 1.25),
  });
  assert.deepEqual(
    { state: up.state, a: up.a, b: up.b, rtt: up.rtt, path: up.path, why: up.why },
    { state: "up", a: "up", b: "up", rtt: 1.25, path: "direct", why: "" },
  );
  assert.match(up.tip, /^alpha – gamma: up\nalpha: up, RTT 1\.50 ms, path direct, in 10 B\/s/);
  const stale = meshLinkView({
    a: "alpha",
    b: "gamma",
    state: "down",
    aView: view("up", 1),
    bView: view("up", 1, true),
  });
  assert.deepEqual([stale.state, stale.a, stale.b, stale.why], [
    "down",
    "up",
    "stale",
    "stale report",
  ]);
  assert.match(stale.tip, /gamma: stale report \(says up\)/);
  const half = meshLinkView({
    a: "a",
    b: "b",
    state: "down",
    aView: view("down", null),
    bView: null,
  });
  assert.deepEqual([half.a, half.b, half.rtt, half.why], ["down", "none", null, "no answer"]);
  assert.match(half.tip, /b: no report/);
  // Anything else from the document is shown as unknown, never as a class or colour it names.
  const odd = meshLinkView({ a: "a", b: "b", state: "evil", aView: { state: "x" }, bView: 3 });
  assert.deepEqual([odd.state, odd.a, odd.b], ["unknown", "unknown", "none"]);
});

Deno.test("dashboard page: a hidden segments panel, filled from node.segments", () => {
  assert.match(markup(), /<section id="segments" class="panel" hidden>/);
  assert.match(markup(), /<table id="segment-list">[\s\S]*<tbody/);
  assert.match(script(), /renderSegments\(\);/);
  for (const a of ['"data-segment"', '"data-up"']) assert.ok(script().includes(a), a);
});
