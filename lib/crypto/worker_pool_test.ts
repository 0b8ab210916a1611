import assert from "node:assert/strict";
import { loadSodium } from "./sodium.ts";
import {
  CryptoWorkerPool,
  OP_OPEN,
  OP_SEAL,
  type PooledKey,
  RESULT_BAD,
  RESULT_FORGED,
  RESULT_OK,
  TAG_BYTES,
} from "./worker_pool.ts";
import type { PoolBuffers, WorkerStart } from "./pool_kernel.ts";
import { DIES, fakeWorker, NEVER_WAKES, TAKES_AND_HANGS } from "./testing/fake_workers.ts";

const sodium = loadSodium();
const SLOT = 1536;
const ignore = !sodium;

/** Deterministic bytes (xorshift), so a failure is reproducible. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A spawn that keeps the buffers each worker was handed. */
function recordingSpawn() {
  const handed: PoolBuffers[] = [];
  const spawn = (url: URL) => {
    const w = new Worker(url, { type: "module" });
    const post = w.postMessage.bind(w);
    w.postMessage = (m: WorkerStart) => {
      handed.push(m.buffers);
      post(m);
    };
    return w;
  };
  return { handed, spawn };
}

for (const workers of [1, 2]) {
  Deno.test({
    name: `worker pool (${workers}): seals bit for bit as inline libsodium, any length`,
    ignore,
    async fn() {
      const pool = await CryptoWorkerPool.start({
        workers,
        dataBytes: 64 * SLOT,
        entries: 64,
        takeBack: false,
      });
      try {
        const raw = bytes(32, 7);
        const key = pool.key(raw)!;
        const inline = sodium!.aead.key(raw);
        const lengths = Array.from({ length: 64 }, (_, i) => [0, 1, 15, 16, 1420][i % 5] + i);
        const expected: Uint8Array[] = [];
        lengths.forEach((len, i) => {
          const plain = bytes(len, i + 1);
          pool.data.set(plain, i * SLOT);
          // Counters past 2^32 check the high half of the nonce too.
          const counter = i * 0x1_0000_0001;
          pool.set(i, OP_SEAL, key, counter, i * SLOT, len);
          const out = new Uint8Array(len + TAG_BYTES);
          inline.seal(counter, plain, out);
          expected.push(out);
        });
        pool.run(0, 64);
        assert.equal(pool.stats.workerEntries, 64 - Math.ceil(64 / (workers + 1)));
        lengths.forEach((len, i) => {
          assert.deepEqual(pool.result(i), RESULT_OK);
          assert.deepEqual(pool.data.subarray(i * SLOT, i * SLOT + len + TAG_BYTES), expected[i]);
        });
        assert.deepEqual(pool.failure, null);
      } finally {
        pool.close();
      }
    },
  });

  Deno.test({
    name: `worker pool (${workers}): opens what is authentic, rejects forgeries`,
    ignore,
    async fn() {
      const pool = await CryptoWorkerPool.start({
        workers,
        dataBytes: 64 * SLOT,
        entries: 64,
        takeBack: false,
      });
      try {
        const raw = bytes(32, 9);
        const key = pool.key(raw)!;
        const inline = sodium!.aead.key(raw);
        const plains: Uint8Array[] = [];
        for (let i = 0; i < 64; i++) {
          const plain = bytes(100 + i * 10, 100 + i);
          plains.push(plain);
          const sealed = new Uint8Array(plain.length + TAG_BYTES);
          inline.seal(i, plain, sealed);
          // Every third packet is forged: one bit of its ciphertext or tag flipped.
          if (i % 3 === 0) sealed[(i * 7) % sealed.length] ^= 1 << (i % 8);
          pool.data.set(sealed, i * SLOT);
          pool.set(i, OP_OPEN, key, i, i * SLOT, sealed.length);
        }
        pool.run(0, 64);
        assert.equal(pool.stats.workerEntries, 64 - Math.ceil(64 / (workers + 1)));
        for (let i = 0; i < 64; i++) {
          if (i % 3 === 0) {
            assert.deepEqual(pool.result(i), RESULT_FORGED, `packet ${i}`);
            continue;
          }
          assert.deepEqual(pool.result(i), RESULT_OK, `packet ${i}`);
          assert.deepEqual(pool.data.subarray(i * SLOT, i * SLOT + plains[i].length), plains[i]);
        }
      } finally {
        pool.close();
      }
    },
  });
}

