import assert from "node:assert/strict";
import { formatStatusTable, formatTable } from "./table.ts";
import type { KnownLeaderStatus, NodeStatus, PeerStatus } from "./status.ts";
import { DropCounters } from "../device/drops.ts";

function node(extra: Partial<NodeStatus> = {}): NodeStatus {
  return {
    name: "",
    role: "peer",
    publicKey: "NODEKEY=",
    addresses: ["10.0.0.1/24", "fd00::1/64"],
    listenPort: 51820,
    mode: "userspace",
    interface: "weft0",
    mtu: 1420,
    crypto: { aead: "noble", dh: "node", suite: "mixed" },
    version: "1.2.3",
    uptimeSeconds: 42,
    process: {
      residentBytes: 50 * 1024 * 1024,
      virtualBytes: 900 * 1024 * 1024,
      cpuSeconds: { user: 3, system: 0.5 },
      openFds: 12,
      maxFds: 1024,
      startTimeSeconds: 1_700_000_000,
      heap: { used: 10 * 1024 * 1024, total: 20 * 1024 * 1024, external: 1024 * 1024, malloced: 0 },
    },
    handshakesReceived: 0,
    cookieRepliesSent: 0,
    drops: new DropCounters().snapshot(),
    ...extra,
  };
}

function peer(extra: Partial<PeerStatus> = {}): PeerStatus {
  return {
    name: "",
    address: "",
    health: "unknown",
    healthReason: "",
    rttMs: null,
    loss: null,
    publicKey: "ABCDEFGHIJKLMNOP=",
    endpoint: null,
    allowedIps: [],
    lastHandshake: null,
    lastHandshakeAgeSeconds: null,
    hasSession: false,
    rxBytes: 0,
    txBytes: 0,
    rxPackets: 0,
    txPackets: 0,
    handshakes: 0,
    persistentKeepalive: 0,
    ...extra,
  };
}

Deno.test("formatTable: columns padded to the widest cell, two spaces apart, no trailing space", () => {
  assert.equal(
    formatTable([["A", "BB", "C"], ["long", "x", ""], ["y", "wider", "z"]]),
    ["A     BB     C", "long  x", "y     wider  z"].join("\n"),
  );
  assert.equal(formatTable([["ONLY"]]), "ONLY");
});

