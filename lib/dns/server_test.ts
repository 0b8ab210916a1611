import assert from "node:assert/strict";
import { DEFAULT_DNS_PORT, DnsBindError, type DnsUdp, MAX_TCP_QUERY, serveDns } from "./server.ts";
import { newDnsStats } from "./stats.ts";
import {
  buildQuery,
  decodeMessage,
  type DnsMessage,
  DnsType,
  encodeMessage,
  Rcode,
} from "./wire.ts";
import type { MembershipView } from "../members/member.ts";
import { member } from "../../tests/fixtures/members.ts";
import { assertNoOwnSockets } from "../../tests/fixtures/own_sockets.ts";

const view: MembershipView = {
  network: "10.200.0.0/16",
  version: 1,
  members: [member("alpha", "10.200.0.1", { role: "leader" })],
};
const source = { view: () => view };

async function udpAsk(port: number, query: Uint8Array): Promise<DnsMessage> {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await sock.send(query, { transport: "udp", hostname: "127.0.0.1", port });
    const [data] = await sock.receive();
    const r = decodeMessage(data);
    assert.ok(r.ok, r.ok ? "" : r.error);
    return r.message;
  } finally {
    sock.close();
  }
}

async function readExact(conn: Deno.Conn, n: number): Promise<Uint8Array | null> {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await conn.read(out.subarray(off));
    if (got === null) return null;
    off += got;
  }
  return out;
}

async function tcpAsk(conn: Deno.Conn, query: Uint8Array): Promise<DnsMessage> {
  await conn.write(Uint8Array.from([query.length >> 8, query.length & 0xff, ...query]));
  const len = await readExact(conn, 2);
  assert.ok(len !== null, "an answer");
  const body = await readExact(conn, (len[0] << 8) | len[1]);
  assert.ok(body !== null);
  const r = decodeMessage(body);
  assert.ok(r.ok, r.ok ? "" : r.error);
  return r.message;
}

for (const udp of ["linux", "node"] as DnsUdp[]) {
  Deno.test({
    name: `serveDns (${udp} UDP): one port for UDP and TCP, answers on both, close stops both`,
    ignore: udp === "linux" && Deno.build.os !== "linux",
    fn: async () => {
      const stats = newDnsStats();
      const s = await serveDns({ addresses: ["127.0.0.1"], port: 0, source, stats, udp });
      let closed = false;
      try {
        assert.notEqual(s.port, 0);
        assert.deepEqual(s.addresses, ["127.0.0.1"]);
        assert.equal(s.stats, stats);
        assert.equal(s.zone.origin, "overlay.local");
        assert.deepEqual(s.upstreams, []);

        const a = await udpAsk(s.port, buildQuery(11, "alpha.overlay.local", DnsType.A));
        assert.equal(a.id, 11);
        assert.equal(a.aa, true);
        assert.deepEqual(a.answers.map((r) => r.data), [
          { kind: "address", address: Uint8Array.of(10, 200, 0, 1) },
        ]);
        // Outside the zone, without forwarding: REFUSED.
        assert.equal(
          (await udpAsk(s.port, buildQuery(12, "example.test", 1))).rcode,
          Rcode.REFUSED,
        );

        const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
        try {
          const t = await tcpAsk(conn, buildQuery(13, "leader.overlay.local", DnsType.A));
          assert.equal(t.id, 13);
          assert.equal(t.answers.length, 1);
          // The same connection serves the next query.
          const n = await tcpAsk(conn, buildQuery(14, "nobody.overlay.local", DnsType.A));
          assert.equal(n.rcode, Rcode.NXDOMAIN);
          assert.equal(stats.tcpConnections, 1);
          assert.equal(stats.tcpOpen, 1);
          assert.equal(s.listenerStats.accepted, 1);
        } finally {
          conn.close();
        }
        assert.equal(stats.received, 4);
        assert.equal(stats.queries, 4);
        assert.deepEqual(stats.byTypeRcode, {
          "A|NOERROR": 2,
          "A|REFUSED": 1,
          "A|NXDOMAIN": 1,
        });

        // A connection left open is closed by close(), which waits for it.
        const open = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
        await tcpAsk(open, buildQuery(15, "alpha.overlay.local", DnsType.A));
        await s.close();
        closed = true;
        assert.equal(await open.read(new Uint8Array(1)), null);
        open.close();
        // Nothing of it holds the port, TCP or UDP.
        assertNoOwnSockets(s.port);
        await s.close(); // twice is fine
      } finally {
        if (!closed) await s.close();
      }
    },
  });
}

