/**
 * Handshake floods against a responder, over the memory network with a manual clock: cookie
 * replies are bounded per source, MAC2-valid initiations are rate limited per source before the
 * DH, and the cookie secret rotates every two minutes.
 */
import assert from "node:assert/strict";
import { makeMesh, run, type TestNode, texts, udp } from "../../tests/fixtures/mesh.ts";
import type { MemoryNetwork, MemoryTransport } from "../../drivers/memory.ts";
import { CookieGenerator } from "../protocol/cookie.ts";
import { parseKey } from "../crypto/keys.ts";
import { COOKIE_REPLY_SIZE, INITIATION_SIZE, MSG_COOKIE_REPLY } from "../protocol/constants.ts";
import type { ManualClock } from "./clock.ts";
import type { Endpoint } from "../io/driver.ts";

/** An attacker on the memory network: it knows the responder's public key, nothing else. */
class Attacker {
  readonly transport: MemoryTransport;
  readonly cookies: CookieGenerator;
  replies: Uint8Array[] = [];
  readonly #to: Endpoint;

  constructor(net: MemoryNetwork, address: string, readonly target: TestNode) {
    this.transport = net.bind(address, 4000);
    this.transport.start({
      datagram: (d) => {
        if (d.length === COOKIE_REPLY_SIZE && d[0] === MSG_COOKIE_REPLY) {
          this.replies.push(d.slice());
        }
      },
      flush: () => {},
    });
    // It never lets a cookie expire on its side: the responder decides whether it still holds.
    this.cookies = new CookieGenerator(parseKey(target.publicKey, "key"), 1e12);
    this.#to = this.transport.endpoint("192.0.2.2:51820");
  }

