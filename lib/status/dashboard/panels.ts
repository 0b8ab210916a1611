/// <reference lib="dom" />
/**
 * The page's panels beside the graph: the header (this node and the health counts), the peer
 * table, the Services panel, the segments panel, and the detail of the member clicked in the mesh
 * view. Each is drawn again, whole, from every status document.
 * @module
 */

import { callCells, type CallRates } from "./service_calls.ts";
import { $, el, query } from "./dom.ts";
import {
  ago,
  bytes,
  duration,
  health,
  loss,
  peerAddress,
  peerName,
  pqCell,
  rate,
  rtt,
  shortKey,
  sortedPeers,
} from "./format.ts";
import { endState, meshOf } from "./mesh_view.ts";
import { pathView } from "./path_view.ts";
import type { Rates } from "./rates.ts";
import { serviceView } from "./service_view.ts";
import type { Health, InstanceDoc, SegmentDoc, ServiceDoc, StatusDoc } from "./types.ts";

/** The header: this node's name, addresses, role, version, uptime, and the peers per health. */
export function renderHeader(doc: StatusDoc): void {
  const n = doc.node || {};
  $("node-name").textContent = n.name || shortKey(n.publicKey);
  const bits = [];
  if (n.addresses && n.addresses.length) bits.push(n.addresses.join(", "));
  if (n.role) bits.push(n.role);
  if (n.version) bits.push("v" + n.version);
  if (typeof n.uptimeSeconds === "number") bits.push("up " + duration(n.uptimeSeconds));
  $("meta").textContent = bits.join(" · ");
  const counts: Record<Health, number> = { up: 0, degraded: 0, down: 0, unknown: 0, idle: 0 };
  (doc.peers || []).forEach((p) => counts[health(p)]++);
  const s = $("summary");
  s.textContent = "";
  for (const h of ["up", "degraded", "down", "unknown", "idle"] as const) {
    if (!counts[h]) continue;
    s.appendChild(el("span", { class: "badge", "data-health": h }, counts[h] + " " + h));
  }
}

/** The member clicked in the mesh view: its peers as its report says, and the services it offers. */
export function renderDetail(doc: StatusDoc, selected: string | null): void {
  const mesh = meshOf(doc);
  const m = mesh && selected !== null ? mesh.members.filter((x) => x.name === selected)[0] : null;
  const panel = $("node-detail");
  panel.hidden = !m;
  if (!m) return;
  panel.setAttribute("data-node", m.name);
  $("detail-name").textContent = m.name + " · " + m.address + (m.leader ? " · leader" : "") +
    (m.routes && m.routes.length ? " · routes " + m.routes.join(", ") : "") +
    (m.exitNode ? " · exit node" : "") +
    (m.offline ? " · offline (stopped on purpose)" : "");
  const rep = $("detail-report");
  rep.setAttribute("data-stale", String(!!(m.report && m.report.stale)));
  rep.textContent = !m.report ? "no link report yet" : "link report " + ago(m.report.ageSeconds) +
    (m.report.stale ? " (stale: the node stopped reporting)" : "");
  const body = query("#detail-peers tbody");
  body.textContent = "";
  for (const p of m.peers || []) {
    const st = endState(p);
    const tr = el("tr", { "data-peer": String(p.name), "data-state": st });
    tr.appendChild(el("td", { title: p.publicKey || "" }, p.name));
    const hc = el("td");
    hc.appendChild(el("span", { class: "badge", "data-health": st === "stale" ? "down" : st }, st));
    tr.appendChild(hc);
    tr.appendChild(el("td", { class: "num" }, rtt(p.rttMs)));
    tr.appendChild(el("td", {}, p.path || "–"));
    tr.appendChild(el("td", { class: "num" }, rate(p.rxRate)));
    tr.appendChild(el("td", { class: "num" }, rate(p.txRate)));
    body.appendChild(tr);
  }
  if (!(m.peers || []).length) {
    const tr0 = el("tr");
    tr0.appendChild(el("td", { colspan: 6, class: "empty" }, "no peers reported"));
    body.appendChild(tr0);
  }
  const services = ((doc.node || {}).services || []) as ServiceDoc[];
  const svcs = services.filter((s) =>
    ((s.instances || []) as InstanceDoc[]).some((i) => i.node === m.name)
  );
  const box = $("detail-services");
  box.textContent = "";
  box.appendChild(document.createTextNode(svcs.length ? "services: " : "no services"));
  for (const s of svcs) {
    const i = (s.instances as InstanceDoc[]).filter((x) => x.node === m.name)[0];
    const v = serviceView(s);
    const leads = v.leader === m.name;
    const chip = el("span", {
      class: "inst",
      "data-service": String(s.name),
      "data-health": i.healthy ? "up" : "down",
    }, s.name);
    if (leads) chip.appendChild(el("span", { class: "lead" }, "leader"));
    box.appendChild(chip);
  }
}