Deno.test("serveDns: a TCP length over the query cap closes the connection", async () => {
  const s = await serveDns({ addresses: ["127.0.0.1"], port: 0, source });
  try {
    assert.equal(MAX_TCP_QUERY, 8192);
    const c = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
    const len = MAX_TCP_QUERY + 1;
    await c.write(Uint8Array.of(len >> 8, len & 0xff));
    assert.equal(await c.read(new Uint8Array(1)), null);
    c.close();
    assert.equal(s.stats.malformed, 1);
    assert.equal(s.stats.dropped, 1);
  } finally {
    await s.close();
  }
});

Deno.test("serveDns: the zone option sets the origin", async () => {
  const s = await serveDns({
    addresses: ["127.0.0.1"],
    port: 0,
    source,
    zone: "Mesh.Test.",
    ttl: 42,
  });
  try {
    assert.equal(s.zone.origin, "mesh.test");
    const m = await udpAsk(s.port, buildQuery(1, "alpha.mesh.test", DnsType.A));
    assert.equal(m.answers[0].ttl, 42);
    const out = await udpAsk(s.port, buildQuery(2, "alpha.overlay.local", DnsType.A));
    assert.equal(out.rcode, Rcode.REFUSED);
  } finally {
    await s.close();
  }
});

Deno.test("serveDns: bad options are rejected before anything is bound", async () => {
  assert.equal(DEFAULT_DNS_PORT, 15353);
  await assert.rejects(serveDns({ addresses: [], port: 0, source }), /needs an address/);
  for (const port of [-1, 65536, 1.5]) {
    await assert.rejects(serveDns({ addresses: ["127.0.0.1"], port, source }), /invalid DNS port/);
  }
  const missing = await Deno.makeTempDir();
  try {
    await assert.rejects(
      serveDns({
        addresses: ["127.0.0.1"],
        port: 0,
        source,
        forward: true,
        resolvConf: `${missing}/none`,
      }),
      /cannot read/,
    );
    const empty = `${missing}/resolv.conf`;
    await Deno.writeTextFile(empty, "search example.com\n# nameserver 192.0.2.1\n");
    await assert.rejects(
      serveDns({ addresses: ["127.0.0.1"], port: 0, source, forward: true, resolvConf: empty }),
      /names no usable nameserver/,
    );
  } finally {
    await Deno.remove(missing, { recursive: true });
  }
});

Deno.test("serveDns: a port taken for TCP is a DnsBindError, and the UDP side is released", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    const err = await serveDns({ addresses: ["127.0.0.1"], port, source }).then(
      async (s) => {
        await s.close();
        return null;
      },
      (e: unknown) => e,
    );
    assert.ok(err instanceof DnsBindError, String(err));
    assert.match(err.message, new RegExp(`tcp 127\\.0\\.0\\.1 port ${port}`));
    assert.ok(err.cause !== undefined);
  } finally {
    taken.close();
  }
  // Nothing was left bound by the failed attempt.
  const s = await serveDns({ addresses: ["127.0.0.1"], port, source });
  assert.equal(s.port, port);
  await s.close();
});

Deno.test("serveDns: forwarding upstreams are listed as addr:port, IPv6 in brackets", async () => {
  const s = await serveDns({
    addresses: ["127.0.0.1"],
    port: 0,
    source,
    forward: ["192.0.2.1", "[2001:db8::1]:5353"],
  });
  try {
    assert.deepEqual(s.upstreams, ["192.0.2.1:53", "[2001:db8::1]:5353"]);
    // In-zone answers advertise recursion now.
    assert.equal((await udpAsk(s.port, buildQuery(1, "alpha.overlay.local", 1))).ra, true);
  } finally {
    await s.close();
  }
});

