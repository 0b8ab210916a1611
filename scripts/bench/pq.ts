/**
 * Post-quantum keys benchmark (issue 50): the CPU of one rotation (ML-KEM-768 key generation,
 * encapsulation, decapsulation and the key derivation, the messages encoded and parsed; each
 * side's share), and of one member's rotations with 1,000 members at once (half of the pairs
 * initiated by it, half by the others, as the smaller key decides), as a share of a core at the
 * default interval, with the handshake each rotation starts; to set beside a member's idle CPU
 * (docs/performance.md: 1.8 % of a core knowing 10,000 members, 20 of them active).
 * @module
 */

import { type KeySlot, PqPair } from "../../lib/mesh/pq/pair.ts";
import { encodePq, parsePq, type PqMessage } from "../../lib/mesh/pq/wire.ts";
import { DEFAULT_PQ_ROTATE_MS } from "../../lib/mesh/pq/mesh_pq.ts";
import { generatePrivateKey, publicKeyOf } from "../../lib/crypto/keys.ts";
import { runHandshakeBench } from "./handshake.ts";

/** One row of the benchmark. */
export interface PqRow {
  /** What was measured. */
  measure: string;
  /** Its value. */
  value: number;
  /** The unit. */
  unit: string;
}

/** Two sides of `n` pairs; side 0 is the member measured, its CPU time counted apart. */
function pairs(n: number) {
  const me = publicKeyOf(generatePrivateKey());
  let mine = 0;
  const queue: { to: 0 | 1; pair: number; bytes: Uint8Array }[] = [];
  const sides: [PqPair, PqPair][] = [];
  for (let i = 0; i < n; i++) {
    const other = publicKeyOf(generatePrivateKey());
    const make = (side: 0 | 1) =>
      new PqPair({
        me: side === 0 ? me : other,
        peer: side === 0 ? other : me,
        send: (m: PqMessage) => queue.push({ to: side === 0 ? 1 : 0, pair: i, bytes: encodePq(m) }),
        install: (_c: KeySlot, _a: KeySlot | null) => {},
        rehandshake: () => {},
        rotateMs: DEFAULT_PQ_ROTATE_MS,
      }, 0);
    sides.push([make(0), make(1)]);
  }
  /** One rotation of every pair; returns the member's CPU ms and everyone's. */
  const rotate = (now: number): { mine: number; all: number } => {
    mine = 0;
    const t0 = performance.now();
    for (const [a, b] of sides) {
      const t = performance.now();
      a.tick(now, true);
      mine += performance.now() - t;
      b.tick(now, true);
    }
    while (queue.length > 0) {
      const m = queue.shift()!;
      const t = performance.now();
      const r = sides[m.pair][m.to].handle(parsePq(m.bytes)!, now);
      if (m.to === 0) mine += performance.now() - t;
      if (r) throw new Error(`rotation failed: ${r}`);
    }
    return { mine, all: performance.now() - t0 };
  };
  return { sides, rotate };
}

/** The rows. `peers`: the member's pairs in the second part (1,000). */
export function runPqBench(opts: { rotations?: number; peers?: number } = {}): PqRow[] {
  const rotations = opts.rotations ?? 200;
  const peers = opts.peers ?? 1000;
  const rows: PqRow[] = [];
  // Warm up the JIT, then one pair rotated again and again.
  pairs(20).rotate(0);
  const one = pairs(1);
  let all = 0;
  let now = 0;
  for (let i = 0; i < rotations; i++) {
    now += DEFAULT_PQ_ROTATE_MS;
    all += one.rotate(now).all;
  }
  if (one.sides[0][1].rotations !== rotations) throw new Error("rotations did not complete");
  rows.push({ measure: "one rotation, both sides", value: round(all / rotations, 3), unit: "ms" });

  // One member with `peers` pairs, each rotated once: the member's share of the time.
  const many = pairs(peers);
  const t = many.rotate(DEFAULT_PQ_ROTATE_MS);
  const handshakeMs = 1000 /
    Math.max(...runHandshakeBench(500).map((r) => Number(r.handshakesPerSecond)));
  const initiated = many.sides.filter(([a]) => a.initiator).length;
  rows.push(
    { measure: `${peers} pairs rotated, the member's share`, value: round(t.mine, 1), unit: "ms" },
    { measure: `of which pairs it initiates`, value: initiated, unit: "pairs" },
    {
      measure: "handshake each rotation starts (best backend)",
      value: round(handshakeMs, 3),
      unit: "ms",
    },
    {
      measure: `${peers} peers at the default interval (${DEFAULT_PQ_ROTATE_MS / 1000} s)`,
      value: round(((t.mine + peers * handshakeMs) / DEFAULT_PQ_ROTATE_MS) * 100, 2),
      unit: "% of a core",
    },
  );
  return rows;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

if (import.meta.main) console.table(runPqBench());