Deno.test("the node summary: fields in order, optional lines only when there is something", () => {
  const text = formatStatusTable({ node: node(), peers: [] });
  assert.equal(
    text,
    [
      "node       NODEKEY=",
      "addresses  10.0.0.1/24, fd00::1/64",
      "listening  udp/51820  mode=userspace  interface=weft0  mtu=1420",
      "crypto     aead=noble dh=node",
      "version    1.2.3  up 42s",
      "process    rss 50.0 MiB  heap 10.0 MiB of 20.0 MiB  external 1.0 MiB  fds 12/1024  cpu 3.5s",
      "drops      none",
      "",
      "no peers",
    ].join("\n"),
  );
  const drops = new DropCounters();
  drops.add("replay", 3);
  drops.add("mac1");
  const named = formatStatusTable({
    node: node({
      name: "alpha",
      role: "leader",
      drops: drops.snapshot(),
      policy: {
        version: 4,
        rules: 2,
        dropped: { outbound: 1, inbound: 2 },
        droppedByRule: { "deny-db": 2, "(default)": 1 },
        rates: {
          "bulk-20m": {
            passedBytes: 3 * 1024 * 1024,
            passedPackets: 2300,
            delayedBytes: 2048,
            delayedPackets: 2,
            droppedBytes: 1420,
            droppedPackets: 1,
          },
        },
      },
    }),
    peers: [],
  }).split("\n");
  assert.equal(named[0], "name       alpha (leader)");
  // Only non-zero reasons, in the order of the reasons list.
  assert.equal(named[7], "drops      mac1=1 replay=3");
  assert.equal(named[8], "policy     v4, 2 rules, dropped deny-db=2 (default)=1");
  assert.equal(
    named[9],
    "rate       bulk-20m: passed 3.0 MiB, delayed 2.0 KiB, dropped 1.4 KiB (1 packets)",
  );
  const quiet = formatStatusTable({
    node: node({
      policy: { version: 0, rules: 0, dropped: { outbound: 0, inbound: 0 }, droppedByRule: {} },
    }),
    peers: [],
  });
  assert.ok(quiet.includes("policy     v0, 0 rules, dropped none"), quiet);
  const offloaded = formatStatusTable({
    node: node({ offloads: { tun: ["csum", "tso4", "tso6"], udpGso: true, udpGro: false } }),
    peers: [],
  }).split("\n");
  assert.equal(offloaded[4], "offloads   tun=csum,tso4,tso6 udp-gso=on udp-gro=off");
  const refused = formatStatusTable({
    node: node({ offloads: { tun: [], udpGso: false, udpGro: false } }),
    peers: [],
  });
  assert.ok(refused.includes("offloads   tun=none udp-gso=off udp-gro=off"), refused);
  // Off Linux only the memory and the heap are known; an older agent's document has no line.
  const bare = formatStatusTable({
    node: node({
      process: {
        ...node().process,
        virtualBytes: null,
        cpuSeconds: null,
        openFds: null,
        maxFds: null,
        startTimeSeconds: null,
      },
    }),
    peers: [],
  });
  assert.ok(
    bare.includes("process    rss 50.0 MiB  heap 10.0 MiB of 20.0 MiB  external 1.0 MiB\n"),
    bare,
  );
  const older = { ...node() } as Partial<NodeStatus>;
  delete older.process;
  assert.ok(
    !formatStatusTable({ node: older as NodeStatus, peers: [] }).includes("process"),
  );
  // A leader on a shared store: one line, its health.
  const store = {
    store: "etcd://192.0.2.1:2379",
    where: "etcd",
    revision: 7,
    since: "2030-01-01T00:00:00.000Z",
  };
  const ok = formatStatusTable({ node: node({ store: { ...store, ok: true } }), peers: [] });
  assert.ok(ok.includes("store      etcd://192.0.2.1:2379 ok (revision 7)"), ok);
  const failing = formatStatusTable({
    node: node({ store: { ...store, ok: false, error: "the store is unreachable (etcd: x)" } }),
    peers: [],
  });
  assert.ok(
    failing.includes(
      "store      etcd://192.0.2.1:2379 FAILING: the store is unreachable (etcd: x) (revision 7)" +
        ": this leader's view may be old, its members move to one that is current",
    ),
    failing,
  );
});

Deno.test("the node summary: one line per service, instances healthy of all, the leader", () => {
  const inst = (node: string, healthy: boolean, local = false) => ({
    node,
    address: `10.0.0.${node.length}`,
    local,
    rpc: true,
    healthy,
    ...(healthy ? {} : { reason: "check-failing" }),
  });
  const lines = formatStatusTable({
    node: node({
      name: "n1",
      role: "node",
      services: [
        {
          name: "echo",
          local: true,
          localHealthy: false,
          instances: [inst("n1", false, true), inst("n2", true), inst("n33", true)],
          leader: { node: "n2", address: "10.0.0.2", token: 12, expiresAt: "2030-01-01T00:00:00Z" },
        },
        { name: "jobs-queue", local: false, instances: [inst("n2", false)], leader: null },
        {
          name: "web",
          local: true,
          instances: [inst("n1", true, true)],
          leader: { node: "n1", address: "10.0.0.1", token: 3, expiresAt: "2030-01-01T00:00:00Z" },
        },
      ],
    }),
    peers: [],
  }).split("\n");
  const at = lines.findIndex((l) => l.startsWith("services"));
  assert.deepEqual(lines.slice(at, at + 3), [
    "services   echo        2/3 healthy  leader n2 (token 12)  here, failing",
    "           jobs-queue  0/1 healthy  no leader",
    "           web         1/1 healthy  leader n1 (token 3)  here",
  ]);
  // None known: no line (a mesh node without services says nothing of them).
  const none = formatStatusTable({ node: node({ services: [] }), peers: [] });
  assert.ok(!none.includes("services"), none);
});

