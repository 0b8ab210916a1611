/// <reference lib="dom" />
/**
 * The graph view. Outside a mesh leader it is a star: this node in the middle, its peers on an
 * ellipse around it, each link coloured by health with its RTT, loss, path and throughput. On a
 * mesh leader (a document with `mesh`) it is the whole mesh: every member on a circle, this node
 * first at the top, every link between two coloured by its merged state with a dot near each end
 * for that side's own view; clicking a member selects it.
 * @module
 */

import { $, type Attrs, card, query, svg } from "./dom.ts";
import {
  ago,
  health,
  loss,
  peerAddress,
  peerName,
  rate,
  rtt,
  shortKey,
  sortedPeers,
} from "./format.ts";
import { type EndState, meshLinkView, meshOf } from "./mesh_view.ts";
import { type PathView, pathView } from "./path_view.ts";
import type { Rates } from "./rates.ts";
import type { MeshDoc, StatusDoc } from "./types.ts";

/** What the graph draws from, and what a click on a member does. */
export interface GraphInput {
  /** The last status document. */
  doc: StatusDoc;
  /** The peers' throughput. */
  rates: Rates;
  /** The member whose detail is shown (mesh view). */
  selected: string | null;
  /** A member was clicked (mesh view). */
  onSelect: (name: string) => void;
}

// The path line of a tooltip (mesh peers), with its line feed; none outside a mesh.
function pathText(v: PathView): string {
  return v.tip ? "\n" + v.tip : "";
}

/** Draws the graph: the whole mesh on a mesh leader, else this node's star. */
export function renderGraph(input: GraphInput): void {
  const mesh = meshOf(input.doc);
  query('[data-legend="ends"]').hidden = !mesh;
  if (mesh) {
    renderMesh(input, mesh);
    return;
  }
  renderStar(input);
}

function clear(): SVGSVGElement {
  const g = $("graph") as unknown as SVGSVGElement;
  while (g.firstChild) g.removeChild(g.firstChild);
  return g;
}

