import assert from "node:assert/strict";
import { makeMesh, texts, udp } from "../../tests/fixtures/mesh.ts";

// A small deterministic PRNG so a failure can be replayed from its seed.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

Deno.test("fuzz: 100,000 random and mutated packets are dropped and counted; handshakes still work", () => {
  const seed = Number(Deno.env.get("WEFT_FUZZ_SEED") ?? Date.now() % 1_000_000);
  const rnd = prng(seed);
  const { nodes: [a, b], net, clock } = makeMesh(2);
  // Capture real traffic to mutate: initiation, response, keepalive and data.
  const seeds: Uint8Array[] = [];
  for (const t of [a.transport, b.transport]) {
    const sink = t.sink!;
    t.sink = {
      datagram: (d, from) => {
        seeds.push(d.slice());
        sink.datagram(d, from);
      },
      flush: () => sink.flush(),
    };
  }
  a.packets.inject(udp(a.ip, b.ip, "seed"));
  net.deliver();
  b.packets.inject(udp(b.ip, a.ip, "seed-back"));
  net.deliver();
  assert.ok(seeds.length >= 3);

  const target = b.transport.sink!;
  const from = b.transport.table.parse("198.51.100.66:1234");
  const before = b.device.drops.total();
  const N = 100_000;
  for (let i = 0; i < N; i++) {
    let pkt: Uint8Array;
    const kind = rnd();
    if (kind < 0.25) {
      pkt = new Uint8Array(Math.floor(rnd() * 200));
      for (let j = 0; j < pkt.length; j++) pkt[j] = rnd() * 256;
      if (pkt.length >= 4 && rnd() < 0.7) pkt.set([1 + Math.floor(rnd() * 4), 0, 0, 0]);
    } else {
      const base = seeds[Math.floor(rnd() * seeds.length)];
      pkt = base.slice();
      const op = rnd();
      if (op < 0.5) {
        const flips = 1 + Math.floor(rnd() * 4);
        for (let f = 0; f < flips && pkt.length; f++) {
          pkt[Math.floor(rnd() * pkt.length)] ^= 1 << Math.floor(rnd() * 8);
        }
      } else if (op < 0.7) {
        pkt = pkt.subarray(0, Math.floor(rnd() * pkt.length));
      } else if (op < 0.85) {
        const ext = new Uint8Array(pkt.length + 1 + Math.floor(rnd() * 64));
        ext.set(pkt);
        pkt = ext;
      }
      // else: an exact replay
    }
    target.datagram(pkt, from);
  }
  target.flush();
  net.deliver();
  const drops = b.device.drops.total() - before;
  assert.ok(drops >= N * 0.99, `seed ${seed}: only ${drops} of ${N} counted as drops`);

  // The device is still healthy: a brand new handshake and data both ways.
  const pa = a.device.peer(b.publicKey)!;
  const handshakesBefore = pa.counters.handshakes;
  clock.advance(6_000); // past the initiation rate limit
  a.device.initiateHandshake(b.publicKey);
  net.deliver();
  assert.equal(pa.counters.handshakes, handshakesBefore + 1, `seed ${seed}`);
  a.packets.inject(udp(a.ip, b.ip, "after-fuzz"));
  net.deliver();
  assert.equal(texts(b).at(-1), "after-fuzz", `seed ${seed}`);
});
