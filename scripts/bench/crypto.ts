/**
 * Crypto backend benchmark: ChaCha20-Poly1305 seal/open throughput (in place, WireGuard-sized
 * packets) per AEAD backend, and X25519 shared() rate per DH backend. A plain script so it can
 * print a table; run `deno run -A scripts/bench/crypto.ts`. Takes ~15 s.
 * @module
 */

import type { Aead, Dh } from "../../lib/crypto/types.ts";
import { nobleAead, nobleDh } from "../../lib/crypto/noble.ts";
import { nodeAead, nodeDh } from "../../lib/crypto/node.ts";
import { loadSodium } from "../../lib/crypto/sodium.ts";
import { availableBackends } from "../../lib/crypto/select.ts";

const TAG = 16;
const SIZES = [64, 1420];
/** Per measurement: warm-up then timed window, in ms. */
const WARM_MS = 100;
const RUN_MS = 500;

/** Runs `fn(batch)` repeatedly for `ms` and returns operations per second. */
function rate(fn: (n: number) => void, ms: number): number {
  let batch = 16;
  let ops = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    fn(batch);
    ops += batch;
    const now = performance.now();
    // Grow batches until one takes ~10 ms so timer reads stay negligible.
    if (now - t < 10) batch *= 2;
    t = now;
  }
  return (ops * 1000) / (t - t0);
}

function measure(fn: (n: number) => void): number {
  rate(fn, WARM_MS);
  return rate(fn, RUN_MS);
}

function aeadRows(aead: Aead): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  const key = aead.key(crypto.getRandomValues(new Uint8Array(32)));
  for (const size of SIZES) {
    // WireGuard seals the padded plaintext in place inside the outgoing datagram buffer.
    const buf = crypto.getRandomValues(new Uint8Array(size + TAG));
    const plain = buf.subarray(0, size);
    let counter = 0;
    const seal = measure((n) => {
      for (let i = 0; i < n; i++) key.seal(counter++, plain, buf);
    });
    // open() in place destroys the ciphertext, so each round restores it from a sealed copy
    // first (a 1.4 KB memcpy, small next to the cipher work, and a receive path copies too).
    key.seal(7, plain, buf);
    const sealed = buf.slice();
    let bad = 0;
    const open = measure((n) => {
      for (let i = 0; i < n; i++) {
        buf.set(sealed);
        if (!key.open(7, buf, plain)) bad++;
      }
    });
    if (bad !== 0) throw new Error(`${aead.name}: ${bad} opens failed`);
    for (const [op, pps] of [["seal", seal], ["open", open]] as const) {
      rows.push({
        kind: "aead",
        backend: aead.name,
        op,
        bytes: size,
        "MB/s": Math.round((pps * size) / 1e6 * 10) / 10,
        "pkt/s": Math.round(pps),
      });
    }
  }
  key.destroy();
  return rows;
}

function dhRow(dh: Dh): Record<string, unknown> {
  // A handshake does DH with the static key (reused) and fresh ephemerals; use one fixed pair.
  const priv = dh.generatePrivate();
  const pub = dh.publicKey(dh.generatePrivate());
  const ops = measure((n) => {
    for (let i = 0; i < n; i++) dh.shared(priv, pub);
  });
  return { kind: "dh", backend: dh.name, op: "x25519 shared", "ops/s": Math.round(ops) };
}

/** Measures every available backend and returns one row per (backend, op, size). */
export async function runCryptoBench(): Promise<Record<string, unknown>[]> {
  const names = availableBackends();
  const sodium = loadSodium();
  const aeads: Aead[] = [];
  const dhs: Dh[] = [];
  if (sodium !== null) {
    aeads.push(sodium.aead);
    dhs.push(sodium.dh);
  }
  if (names.includes("node")) {
    aeads.push(nodeAead);
    dhs.push(nodeDh);
  }
  aeads.push(nobleAead);
  dhs.push(nobleDh);
  const rows: Record<string, unknown>[] = [];
  for (const a of aeads) {
    rows.push(...aeadRows(a));
    await Promise.resolve(); // let a caller's timers/logging run between backends
  }
  for (const d of dhs) rows.push(dhRow(d));
  return rows;
}

if (import.meta.main) {
  const t0 = performance.now();
  const rows = await runCryptoBench();
  console.table(rows.filter((r) => r.kind === "aead").map(({ kind: _, ...r }) => r));
  console.table(rows.filter((r) => r.kind === "dh").map(({ kind: _, ...r }) => r));
  console.log(`(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
