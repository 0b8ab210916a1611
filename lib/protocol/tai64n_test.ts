/**
 * TAI64N. The module's ordering and layout are tested in tests/unit/noise_test.ts; this file
 * holds a known deviation from the reference implementations, kept ignored until it is decided.
 */
import assert from "node:assert/strict";
import { tai64n } from "./tai64n.ts";

// BUG (not fixed here): the TAI64 label of Unix second s is 2^62 + 10 + s
// (https://cr.yp.to/libtai/tai64.html), which the Linux kernel (noise.c: 0x400000000000000a +
// tv_sec) and wireguard-go (tai64n.go: base = 0x400000000000000a) both write. weft writes
// 2^62 + s, 10 s behind them. A responder remembers the greatest timestamp per initiator key, so
// a key that moves from wireguard-go or the kernel to weft has its initiations refused as
// replays for up to 10 s. (tests/unit/noise_test.ts pins the current 2^62 base.)
Deno.test({
  name: "tai64n: seconds are 2^62 + 10 + Unix seconds, as in the kernel and wireguard-go",
  ignore: true,
  fn() {
    const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
    assert.equal(view(tai64n(0)).getBigUint64(0), 0x400000000000000an);
    const t = tai64n(1_700_000_000_123);
    assert.equal(view(t).getBigUint64(0), 0x400000000000000an + 1_700_000_000n);
    // The nanoseconds, whitened as wireguard-go does (low 24 bits cleared): 123 ms -> 7 * 2^24.
    assert.equal(view(t).getUint32(8), 7 * 2 ** 24);
  },
});