Deno.test("the node summary: the leader a node syncs with and, with several, every one known", () => {
  const leader = (name: string, n: number, extra: Partial<KnownLeaderStatus> = {}) => ({
    name,
    address: `10.0.0.${n}`,
    publicKey: `K${n}=`,
    inUse: false,
    answers: true,
    offline: false,
    ...extra,
  });
  const since = "2030-01-01T00:00:00.000Z";
  const one = formatStatusTable({
    node: node({
      leader: { name: "lead", address: "10.0.0.1", publicKey: "K1=", since },
      leaders: [leader("lead", 1, { inUse: true })],
    }),
    peers: [],
  }).split("\n");
  assert.ok(one.includes(`leader: lead (10.0.0.1)  since ${since}`), one.join("\n"));
  assert.ok(!one.some((l) => l.startsWith("leaders")), "one leader: no list");
  const several = formatStatusTable({
    node: node({
      leader: { name: "lead-2", address: "10.0.0.2", publicKey: "K2=", since },
      leaders: [
        leader("lead-1", 1, { answers: false }),
        leader("lead-2", 2, { inUse: true }),
        leader("lead-3", 3, { storeUnreachable: true }),
        leader("lead-4", 4, { answers: null }),
        leader("lead-5", 5, { offline: true }),
      ],
    }),
    peers: [],
  }).split("\n");
  const at = several.findIndex((l) => l.startsWith("leader: "));
  assert.deepEqual(several.slice(at, at + 2), [
    `leader: lead-2 (10.0.0.2)  since ${since}`,
    "leaders    lead-1 (10.0.0.1, not answering), lead-2 (10.0.0.2, in use), " +
    "lead-3 (10.0.0.3, answers, its store is unreachable), lead-4 (10.0.0.4, not probed yet), lead-5 (10.0.0.5, offline)",
  ]);
  // A leader (or a plain agent) has no leader in use: no line.
  assert.ok(!formatStatusTable({ node: node(), peers: [] }).includes("leader:"));
});

Deno.test("the peer table: names or short keys, addresses, health, RTT, loss, handshake age, bytes", () => {
  const text = formatStatusTable({
    node: node(),
    peers: [
      peer({
        name: "bravo",
        address: "10.0.0.2",
        endpoint: "192.0.2.2:51820",
        health: "up",
        rttMs: 1.234,
        loss: 0.126,
        lastHandshakeAgeSeconds: 59,
        rxBytes: 1023,
        txBytes: 1024,
      }),
      peer({
        allowedIps: ["10.9.0.0/16", "10.8.0.0/16"],
        lastHandshakeAgeSeconds: 61,
        rxBytes: 1536 * 1024,
        txBytes: 5 * 1024 ** 4,
      }),
      peer({ lastHandshakeAgeSeconds: 3 * 3600 + 125, rxBytes: 3 * 1024 ** 5 }),
    ],
  });
  const [, table] = text.split("\n\n");
  const rows = table.split("\n").map((l) => l.split(/\s{2,}/));
  assert.deepEqual(rows[0], [
    "PEER",
    "ADDRESS",
    "ENDPOINT",
    "HEALTH",
    "RTT",
    "LOSS",
    "HANDSHAKE",
    "RX",
    "TX",
  ]);
  assert.deepEqual(rows[1], [
    "bravo",
    "10.0.0.2",
    "192.0.2.2:51820",
    "up",
    "1.2 ms",
    "13%",
    "59s ago",
    "1023 B",
    "1.0 KiB",
  ]);
  assert.deepEqual(rows[2], [
    "ABCDEFGHIJ…",
    "10.9.0.0/16,10.8.0.0/16",
    "-",
    "unknown",
    "-",
    "-",
    "1m 1s ago",
    "1.5 MiB",
    "5.0 TiB",
  ]);
  // Without an address or routes: "-"; TiB is the largest unit.
  assert.deepEqual(rows[3].slice(1, 2), ["-"]);
  assert.equal(rows[3][6], "3h 2m ago");
  assert.equal(rows[3][7], "3072.0 TiB");
  assert.ok(!text.includes("no peers"));
  const never = formatStatusTable({ node: node(), peers: [peer()] });
  assert.ok(never.split("\n").at(-1)!.includes("never"));
});

