import assert from "node:assert/strict";
import { PeerRoute, type Route, type RouteInputs } from "./route_choice.ts";

const RELAY = "relay://AAAAAAAA/BBBBBBBB";
const TCP = "tcp://203.0.113.1:51820";
const UDP = "203.0.113.9:51820";

function inputs(x: Partial<RouteInputs> & { now: number }): RouteInputs {
  return {
    current: "direct",
    direct: null,
    works: false,
    tcp: null,
    relay: null,
    relaysKnown: true,
    ...x,
  };
}

Deno.test("route: a new peer keeps its direct chance for the grace time, then takes a relay", () => {
  const r = new PeerRoute(0);
  assert.deepEqual(r.decide(inputs({ now: 1_000, relay: RELAY })), {
    move: null,
    wantRelay: false,
  });
  const d = r.decide(inputs({ now: 5_000, relay: RELAY }));
  assert.deepEqual(d.move, { to: "relay", endpoint: RELAY, reason: "relay" });
});

Deno.test("route: no relay session yet: it asks for one and moves once granted", () => {
  const r = new PeerRoute(0);
  assert.deepEqual(r.decide(inputs({ now: 6_000 })), { move: null, wantRelay: true });
  assert.equal(r.decide(inputs({ now: 6_500, relay: RELAY })).move?.to, "relay");
});

Deno.test("route: no relays at all: nothing to ask, nothing moves", () => {
  const r = new PeerRoute(0);
  assert.deepEqual(r.decide(inputs({ now: 9_000, relaysKnown: false })), {
    move: null,
    wantRelay: false,
  });
});

Deno.test("route: a relaying peer that listens on TCP is reached over TCP before any relay", () => {
  const r = new PeerRoute(0);
  const d = r.decide(inputs({ now: 6_000, tcp: TCP, relay: RELAY }));
  assert.deepEqual(d.move, { to: "tcp", endpoint: TCP, reason: "tcp" });
});

Deno.test("route: a working direct session stays, even with no path confirmed by probes", () => {
  const r = new PeerRoute(0);
  for (let t = 0; t < 20_000; t += 500) {
    assert.equal(r.decide(inputs({ now: t, works: true, relay: RELAY })).move, null);
  }
});

Deno.test("route: a direct session that stalls falls back at once, grace or not", () => {
  const r = new PeerRoute(0);
  const direct = { endpoint: UDP, lastPongAt: 500 };
  assert.equal(r.decide(inputs({ now: 1_000, works: true, direct })).move, null);
  const d = r.decide(inputs({ now: 1_500, works: false, direct, tcp: TCP }));
  assert.equal(d.move?.to, "tcp");
  // Its pings are still answered: nothing says our UDP does not get there.
  assert.equal(d.move?.udpFailed, undefined);
});

Deno.test("route: back to direct only on a pong after the fallback, and after the hold", () => {
  const r = new PeerRoute(0, { holdMs: 2_000 });
  assert.equal(r.decide(inputs({ now: 6_000, relay: RELAY })).move?.to, "relay");
  // The old pong (before the fallback) proves nothing.
  const stale = { endpoint: UDP, lastPongAt: 5_000 };
  assert.equal(
    r.decide(inputs({ now: 9_000, current: "relay", relay: RELAY, direct: stale })).move,
    null,
  );
  // A fresh pong, but within the hold.
  const fresh = { endpoint: UDP, lastPongAt: 7_000 };
  assert.equal(
    r.decide(inputs({ now: 7_500, current: "relay", relay: RELAY, direct: fresh })).move,
    null,
  );
  const d = r.decide(inputs({ now: 8_000, current: "relay", relay: RELAY, direct: fresh }));
  assert.deepEqual(d.move, { to: "direct", endpoint: UDP, reason: "direct" });
});

Deno.test("route: a direct path that keeps stalling after coming back waits longer each time", () => {
  const r = new PeerRoute(0, { holdMs: 1_000 });
  let now = 0;
  const holds: number[] = [];
  for (let round = 0; round < 4; round++) {
    // Works on direct, then stalls: fall back to TCP.
    r.decide(inputs({ now: now += 100, works: true }));
    const down = r.decide(inputs({ now: now += 100, works: false, tcp: TCP }));
    assert.equal(down.move?.to, "tcp");
    holds.push(r.holdMs);
    // Pongs come, and after the hold it goes back.
    let back = null;
    while (back === null) {
      now += 250;
      const direct = { endpoint: UDP, lastPongAt: now };
      back = r.decide(inputs({ now, current: "tcp", works: true, direct, tcp: TCP })).move;
    }
    assert.equal(back.to, "direct");
  }
  assert.deepEqual(holds, [1_000, 2_000, 4_000, 8_000]);
});

