import assert from "node:assert/strict";
import { pongText } from "./ping_text.ts";
import type { PeerPath } from "../mod.ts";

const peer = (p: Partial<PeerPath>): PeerPath => ({
  name: "db",
  publicKey: "db-key=",
  endpoint: "192.0.2.7:51820",
  ...p,
});

Deno.test("pongText: who answered, the path then (direct and where, the relay, TCP), the RTT", () => {
  const at = "10.200.0.5";
  assert.equal(
    pongText(at, "db", peer({ path: "direct", transport: "udp" }), 1.234),
    "pong from db (10.200.0.5) via direct 192.0.2.7:51820 in 1.23 ms",
  );
  assert.equal(
    pongText(
      at,
      undefined,
      peer({ path: "relay", via: "lead", endpoint: "203.0.113.1:51820" }),
      23.45,
    ),
    "pong from db (10.200.0.5) via relay lead in 23.4 ms",
  );
  assert.equal(
    pongText(at, "db", peer({ path: "direct", transport: "tcp" }), 150.2),
    "pong from db (10.200.0.5) via direct 192.0.2.7:51820 over tcp in 150 ms",
  );
  assert.equal(
    pongText(at, "db", peer({ path: "relay", via: "r2", transport: "tcp" }), 2),
    "pong from db (10.200.0.5) via relay r2 over tcp in 2.00 ms",
  );
  assert.equal(
    pongText(
      at,
      "db",
      peer({ path: "relay", via: "lead", transport: "tcp", proxy: "http://198.51.100.9:3128" }),
      9,
    ),
    "pong from db (10.200.0.5) via relay lead over tcp through http://198.51.100.9:3128 in 9.00 ms",
  );
  // A plain agent says no path: the endpoint it sent to is the direct one.
  assert.equal(
    pongText(at, undefined, peer({ name: "" }), 0.5),
    "pong from 10.200.0.5 via direct 192.0.2.7:51820 in 0.50 ms",
  );
  // No peer routes the address (the node's own): who, and the time.
  assert.equal(pongText(at, undefined, null, 0.05), "pong from 10.200.0.5 in 0.05 ms");
  // A path the status calls none has no endpoint to name.
  assert.equal(
    pongText(at, "db", peer({ path: "none", endpoint: null }), 3),
    "pong from db (10.200.0.5) (path none) in 3.00 ms",
  );
});
