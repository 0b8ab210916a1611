/**
 * LAN announcement codec and filter: round trip, every byte under the MAC, a wrong key, the
 * freshness window and replays.
 */
import assert from "node:assert/strict";
import { x25519 } from "npm:@noble/curves@^2.4.0/ed25519.js";
import { encodeBase64 } from "../crypto/base64.ts";
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
const NOW = 1_750_000_000_000;

// Members' key pairs: an announcement is signed by the private key of the public key it names.
const privateOf = new Map<string, Uint8Array>();
function member(): Uint8Array {
  const priv = x25519.utils.randomSecretKey();
  const pub = x25519.getPublicKey(priv);
  privateOf.set(encodeBase64(pub), priv);
  return pub;
}
const PK = member();
/** A key whose announcements are signed by another (for the tests that do not check signatures). */
const SOME_PRIVATE = x25519.utils.randomSecretKey();
const noSignatures = { verify: () => true, verifyRate: { perSecond: 1e9, burst: 1e9 } };

const make = (over: Partial<Announcement> = {}, key = LAN_KEY) => {
  const a = { publicKey: PK, port: 51820, timeMs: NOW, ...over };
  return encodeAnnouncement(a, key, privateOf.get(encodeBase64(a.publicKey)) ?? SOME_PRIVATE);
};

Deno.test("announce codec: round trip and layout", () => {
  const bytes = make();
  assert.equal(bytes.length, ANNOUNCE_SIZE);
  assert.equal(ANNOUNCE_SIZE, 131);
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 8)), "weftLAN1");
  assert.equal(bytes[8], 2);
  assert.deepEqual(bytes.subarray(9, 41), PK);
  assert.deepEqual([...bytes.subarray(41, 43)], [0xca, 0x6c]); // 51820, big-endian
  assert.equal(new DataView(bytes.buffer).getBigUint64(43), BigInt(NOW));
  const plain = (r: ReturnType<typeof decodeAnnouncement>) =>
    "drop" in r ? r : { publicKey: r.publicKey, port: r.port, timeMs: r.timeMs };
  assert.deepEqual(plain(decodeAnnouncement(bytes, LAN_KEY)), {
    publicKey: PK,
    port: 51820,
    timeMs: NOW,
  });
  const edge = make({ port: 65535, timeMs: 2 ** 53 - 1 });
  assert.deepEqual(plain(decodeAnnouncement(edge, LAN_KEY)), {
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
  assert.deepEqual(decodeAnnouncement(bytes.subarray(0, 130), LAN_KEY), { drop: "short" });
  assert.deepEqual(decodeAnnouncement(new Uint8Array(132), LAN_KEY), { drop: "short" });
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
    signature: 0,
    rate: 0,
  });
});

Deno.test("announce filter: senders are tracked apart; own echoes dropped; key rotation", () => {
  const other = member();
  const f = new AnnounceFilter({ lanKey: LAN_KEY, selfKey: other, now: () => NOW });
  assert.ok("port" in f.accept(make()));
  assert.deepEqual(f.accept(make({ publicKey: other })), { drop: "self" });
  const third = member();
  assert.ok("port" in f.accept(make({ publicKey: third })), "same time, another sender");
  f.setKey(OTHER_KEY);
  assert.deepEqual(f.accept(make({ timeMs: NOW + 5 })), { drop: "mac" });
  assert.ok("port" in f.accept(make({ timeMs: NOW + 5 }, OTHER_KEY)));
  assert.throws(() => f.setKey(new Uint8Array(1)));
});

Deno.test("announce filter: the last-seen table is bounded", () => {
  const f = new AnnounceFilter({ lanKey: LAN_KEY, now: () => NOW, ...noSignatures });
  const first = crypto.getRandomValues(new Uint8Array(32));
  assert.ok("port" in f.accept(make({ publicKey: first })));
  for (let i = 0; i < MAX_SENDERS; i++) {
    assert.ok("port" in f.accept(make({ publicKey: crypto.getRandomValues(new Uint8Array(32)) })));
  }
  // The least recent sender was forgotten: only its replays within the window get through.
  assert.ok("port" in f.accept(make({ publicKey: first })));
});

Deno.test("announce filter: a member cannot speak for another; a replay stays a replay", () => {
  // Mallory holds the LAN key (a member) and announces Alice's key from her own address.
  const alice = member();
  const mallory = x25519.utils.randomSecretKey();
  const forged = encodeAnnouncement(
    { publicKey: alice, port: 51820, timeMs: NOW },
    LAN_KEY,
    mallory,
  );
  const f = new AnnounceFilter({ lanKey: LAN_KEY, now: () => NOW });
  assert.deepEqual(f.accept(forged, "192.0.2.66"), { drop: "signature" });
  // Alice's own is taken, and her next one too; a captured one sent again is a replay.
  const real = make({ publicKey: alice });
  assert.ok("port" in f.accept(real, "192.0.2.10"));
  assert.deepEqual(f.accept(real, "192.0.2.66"), { drop: "replay" });
  // Every bit of the signature counts.
  const next = make({ publicKey: alice, timeMs: NOW + 1 });
  const bent = next.slice();
  bent[60] ^= 1;
  // Re-MAC so only the signature is wrong.
  const remac = encodeAnnouncement(
    { publicKey: alice, port: 51820, timeMs: NOW + 1 },
    LAN_KEY,
    mallory,
  );
  assert.deepEqual(f.accept(remac, "192.0.2.66"), { drop: "signature" });
  assert.ok("drop" in f.accept(bent, "192.0.2.66"));
  assert.ok("port" in f.accept(next, "192.0.2.10"));
  assert.equal(f.drops.signature, 2);
});

Deno.test("announce filter: signature checks from one source are rate-limited", () => {
  const f = new AnnounceFilter({
    lanKey: LAN_KEY,
    now: () => NOW,
    verifyRate: { perSecond: 0.001, burst: 3 },
  });
  const mallory = x25519.utils.randomSecretKey();
  for (let i = 0; i < 10; i++) {
    const a = { publicKey: member(), port: 51820, timeMs: NOW };
    f.accept(encodeAnnouncement(a, LAN_KEY, mallory), "192.0.2.66");
  }
  assert.equal(f.drops.signature, 3);
  assert.equal(f.drops.rate, 7);
  // Another source still gets its checks.
  assert.ok("port" in f.accept(make({ timeMs: NOW + 7 }), "192.0.2.10"));
});
