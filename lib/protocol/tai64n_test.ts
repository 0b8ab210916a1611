/**
 * TAI64N: the label of a Unix time and the whitened nanoseconds, as the reference
 * implementations write them (ordering is also tested in noise_test.ts).
 */
import assert from "node:assert/strict";
import { tai64n } from "./tai64n.ts";

// The TAI64 label of Unix second s is 2^62 + 10 + s (https://cr.yp.to/libtai/tai64.html), which
// the Linux kernel and wireguard-go both write. A responder remembers the greatest timestamp per
// initiator key, so a base 10 s behind theirs would have a key that moves from wireguard-go or
// the kernel to weft refused as replays for up to 10 s.
Deno.test({
  name: "tai64n: seconds are 2^62 + 10 + Unix seconds, as in the kernel and wireguard-go",
  fn() {
    const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
    assert.equal(view(tai64n(0)).getBigUint64(0), 0x400000000000000an);
    const t = tai64n(1_700_000_000_123);
    assert.equal(view(t).getBigUint64(0), 0x400000000000000an + 1_700_000_000n);
    // The nanoseconds, whitened as wireguard-go does (low 24 bits cleared): 123 ms -> 7 * 2^24.
    assert.equal(view(t).getUint32(8), 7 * 2 ** 24);
  },
});
