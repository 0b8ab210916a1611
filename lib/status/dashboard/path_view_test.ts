/** The path model: how a peer's path (direct, relayed, over TCP, none, idle) is shown. */
import assert from "node:assert/strict";
import { pathView } from "./path_view.ts";

Deno.test("dashboard path view: how direct, relayed, TCP and pathless peers are shown", () => {
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
    proxied: false,
    proxy: "",
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
    proxied: false,
    proxy: "",
    label: "",
    cell: "–",
    tip: "",
  });
  // A path state this page does not know yet is shown by name, not dropped.
  assert.equal(pathView({ path: "mystery" }).tip, "path mystery");
  assert.equal(pathView({ path: "direct", transport: "quic" }).transport, "");
});

Deno.test("path view: a WebSocket path is tagged websocket, like TCP", () => {
  const v = pathView({ path: "relay", via: "lead", transport: "websocket" });
  assert.deepEqual([v.tcp, v.transport, v.tip], [
    true,
    "websocket",
    "path relay, via lead, over websocket",
  ]);
});

Deno.test("path view: a path through an HTTP proxy is tagged via proxy, the proxy in the tooltip", () => {
  const tcp = pathView({
    path: "direct",
    transport: "tcp",
    proxied: true,
    proxy: "http://198.51.100.9:3128",
    candidates: [],
  });
  assert.deepEqual([tcp.tcp, tcp.transport, tcp.proxied, tcp.proxy, tcp.tip], [
    true,
    "tcp",
    true,
    "http://198.51.100.9:3128",
    "path direct, over tcp via proxy http://198.51.100.9:3128",
  ]);
  const ws = pathView({ path: "relay", via: "lead", transport: "websocket", proxied: true });
  assert.deepEqual([ws.proxied, ws.proxy, ws.tip], [
    true,
    "",
    "path relay, via lead, over websocket via proxy",
  ]);
  // Not proxied, or a flag on a transport no proxy carries (udp), or not a boolean: no tag.
  for (
    const p of [
      { path: "direct", transport: "tcp" },
      { path: "direct", transport: "udp", proxied: true, proxy: "http://198.51.100.9:3128" },
      { path: "direct", transport: "tcp", proxied: "yes" },
    ]
  ) {
    const v = pathView(p);
    assert.deepEqual([v.proxied, v.proxy], [false, ""], JSON.stringify(p));
    assert.doesNotMatch(v.tip, /proxy/);
  }
});