function renderStar({ doc, rates }: GraphInput): void {
  const g = clear();
  g.removeAttribute("class");
  const peers = sortedPeers(doc.peers);
  const n = peers.length;
  // One or two peers sit on one line: a short drawing then suffices.
  const width = 1000, height = n <= 2 ? 340 : 600;
  g.setAttribute("viewBox", "0 0 " + width + " " + height);
  const rx = n > 8 ? 340 : 320, ry = n > 8 ? 235 : 200;
  const cx = n === 1 ? width / 2 - rx / 2 : width / 2, cy = height / 2;
  const links = svg("g", { class: "links" });
  const nodes = svg("g", { class: "nodes" });
  g.appendChild(links);
  g.appendChild(nodes);
  const self = doc.node || {};
  const selfNode = svg("g", {
    class: "node self",
    "data-node": self.name || "self",
    transform: "translate(" + cx + "," + cy + ")",
  });
  selfNode.appendChild(svg("circle", { r: 34, fill: "var(--self)", stroke: "var(--panel)" }));
  const selfLabel = svg("g");
  selfLabel.appendChild(
    svg(
      "text",
      { "text-anchor": "middle", y: 54, "font-weight": 650 },
      self.name || shortKey(self.publicKey),
    ),
  );
  selfLabel.appendChild(
    svg("text", { class: "sub", "text-anchor": "middle", y: 70 }, (self.addresses || [])[0] || ""),
  );
  selfNode.appendChild(selfLabel);
  selfNode.appendChild(svg("title", {}, "this node\n" + (self.publicKey || "")));
  nodes.appendChild(selfNode);
  card(selfLabel);
  if (n === 0) {
    nodes.appendChild(
      svg("text", { class: "sub", "text-anchor": "middle", x: cx, y: cy - 60 }, "no peers"),
    );
  }
  // Past a dozen links the figures would pile up in the middle; they stay in the tooltips.
  const dense = n > 12;
  peers.forEach((p, i) => {
    const a = n === 1 ? 0 : -Math.PI / 2 + (i + 0.5) * 2 * Math.PI / n;
    const cos = Math.cos(a), sin = Math.sin(a);
    const x = cx + rx * cos, y = cy + ry * sin;
    const h = health(p);
    const colour = "var(--" + h + ")";
    const r = rates.get(p.publicKey);
    const pv = pathView(p);
    const link = svg("g", {
      class: "link",
      "data-peer": peerName(p),
      "data-health": h,
      "data-path": pv.path,
      "data-via": pv.via,
      "data-transport": pv.transport,
      "data-proxied": String(pv.proxied),
    });
    link.appendChild(svg("line", { x1: cx, y1: cy, x2: x, y2: y, stroke: colour }));
    const bits = [];
    if (typeof p.rttMs === "number") bits.push(rtt(p.rttMs));
    if (typeof p.loss === "number" && p.loss > 0) bits.push(loss(p.loss) + " loss");
    let info = bits.length ? bits.join(" · ") : h === "down" ? "no answer" : "no RTT yet";
    if (pv.path === "none" || pv.path === "idle") info = pv.label;
    link.appendChild(
      svg(
        "title",
        {},
        peerName(p) + ": " + h + (p.healthReason ? " (" + p.healthReason + ")" : "") +
          "\nRTT " + rtt(p.rttMs) + ", loss " + loss(p.loss) + pathText(pv) +
          "\n↓ " + rate(r && r.rx) + "  ↑ " + rate(r && r.tx),
      ),
    );
    links.appendChild(link);
    if (!dense) {
      const mx = cx + (x - cx) * 0.55, my = cy + (y - cy) * 0.55;
      const label = svg("g", { class: "linklabel" });
      const infoText = svg(
        "text",
        { class: "linkinfo", "text-anchor": "middle", x: mx, y: my - 3 },
        info,
      );
      // The relay and the tcp tag ride on the RTT line, coloured as in the legend.
      if (pv.path === "relay") {
        infoText.appendChild(svg("tspan", { class: "via" }, " · " + pv.label));
      }
      if (pv.tcp && pv.path !== "none" && pv.path !== "idle") {
        infoText.appendChild(svg("tspan", { class: "tag" }, " · " + pv.transport));
        if (pv.proxied) infoText.appendChild(svg("tspan", { class: "tag" }, " via proxy"));
      }
      label.appendChild(infoText);
      label.appendChild(
        svg(
          "text",
          { class: "sub", "text-anchor": "middle", x: mx, y: my + 12 },
          "↓ " + rate(r && r.rx) + "  ↑ " + rate(r && r.tx),
        ),
      );
      link.appendChild(label);
      card(label);
    }

    const node = svg("g", {
      class: "node peer",
      "data-node": peerName(p),
      "data-health": h,
      transform: "translate(" + x + "," + y + ")",
    });
    node.appendChild(svg("circle", { r: 26, fill: colour, stroke: "var(--panel)" }));
    // Labels go outward: beside nodes on the flanks, above or below the others.
    let anchor = "middle", lx = 0, ly;
    if (Math.abs(cos) > 0.55) {
      anchor = cos > 0 ? "start" : "end";
      lx = cos > 0 ? 34 : -34;
      ly = -1;
    } else ly = sin > 0 ? 44 : -48;
    node.appendChild(
      svg("text", { "text-anchor": anchor, x: lx, y: ly, "font-weight": 600 }, peerName(p)),
    );
    node.appendChild(
      svg("text", { class: "sub", "text-anchor": anchor, x: lx, y: ly + 15 }, peerAddress(p)),
    );
    node.appendChild(
      svg(
        "title",
        {},
        peerName(p) + " (" + h + ")\n" + (p.publicKey || "") +
          "\nendpoint " + (p.endpoint || "unknown") + pathText(pv) +
          "\nlast handshake " + ago(p.lastHandshakeAgeSeconds),
      ),
    );
    nodes.appendChild(node);
  });
}

