/**
 * The DNS server against the real `dig` (Debian dnsutils): every record type over UDP and TCP,
 * NXDOMAIN vs NODATA, TC and the TCP retry, forwarding on and off, live membership and health,
 * and malformed input over real sockets.
 */
import assert from "node:assert/strict";
import { type DnsServer, serveDns } from "../../lib/dns/server.ts";
import type { DnsStats } from "../../lib/dns/stats.ts";
import {
  buildQuery,
  decodeMessage,
  type DnsMessage,
  DnsType,
  emptyMessage,
  encodeMessage,
  Rcode,
} from "../../lib/dns/wire.ts";
import type { HealthState } from "../../lib/health/state.ts";
import type { Member, MembershipView } from "../../lib/members/member.ts";
import { seededRandom } from "../fixtures/prng.ts";
import { member } from "../fixtures/members.ts";
import { haveCommands } from "../fixtures/netns.ts";

const DIG_OK = await haveCommands("dig");

interface DigRecord {
  name: string;
  ttl: number;
  type: string;
  data: string;
}

interface Dig {
  status: string;
  flags: Set<string>;
  answer: DigRecord[];
  authority: DigRecord[];
  additional: DigRecord[];
  retriedTcp: boolean;
  via: string;
  raw: string;
}

/**
 * How long a test waits for something the server must do before calling it a hang. Only a
 * guard, generous for a loaded machine: no check depends on how fast an answer comes.
 */
const GUARD_MS = 30_000;