Deno.test({
  name: "worker pool: an entry outside the shared memory is refused, not run",
  ignore,
  async fn() {
    const pool = await CryptoWorkerPool.start({
      workers: 1,
      dataBytes: 16 * SLOT,
      entries: 16,
      takeBack: false,
    });
    try {
      const key = pool.key(bytes(32, 3))!;
      for (let i = 0; i < 16; i++) pool.set(i, OP_SEAL, key, i, i * SLOT, 100);
      pool.set(13, OP_SEAL, key, 0, 16 * SLOT - 10, 100); // runs past the end
      pool.set(14, OP_OPEN, key, 0, 0, TAG_BYTES - 1); // shorter than a tag
      pool.set(15, 7, key, 0, 0, 100); // no such operation
      pool.run(0, 16);
      for (let i = 0; i < 13; i++) assert.deepEqual(pool.result(i), RESULT_OK);
      for (const i of [13, 14, 15]) assert.deepEqual(pool.result(i), RESULT_BAD);
      assert.deepEqual(pool.failure, null);
    } finally {
      pool.close();
    }
  },
});

Deno.test({
  name: "worker pool: destroying a key wipes the workers' copy and frees its slot",
  ignore,
  async fn() {
    const rec = recordingSpawn();
    const pool = await CryptoWorkerPool.start({
      workers: 1,
      dataBytes: 4 * SLOT,
      keySlots: 2,
      spawn: rec.spawn,
    });
    try {
      const raw = bytes(32, 11);
      const a = pool.key(raw)!;
      const b = pool.key(bytes(32, 12))!;
      assert.deepEqual(pool.key(bytes(32, 13)), null, "the table is full");
      const shared = new Uint8Array(rec.handed[0].keys);
      const slot = a.slot;
      assert.deepEqual(shared.subarray(slot * 32, slot * 32 + 32), raw);
      a.destroy();
      a.destroy(); // idempotent: the slot is freed once
      assert.deepEqual(a.slot, -1);
      assert.deepEqual(shared.subarray(slot * 32, slot * 32 + 32), new Uint8Array(32));
      const c = pool.key(bytes(32, 14))!;
      assert.deepEqual(c.slot, slot);
      assert.deepEqual(pool.key(bytes(32, 15)), null, "the slot was freed once, not twice");
      b.destroy();
      c.destroy();
    } finally {
      pool.close();
    }
  },
});

/** Fills entries 0..63 with 200-byte seals of bytes i, counter i. */
function fillSeals(pool: CryptoWorkerPool, key: PooledKey): void {
  for (let i = 0; i < 64; i++) {
    pool.data.fill(i, i * SLOT, i * SLOT + 200);
    pool.set(i, OP_SEAL, key, i, i * SLOT, 200);
  }
}

/** Checks entry i holds bytes i sealed inline with counter i. */
function assertSealed(pool: CryptoWorkerPool, raw: Uint8Array, i: number): void {
  const expected = new Uint8Array(200 + TAG_BYTES);
  sodium!.aead.key(raw).seal(i, new Uint8Array(200).fill(i), expected);
  assert.equal(pool.result(i), RESULT_OK, `entry ${i}`);
  assert.deepEqual(pool.data.subarray(i * SLOT, i * SLOT + 200 + TAG_BYTES), expected);
}

