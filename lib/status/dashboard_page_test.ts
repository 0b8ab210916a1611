/**
 * The dashboard page as built from lib/status/dashboard/ (scripts/build_dashboard.ts): checked
 * here for being a well-formed document whose script parses, whose element ids are the ones its
 * script and the e2e browser test (dashboard_test.ts) use, and whose requests and event names
 * match what dashboard.ts serves. The views' models have their tests beside them in dashboard/.
 */
import assert from "node:assert/strict";
import { DASHBOARD_HTML } from "./dashboard_page.ts";

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
  // And those it finds by selector, `#peers tbody`.
  const queried = [...script().matchAll(/query\("#([\w-]+)[^"]*"\)/g)].map((m) => m[1]);
  assert.ok(queried.length >= 3, `the script queries ${queried}`);
  used.push(...queried);
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

Deno.test("dashboard page: the views' models are bundled into the page", () => {
  for (const f of ["pathView(p)", "serviceView(s)", "meshLinkView(l)", "endState(v)"]) {
    assert.ok(script().includes(`function ${f}`), f);
  }
  assert.match(script(), /pathView\(p\)/);
  assert.match(script(), /serviceView\(s\)/);
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

Deno.test("dashboard page: the service and mesh panels, hidden until a document fills them", () => {
  assert.match(markup(), /<section id="services" class="panel" hidden>/);
  assert.match(markup(), /<table id="service-list">[\s\S]*<tbody/);
  for (const a of ['"data-service"', '"data-node"', '"data-leader"']) {
    assert.ok(script().includes(a), a);
  }
  for (const s of [/"data-link"/, /"data-state"/, /"data-a-state"/, /"data-b-state"/]) {
    assert.match(script(), s);
  }
  assert.match(markup(), /<section id="node-detail"/);
});

Deno.test("dashboard page: a hidden segments panel, filled from node.segments", () => {
  assert.match(markup(), /<section id="segments" class="panel" hidden>/);
  assert.match(markup(), /<table id="segment-list">[\s\S]*<tbody/);
  assert.match(script(), /renderSegments\(/);
  for (const a of ['"data-segment"', '"data-up"']) assert.ok(script().includes(a), a);
});