Deno.test("route: a direct path that works long enough resets the hold", () => {
  const r = new PeerRoute(0, { holdMs: 1_000, settleMs: 10_000 });
  r.decide(inputs({ now: 100, works: true }));
  r.decide(inputs({ now: 200, works: false, tcp: TCP }));
  r.decide(inputs({ now: 1_300, current: "tcp", works: true, tcp: TCP }));
  const back = r.decide(
    inputs({
      now: 1_400,
      current: "tcp",
      works: true,
      tcp: TCP,
      direct: { endpoint: UDP, lastPongAt: 1_350 },
    }),
  );
  assert.equal(back.move?.to, "direct");
  r.decide(inputs({ now: 1_500, works: true }));
  r.decide(inputs({ now: 2_000, works: false, tcp: TCP }));
  assert.equal(r.holdMs, 2_000);
  r.decide(inputs({ now: 2_100, current: "tcp", works: true, tcp: TCP }));
  const d = { endpoint: UDP, lastPongAt: 4_100 };
  assert.equal(
    r.decide(inputs({ now: 4_200, current: "tcp", works: true, tcp: TCP, direct: d })).move?.to,
    "direct",
  );
  for (let t = 4_300; t <= 15_000; t += 500) r.decide(inputs({ now: t, works: true }));
  assert.equal(r.holdMs, 1_000);
});

Deno.test("route: a relay session that is gone sends a TCP-capable peer to TCP", () => {
  const r = new PeerRoute(0);
  r.decide(inputs({ now: 6_000, relay: RELAY }));
  const d = r.decide(inputs({ now: 7_000, current: "relay", relay: null, tcp: TCP }));
  assert.equal(d.move?.to, "tcp");
});

Deno.test("route: TCP that stalls moves to a relay when one has a session", () => {
  const r = new PeerRoute(0);
  r.decide(inputs({ now: 6_000, tcp: TCP }));
  r.decide(inputs({ now: 6_500, current: "tcp", works: true, tcp: TCP }));
  const d = r.decide(inputs({ now: 7_000, current: "tcp", works: false, tcp: TCP, relay: RELAY }));
  assert.equal(d.move?.to, "relay");
});

Deno.test("route: roamed onto a relay by the peer: kept until a fresh pong, asked of relays", () => {
  const r = new PeerRoute(0, { holdMs: 0 });
  const d = r.decide(inputs({ now: 1_000, current: "relay", relay: RELAY, works: true }));
  assert.deepEqual(d, { move: null, wantRelay: true });
  const back = r.decide(
    inputs({
      now: 2_000,
      current: "relay",
      relay: RELAY,
      direct: { endpoint: UDP, lastPongAt: 1_500 },
    }),
  );
  assert.equal(back.move?.to, "direct");
});

Deno.test("route: roamed onto TCP after a fallback long ago: only a pong after the roam moves back", () => {
  const r = new PeerRoute(0, { holdMs: 1_000 });
  const pong = (at: number) => ({ endpoint: UDP, lastPongAt: at });
  // The peer came over TCP first, then its direct path answered and it moved back.
  r.decide(inputs({ now: 1_000, current: "tcp", works: true }));
  assert.equal(
    r.decide(inputs({ now: 3_000, current: "tcp", direct: pong(2_500) })).move?.to,
    "direct",
  );
  r.decide(inputs({ now: 4_000, works: true, direct: pong(3_900) }));
  // Much later the peer roams onto TCP (its UDP stopped getting out); the last pong is older.
  const roamed = r.decide(
    inputs({ now: 60_000, current: "tcp", works: true, direct: pong(59_000) }),
  );
  assert.equal(roamed.move, null);
  assert.equal(r.decide(inputs({ now: 62_000, current: "tcp", direct: pong(59_000) })).move, null);
  // A pong after the roam moves back, with no hold (the peer's packets may only have been in
  // flight on TCP when it moved back to UDP itself).
  assert.equal(
    r.decide(inputs({ now: 60_200, current: "tcp", direct: pong(60_100) })).move?.to,
    "direct",
  );
});

Deno.test("route: a direct path the probes gave up is left even while packets still come in", () => {
  const r = new PeerRoute(0);
  r.decide(inputs({ now: 1_000, works: true, direct: { endpoint: UDP, lastPongAt: 900 } }));
  r.decide(
    inputs({ now: 2_000, works: true, direct: { endpoint: UDP, lastPongAt: 900, misses: 2 } }),
  );
  // The table failed the path between two looks (no third miss seen); packets still come in.
  const d = r.decide(inputs({ now: 3_000, works: true, direct: null, tcp: TCP }));
  assert.equal(d.move?.to, "tcp");
  // Our UDP does not get there: the peer's packets from there must not roam it back.
  assert.equal(d.move?.udpFailed, true);
  // A peer never reached directly, whose packets come in over its endpoint, is not moved.
  const q = new PeerRoute(0);
  assert.equal(q.decide(inputs({ now: 9_000, works: true, direct: null, tcp: TCP })).move, null);
});