// The whole mesh (the leader's page): every member on a circle, this node first at the top,
// every link between two members coloured by its merged state, with a dot near each end for
// that side's own view. Clicking a member shows its peers and services below.
function renderMesh({ doc, selected, onSelect }: GraphInput, mesh: MeshDoc): void {
  const g = clear();
  g.setAttribute("class", "mesh");
  const self = doc.node || {};
  const members = mesh.members.filter((m) => m.publicKey === self.publicKey)
    .concat(mesh.members.filter((m) => m.publicKey !== self.publicKey));
  const n = members.length;
  const width = 1000, height = n <= 2 ? 340 : 600;
  g.setAttribute("viewBox", "0 0 " + width + " " + height);
  const cx = width / 2, cy = height / 2, rx = n === 1 ? 0 : n === 2 ? 260 : 340;
  const ry = n <= 2 ? 0 : 220;
  const byPeer = new Map((doc.peers || []).map((p) => [p.publicKey, p]));
  const pos = new Map(members.map((m, i) => {
    const a = n <= 2 ? Math.PI * (1 - i) : -Math.PI / 2 + i * 2 * Math.PI / n;
    return [m.name, {
      x: cx + rx * Math.cos(a),
      y: cy + ry * Math.sin(a),
      cos: Math.cos(a),
      sin: Math.sin(a),
      m,
    }];
  }));
  const links = svg("g", { class: "links" });
  const nodes = svg("g", { class: "nodes" });
  g.appendChild(links);
  g.appendChild(nodes);
  if (n === 1) {
    nodes.appendChild(
      svg("text", { class: "sub", "text-anchor": "middle", x: cx, y: cy - 60 }, "no other members"),
    );
  }
  const dense = mesh.links.length > 15;
  mesh.links.forEach((l, i) => {
    const pa = pos.get(l.a as string), pb = pos.get(l.b as string);
    if (!pa || !pb) return;
    const v = meshLinkView(l);
    const attrs: Attrs = {
      class: "link",
      "data-link": l.a + "|" + l.b,
      "data-state": v.state,
      "data-health": v.state,
      "data-a-state": v.a,
      "data-b-state": v.b,
      "data-stale": String(l.stale === true),
      "data-path": v.path,
    };
    // Links of this node also carry the peer's name, as in the star.
    if (pa.m.publicKey === self.publicKey) attrs["data-peer"] = String(l.b);
    if (pb.m.publicKey === self.publicKey) attrs["data-peer"] = String(l.a);
    const link = svg("g", attrs);
    link.appendChild(svg("line", {
      x1: pa.x,
      y1: pa.y,
      x2: pb.x,
      y2: pb.y,
      stroke: "var(--" + v.state + ")",
    }));
    const ends: [string, typeof pa, typeof pa, EndState][] = [
      ["a", pa, pb, v.a],
      ["b", pb, pa, v.b],
    ];
    for (const [end, from, to, state] of ends) {
      const t = 0.16;
      link.appendChild(svg("circle", {
        class: "end",
        "data-end": end,
        "data-state": state,
        r: 6,
        cx: from.x + (to.x - from.x) * t,
        cy: from.y + (to.y - from.y) * t,
      }));
    }
    link.appendChild(svg("title", {}, v.tip));
    links.appendChild(link);
    if (!dense) {
      // Labels off the middle, alternating, so that crossing diagonals keep theirs apart.
      const t2 = i % 2 ? 0.62 : 0.38;
      const mx = pa.x + (pb.x - pa.x) * t2, my = pa.y + (pb.y - pa.y) * t2;
      const label = svg("g", { class: "linklabel" });
      const info = v.why || (v.rtt !== null ? rtt(v.rtt) : "no RTT yet");
      const text = svg(
        "text",
        { class: "linkinfo", "text-anchor": "middle", x: mx, y: my + 4 },
        info,
      );
      if (v.path === "relay") text.appendChild(svg("tspan", { class: "via" }, " · relay"));
      if (v.path === "tcp") text.appendChild(svg("tspan", { class: "tag" }, " · tcp"));
      label.appendChild(text);
      link.appendChild(label);
      card(label);
    }
  });
  for (const m of members) {
    const p = pos.get(m.name)!;
    const isSelf = m.publicKey === self.publicKey;
    const peer = byPeer.get(m.publicKey);
    const h = isSelf ? "self" : m.offline ? "down" : peer ? health(peer) : "unknown";
    const stale = !!(m.report && m.report.stale);
    const node = svg("g", {
      class: "node" + (isSelf ? " self" : " peer"),
      "data-node": m.name,
      "data-health": h,
      "data-stale": String(stale),
      "data-offline": String(!!m.offline),
      "data-selected": String(selected === m.name),
      transform: "translate(" + p.x + "," + p.y + ")",
    });
    node.appendChild(svg("circle", {
      r: isSelf ? 32 : 26,
      fill: isSelf ? "var(--self)" : "var(--" + h + ")",
      stroke: "var(--panel)",
    }));
    let anchor = "middle", lx = 0, ly;
    if (Math.abs(p.cos) > 0.55) {
      anchor = p.cos > 0 ? "start" : "end";
      lx = p.cos > 0 ? 38 : -38;
      ly = -1;
    } else ly = p.sin > 0 ? 48 : -50;
    node.appendChild(svg(
      "text",
      { "text-anchor": anchor, x: lx, y: ly, "font-weight": 650 },
      m.name + (m.leader ? " ★" : "") +
        (m.routes && m.routes.length ? " ⇄" : "") + (m.exitNode ? " ⇱" : ""),
    ));
    node.appendChild(svg(
      "text",
      { class: "sub", "text-anchor": anchor, x: lx, y: ly + 15 },
      m.address + (m.offline ? " · offline" : stale ? " · stale" : ""),
    ));
    node.appendChild(svg(
      "title",
      {},
      m.name + (isSelf ? " (this node)" : " (" + h + ")") +
        "\n" + m.publicKey + "\n" + (m.report
          ? "report " + ago(m.report.ageSeconds) +
            (stale ? " (stale)" : "")
          : "no report yet") +
        "\nclick for its peers and services",
    ));
    node.addEventListener("click", () => onSelect(m.name));
    nodes.appendChild(node);
  }
}
