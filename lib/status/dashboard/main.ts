/// <reference lib="dom" />
/**
 * The dashboard page's script (the bundle's entry): it keeps the last status document, redraws
 * every view from it, and keeps it fresh, fed by server-sent events from `events`, or by polling
 * `status` when the stream fails. Requests are relative, so the page works wherever it is mounted
 * next to `status`.
 * @module
 */

import { CallRates } from "./service_calls.ts";
import { $, el } from "./dom.ts";
import { peerName, shortKey } from "./format.ts";
import { renderGraph } from "./graph.ts";
import {
  renderDetail,
  renderHeader,
  renderSegments,
  renderServices,
  renderTable,
} from "./panels.ts";
import { Rates } from "./rates.ts";
import type { HealthEvent, ServiceDoc, StatusDoc } from "./types.ts";

const POLL_MS = 2000;
// A remote listener wants the token on every request; the page was opened with ?token=,
// and its own requests carry it on (EventSource cannot send an Authorization header).
const TOKEN = new URLSearchParams(location.search).get("token");
const AUTH = TOKEN ? "?token=" + encodeURIComponent(TOKEN) : "";
const STALE_MS = 7000;

/** How the page gets its documents, as the header's dot shows it. */
type Mode = "connecting" | "live" | "polling" | "offline";

const rates = new Rates();
const callRates = new CallRates();
const names = new Map<string | undefined, string>();
let doc: StatusDoc | null = null;
let lastUpdate = 0;
let pollTimer: ReturnType<typeof setInterval> | null = null;
let mode: Mode = "connecting";
// The member clicked in the mesh view.
let selected: string | null = null;

function drawGraph(d: StatusDoc): void {
  renderGraph({ doc: d, rates, selected, onSelect: select });
}

function select(name: string | null): void {
  selected = name;
  if (doc) renderDetail(doc, selected);
  if (doc) drawGraph(doc);
}

function update(d: unknown): void {
  if (!d || typeof d !== "object" || !Array.isArray((d as StatusDoc).peers)) return;
  const next = d as StatusDoc;
  doc = next;
  lastUpdate = Date.now();
  next.peers.forEach((p) => names.set(p.publicKey, peerName(p)));
  rates.update(next.peers, performance.now());
  const services = (next.node || {}).services;
  if (Array.isArray(services)) callRates.update(services as ServiceDoc[], performance.now());
  renderHeader(next);
  drawGraph(next);
  renderTable(next, rates);
  renderServices(next, callRates);
  renderSegments(next);
  renderDetail(next, selected);
  setConn(mode);
}

function logEvent(ev: HealthEvent | null): void {
  if (!ev || !ev.peer) return;
  const list = $("events");
  const li = el("li");
  const at = new Date(typeof ev.at === "number" ? ev.at : Date.now());
  li.appendChild(document.createTextNode(at.toLocaleTimeString() + "  "));
  li.appendChild(el("b", {}, names.get(ev.peer) || shortKey(ev.peer)));
  li.appendChild(
    document.createTextNode(
      "  " + ev.from + " → " + ev.to + (ev.reason ? "  (" + ev.reason + ")" : ""),
    ),
  );
  const none = list.querySelector(".none");
  if (none) list.removeChild(none);
  // Elements, not nodes: the formatted page.html leaves white space between the list's items.
  list.insertBefore(li, list.firstElementChild);
  while (list.children.length > 30) list.removeChild(list.lastElementChild!);
}

function setConn(m: Mode): void {
  mode = m;
  const c = $("conn");
  const stale = lastUpdate && Date.now() - lastUpdate > STALE_MS;
  const state = stale ? "offline" : m;
  c.setAttribute("data-state", state);
  c.textContent = stale ? "stale" : m;
}

function poll(): void {
  fetch("status" + AUTH, { cache: "no-store" })
    .then((r) => {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    })
    .then((d) => {
      if (mode !== "live") mode = "polling";
      update(d);
    })
    .catch(() => {
      if (mode !== "live") setConn("offline");
    });
}

function startPolling(): void {
  if (pollTimer !== null) return;
  setConn("polling");
  poll();
  pollTimer = setInterval(poll, POLL_MS);
}

function stopPolling(): void {
  if (pollTimer !== null) clearInterval(pollTimer);
  pollTimer = null;
}

function connect(): void {
  if (typeof EventSource !== "function") {
    startPolling();
    return;
  }
  const source = new EventSource("events" + AUTH);
  source.addEventListener("open", () => {
    stopPolling();
    setConn("live");
  });
  source.addEventListener("status", (m) => update(JSON.parse(m.data)));
  source.addEventListener("health", (m) => logEvent(JSON.parse(m.data)));
  source.addEventListener("error", () => {
    // Poll until the stream is back; the browser's own retry would leave the view frozen.
    source.close();
    mode = "polling";
    startPolling();
    setTimeout(connect, 10000);
  });
}

function show(view: "graph" | "table"): void {
  const graph = view === "graph";
  $("graph-view").hidden = !graph;
  $("table-view").hidden = graph;
  $("show-graph").setAttribute("aria-pressed", String(graph));
  $("show-table").setAttribute("aria-pressed", String(!graph));
  try {
    localStorage.setItem("weft-view", view);
  } catch (_) { /* storage may be off */ }
  if (graph && doc) drawGraph(doc);
}

$("show-graph").addEventListener("click", () => show("graph"));
$("detail-close").addEventListener("click", () => select(null));
$("show-table").addEventListener("click", () => show("table"));
let saved = null;
try {
  saved = localStorage.getItem("weft-view");
} catch (_) { /* storage may be off */ }
show(saved === "table" ? "table" : "graph");
setInterval(() => setConn(mode), 1000);
connect();
