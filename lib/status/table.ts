/**
 * `weft status` as a readable table.
 * @module
 */

import {
  EXIT_NODE_STATE_WORDS,
  type ExitNodeStatus,
  type KnownLeaderStatus,
  type NodeStatus,
  type PeerStatus,
  type PluginStatus,
  type ServiceStatus,
} from "./status.ts";

function ago(seconds: number | null): string {
  if (seconds === null) return "never";
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s ago`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m ago`;
}

/**
 * A peer's PQ cell: `yes` and the key's age when the session in use was made with a
 * post-quantum key, else `no` and why (`held`: data waits for one, `--require-pq`).
 */
function pqCell(q: PeerStatus["pq"]): string {
  if (!q) return "-";
  if (q.session) return `yes ${q.keyAgeSeconds ?? 0}s`;
  return `no (${q.required && q.state !== "off" ? "held, " : ""}${q.state})`;
}

/** The `process` line: memory, the heap, descriptors and CPU time. */
function processLine(p: NodeStatus["process"]): string {
  const fds = p.openFds === null
    ? ""
    : `  fds ${p.openFds}${p.maxFds === null ? "" : `/${p.maxFds}`}`;
  const cpu = p.cpuSeconds === null
    ? ""
    : `  cpu ${(p.cpuSeconds.user + p.cpuSeconds.system).toFixed(1)}s`;
  return `process    rss ${bytes(p.residentBytes)}  heap ${bytes(p.heap.used)} of ${
    bytes(p.heap.total)
  }  external ${bytes(p.heap.external)}${fds}${cpu}`;
}

function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/**
 * `direct (lan)`, `direct/tcp`, `direct/websocket`, `relay:alpha`, `relay:alpha/tcp`, `none`:
 * the path, the relay it goes through, the transport when it is not the default udp
 * (`/tcp+proxy` through an HTTP proxy), and the kind of a direct endpoint.
 */
function pathCell(p: PeerStatus): string {
  if (p.path === undefined) return "-";
  const proxy = p.proxied === true ? "+proxy" : "";
  const tcp = p.transport === "tcp" || p.transport === "websocket" ? `/${p.transport}${proxy}` : "";
  if (p.path === "relay") return `relay${p.via ? `:${p.via}` : ""}${tcp}`;
  if (p.path !== "direct") return p.path;
  const chosen = p.candidates?.find((c) => c.chosen);
  return `direct${tcp}${chosen ? ` (${chosen.kind})` : ""}`;
}

/**
 * One line per service, names aligned: `echo  2/3 healthy  leader n1 (token 4)`, with `here`
 * when this node provides it (`here, failing` while its check fails here).
 */
function serviceLines(services: ServiceStatus[]): string[] {
  const width = Math.max(...services.map((s) => s.name.length));
  return services.map((s, i) => {
    const healthy = s.instances.filter((x) => x.healthy).length;
    const leader = s.leader ? `leader ${s.leader.node} (token ${s.leader.token})` : "no leader";
    const here = s.local ? (s.localHealthy === false ? "  here, failing" : "  here") : "";
    return `${i === 0 ? "services" : ""}`.padEnd(11) +
      `${s.name.padEnd(width)}  ${healthy}/${s.instances.length} healthy  ${leader}${here}`;
  });
}

/**
 * A plugin: `greeter running, offers greeter, 1 subscription, 12 calls (1 failed)`, or
 * `thrower FAILED: uncaught: Error: boom` and what it had.
 */
function pluginLine(p: PluginStatus): string {
  const offers = p.offers.length ? `offers ${p.offers.join(", ")}` : "offers nothing";
  const subs = `${p.subscriptions} subscription${p.subscriptions === 1 ? "" : "s"}`;
  const calls = `${p.calls} calls${p.callErrors ? ` (${p.callErrors} failed)` : ""}`;
  const state = p.state === "failed" ? `FAILED: ${p.error ?? "?"}` : p.state;
  return `${p.name} ${state}, ${offers}, ${subs}, ${calls}`;
}

/**
 * The exit node and where the host's traffic goes: `e (10.9.0.3)` in use; else its state, why,
 * and whether outside traffic is blocked or goes out directly.
 */
function exitNodeLine(x: ExitNodeStatus): string {
  const where = x.traffic === "blocked"
    ? "outside traffic is blocked"
    : x.traffic === "direct"
    ? `traffic goes out directly${x.fallback && !x.error ? " (exit-node-fallback)" : ""}`
    : "traffic goes through it";
  const failed = x.error ? `; routing failed: ${x.error}` : "";
  if (x.inUse && x.traffic === "exit-node") return `${x.inUse.name} (${x.inUse.address})`;
  // Older agents sent no state: in use or not, nothing more.
  const state = EXIT_NODE_STATE_WORDS[x.state] ?? "not available";
  const why = x.reason ? ` (${x.reason})` : "";
  return `${x.wanted}: ${state}${why}; ${where}${failed}`;
}

/**
 * The leader a node syncs with (`leader: lead-2 (10.9.0.2)  since …`) and, when it knows
 * several, every one with whether it answers.
 */
function leaderLines(n: NodeStatus): string[] {
  if (!n.leader) return [];
  const l = n.leader;
  const state = (k: KnownLeaderStatus) =>
    (k.inUse
      ? "in use"
      : k.offline
      ? "offline"
      : k.answers === null
      ? "not probed yet"
      : k.answers
      ? "answers"
      : "not answering") + (k.storeUnreachable ? ", its store is unreachable" : "");
  const known = n.leaders ?? [];
  return [
    `leader: ${l.name || l.publicKey.slice(0, 10) + "…"} (${l.address})  since ${l.since}`,
    ...(known.length > 1
      ? [`leaders    ${known.map((k) => `${k.name} (${k.address}, ${state(k)})`).join(", ")}`]
      : []),
  ];
}