Deno.test("route: a direct path missing pings is left even while packets still come in", () => {
  const r = new PeerRoute(0);
  const d = (misses: number) => ({ endpoint: UDP, lastPongAt: 100, misses });
  r.decide(inputs({ now: 1_000, works: true, direct: d(0) }));
  // Packets come in (the session looks alive), two pings missed: not yet.
  assert.equal(r.decide(inputs({ now: 2_000, works: true, direct: d(2), tcp: TCP })).move, null);
  // A third: it is failed.
  assert.deepEqual(
    r.decide(inputs({ now: 3_000, works: true, direct: d(3), tcp: TCP })).move,
    { to: "tcp", endpoint: TCP, reason: "tcp", udpFailed: true },
  );
  // With nothing coming in either, two are enough.
  const q = new PeerRoute(0);
  q.decide(inputs({ now: 1_000, works: true, direct: d(0) }));
  assert.equal(
    q.decide(inputs({ now: 2_000, works: false, direct: d(2), relay: RELAY })).move?.to,
    "relay",
  );
});

Deno.test("route: roamed onto direct by the peer: the grace time anew before the relay again", () => {
  // A peer whose path probes go unanswered (it does not probe) is on a relay; its packets then
  // come straight, and the device follows them.
  const r = new PeerRoute(0);
  assert.equal(r.decide(inputs({ now: 6_000, relay: RELAY })).move?.to, "relay");
  assert.deepEqual(r.decide(inputs({ now: 7_000, current: "relay", relay: RELAY })).move, null);
  // Roamed at 8 s: our answers go straight too; the session has not shown it works yet.
  assert.deepEqual(r.decide(inputs({ now: 8_000, relay: RELAY })).move, null);
  assert.deepEqual(r.decide(inputs({ now: 12_000, relay: RELAY })).move, null);
  // It works: the direct path stays.
  assert.deepEqual(r.decide(inputs({ now: 12_500, relay: RELAY, works: true })).move, null);
  assert.deepEqual(r.decide(inputs({ now: 60_000, relay: RELAY, works: true })).move, null);
  // A roam onto a direct path that never works is left once its grace is over.
  const s = new PeerRoute(0);
  assert.equal(s.decide(inputs({ now: 6_000, relay: RELAY })).move?.to, "relay");
  s.decide(inputs({ now: 7_000, current: "relay", relay: RELAY }));
  assert.deepEqual(s.decide(inputs({ now: 8_000, relay: RELAY })).move, null);
  assert.equal(s.decide(inputs({ now: 13_000, relay: RELAY })).move?.to, "relay");
});

const WS = "ws://203.0.113.1:51820";

Deno.test("route: TCP that never works moves to the WebSocket after the grace time", () => {
  const r = new PeerRoute(0);
  // No direct path: TCP first (before any WebSocket).
  assert.equal(r.decide(inputs({ now: 5_000, tcp: TCP, ws: WS })).move?.to, "tcp");
  // TCP gets no session (a firewall that lets out HTTP only): its grace time, then WebSocket.
  assert.equal(r.decide(inputs({ now: 7_000, current: "tcp", tcp: TCP, ws: WS })).move, null);
  const d = r.decide(inputs({ now: 10_000, current: "tcp", tcp: TCP, ws: WS }));
  assert.deepEqual(d.move, { to: "websocket", endpoint: WS, reason: "websocket" });
  // A working TCP session is never left for a WebSocket.
  const q = new PeerRoute(0);
  q.decide(inputs({ now: 5_000, tcp: TCP, ws: WS }));
  for (let t = 5_500; t < 30_000; t += 500) {
    assert.equal(
      q.decide(inputs({ now: t, current: "tcp", works: true, tcp: TCP, ws: WS })).move,
      null,
    );
  }
  // A relay session comes before a WebSocket (relayed UDP, then TCP, then WebSocket).
  const p = new PeerRoute(0);
  p.decide(inputs({ now: 5_000, tcp: TCP, ws: WS }));
  p.decide(inputs({ now: 5_500, current: "tcp", works: true, tcp: TCP, ws: WS }));
  const s = p.decide(
    inputs({ now: 9_000, current: "tcp", works: false, tcp: TCP, ws: WS, relay: RELAY }),
  );
  assert.equal(s.move?.to, "relay");
});