/** The table view: one row per peer. */
export function renderTable(doc: StatusDoc, rates: Rates): void {
  const body = query("#peers tbody");
  body.textContent = "";
  const peers = sortedPeers(doc.peers);
  if (peers.length === 0) {
    const tr0 = el("tr");
    tr0.appendChild(el("td", { colspan: 14, class: "empty" }, "no peers"));
    body.appendChild(tr0);
  }
  for (const p of peers) {
    const h = health(p);
    const r = rates.get(p.publicKey);
    const tr = el("tr", { "data-peer": peerName(p), "data-health": h });
    tr.appendChild(el("td", { title: p.publicKey || "" }, peerName(p)));
    tr.appendChild(el("td", {}, peerAddress(p)));
    tr.appendChild(el("td", {}, p.endpoint || "–"));
    const pv = pathView(p);
    tr.appendChild(el("td", { "data-path": pv.path, "data-via": pv.via, title: pv.tip }, pv.cell));
    const tc = el("td", { "data-transport": pv.transport, "data-proxied": String(pv.proxied) });
    if (pv.tcp) tc.appendChild(el("span", { class: "tag" }, pv.transport));
    else tc.textContent = pv.transport || "–";
    if (pv.proxied) {
      tc.appendChild(el("span", { class: "tag proxy", title: pv.proxy }, "via proxy"));
    }
    tr.appendChild(tc);
    const hc = el("td");
    hc.appendChild(
      el("span", { class: "badge", "data-health": h, title: p.healthReason || "" }, h),
    );
    tr.appendChild(hc);
    tr.appendChild(el("td", { class: "num" }, rtt(p.rttMs)));
    tr.appendChild(el("td", { class: "num" }, loss(p.loss)));
    tr.appendChild(el("td", { class: "num" }, rate(r && r.rx)));
    tr.appendChild(el("td", { class: "num" }, rate(r && r.tx)));
    tr.appendChild(el("td", { class: "num" }, bytes(p.rxBytes)));
    tr.appendChild(el("td", { class: "num" }, bytes(p.txBytes)));
    tr.appendChild(el("td", {}, ago(p.lastHandshakeAgeSeconds)));
    const q = pqCell(p);
    tr.appendChild(el("td", { "data-pq": q.pq }, q.text));
    body.appendChild(tr);
  }
}

/**
 * The Services panel. Mesh agents list their services (maybe none); other agents have no such
 * field: no panel.
 */
export function renderServices(doc: StatusDoc, calls: CallRates): void {
  const list = (doc.node || {}).services;
  $("services").hidden = !Array.isArray(list);
  if (!Array.isArray(list)) return;
  const body = query("#service-list tbody");
  body.textContent = "";
  if (list.length === 0) {
    const tr0 = el("tr");
    tr0.appendChild(el("td", { colspan: 7, class: "empty" }, "no services in the mesh"));
    body.appendChild(tr0);
  }
  for (const s of list as ServiceDoc[]) {
    const v = serviceView(s);
    const tr = el("tr", {
      "data-service": v.name,
      "data-health": v.state,
      "data-leader": v.leader,
    });
    tr.appendChild(el("td", { class: "svc" }, v.name));
    const hc = el("td");
    hc.appendChild(el("span", { class: "badge", "data-health": v.state }, v.summary));
    tr.appendChild(hc);
    const ic = el("td");
    for (const i of v.instances) {
      const chip = el("span", {
        class: "inst",
        "data-node": i.node,
        "data-health": i.health,
        "data-leader": String(i.leader),
        title: i.tip,
      }, i.node + (i.local ? " (here)" : ""));
      if (i.why) chip.appendChild(el("span", { class: "why" }, i.why));
      if (i.leader) chip.appendChild(el("span", { class: "lead" }, "leader"));
      ic.appendChild(chip);
    }
    if (v.instances.length === 0) ic.textContent = "–";
    tr.appendChild(ic);
    tr.appendChild(el("td", { class: "leader", title: v.leaderTip }, v.leaderText));
    const [rate, errors, p99] = callCells(calls.get(v.name));
    tr.appendChild(el("td", { class: "num", "data-calls": "rate" }, rate));
    tr.appendChild(el("td", { class: "num", "data-calls": "errors" }, errors));
    tr.appendChild(el("td", { class: "num", "data-calls": "p99" }, p99));
    body.appendChild(tr);
  }
}

/** The segments this node is in (node.segments): shown only when there are some. */
export function renderSegments(doc: StatusDoc): void {
  const list = (doc.node || {}).segments;
  const has = Array.isArray(list) && list.length > 0;
  $("segments").hidden = !has;
  if (!has) return;
  const body = query("#segment-list tbody");
  body.textContent = "";
  for (const g of list as SegmentDoc[]) {
    const up = g.up === true;
    const tr = el("tr", { "data-segment": String(g.name), "data-up": String(up) });
    tr.appendChild(el("td", { class: "seg" }, String(g.name)));
    tr.appendChild(el("td", { class: "num" }, String(g.vni)));
    tr.appendChild(el("td", {}, String(g.bridge) + ", mtu " + String(g.mtu)));
    const mc = el("td");
    const members = (Array.isArray(g.members) ? g.members : []) as {
      name?: unknown;
      address?: unknown;
    }[];
    for (const m of members) {
      mc.appendChild(el("span", {
        class: "inst",
        "data-node": String(m.name),
        "data-health": "up",
        title: String(m.address),
      }, String(m.name)));
    }
    tr.appendChild(mc);
    const sc = el("td");
    sc.appendChild(
      el("span", { class: "badge", "data-health": up ? "up" : "down" }, up ? "up" : "down"),
    );
    if (!up && g.error) sc.appendChild(document.createTextNode(" " + String(g.error)));
    tr.appendChild(sc);
    body.appendChild(tr);
  }
}