/** Waits until `cond` holds; throws with `state()` if it does not within the guard. */
async function until(cond: () => boolean, state: () => string): Promise<void> {
  const deadline = performance.now() + GUARD_MS;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`no progress in ${GUARD_MS} ms: ${state()}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

async function dig(port: number, ...args: string[]): Promise<Dig> {
  // One try, so a lost answer fails the test instead of being retried; its wait is a guard.
  const out = await new Deno.Command("dig", {
    args: [`@127.0.0.1`, "-p", String(port), "+time=10", "+tries=1", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const raw = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const status = /status: ([A-Z]+)/.exec(raw)?.[1] ?? "NONE";
  // With a TCP retry dig prints both headers: the last one is the answer it kept.
  const flagLines = [...raw.matchAll(/;; flags: ([a-z ]*);/g)];
  const flags = new Set((flagLines.at(-1)?.[1] ?? "").split(" ").filter((f) => f));
  const section = (title: string): DigRecord[] => {
    const lines = raw.split("\n");
    const at = lines.lastIndexOf(`;; ${title} SECTION:`);
    if (at < 0) return [];
    const rows: DigRecord[] = [];
    for (let i = at + 1; i < lines.length && lines[i].trim() !== ""; i++) {
      const f = lines[i].split(/\s+/);
      rows.push({ name: f[0], ttl: Number(f[1]), type: f[3], data: f.slice(4).join(" ") });
    }
    return rows;
  };
  return {
    status,
    flags,
    answer: section("ANSWER"),
    authority: section("AUTHORITY"),
    additional: section("ADDITIONAL"),
    retriedTcp: raw.includes("Truncated, retrying in TCP mode"),
    via: /;; SERVER: .*\((UDP|TCP)\)/.exec(raw)?.[1] ?? "",
    raw,
  };
}

function data(rows: DigRecord[]): string[] {
  return rows.map((r) => r.data).sort();
}

/** A source whose view and health the test changes as it goes. */
class TestSource {
  view_: MembershipView;
  health = new Map<string, HealthState>();
  constructor(members: Member[]) {
    this.view_ = { network: "10.200.0.0/16", version: 1, members };
  }
  view(): MembershipView {
    return this.view_;
  }
  healthOf(m: Member): HealthState {
    return this.health.get(m.name) ?? "up";
  }
  set(members: Member[]): void {
    this.view_ = { ...this.view_, version: this.view_.version + 1, members };
  }
}

function baseMembers(): Member[] {
  const members = [
    member("alpha", "10.200.0.1", {
      role: "leader",
      address6: "fd00::1",
      services: [{ name: "web", port: 80, protocol: "tcp", labels: { env: "prod" } }],
    }),
    member("beta", "10.200.3.7", {
      address6: "fd00::3:7",
      services: [{ name: "web", port: 8080, protocol: "tcp", weight: 5 }],
    }),
  ];
  // 60 instances of one service: too big for 512 bytes as A, for 1232 as SRV + additional.
  for (let i = 1; i <= 60; i++) {
    members.push(member(`bulk${i}`, `10.200.9.${i}`, {
      services: [{ name: "big", port: 9000 + i, protocol: "tcp" }],
    }));
  }
  return members;
}

async function withServer(
  fn: (s: DnsServer, src: TestSource) => Promise<void>,
  extra: Partial<Parameters<typeof serveDns>[0]> = {},
): Promise<void> {
  const src = new TestSource(baseMembers());
  const server = await serveDns({ addresses: ["127.0.0.1"], port: 0, source: src, ...extra });
  try {
    await fn(server, src);
  } finally {
    await server.close();
  }
}

const dnsTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !DIG_OK, sanitizeOps: false, sanitizeResources: false, fn });

dnsTest("dig: every record type over UDP and TCP", async () => {
  await withServer(async (s) => {
    for (const mode of ["+notcp", "+tcp"]) {
      const via = mode === "+tcp" ? "TCP" : "UDP";
      const a = await dig(s.port, "alpha.overlay.local", "A", mode);
      assert.equal(a.status, "NOERROR", a.raw);
      assert.equal(a.via, via);
      assert.ok(a.flags.has("aa"));
      assert.deepEqual(data(a.answer), ["10.200.0.1"]);
      assert.equal(a.answer[0].ttl, 10);
      assert.deepEqual(data((await dig(s.port, "Alpha.Overlay.Local", "AAAA", mode)).answer), [
        "fd00::1",
      ]);
      assert.deepEqual(data((await dig(s.port, "node-3-7.overlay.local", "A", mode)).answer), [
        "10.200.3.7",
      ]);
      assert.deepEqual(data((await dig(s.port, "node-3-7.overlay.local", "AAAA", mode)).answer), [
        "fd00::3:7",
      ]);
      assert.deepEqual(data((await dig(s.port, "leader.overlay.local", "A", mode)).answer), [
        "10.200.0.1",
      ]);
      const srv = await dig(s.port, "_web._tcp.overlay.local", "SRV", mode);
      assert.deepEqual(data(srv.answer), [
        "10 1 80 alpha.overlay.local.",
        "10 5 8080 beta.overlay.local.",
      ]);
      assert.deepEqual(
        srv.additional.map((r) => `${r.name} ${r.type} ${r.data}`).sort(),
        [
          "alpha.overlay.local. A 10.200.0.1",
          "alpha.overlay.local. AAAA fd00::1",
          "beta.overlay.local. A 10.200.3.7",
          "beta.overlay.local. AAAA fd00::3:7",
        ],
      );
      const txt = await dig(s.port, "_web._tcp.overlay.local", "TXT", mode);
      // Every instance answers one, with labels or without.
      assert.deepEqual(data(txt.answer), [
        '"node=alpha" "port=80" "env=prod"',
        '"node=beta" "port=8080"',
      ]);
      assert.deepEqual(data((await dig(s.port, "web.overlay.local", "A", mode)).answer), [
        "10.200.0.1",
        "10.200.3.7",
      ]);
      assert.deepEqual(data((await dig(s.port, "-x", "10.200.3.7", mode)).answer), [
        "beta.overlay.local.",
      ]);
      assert.deepEqual(data((await dig(s.port, "-x", "fd00::1", mode)).answer), [
        "alpha.overlay.local.",
      ]);
      const soa = await dig(s.port, "overlay.local", "SOA", mode);
      assert.deepEqual(data(soa.answer), [
        "ns.overlay.local. hostmaster.overlay.local. 1 60 10 3600 10",
      ]);
      const ns = await dig(s.port, "overlay.local", "NS", mode);
      assert.deepEqual(data(ns.answer), ["ns.overlay.local."]);
      assert.deepEqual(data(ns.additional), ["127.0.0.1"]);
      assert.deepEqual(data((await dig(s.port, "ns.overlay.local", "A", mode)).answer), [
        "127.0.0.1",
      ]);
    }
  });
});

dnsTest("dig: NXDOMAIN vs NODATA, both with the SOA", async () => {
  await withServer(async (s) => {
    for (const mode of ["+notcp", "+tcp"]) {
      const nx = await dig(s.port, "nobody.overlay.local", "A", mode);
      assert.equal(nx.status, "NXDOMAIN");
      assert.ok(nx.flags.has("aa"));
      assert.equal(nx.answer.length, 0);
      assert.deepEqual(nx.authority.map((r) => `${r.name} ${r.type}`), ["overlay.local. SOA"]);
      const nodata = await dig(s.port, "beta.overlay.local", "TXT", mode);
      assert.equal(nodata.status, "NOERROR");
      assert.equal(nodata.answer.length, 0);
      assert.deepEqual(nodata.authority.map((r) => r.type), ["SOA"]);
      const ent = await dig(s.port, "_tcp.overlay.local", "SRV", mode);
      assert.equal(ent.status, "NOERROR");
      const rev = await dig(s.port, "-x", "10.200.77.77", mode);
      assert.equal(rev.status, "NXDOMAIN");
      assert.deepEqual(rev.authority.map((r) => r.name), ["200.10.in-addr.arpa."]);
    }
  });
});

dnsTest("dig: a big answer sets TC over UDP, and dig's TCP retry gets it all", async () => {
  await withServer(async (s) => {
    // SRV: 60 records plus 60 addresses in additional overflow dig's default 1232 bytes.
    const tc = await dig(s.port, "_big._tcp.overlay.local", "SRV", "+ignore", "+notcp");
    assert.ok(tc.flags.has("tc"), tc.raw);
    assert.equal(tc.answer.length, 0);
    assert.equal(tc.via, "UDP");
    const retried = await dig(s.port, "_big._tcp.overlay.local", "SRV", "+notcp");
    assert.ok(retried.retriedTcp, retried.raw);
    assert.equal(retried.via, "TCP");
    assert.equal(retried.answer.length, 60);
    assert.equal(retried.additional.length, 60);
    assert.ok(!retried.flags.has("tc"));
    const tcp = await dig(s.port, "_big._tcp.overlay.local", "SRV", "+tcp");
    assert.equal(tcp.answer.length, 60);
    // 60 A records (about 1 KB) fit an EDNS client's 1232 bytes but not 512.
    const a1232 = await dig(s.port, "big.overlay.local", "A", "+notcp", "+ignore");
    assert.equal(a1232.answer.length, 60);
    assert.ok(!a1232.flags.has("tc"));
    for (const small of ["+bufsize=512", "+noedns"]) {
      const a512 = await dig(s.port, "big.overlay.local", "A", "+notcp", "+ignore", small);
      assert.ok(a512.flags.has("tc"), a512.raw);
      assert.equal(a512.answer.length, 0);
      const again = await dig(s.port, "big.overlay.local", "A", "+notcp", small);
      assert.ok(again.retriedTcp);
      assert.deepEqual(
        data(again.answer),
        Array.from({ length: 60 }, (_, i) => `10.200.9.${i + 1}`).sort(),
      );
    }
    assert.ok(s.stats.truncated >= 4);
  });
});

dnsTest("dig: membership changes and health show in the next answer", async () => {
  await withServer(async (s, src) => {
    assert.equal((await dig(s.port, "gamma.overlay.local", "A")).status, "NXDOMAIN");
    const gamma = member("gamma", "10.200.5.5", {
      services: [{ name: "web", port: 81, protocol: "tcp" }],
    });
    src.set([...src.view().members, gamma]);
    assert.deepEqual(data((await dig(s.port, "gamma.overlay.local", "A")).answer), [
      "10.200.5.5",
    ]);
    assert.deepEqual(data((await dig(s.port, "node-5-5.overlay.local", "A")).answer), [
      "10.200.5.5",
    ]);
    assert.equal((await dig(s.port, "_web._tcp.overlay.local", "SRV")).answer.length, 3);
    assert.equal(
      (await dig(s.port, "overlay.local", "SOA")).answer[0].data.split(" ")[2],
      String(src.view().version),
    );
    // Down: its service instances go, its name stays.
    src.health.set("gamma", "down");
    src.health.set("beta", "down");
    assert.deepEqual(data((await dig(s.port, "_web._tcp.overlay.local", "SRV")).answer), [
      "10 1 80 alpha.overlay.local.",
    ]);
    assert.deepEqual(data((await dig(s.port, "web.overlay.local", "A", "+tcp")).answer), [
      "10.200.0.1",
    ]);
    assert.equal((await dig(s.port, "gamma.overlay.local", "A")).answer.length, 1);
    src.health.clear();
    assert.equal((await dig(s.port, "web.overlay.local", "A")).answer.length, 3);
    // Removed: it stops resolving.
    src.set(src.view().members.filter((m) => m.name !== "gamma"));
    assert.equal((await dig(s.port, "gamma.overlay.local", "A")).status, "NXDOMAIN");
    assert.equal((await dig(s.port, "-x", "10.200.5.5")).status, "NXDOMAIN");
  });
});

/** A tiny upstream DNS server on 127.0.0.2 (UDP and TCP), answering from fixed data. */
class FakeUpstream {
  readonly udp: Deno.DatagramConn;
  readonly tcp: Deno.Listener;
  readonly port: number;
  udpQueries = 0;
  tcpQueries = 0;
  #closed = false;
  #loops: Promise<void>[] = [];

  constructor() {
    for (let attempt = 0;; attempt++) {
      const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.2", port: 0 });
      const port = (udp.addr as Deno.NetAddr).port;
      try {
        this.tcp = Deno.listen({ hostname: "127.0.0.2", port });
        this.udp = udp;
        this.port = port;
        break;
      } catch (err) {
        udp.close();
        if (attempt > 10) throw err;
      }
    }
    this.#loops.push(this.#udpLoop(), this.#tcpLoop());
  }

  answer(query: Uint8Array, tcp: boolean): Uint8Array | null {
    const r = decodeMessage(query);
    if (!r.ok) return null;
    const q = r.message.questions[0];
    const m: DnsMessage = emptyMessage();
    m.id = r.message.id;
    m.qr = m.ra = true;
    m.rd = r.message.rd;
    m.questions = [q];
    const name = q.name.toLowerCase();
    if (name === "slow.test") return null;
    if (name === "example.test" && q.type === DnsType.A) {
      m.answers.push({
        name: q.name,
        type: DnsType.A,
        class: 1,
        ttl: 300,
        data: { kind: "address", address: Uint8Array.of(192, 0, 2, 1) },
      });
    } else if (name === "big.test") {
      if (!tcp) m.tc = true;
      else {
        for (let i = 0; i < 40; i++) {
          m.answers.push({
            name: q.name,
            type: DnsType.TXT,
            class: 1,
            ttl: 300,
            data: { kind: "txt", texts: [`${i}:` + "x".repeat(100)] },
          });
        }
      }
    } else {
      m.rcode = Rcode.NXDOMAIN;
    }
    return encodeMessage(m);
  }

  async #udpLoop(): Promise<void> {
    while (!this.#closed) {
      try {
        const [data, addr] = await this.udp.receive();
        this.udpQueries++;
        const out = this.answer(data, false);
        if (out !== null) await this.udp.send(out, addr);
      } catch {
        if (this.#closed) return;
      }
    }
  }

  async #tcpLoop(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await this.tcp.accept();
      } catch {
        return;
      }
      (async () => {
        try {
          const head = new Uint8Array(2);
          if (await conn.read(head) !== 2) return;
          const body = new Uint8Array((head[0] << 8) | head[1]);
          let off = 0;
          while (off < body.length) {
            const n = await conn.read(body.subarray(off));
            if (n === null) return;
            off += n;
          }
          this.tcpQueries++;
          const out = this.answer(body, true);
          if (out === null) return;
          const framed = new Uint8Array(out.length + 2);
          framed[0] = out.length >> 8;
          framed[1] = out.length;
          framed.set(out, 2);
          await conn.write(framed);
        } catch {
          // the test only cares about what arrived
        } finally {
          try {
            conn.close();
          } catch { /* closed */ }
        }
      })();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.udp.close();
    this.tcp.close();
    await Promise.allSettled(this.#loops);
  }
}

dnsTest("dig: forwarding on relays answers and rcodes, with the TCP fallback", async () => {
  const up = new FakeUpstream();
  try {
    await withServer(async (s) => {
      assert.deepEqual(s.upstreams, [`127.0.0.2:${up.port}`]);
      for (const mode of ["+notcp", "+tcp"]) {
        const a = await dig(s.port, "example.test", "A", mode);
        assert.equal(a.status, "NOERROR", a.raw);
        assert.deepEqual(data(a.answer), ["192.0.2.1"]);
        assert.ok(a.flags.has("ra"));
        assert.ok(!a.flags.has("aa"));
        const nx = await dig(s.port, "missing.test", "A", mode);
        assert.equal(nx.status, "NXDOMAIN");
      }
      // The upstream truncates over UDP: we ask it over TCP; the 4 KB answer is still too
      // big for dig's UDP, so dig is told TC and retries over TCP, where it gets everything.
      const before = up.tcpQueries;
      const big = await dig(s.port, "big.test", "TXT", "+notcp");
      assert.ok(big.retriedTcp, big.raw);
      assert.equal(big.answer.length, 40);
      assert.ok(up.tcpQueries >= before + 2);
      const slow = await dig(s.port, "slow.test", "A");
      assert.equal(slow.status, "SERVFAIL");
      // Names of the zone are never forwarded.
      const queries = up.udpQueries;
      assert.equal((await dig(s.port, "alpha.overlay.local", "A")).status, "NOERROR");
      assert.equal(up.udpQueries, queries);
      assert.ok(s.stats.forwarded >= 6);
      assert.ok(s.stats.forwardFailed >= 1);
      // The upstream shares this process: on a loaded machine it may be slow to answer, so the
      // forwarder waits long enough for it (slow.test, which it never answers, waits as long).
    }, { forward: [`127.0.0.2:${up.port}`], forwardTimeoutMs: 2000 });
  } finally {
    await up.close();
  }
});

dnsTest("dig: forwarding off refuses; an upstream that is ourselves is left out", async () => {
  await withServer(async (s) => {
    assert.deepEqual(s.upstreams, []);
    const r = await dig(s.port, "example.test", "A");
    assert.equal(r.status, "REFUSED");
    assert.ok(!r.flags.has("ra"));
    assert.equal((await dig(s.port, "example.test", "A", "+tcp")).status, "REFUSED");
  });
  // Forwarding to our own address and port would loop: the server drops that upstream.
  const probe = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  await withServer(async (s) => {
    assert.equal(s.port, port);
    assert.deepEqual(s.upstreams, []);
    assert.equal((await dig(s.port, "example.test", "A")).status, "REFUSED");
  }, { port, forward: [`127.0.0.1:${port}`] });
});

dnsTest("dig: two servers forwarding to each other do not storm", async () => {
  // Ports known up front, so that each server can name the other as its upstream.
  const ports = [0, 0].map(() => {
    const probe = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const p = (probe.addr as Deno.NetAddr).port;
    probe.close();
    return p;
  });
  const src = new TestSource(baseMembers());
  const [a, b] = await Promise.all(ports.map((port, i) =>
    serveDns({
      addresses: ["127.0.0.1"],
      port,
      source: src,
      forward: [`127.0.0.1:${ports[1 - i]}`],
      // Long enough for the hand-offs between the two to happen while the first is pending,
      // even on a loaded machine.
      forwardTimeoutMs: 2000,
    })
  ));
  try {
    const r = await dig(a.port, "loop.test", "A");
    assert.equal(r.status, "SERVFAIL", r.raw);
    // A asked B, B asked A, A found the question pending and waited: three hand-offs, not a
    // flood until the pending table fills. Wait until each forwarded query has had its answer
    // (SERVFAIL, relayed or after the timeout): then the exchange is over.
    const forwarded = () => a.stats.forwarded + b.stats.forwarded;
    const servfailsOf = (st: DnsStats) =>
      Object.entries(st.byTypeRcode).reduce(
        (n, [key, count]) => key.endsWith("|SERVFAIL") ? n + count : n,
        0,
      );
    const servfails = () => servfailsOf(a.stats) + servfailsOf(b.stats);
    await until(
      () => servfails() >= forwarded() || forwarded() > 4,
      () => `forwarded queries unanswered: ${JSON.stringify([a.stats, b.stats])}`,
    );
    assert.ok(forwarded() <= 4, JSON.stringify([a.stats, b.stats]));
    assert.equal((await dig(b.port, "alpha.overlay.local", "A")).status, "NOERROR");
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

/** Sends datagrams from one socket and collects every answer. */
class Blaster {
  readonly sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  readonly answers: Uint8Array[] = [];
  #loop: Promise<void>;
  #closed = false;
  constructor() {
    this.#loop = (async () => {
      while (!this.#closed) {
        try {
          const [d] = await this.sock.receive();
          this.answers.push(d);
        } catch {
          return;
        }
      }
    })();
  }
  async close(): Promise<void> {
    this.#closed = true;
    this.sock.close();
    await this.#loop;
  }
}

/** Broken for sure: each mutation violates the format in a way the decoder must catch. */
function brokenPacket(rand: () => number, seeds: Uint8Array[], i: number): Uint8Array {
  const seed = seeds[i % seeds.length];
  const kind = i % 8;
  const b = seed.slice();
  // Question name starts at 12; its first label length byte is b[12].
  switch (kind) {
    case 0: { // pure random bytes, random length
      const r = new Uint8Array(Math.floor(rand() * 120));
      for (let j = 0; j < r.length; j++) r[j] = Math.floor(rand() * 256);
      return r;
    }
    case 1: // truncated: any strict prefix
      return b.slice(0, Math.floor(rand() * b.length));
    case 2: { // trailing garbage
      const extra = 1 + Math.floor(rand() * 30);
      const out = new Uint8Array(b.length + extra);
      out.set(b);
      for (let j = b.length; j < out.length; j++) out[j] = Math.floor(rand() * 256);
      return out;
    }
    case 3: // a count raised past the data
      b[4 + 2 * Math.floor(rand() * 4) + 1] += 1 + Math.floor(rand() * 200);
      return b;
    case 4: // label length 64-191: overflow or reserved type
      b[12] = 64 + Math.floor(rand() * 128);
      return b;
    case 5: // compression pointer to itself or forward
      b[12] = 0xc0;
      b[13] = 12 + Math.floor(rand() * 40);
      return b;
    case 6: { // a 2-hop loop inside the question
      const out = Uint8Array.from([...b.subarray(0, 12), 1, 0x61, 0xc0, 12, 0, 1, 0, 1]);
      out[5] = 1;
      out[7] = out[9] = out[11] = 0;
      return out;
    }
    default: { // a label run making the name longer than 255 bytes
      const labels: number[] = [];
      for (let k = 0; k < 5; k++) labels.push(63, ...new Array(63).fill(0x61 + k));
      const out = Uint8Array.from([...b.subarray(0, 12), ...labels, 0, 0, 1, 0, 1]);
      out[5] = 1;
      out[7] = out[9] = out[11] = 0;
      return out;
    }
  }
}

dnsTest("malformed input over real UDP: 100,000+ packets get FORMERR or nothing", async () => {
  await withServer(async (s) => {
    const seeds = [
      buildQuery(0x0101, "alpha.overlay.local", DnsType.A),
      buildQuery(0x0202, "_web._tcp.overlay.local", DnsType.SRV, { udpSize: 1232 }),
      buildQuery(0x0303, "example.test", DnsType.AAAA, { udpSize: 4096 }),
    ];
    for (const q of seeds) q[2] &= 0x7f; // queries, not responses
    const rand = seededRandom(2024);
    const blaster = new Blaster();
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: s.port };
    const total = Number(Deno.env.get("DNS_FUZZ_TOTAL") ?? 100_000);
    // Small enough that a burst fits both sockets' receive buffers (each datagram costs about
    // 1 KB of buffer however small it is), so that nothing is lost in the kernel.
    const window = 64;
    const start = performance.now();
    const base = s.stats.received;
    try {
      for (let sent = 0; sent < total;) {
        const batch: Promise<number>[] = [];
        for (let j = 0; j < window && sent < total; j++, sent++) {
          const pkt = brokenPacket(rand, seeds, sent);
          // Responses (QR set) must be dropped, never answered: set QR on a quarter of them.
          if (pkt.length > 2 && sent % 4 === 0) pkt[2] &= 0x7f;
          if (pkt.length > 2 && sent % 4 === 1) pkt[2] |= 0x80;
          batch.push(blaster.sock.send(pkt, to));
        }
        await Promise.all(batch);
        // Wait until the server has read everything and its answers are back, so that the next
        // burst finds empty socket buffers.
        await until(
          () =>
            s.stats.received - base >= sent &&
            blaster.answers.length + s.stats.dropped >= s.stats.received - base,
          () =>
            `packet ${sent}: ${s.stats.received - base} read, ` +
            `${blaster.answers.length} answered, ${s.stats.dropped} dropped`,
        );
      }
    } finally {
      await blaster.close();
    }
    const seconds = (performance.now() - start) / 1000;
    console.log(
      `${total} malformed packets in ${seconds.toFixed(1)} s; ` +
        `${blaster.answers.length} FORMERR, ${s.stats.dropped} dropped`,
    );
    assert.equal(s.stats.received - base, total, "every packet reached the server");
    assert.equal(s.stats.malformed, total, "every packet was malformed");
    assert.equal(s.stats.queries, 0);
    assert.ok(blaster.answers.length > total / 4);
    for (const a of blaster.answers) {
      const r = decodeMessage(a);
      assert.ok(r.ok);
      assert.equal(r.message.qr, true);
      assert.equal(r.message.rcode, Rcode.FORMERR);
      assert.equal(r.message.answers.length, 0);
    }
    assert.equal(blaster.answers.length + s.stats.dropped, total);
    // Still answering.
    const after = await dig(s.port, "alpha.overlay.local", "A");
    assert.deepEqual(data(after.answer), ["10.200.0.1"]);
    assert.deepEqual(data((await dig(s.port, "beta.overlay.local", "A", "+tcp")).answer), [
      "10.200.3.7",
    ]);
  });
});

dnsTest("bit-flipped queries get well-formed answers or FORMERR, never a crash", async () => {
  await withServer(async (s) => {
    const seed = buildQuery(0x4242, "_web._tcp.overlay.local", DnsType.SRV, { udpSize: 1232 });
    const rand = seededRandom(7);
    const blaster = new Blaster();
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: s.port };
    const total = 20_000;
    for (let sent = 0; sent < total;) {
      const batch: Promise<number>[] = [];
      for (let j = 0; j < 64 && sent < total; j++, sent++) {
        const b = seed.slice();
        const flips = 1 + Math.floor(rand() * 3);
        for (let f = 0; f < flips; f++) {
          b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
        }
        batch.push(blaster.sock.send(b, to));
      }
      await Promise.all(batch);
      // Every query is answered or counted as dropped; wait for that before the next burst.
      await until(
        () => s.stats.received >= sent && blaster.answers.length + s.stats.dropped >= sent,
        () =>
          `query ${sent}: ${s.stats.received} read, ${blaster.answers.length} answered, ` +
          `${s.stats.dropped} dropped`,
      );
    }
    await blaster.close();
    assert.equal(s.stats.received, total);
    assert.equal(blaster.answers.length + s.stats.dropped, total, "no query left unaccounted");
    for (const a of blaster.answers) {
      const r = decodeMessage(a);
      assert.ok(r.ok, "every answer decodes");
      assert.ok(r.message.qr);
    }
    assert.ok(blaster.answers.length > 0);
    assert.deepEqual(data((await dig(s.port, "alpha.overlay.local", "A")).answer), [
      "10.200.0.1",
    ]);
  });
});

async function readFrame(conn: Deno.Conn): Promise<Uint8Array | null> {
  const head = new Uint8Array(2);
  let off = 0;
  while (off < 2) {
    const n = await conn.read(head.subarray(off));
    if (n === null) return null;
    off += n;
  }
  const body = new Uint8Array((head[0] << 8) | head[1]);
  off = 0;
  while (off < body.length) {
    const n = await conn.read(body.subarray(off));
    if (n === null) return null;
    off += n;
  }
  return body;
}

function frame(msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(msg.length + 2);
  out[0] = msg.length >> 8;
  out[1] = msg.length;
  out.set(msg, 2);
  return out;
}

Deno.test({
  name: "TCP: pipelined queries, FORMERR without closing, huge lengths, cap",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await withServer(async (s) => {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
      try {
        // Three queries in one write: three answers, in order.
        const names = ["alpha.overlay.local", "beta.overlay.local", "nobody.overlay.local"];
        const qs = names.map((n, i) => frame(buildQuery(100 + i, n, DnsType.A)));
        await c.write(Uint8Array.from(qs.flatMap((q) => [...q])));
        for (let i = 0; i < 3; i++) {
          const r = decodeMessage((await readFrame(c))!);
          assert.ok(r.ok);
          assert.equal(r.message.id, 100 + i);
          assert.equal(r.message.rcode, i < 2 ? Rcode.NOERROR : Rcode.NXDOMAIN);
        }
        // A compression loop gets FORMERR and the connection stays usable.
        const bad = Uint8Array.from([0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
        await c.write(frame(bad));
        const fe = decodeMessage((await readFrame(c))!);
        assert.ok(fe.ok);
        assert.equal(fe.message.id, 9);
        assert.equal(fe.message.rcode, Rcode.FORMERR);
        await c.write(frame(buildQuery(7, "alpha.overlay.local", DnsType.A)));
        const ok = decodeMessage((await readFrame(c))!);
        assert.ok(ok.ok);
        assert.equal(ok.message.answers.length, 1);
      } finally {
        c.close();
      }
      // A length out of bounds: the server hangs up instead of waiting for 64 KB. (The idle
      // timer is an hour here, so a close can only be the server refusing the length; the
      // malformed count says so too.)
      for (const len of [0xffff, 9000, 3, 0]) {
        const h = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
        const malformed = s.stats.malformed;
        await h.write(Uint8Array.of(len >> 8, len & 0xff, 1, 2, 3, 4));
        assert.equal(await h.read(new Uint8Array(16)), null, `length ${len} closes`);
        assert.equal(s.stats.malformed, malformed + 1, `length ${len} counted as malformed`);
        h.close();
      }
      const still = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
      await still.write(frame(buildQuery(5, "alpha.overlay.local", DnsType.A)));
      const answer = decodeMessage((await readFrame(still))!);
      assert.ok(answer.ok && answer.message.answers.length === 1);
      still.close();
      // Beyond the cap, new connections are closed at once; existing ones keep working.
      await until(() => s.stats.tcpOpen === 0, () => `${s.stats.tcpOpen} connections still open`);
      const open: Deno.Conn[] = [];
      for (let i = 0; i < 4; i++) {
        open.push(await Deno.connect({ hostname: "127.0.0.1", port: s.port }));
      }
      // The server must have taken all four before the fifth comes.
      await until(() => s.stats.tcpOpen === 4, () => `${s.stats.tcpOpen} of 4 accepted`);
      const extra = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
      assert.equal(await extra.read(new Uint8Array(4)), null);
      extra.close();
      assert.equal(s.stats.tcpRejected, 1);
      await open[0].write(frame(buildQuery(1, "beta.overlay.local", DnsType.A)));
      const r = decodeMessage((await readFrame(open[0]))!);
      assert.ok(r.ok);
      for (const o of open) o.close();
    }, { tcpIdleMs: 3_600_000, maxTcpConnections: 4 });
  },
});

Deno.test({
  name: "TCP: an idle connection is closed by the server after it served",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await withServer(async (s) => {
      const idle = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
      try {
        // Served first: the connection is not refused or dropped at once.
        await idle.write(frame(buildQuery(1, "alpha.overlay.local", DnsType.A)));
        const r = decodeMessage((await readFrame(idle))!);
        assert.ok(r.ok && r.message.id === 1 && r.message.answers.length === 1);
        // Then quiet: the server hangs up (the read ends; the test does not time it). Nothing
        // else could close it here: no bad input, no cap, no shutdown.
        assert.equal(await idle.read(new Uint8Array(16)), null, "closed by the server");
        assert.equal(s.stats.malformed, 0);
        assert.equal(s.stats.tcpRejected, 0);
        assert.equal(s.stats.received, 1);
        await until(() => s.stats.tcpOpen === 0, () => `${s.stats.tcpOpen} still open`);
      } finally {
        idle.close();
      }
      // The server itself carries on.
      assert.deepEqual(data((await dig(s.port, "beta.overlay.local", "A", "+tcp")).answer), [
        "10.200.3.7",
      ]);
    }, { tcpIdleMs: 1000 });
  },
});