  /** `n` initiations with random contents (a DH each if admitted) and valid MACs. */
  send(n: number, clock: ManualClock): void {
    for (let i = 0; i < n; i++) {
      const m = new Uint8Array(INITIATION_SIZE);
      crypto.getRandomValues(m);
      m.set([1, 0, 0, 0], 0);
      this.cookies.addMacs(m, clock.now());
      this.transport.send(m, this.#to);
    }
  }

  /** `n` junk initiations (MAC1 wrong): load, and nothing else. */
  junk(n: number): void {
    const m = new Uint8Array(INITIATION_SIZE).fill(7);
    m.set([1, 0, 0, 0], 0);
    for (let i = 0; i < n; i++) this.transport.send(m, this.#to);
  }

  /** Asks for a cookie with one initiation and takes the reply. */
  getCookie(net: MemoryNetwork, clock: ManualClock): void {
    this.replies = [];
    this.send(1, clock);
    net.deliver();
    assert.equal(this.replies.length, 1, "a cookie reply to the probe");
    assert.ok(this.cookies.consumeReply(this.replies[0], clock.now()));
  }
}

function underAttack(threshold = 0) {
  const mesh = makeMesh(2, { device: { underLoadThreshold: threshold } });
  const [, b] = mesh.nodes;
  return { ...mesh, b, attacker: new Attacker(mesh.net, "198.51.100.9", b) };
}

Deno.test("flood: MAC1-valid initiations without MAC2 get a bounded number of cookie replies and no DH", () => {
  const { b, net, clock, attacker } = underAttack();
  attacker.send(1000, clock);
  net.deliver();
  const d = b.device.drops;
  assert.equal(b.device.stats.cookieRepliesSent, 5, "the burst of the source's cookie budget");
  assert.equal(attacker.replies.length, 5);
  assert.equal(d.get("cookie-reply-limited"), 995);
  assert.equal(d.get("handshake-invalid"), 0, "no DH for MAC2-less initiations under load");
  // A second later the source has 20 more.
  clock.advance(1000);
  attacker.send(1000, clock);
  net.deliver();
  assert.equal(b.device.stats.cookieRepliesSent, 5 + 5, "refilled to its burst of 5, no more");
  clock.advance(100);
  attacker.send(1000, clock);
  net.deliver();
  assert.equal(b.device.stats.cookieRepliesSent, 5 + 5 + 2, "20 a second");
  assert.equal(d.get("handshake-invalid"), 0);
});

Deno.test("flood: at its onset, and again after the load lapsed (a stalled agent), a tenth of the threshold reaches the DH", () => {
  const { b, net, clock, attacker } = underAttack(1000);
  const d = b.device.drops;
  // 1000 MAC1-valid initiations at once (no cookie: MAC2 zero), as a backlog arrives: past the
  // first 100 (a tenth of 1000 a second, over a tenth of a second) weft is under load.
  attacker.send(1000, clock);
  net.deliver();
  assert.equal(d.get("handshake-invalid"), 100, "the DHs before the switch");
  assert.equal(b.device.stats.cookieRepliesSent, 5);
  // Nothing for over a second (the agent starved of CPU, or the attacker paused): the load
  // lapses, and the backlog that follows is no more than a new onset.
  clock.advance(1500);
  attacker.send(1000, clock);
  net.deliver();
  assert.equal(d.get("handshake-invalid"), 200, "a tenth of the threshold again, no more");
});

Deno.test("flood: under load, MAC2-valid initiations are rate limited per source before the DH", () => {
  // Only b is under load, from the attacker's junk (over 1000 handshake messages a second).
  const { nodes: [a], b, net, clock, attacker } = underAttack(1000);
  attacker.junk(1500);
  attacker.getCookie(net, clock);
  attacker.send(100, clock);
  net.deliver();
  const d = b.device.drops;
  // The DH runs (and fails on the random contents) for the source's burst only.
  assert.equal(d.get("handshake-invalid"), 5);
  assert.equal(d.get("handshake-rate-limited"), 95);
  // The legitimate peer, elsewhere, is not held back by the attacker's budget: its first
  // initiation gets a cookie, its retransmission (with MAC2) a session.
  a.packets.inject(udp(a.ip, b.ip, "through"));
  net.deliver();
  assert.equal(a.device.peer(b.publicKey)!.counters.initiationsSent, 1);
  attacker.send(100, clock);
  net.deliver();
  assert.equal(d.get("handshake-rate-limited"), 195);
  for (let t = 0; t < 5_500; t += 100) {
    attacker.junk(150);
    run(clock, net, [a, b], 100);
  }
  assert.deepEqual(texts(b), ["through"]);
  assert.equal(a.device.peer(b.publicKey)!.counters.initiationsSent, 2, "in at the first retry");
  assert.equal(d.get("handshake-invalid"), 5, "the attacker's budget was spent");
});

Deno.test("flood: spoofed sources filling the cookie limiter do not cost the peer its cookie", () => {
  const { nodes: [a, b], net, clock } = makeMesh(2, {
    device: { cookieReplyRateLimit: { perSecond: 20, burst: 5, maxEntries: 50 } },
  });
  // Junk puts b under load; then MAC1-valid initiations from 100 addresses fill its table.
  const attacker = new Attacker(net, "198.51.100.9", b);
  attacker.junk(1500);
  for (let i = 0; i < 100; i++) new Attacker(net, `203.0.113.${i + 1}`, b).send(1, clock);
  net.deliver();
  assert.equal(b.device.stats.cookieRepliesSent, 100, "every source got its reply");
  assert.equal(b.device.drops.get("handshake-invalid"), 0);
  a.packets.inject(udp(a.ip, b.ip, "spoofed"));
  net.deliver();
  assert.equal(b.device.stats.cookieRepliesSent, 101, "and so did the peer");
  for (let t = 0; t < 5_500; t += 100) {
    attacker.junk(150);
    run(clock, net, [a, b], 100);
  }
  assert.deepEqual(texts(b), ["spoofed"]);
  assert.equal(a.device.peer(b.publicKey)!.counters.initiationsSent, 2, "in at the first retry");
});

Deno.test("flood: not under load, initiations are neither cookie-checked nor rate limited", () => {
  const { b, net, clock, attacker } = underAttack(1_000_000);
  attacker.send(50, clock);
  net.deliver();
  assert.equal(b.device.stats.cookieRepliesSent, 0);
  assert.equal(b.device.drops.get("handshake-invalid"), 50);
  assert.equal(b.device.drops.get("handshake-rate-limited"), 0);
});

Deno.test("flood: junk and MAC1-valid messages put the responder under load (no DH after)", () => {
  const { b, net, clock, attacker } = underAttack(100);
  attacker.junk(200);
  net.deliver();
  // Past 100 handshake messages a second, even junk ones, MAC2 is demanded.
  attacker.send(50, clock);
  net.deliver();
  assert.equal(b.device.drops.get("handshake-invalid"), 0);
  assert.ok(b.device.stats.cookieRepliesSent > 0);
});

Deno.test("cookie secret rotates every 2 minutes: an old cookie stops working", () => {
  const { b, net, clock, attacker } = underAttack();
  attacker.getCookie(net, clock);
  const d = b.device.drops;
  const admitted = () => d.get("handshake-invalid") + d.get("handshake-rate-limited");
  clock.advance(119_000);
  attacker.send(1, clock);
  net.deliver();
  assert.equal(admitted(), 1, "the cookie holds for the secret's lifetime");
  clock.advance(1_000);
  attacker.replies = [];
  attacker.send(1, clock);
  net.deliver();
  assert.equal(admitted(), 1, "refused at 120 s");
  assert.equal(attacker.replies.length, 1, "with a cookie reply instead");
  // Still refused later: the secret was replaced, not the old one revived.
  clock.advance(1_000);
  attacker.send(1, clock);
  net.deliver();
  assert.equal(admitted(), 1);
  assert.equal(attacker.replies.length, 2);
  // The new cookie (of the reply to the last message) works.
  assert.ok(attacker.cookies.consumeReply(attacker.replies[1], clock.now()));
  attacker.send(1, clock);
  net.deliver();
  assert.equal(admitted(), 2);
});