for (const udp of ["linux", "node"] as DnsUdp[]) {
  Deno.test({
    name:
      `serveDns (${udp} UDP): the zone is asked with each query's source address, over UDP and TCP`,
    ignore: udp === "linux" && Deno.build.os !== "linux",
    fn: async () => {
      const beta = member("beta", "10.200.0.2", { publicKey: "b" });
      const scoped: MembershipView = { ...view, members: [...view.members, beta] };
      const asked: string[] = [];
      const s = await serveDns({
        addresses: ["127.0.0.1"],
        port: 0,
        udp,
        source: {
          view: () => scoped,
          // A querier on 127.0.0.1 may not see beta.
          visibleTo: (querier) => {
            asked.push(querier);
            return querier === "127.0.0.1" ? (m) => m !== beta : null;
          },
        },
      });
      try {
        const u = await udpAsk(s.port, buildQuery(21, "beta.overlay.local", DnsType.A));
        assert.equal(u.rcode, Rcode.NXDOMAIN);
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
        try {
          const t = await tcpAsk(conn, buildQuery(22, "beta.overlay.local", DnsType.A));
          assert.equal(t.rcode, Rcode.NXDOMAIN);
          const a = await tcpAsk(conn, buildQuery(23, "alpha.overlay.local", DnsType.A));
          assert.equal(a.answers.length, 1);
        } finally {
          conn.close();
        }
        assert.deepEqual(asked, ["127.0.0.1", "127.0.0.1", "127.0.0.1"]);
      } finally {
        await s.close();
      }
    },
  });
}

Deno.test({
  name: "serveDns: split DNS routes send a domain's names to its own resolver, forwarding off",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // A resolver for example.internal: answers every A question with 198.51.100.77.
    const upstream = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const upPort = (upstream.addr as Deno.NetAddr).port;
    const asked: string[] = [];
    const serving = (async () => {
      try {
        for (;;) {
          const [data, from] = await upstream.receive();
          const r = decodeMessage(data);
          if (!r.ok) continue;
          asked.push(r.message.questions[0].name);
          const reply = {
            ...r.message,
            qr: true,
            ra: true,
            answers: [{
              name: r.message.questions[0].name,
              type: DnsType.A,
              class: 1,
              ttl: 30,
              data: { kind: "address" as const, address: Uint8Array.of(198, 51, 100, 77) },
            }],
          };
          await upstream.send(encodeMessage(reply), from);
        }
      } catch {
        // closed
      }
    })();
    const source = { view: () => ({ network: "10.0.0.0/24", version: 1, members: [] }) };
    const s = await serveDns({
      addresses: ["127.0.0.1"],
      port: 0,
      source,
      routes: [{ domain: "example.internal.", upstreams: [`127.0.0.1:${upPort}`] }],
    });
    try {
      const a = await udpAsk(s.port, buildQuery(7, "DB.Example.Internal", DnsType.A));
      assert.equal(a.rcode, Rcode.NOERROR);
      assert.equal(a.id, 7);
      assert.deepEqual([...(a.answers[0].data as { address: Uint8Array }).address], [
        198,
        51,
        100,
        77,
      ]);
      assert.deepEqual(asked, ["DB.Example.Internal"]);
      // Outside the routed domain, with forwarding off: refused, the resolver not asked.
      const other = await udpAsk(s.port, buildQuery(8, "example.com", DnsType.A));
      assert.equal(other.rcode, Rcode.REFUSED);
      assert.equal(asked.length, 1);
    } finally {
      await s.close();
      upstream.close();
      await serving;
    }
    await assert.rejects(
      serveDns({
        addresses: ["127.0.0.1"],
        port: 0,
        source,
        routes: [{ domain: "db.overlay.local.", upstreams: ["192.0.2.53:53"] }],
      }),
      /inside the mesh's zone/,
    );
  },
});