/** Pads the columns of `rows` (the first row is the header). */
export function formatTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd())
    .join("\n");
}

/**
 * The node summary and a peer table, as `weft status` prints them (the example of
 * `@weft/weft/status` prints one).
 */
export function formatStatusTable(st: { node: NodeStatus; peers: PeerStatus[] }): string {
  const n = st.node;
  const drops = Object.entries(n.drops).filter(([, v]) => v > 0).map(([k, v]) => `${k}=${v}`);
  const head = [
    ...(n.name ? [`name       ${n.name} (${n.role})`] : []),
    `node       ${n.publicKey}`,
    `addresses  ${n.addresses.join(", ")}`,
    `listening  udp/${n.listenPort}  mode=${n.mode}  interface=${n.interface}  mtu=${n.mtu}`,
    `crypto     aead=${n.crypto.aead} dh=${n.crypto.dh}`,
    ...(n.offloads
      ? [
        `offloads   tun=${n.offloads.tun.join(",") || "none"} udp-gso=${
          n.offloads.udpGso ? "on" : "off"
        } udp-gro=${n.offloads.udpGro ? "on" : "off"}`,
      ]
      : []),
    `version    ${n.version}  up ${n.uptimeSeconds}s`,
    // An older agent's document has no process figures.
    ...(n.process ? [processLine(n.process)] : []),
    `drops      ${drops.length ? drops.join(" ") : "none"}`,
    ...(n.policy
      ? [
        `policy     v${n.policy.version}, ${n.policy.rules} rules, dropped ${
          Object.entries(n.policy.droppedByRule).map(([k, v]) => `${k}=${v}`).join(" ") || "none"
        }`,
        ...Object.entries(n.policy.rates ?? {}).map(([rule, r]) =>
          `rate       ${rule}: passed ${bytes(r.passedBytes)}, delayed ${
            bytes(r.delayedBytes)
          }, dropped ${bytes(r.droppedBytes)} (${r.droppedPackets} packets)`
        ),
      ]
      : []),
    ...leaderLines(n),
    ...(n.carries
      ? [
        `carries    ${n.carries.carried.join(", ") || "nothing yet"} (advertises ${
          n.carries.advertised.join(", ")
        })`,
      ]
      : []),
    ...(n.routes ?? []).map((r, i) =>
      `${i === 0 ? "routes" : ""}`.padEnd(11) +
      `${r.prefix} via ${r.via} (${r.address})${r.installed ? "" : ", not in the kernel's table"}`
    ),
    ...(n.exitNode ? [`exit node  ${exitNodeLine(n.exitNode)}`] : []),
    ...(n.systemDns
      ? [
        `system dns ${n.systemDns.mode}: the host asks ${n.systemDns.server}:53, other names go ` +
        `to ${n.systemDns.upstreams.join(", ") || "nowhere (none before)"}`,
      ]
      : []),
    ...(n.segments ?? []).map((g, i) =>
      `${i === 0 ? "segments" : ""}`.padEnd(11) +
      `${g.name} vni ${g.vni} on ${g.bridge}, mtu ${g.mtu}, ${g.members.length} members (${
        g.members.map((m) => m.name).join(", ")
      })${g.up ? "" : `: DOWN: ${g.error ?? "?"}`}`
    ),
    ...(n.services?.length ? serviceLines(n.services) : []),
    ...(n.plugins ?? []).map((p, i) => `${i === 0 ? "plugins" : ""}`.padEnd(11) + pluginLine(p)),
    ...(n.store
      ? [
        `store      ${n.store.store} ${n.store.ok ? "ok" : `FAILING: ${n.store.error ?? "?"}`}` +
        ` (revision ${n.store.revision})` +
        (n.store.ok
          ? ""
          : ": this leader's view may be old, its members move to one that is current"),
      ]
      : []),
  ].join("\n");
  if (st.peers.length === 0) return `${head}\n\nno peers`;
  // PATH only where paths are probed (mesh agents): `weft up` peers have none.
  const paths = st.peers.some((p) => p.path !== undefined);
  // PQ only for members (post-quantum keys are made between weft members alone).
  const pq = st.peers.some((p) => p.pq !== undefined);
  const rows = [[
    "PEER",
    "ADDRESS",
    "ENDPOINT",
    ...(paths ? ["PATH"] : []),
    "HEALTH",
    "RTT",
    "LOSS",
    "HANDSHAKE",
    ...(pq ? ["PQ"] : []),
    "RX",
    "TX",
  ]];
  for (const p of st.peers) {
    rows.push([
      p.name || p.publicKey.slice(0, 10) + "…",
      p.address || p.allowedIps.join(",") || "-",
      p.endpoint ?? "-",
      ...(paths ? [pathCell(p)] : []),
      p.health,
      p.rttMs === null ? "-" : `${p.rttMs.toFixed(1)} ms`,
      p.loss === null ? "-" : `${Math.round(p.loss * 100)}%`,
      ago(p.lastHandshakeAgeSeconds),
      ...(pq ? [pqCell(p.pq)] : []),
      bytes(p.rxBytes),
      bytes(p.txBytes),
    ]);
  }
  return `${head}\n\n${formatTable(rows)}`;
}
