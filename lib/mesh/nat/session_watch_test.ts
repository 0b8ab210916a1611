import assert from "node:assert/strict";
import { SessionWatch, STALL_MS } from "./session_watch.ts";

/** Counters as a peer's, moved by the test. */
function counters() {
  const c = { rxPackets: 0, txPackets: 0, txBytes: 0 };
  return {
    c,
    keepalive: () => {
      c.txPackets++;
      c.txBytes += 32;
    },
    data: (bytes = 128) => {
      c.txPackets++;
      c.txBytes += bytes;
    },
    receive: () => c.rxPackets++,
  };
}

Deno.test("session watch: no session, no work; a session with answers works", () => {
  const w = new SessionWatch();
  const k = counters();
  assert.equal(w.sample(k.c, false, 0), false);
  k.receive();
  assert.equal(w.sample(k.c, true, 1_000), true);
  assert.equal(w.works, true);
});

Deno.test("session watch: data unanswered for 6 s is a stall; an answer ends it", () => {
  const w = new SessionWatch();
  const k = counters();
  w.sample(k.c, true, 0);
  k.data();
  assert.equal(w.sample(k.c, true, 1_000), true);
  k.data();
  assert.equal(w.sample(k.c, true, 1_000 + STALL_MS - 1), true);
  assert.equal(w.sample(k.c, true, 1_000 + STALL_MS), false);
  k.receive();
  assert.equal(w.sample(k.c, true, 8_000), true);
});

Deno.test("session watch: keepalives owe no answer, so an idle session is not a stall", () => {
  const w = new SessionWatch();
  const k = counters();
  w.sample(k.c, true, 0);
  for (let t = 1_000; t < 60_000; t += 1_000) {
    if (t % 25_000 === 0) k.keepalive();
    assert.equal(w.sample(k.c, true, t), true, String(t));
  }
});

Deno.test("session watch: a handshake clears a stall; a give-up makes one at once", () => {
  const w = new SessionWatch();
  const k = counters();
  w.sample(k.c, true, 0);
  k.data();
  w.sample(k.c, true, 1_000);
  assert.equal(w.sample(k.c, true, 10_000), false);
  w.handshake();
  assert.equal(w.sample(k.c, true, 10_500), true);
  w.gaveUp(11_000);
  assert.equal(w.works, false);
  assert.equal(w.sample(k.c, true, 11_500), false, "until something is received");
  k.receive();
  assert.equal(w.sample(k.c, true, 12_000), true);
});