Deno.test("route: roamed back and forth between a dead direct path and TCP: the WebSocket still", () => {
  // UDP and framed TCP stop getting out together; the peer, not having heard us since, still
  // sends on the direct path, so its packets roam the device back there every 2 s, and the
  // direct path is left for TCP again each time.
  const r = new PeerRoute(0);
  const direct = { endpoint: UDP, lastPongAt: 1_000 };
  assert.equal(r.decide(inputs({ now: 1_000, works: true, direct, tcp: TCP, ws: WS })).move, null);
  const gone = { ...direct, misses: 3 };
  assert.equal(
    r.decide(inputs({ now: 10_000, direct: gone, tcp: TCP, ws: WS })).move?.to,
    "tcp",
    "TCP first: it was not tried yet",
  );
  let on = "tcp" as Route;
  let wsAt = -1;
  for (let now = 10_500; now <= 60_000 && wsAt < 0; now += 500) {
    // Every 2 s the peer's packets roam the device back onto the direct path.
    const current: Route = now % 2_000 === 0 ? "direct" : on;
    const d = r.decide(inputs({ now, current, direct: gone, tcp: TCP, ws: WS }));
    on = d.move?.to ?? current;
    if (on === "websocket") wsAt = now;
  }
  assert.ok(wsAt > 0 && wsAt <= 16_000, `on the WebSocket at ${wsAt} ms`);
});

Deno.test("route: on the WebSocket, TCP is probed at doubling intervals, the traffic left", () => {
  const r = new PeerRoute(0);
  r.decide(inputs({ now: 5_000, tcp: TCP, ws: WS }));
  assert.equal(
    r.decide(inputs({ now: 10_000, current: "tcp", tcp: TCP, ws: WS })).move?.to,
    "websocket",
  );
  const probes: number[] = [];
  for (let now = 10_100; now < 80_000; now += 100) {
    const d = r.decide(inputs({ now, current: "websocket", works: true, tcp: TCP, ws: WS }));
    assert.equal(d.move, null, "the traffic stays on the WebSocket");
    if (d.probe !== undefined) {
      assert.equal(d.probe, TCP);
      probes.push(now - 10_000);
    }
  }
  // 2 s after the fallback, then 4, 8, 16 and 32 s after each probe.
  assert.deepEqual(probes, [2_000, 6_000, 14_000, 30_000, 62_000]);
});

Deno.test("route: a probe that gets through: the peer roams onto TCP and stays there", () => {
  const r = new PeerRoute(0);
  r.decide(inputs({ now: 5_000, tcp: TCP, ws: WS }));
  r.decide(inputs({ now: 10_000, current: "tcp", tcp: TCP, ws: WS }));
  assert.ok(
    r.decide(inputs({ now: 12_000, current: "websocket", works: true, tcp: TCP, ws: WS })).probe,
  );
  // The handshake's answer came over TCP: the device is on TCP, and the session works there.
  for (let now = 12_100; now < 60_000; now += 500) {
    const d = r.decide(inputs({ now, current: "tcp", works: true, tcp: TCP, ws: WS }));
    assert.equal(d.move, null);
    assert.equal(d.probe, undefined);
  }
  // A direct pong after the fallback moves straight back up to direct, after the hold.
  const direct = { endpoint: UDP, lastPongAt: 60_500 };
  const up = r.decide(
    inputs({ now: 61_000, current: "tcp", works: true, direct, tcp: TCP, ws: WS }),
  );
  assert.equal(up.move?.to, "direct");
});

Deno.test("route: a probe answered over TCP before the session is seen working there: TCP kept", () => {
  // The relay restarted: TCP failed while it was down, then a probe from the WebSocket got
  // through and its answer roamed the device onto TCP; the session's counters have not yet seen
  // data answered there. TCP gets its grace anew rather than a move back to the WebSocket.
  const r = new PeerRoute(0);
  r.decide(inputs({ now: 5_000, tcp: TCP, ws: WS }));
  r.decide(inputs({ now: 10_000, current: "tcp", tcp: TCP, ws: WS }));
  assert.ok(r.decide(inputs({ now: 12_000, current: "websocket", tcp: TCP, ws: WS })).probe);
  const moves: string[] = [];
  for (let now = 12_100; now < 17_000; now += 100) {
    const d = r.decide(inputs({ now, current: "tcp", works: false, tcp: TCP, ws: WS }));
    if (d.move !== null) moves.push(`${now}: ${d.move.to}`);
  }
  assert.deepEqual(moves, []);
  // Still no session on TCP after its grace: the WebSocket again.
  const d = r.decide(inputs({ now: 17_200, current: "tcp", works: false, tcp: TCP, ws: WS }));
  assert.equal(d.move?.to, "websocket");
});
