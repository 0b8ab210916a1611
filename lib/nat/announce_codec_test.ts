/**
 * LAN announcement codec and filter: round trip, every byte under the MAC, a wrong key, the
 * freshness window and replays.
 */
import assert from "node:assert/strict";
import {
  ANNOUNCE_SIZE,
  ANNOUNCE_WINDOW_MS,
  AnnounceFilter,
  type Announcement,
  decodeAnnouncement,
  encodeAnnouncement,
  MAX_SENDERS,
} from "./announce_codec.ts";

const LAN_KEY = crypto.getRandomValues(new Uint8Array(32));
const OTHER_KEY = crypto.getRandomValues(new Uint8Array(32));
const PK = crypto.getRandomValues(new Uint8Array(32));
const NOW = 1_750_000_000_000;

const make = (over: Partial<Announcement> = {}, key = LAN_KEY) =>
  encodeAnnouncement({ publicKey: PK, port: 51820, timeMs: NOW, ...over }, key);

Deno.test("announce codec: round trip and layout", () => {
  const bytes = make();
  assert.equal(bytes.length, ANNOUNCE_SIZE);
  assert.equal(ANNOUNCE_SIZE, 67);
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 8)), "weftLAN1");
  assert.equal(bytes[8], 1);
  assert.deepEqual(bytes.subarray(9, 41), PK);
  assert.deepEqual([...bytes.subarray(41, 43)], [0xca, 0x6c]); // 51820, big-endian
  assert.equal(new DataView(bytes.buffer).getBigUint64(43), BigInt(NOW));
  assert.deepEqual(decodeAnnouncement(bytes, LAN_KEY), { publicKey: PK, port: 51820, timeMs: NOW });
  const edge = make({ port: 65535, timeMs: 2 ** 53 - 1 });
  assert.deepEqual(decodeAnnouncement(edge, LAN_KEY), {
    publicKey: PK,
    port: 65535,
    timeMs: 2 ** 53 - 1,
  });
});

Deno.test("announce codec: bad input to the encoder throws", () => {
  assert.throws(() => make({ port: 0 }), /port/);
  assert.throws(() => make({ port: 65536 }), /port/);
  assert.throws(() => make({ timeMs: -1 }), /time/);
  assert.throws(() => make({ timeMs: 1.5 }), /time/);
  assert.throws(() => make({ publicKey: new Uint8Array(31) }), /public key/);
  assert.throws(() => make({}, new Uint8Array(16)), /LAN key/);
  assert.throws(() => decodeAnnouncement(make(), new Uint8Array(8)), /LAN key/);
});

Deno.test("announce codec: every byte tampered is refused", () => {
  const bytes = make();
  for (let i = 0; i < bytes.length; i++) {
    const t = bytes.slice();
    t[i] ^= 0x20;
    const r = decodeAnnouncement(t, LAN_KEY);
    assert.ok("drop" in r, `byte ${i}`);
    assert.equal(r.drop, i < 8 ? "magic" : i === 8 ? "version" : "mac", `byte ${i}`);
  }
  assert.deepEqual(decodeAnnouncement(bytes.subarray(0, 66), LAN_KEY), { drop: "short" });
  assert.deepEqual(decodeAnnouncement(new Uint8Array(68), LAN_KEY), { drop: "short" });
});

Deno.test("announce codec: another mesh's key does not verify", () => {
  assert.deepEqual(decodeAnnouncement(make({}, OTHER_KEY), LAN_KEY), { drop: "mac" });
});

Deno.test("announce filter: fresh ones pass, stale and replayed ones are dropped", () => {
  let now = NOW;
  const f = new AnnounceFilter({ lanKey: LAN_KEY, now: () => now });
  assert.equal((f.accept(make()) as Announcement).port, 51820);
  assert.deepEqual(f.accept(make()), { drop: "replay" }, "the same again");
  assert.deepEqual(f.accept(make({ timeMs: NOW - 1 })), { drop: "replay" }, "an older one");
  assert.equal((f.accept(make({ timeMs: NOW + 1 })) as Announcement).timeMs, NOW + 1);
  // ±120 s around our clock.
  now = NOW + 10_000;
  assert.deepEqual(f.accept(make({ timeMs: now - ANNOUNCE_WINDOW_MS - 1 })), { drop: "stale" });
  assert.deepEqual(f.accept(make({ timeMs: now + ANNOUNCE_WINDOW_MS + 1 })), { drop: "stale" });
  assert.ok("port" in f.accept(make({ timeMs: now + ANNOUNCE_WINDOW_MS })));
  assert.deepEqual(f.accept(make({ timeMs: now }, OTHER_KEY)), { drop: "mac" });
  assert.deepEqual(f.drops, {
    short: 0,
    magic: 0,
    version: 0,
    mac: 1,
    stale: 2,
    replay: 2,
    self: 0,
  });
});

Deno.test("announce filter: senders are tracked apart; own echoes dropped; key rotation", () => {
  const other = crypto.getRandomValues(new Uint8Array(32));
  const f = new AnnounceFilter({ lanKey: LAN_KEY, selfKey: other, now: () => NOW });
  assert.ok("port" in f.accept(make()));
  assert.deepEqual(f.accept(make({ publicKey: other })), { drop: "self" });
  const third = crypto.getRandomValues(new Uint8Array(32));
  assert.ok("port" in f.accept(make({ publicKey: third })), "same time, another sender");
  f.setKey(OTHER_KEY);
  assert.deepEqual(f.accept(make({ timeMs: NOW + 5 })), { drop: "mac" });
  assert.ok("port" in f.accept(make({ timeMs: NOW + 5 }, OTHER_KEY)));
  assert.throws(() => f.setKey(new Uint8Array(1)));
});

Deno.test("announce filter: the last-seen table is bounded", () => {
  const f = new AnnounceFilter({ lanKey: LAN_KEY, now: () => NOW });
  const first = crypto.getRandomValues(new Uint8Array(32));
  assert.ok("port" in f.accept(make({ publicKey: first })));
  for (let i = 0; i < MAX_SENDERS; i++) {
    assert.ok("port" in f.accept(make({ publicKey: crypto.getRandomValues(new Uint8Array(32)) })));
  }
  // The least recent sender was forgotten: only its replays within the window get through.
  assert.ok("port" in f.accept(make({ publicKey: first })));
});