Deno.test("the peer table: a PATH column for mesh peers, with the kind of the endpoint used", () => {
  const text = formatStatusTable({
    node: node(),
    peers: [
      peer({
        name: "lan",
        path: "direct",
        endpoint: "192.168.1.5:51820",
        candidates: [
          {
            endpoint: "203.0.113.1:51820",
            kind: "observed",
            confirmed: false,
            rttMs: null,
            chosen: false,
          },
          { endpoint: "192.168.1.5:51820", kind: "lan", confirmed: true, rttMs: 0.4, chosen: true },
        ],
        pathChangedAt: "2024-01-01T00:00:00.000Z",
      }),
      peer({ name: "far", path: "none", candidates: [], pathChangedAt: null }),
    ],
  });
  const rows = text.split("\n\n")[1].split("\n").map((l) => l.split(/\s{2,}/));
  assert.deepEqual(rows[0].slice(0, 5), ["PEER", "ADDRESS", "ENDPOINT", "PATH", "HEALTH"]);
  assert.equal(rows[1][3], "direct (lan)");
  assert.equal(rows[2][3], "none");
  // No path fields (weft up): no column.
  const plain = formatStatusTable({ node: node(), peers: [peer({ name: "p" })] });
  assert.ok(!plain.includes("PATH"), plain);
});

Deno.test("the peer table: relayed and TCP paths, udp not printed; --json keeps the raw fields", () => {
  const st = {
    node: node(),
    peers: [
      peer({
        name: "d-udp",
        path: "direct",
        transport: "udp",
        candidates: [
          {
            endpoint: "192.0.2.9:51820",
            kind: "observed",
            confirmed: true,
            rttMs: 3,
            chosen: true,
          },
        ],
      }),
      peer({ name: "d-tcp", path: "direct", transport: "tcp", candidates: [] }),
      peer({ name: "r-udp", path: "relay", via: "alpha", transport: "udp", candidates: [] }),
      peer({ name: "r-tcp", path: "relay", via: "aBcD1234", transport: "tcp", candidates: [] }),
      peer({ name: "r-anon", path: "relay", via: null, transport: null, candidates: [] }),
      peer({ name: "gone", path: "none", via: null, transport: null, candidates: [] }),
      peer({ name: "d-ws", path: "direct", transport: "websocket", candidates: [] }),
      peer({
        name: "r-wsp",
        path: "relay",
        via: "alpha",
        transport: "websocket",
        proxied: true,
        candidates: [],
      }),
      peer({
        name: "r-proxy",
        path: "relay",
        via: "lead",
        transport: "tcp",
        proxied: true,
        proxy: "http://198.51.100.1:3128",
        candidates: [],
      }),
    ],
  };
  const rows = formatStatusTable(st).split("\n\n")[1].split("\n").map((l) => l.split(/\s{2,}/));
  assert.equal(rows[0][3], "PATH");
  assert.deepEqual(rows.slice(1).map((r) => `${r[0]} ${r[3]}`), [
    "d-udp direct (observed)",
    "d-tcp direct/tcp",
    "r-udp relay:alpha",
    "r-tcp relay:aBcD1234/tcp",
    "r-anon relay",
    "gone none",
    "d-ws direct/websocket",
    "r-wsp relay:alpha/websocket+proxy",
    "r-proxy relay:lead/tcp+proxy",
  ]);
  // `weft status --json` prints the document itself: the raw fields, not the cell text.
  const back = JSON.parse(JSON.stringify(st)).peers[3];
  assert.deepEqual([back.path, back.via, back.transport], ["relay", "aBcD1234", "tcp"]);
});