Deno.test({
  name: "worker pool: a worker that has not woken loses nothing: the caller does its share",
  ignore,
  async fn() {
    const errors: Error[] = [];
    const pool = await CryptoWorkerPool.start({
      workers: 2,
      dataBytes: 64 * SLOT,
      entries: 64,
      spawn: fakeWorker(NEVER_WAKES),
      onError: (e) => errors.push(e),
    });
    try {
      const raw = bytes(32, 21);
      const key = pool.key(raw)!;
      for (let round = 0; round < 3; round++) {
        fillSeals(pool, key);
        pool.run(0, 64);
        for (let i = 0; i < 64; i++) assertSealed(pool, raw, i);
      }
      assert.deepEqual(errors, []);
      assert.equal(pool.stats.workerEntries, 0);
      assert.equal(pool.stats.parallelRuns, 3);
    } finally {
      pool.close();
    }
  },
});

Deno.test({
  name: "worker pool: a worker that takes a share and hangs fails the pool once; then inline",
  ignore,
  async fn() {
    const errors: Error[] = [];
    const pool = await CryptoWorkerPool.start({
      workers: 1,
      dataBytes: 64 * SLOT,
      entries: 64,
      spawn: fakeWorker(TAKES_AND_HANGS),
      timeoutMs: 100,
      onError: (e) => errors.push(e),
    });
    try {
      const raw = bytes(32, 22);
      const key = pool.key(raw)!;
      fillSeals(pool, key);
      // The fake may not have woken before this thread finishes its own share and takes the
      // worker's back; run until it has taken one.
      while (errors.length === 0) {
        pool.run(0, 64);
        if (errors.length === 0) { for (let i = 0; i < 64; i++) assertSealed(pool, raw, i); }
        fillSeals(pool, key);
        await new Promise((r) => setTimeout(r, 0));
      }
      assert.equal(errors.length, 1);
      assert.match(errors[0].message, /did not finish within 100 ms/);
      assert.notEqual(pool.failure, null);
      fillSeals(pool, key);
      pool.run(0, 64);
      for (let i = 0; i < 64; i++) assertSealed(pool, raw, i);
      assert.equal(errors.length, 1, "reported once");
    } finally {
      pool.close();
    }
  },
});

Deno.test({
  name: "worker pool: a worker that dies is noticed and reported once; the pool goes on inline",
  ignore,
  async fn() {
    let reported: (e: Error) => void = () => {};
    const died = new Promise<Error>((resolve) => reported = resolve);
    const errors: Error[] = [];
    const pool = await CryptoWorkerPool.start({
      workers: 1,
      dataBytes: 64 * SLOT,
      entries: 64,
      spawn: fakeWorker(DIES),
      onError: (e) => {
        errors.push(e);
        reported(e);
      },
    });
    try {
      const e = await died;
      assert.match(e.message, /crypto worker 1 failed: .*worker died/);
      const raw = bytes(32, 23);
      const key = pool.key(raw)!;
      fillSeals(pool, key);
      pool.run(0, 64);
      for (let i = 0; i < 64; i++) assertSealed(pool, raw, i);
      assert.equal(pool.stats.parallelRuns, 0, "no worker is asked any more");
      assert.equal(errors.length, 1);
    } finally {
      pool.close();
    }
  },
});

Deno.test({
  name: "worker pool: a worker that cannot start fails the start with its reason",
  ignore,
  async fn() {
    const broken = (_: URL) =>
      new Worker(`data:application/javascript,throw new Error("no crypto here")`, {
        type: "module",
      });
    await assert.rejects(
      () => CryptoWorkerPool.start({ workers: 2, dataBytes: 4096, spawn: broken }),
      /no crypto here/,
    );
  },
});

Deno.test({
  name: "worker pool: bad sizes are refused",
  ignore,
  async fn() {
    await assert.rejects(() => CryptoWorkerPool.start({ workers: 0, dataBytes: 4096 }), RangeError);
    await assert.rejects(() => CryptoWorkerPool.start({ workers: 1, dataBytes: 1 }), RangeError);
    const pool = await CryptoWorkerPool.start({ workers: 1, dataBytes: 4096 });
    try {
      assert.throws(() => pool.key(new Uint8Array(31)), RangeError);
    } finally {
      pool.close();
    }
  },
});
