import assert from "node:assert/strict";
import type { KemKeys } from "./kem.ts";
import { ownKemLease, SharedKemKeys } from "./shared_keys.ts";

/** Key pairs of 4 bytes (no ML-KEM: what is tested is who holds them), on a clock of our own. */
function source(opts: { ms?: number; uses?: number } = {}) {
  let t = 0;
  let n = 0;
  const made: KemKeys[] = [];
  const keys = new SharedKemKeys({
    ...opts,
    now: () => t,
    make: () => {
      n++;
      const k = { ek: new Uint8Array([n]), dk: new Uint8Array([n, n, n, n]) };
      made.push(k);
      return k;
    },
  });
  const wiped = (k: KemKeys) => k.dk.every((x) => x === 0);
  return { keys, made, wiped, advance: (ms: number) => t += ms };
}

Deno.test("offers within the time share a key pair; later ones and those past the uses get a new one", () => {
  const { keys, made, advance } = source({ ms: 1000, uses: 3 });
  const a = keys.take();
  advance(999);
  const b = keys.take();
  const c = keys.take();
  assert.equal(a.keys, b.keys);
  assert.equal(b.keys, c.keys);
  // Past the uses.
  const d = keys.take();
  assert.notEqual(d.keys, a.keys);
  // Past the time.
  advance(1000);
  const e = keys.take();
  assert.notEqual(e.keys, d.keys);
  assert.equal(made.length, 3);
  assert.equal(keys.made, 3);
});

Deno.test("a key pair is wiped once retired and released by every offer holding it, not before", () => {
  const { keys, made, wiped, advance } = source({ ms: 1000 });
  const a = keys.take();
  const b = keys.take();
  advance(1000);
  keys.take(); // retires the first
  assert.ok(!wiped(made[0]));
  a.release();
  a.release(); // again: no effect on b's hold
  assert.ok(!wiped(made[0]));
  b.release();
  assert.ok(wiped(made[0]));
  assert.ok(!wiped(made[1]));
});

Deno.test("a key pair nobody holds is wiped at the first sweep past its time", () => {
  const { keys, made, wiped, advance } = source({ ms: 1000 });
  keys.take().release();
  // Still given to new offers within its time.
  keys.sweep();
  assert.ok(!wiped(made[0]));
  advance(1000);
  keys.sweep();
  assert.ok(wiped(made[0]));
  // Released after its time: wiped at once.
  const b = keys.take();
  advance(1000);
  b.release();
  assert.ok(wiped(made[1]));
  // Closed: nothing given out is wiped under an offer still holding it.
  const c = keys.take();
  keys.close();
  assert.ok(!wiped(made[2]));
  c.release();
  assert.ok(wiped(made[2]));
});

Deno.test("a key pair of its own is wiped when released", () => {
  const k = { ek: new Uint8Array([1]), dk: new Uint8Array([1, 2]) };
  ownKemLease(() => k).release();
  assert.deepEqual([...k.dk], [0, 0]);
});