Deno.test("the node summary: the host's resolver and the segments, when there are any", () => {
  const lines = formatStatusTable({
    node: node({
      systemDns: { mode: "file", server: "10.0.0.7", upstreams: ["192.0.2.53"] },
      segments: [
        {
          name: "blue",
          vni: 100,
          mtu: 1370,
          bridge: "br-blue",
          driver: "vxlan",
          members: [{ name: "a", address: "10.0.0.7" }, { name: "b", address: "10.0.0.8" }],
          up: true,
        },
        {
          name: "red",
          vni: 200,
          mtu: 1370,
          bridge: "br-red",
          driver: "vxlan",
          members: [{ name: "a", address: "10.0.0.7" }],
          up: false,
          error: "the kernel has no VXLAN",
        },
      ],
    }),
    peers: [],
  }).split("\n");
  assert.ok(
    lines.includes(
      "system dns file: the host asks 10.0.0.7:53, other names go to 192.0.2.53",
    ),
    lines.join("\n"),
  );
  assert.ok(lines.includes("segments   blue vni 100 on br-blue, mtu 1370, 2 members (a, b)"));
  assert.ok(
    lines.includes(
      "           red vni 200 on br-red, mtu 1370, 1 members (a): DOWN: the kernel has no VXLAN",
    ),
  );
  const none = formatStatusTable({ node: node(), peers: [] });
  assert.ok(!none.includes("system dns") && !none.includes("segments"));
});

Deno.test("the node summary: the exit node, or why not and whether outside traffic is blocked", () => {
  const line = (exitNode: NodeStatus["exitNode"]) =>
    formatStatusTable({ node: node({ exitNode }), peers: [] }).split("\n").find((l) =>
      l.startsWith("exit node")
    );
  assert.equal(
    line({
      wanted: "e",
      inUse: { name: "e", address: "10.0.0.5" },
      state: "in-use",
      traffic: "exit-node",
      fallback: false,
    }),
    "exit node  e (10.0.0.5)",
  );
  assert.equal(
    line({
      wanted: "nosuch",
      inUse: null,
      state: "unknown",
      reason: "no member is named or addressed nosuch",
      traffic: "blocked",
      fallback: false,
    }),
    "exit node  nosuch: unknown (no member is named or addressed nosuch); outside traffic is blocked",
  );
  assert.equal(
    line({
      wanted: "e",
      inUse: null,
      state: "offline",
      reason: "e is offline",
      traffic: "direct",
      fallback: true,
    }),
    "exit node  e: offline (e is offline); traffic goes out directly (exit-node-fallback)",
  );
  assert.equal(
    line({
      wanted: "e",
      inUse: null,
      state: "not-approved",
      reason: "why",
      traffic: "direct",
      fallback: false,
      error: "ip: failed",
    }),
    "exit node  e: not approved (why); traffic goes out directly; routing failed: ip: failed",
  );
  assert.equal(line(undefined), undefined);
});

Deno.test("the peer table: a PQ column for members, the key's age or why there is none", () => {
  const pq = (o: Partial<NonNullable<PeerStatus["pq"]>>) => ({
    session: false,
    state: "waiting" as const,
    keyAgeSeconds: null,
    rotations: 0,
    required: false,
    ...o,
  });
  const text = formatStatusTable({
    node: node(),
    peers: [
      peer({ name: "a", pq: pq({ session: true, state: "pq", keyAgeSeconds: 12, rotations: 3 }) }),
      peer({ name: "b", pq: pq({ required: true }) }),
      peer({ name: "c", pq: pq({ state: "off", required: true }) }),
    ],
  });
  const rows = text.split("\n\n")[1].split("\n").map((l) => l.split(/\s{2,}/));
  const at = rows[0].indexOf("PQ");
  assert.ok(at > rows[0].indexOf("HANDSHAKE"), rows[0].join(" "));
  assert.deepEqual(rows.slice(1).map((r) => r[at]), ["yes 12s", "no (held, waiting)", "no (off)"]);
  // weft up's peers (no members): no column.
  const plain = formatStatusTable({ node: node(), peers: [peer({ name: "p" })] });
  assert.ok(!plain.includes("PQ"), plain);
});
