import assert from "node:assert/strict";
import type { Dh } from "./types.ts";
import type { ExplicitNonceAead } from "./nonce.ts";
import { nobleAead, nobleDh } from "./noble.ts";
import { nodeAead, nodeDh } from "./node.ts";
import { loadSodium } from "./sodium.ts";
import { loadOpenssl } from "./openssl.ts";
import { availableBackends, selectSuite, suiteByName } from "./select.ts";

const hex = (s: string): Uint8Array => new Uint8Array(s.match(/../g)!.map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

const sodium = loadSodium();
const openssl = loadOpenssl();
const AEADS: ExplicitNonceAead[] = [
  nobleAead,
  nodeAead,
  ...(sodium ? [sodium.aead] : []),
  ...(openssl ? [openssl.aead] : []),
];
const DHS: Dh[] = [
  nobleDh,
  nodeDh,
  ...(sodium ? [sodium.dh] : []),
  ...(openssl ? [openssl.dh] : []),
];

Deno.test("libsodium and libcrypto 3 load on this machine (both are in the test image)", () => {
  assert.notEqual(sodium, null);
  assert.notEqual(openssl, null);
  assert.deepEqual(availableBackends().sort(), ["noble", "node", "openssl", "sodium"]);
});

// RFC 8439 §2.8.2.
const RFC_KEY = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
const RFC_NONCE = hex("070000004041424344454647");
const RFC_AAD = hex("50515253c0c1c2c3c4c5c6c7");
const RFC_PT = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, " +
    "sunscreen would be it.",
);
const RFC_CT =
  "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb" +
  "69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585" +
  "808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116";
const RFC_TAG = "1ae10b594f09e26a7e902ecbd0600691";

for (const aead of AEADS) {
  Deno.test(`${aead.name}: RFC 8439 §2.8.2 AEAD vector (separate and in place)`, () => {
    const k = aead.key(RFC_KEY);
    const out = new Uint8Array(RFC_PT.length + 16);
    k.sealWithNonce(RFC_NONCE, RFC_PT, out, RFC_AAD);
    assert.equal(toHex(out), RFC_CT + RFC_TAG);
    const back = new Uint8Array(RFC_PT.length);
    assert.equal(k.openWithNonce(RFC_NONCE, out, back, RFC_AAD), true);
    assert.deepEqual(back, RFC_PT);

    const buf = new Uint8Array(RFC_PT.length + 16);
    buf.set(RFC_PT);
    k.sealWithNonce(RFC_NONCE, buf.subarray(0, RFC_PT.length), buf, RFC_AAD);
    assert.equal(toHex(buf), RFC_CT + RFC_TAG);
    assert.equal(k.openWithNonce(RFC_NONCE, buf, buf.subarray(0, RFC_PT.length), RFC_AAD), true);
    assert.deepEqual(buf.subarray(0, RFC_PT.length), RFC_PT);
  });

  Deno.test(`${aead.name}: counter is laid out as 4 zero bytes + 64-bit little-endian`, () => {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const k = aead.key(key);
    const pt = crypto.getRandomValues(new Uint8Array(40));
    const cases: [number, string][] = [
      [0, "000000000000000000000000"],
      [1, "000000000100000000000000"],
      [0x1_0000_0000 + 5, "000000000500000001000000"],
      [0xdead_beef, "00000000efbeadde00000000"],
      [Number.MAX_SAFE_INTEGER, "00000000ffffffffffff1f00"],
    ];
    for (const [counter, nonce] of cases) {
      const a = new Uint8Array(56);
      const b = new Uint8Array(56);
      k.seal(counter, pt, a);
      k.sealWithNonce(hex(nonce), pt, b);
      assert.deepEqual(a, b, `counter ${counter}`);
    }
  });
}

/** Every backend seals `pt` identically, and every backend opens every other's output. */
function crossCheck(pt: Uint8Array, counter: number, ad: Uint8Array | undefined): void {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const keys = AEADS.map((a) => a.key(key));
  const ref = new Uint8Array(pt.length + 16);
  keys[0].seal(counter, pt, ref, ad);
  const what = `len ${pt.length}, counter ${counter}, ad ${ad?.length ?? "none"}`;
  for (const [i, k] of keys.entries()) {
    const name = AEADS[i].name;
    // Separate buffers.
    const out = new Uint8Array(pt.length + 16);
    k.seal(counter, pt, out, ad);
    assert.deepEqual(out, ref, `${name} seal, ${what}`);
    // In place: plaintext at the front of the datagram buffer, sealed over itself.
    const buf = new Uint8Array(pt.length + 16);
    buf.set(pt);
    k.seal(counter, buf.subarray(0, pt.length), buf, ad);
    assert.deepEqual(buf, ref, `${name} in-place seal, ${what}`);
    for (const [j, k2] of keys.entries()) {
      const back = new Uint8Array(pt.length);
      assert.equal(k2.open(counter, ref, back, ad), true, `${AEADS[j].name} opens, ${what}`);
      assert.deepEqual(back, pt);
      const inPlace = ref.slice();
      assert.equal(k2.open(counter, inPlace, inPlace.subarray(0, pt.length), ad), true);
      assert.deepEqual(inPlace.subarray(0, pt.length), pt, `${AEADS[j].name} in-place open`);
    }
  }
  for (const k of keys) k.destroy();
}

const LENGTHS = [0, 1, 15, 16, 17, 64, 1420, 65535];
const COUNTERS = [0, 1, 2 ** 32, 2 ** 53 - 1];

Deno.test("all AEAD backends agree on random inputs (lengths, AD, counters, in place)", () => {
  assert.ok(AEADS.length >= 2);
  for (const len of LENGTHS) {
    for (const counter of COUNTERS) {
      const pt = crypto.getRandomValues(new Uint8Array(len));
      crossCheck(pt, counter, undefined);
      crossCheck(pt, counter, crypto.getRandomValues(new Uint8Array(1 + (len % 37))));
    }
  }
  // An empty AD is the same as none.
  const pt = crypto.getRandomValues(new Uint8Array(100));
  const key = crypto.getRandomValues(new Uint8Array(32));
  for (const a of AEADS) {
    const k = a.key(key);
    const x = new Uint8Array(116);
    const y = new Uint8Array(116);
    k.seal(3, pt, x);
    k.seal(3, pt, y, new Uint8Array(0));
    assert.deepEqual(x, y, a.name);
  }
});

Deno.test("an AEAD key keeps its own copy of the key bytes", () => {
  for (const a of AEADS) {
    const raw = crypto.getRandomValues(new Uint8Array(32));
    const k = a.key(raw);
    const pt = Uint8Array.of(1, 2, 3);
    const before = new Uint8Array(19);
    k.seal(9, pt, before);
    raw.fill(0);
    const after = new Uint8Array(19);
    k.seal(9, pt, after);
    assert.deepEqual(after, before, a.name);
  }
});

Deno.test("tampering makes open() return false on every backend, without throwing", () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const ad = crypto.getRandomValues(new Uint8Array(32));
  for (const len of [0, 1, 64, 1420]) {
    const pt = crypto.getRandomValues(new Uint8Array(len));
    for (const a of AEADS) {
      const k = a.key(key);
      const sealed = new Uint8Array(len + 16);
      k.seal(2 ** 32 + 1, pt, sealed, ad);
      const out = new Uint8Array(len);
      const tries: [string, () => boolean][] = [];
      if (len > 0) {
        tries.push(["ciphertext", () => {
          const s = sealed.slice();
          s[len >> 1] ^= 0x01;
          return k.open(2 ** 32 + 1, s, out, ad);
        }]);
      }
      tries.push(
        ["tag first byte", () => {
          const s = sealed.slice();
          s[len] ^= 0x80;
          return k.open(2 ** 32 + 1, s, out, ad);
        }],
        ["tag last byte", () => {
          const s = sealed.slice();
          s[len + 15] ^= 0x01;
          return k.open(2 ** 32 + 1, s, out, ad);
        }],
        ["AD", () => {
          const bad = ad.slice();
          bad[31] ^= 0x40;
          return k.open(2 ** 32 + 1, sealed, out, bad);
        }],
        ["missing AD", () => k.open(2 ** 32 + 1, sealed, out)],
        ["counter low word", () => k.open(2 ** 32, sealed, out, ad)],
        ["counter high word", () => k.open(1, sealed, out, ad)],
        [
          "other key",
          () =>
            a.key(crypto.getRandomValues(new Uint8Array(32))).open(2 ** 32 + 1, sealed, out, ad),
        ],
        [
          "truncated",
          () =>
            k.open(
              2 ** 32 + 1,
              sealed.subarray(0, len + 15),
              out.subarray(0, Math.max(0, len - 1)),
              ad,
            ),
        ],
        ["shorter than a tag", () => k.open(0, new Uint8Array(15), new Uint8Array(0))],
      );
      for (const [what, attempt] of tries) {
        assert.equal(attempt(), false, `${a.name}, len ${len}: tampered ${what} must not open`);
      }
      // A forged in-place open never releases plaintext: the bytes stay as they were (noble,
      // node) or are zeroed (libsodium wipes its output on failure).
      const s = sealed.slice();
      s[len] ^= 1;
      const copy = s.slice();
      assert.equal(k.open(2 ** 32 + 1, s, s.subarray(0, len), ad), false);
      const body = s.subarray(0, len);
      assert.ok(
        body.every((b, i) => b === copy[i]) || body.every((b) => b === 0),
        `${a.name}: forged in-place open must not write plaintext`,
      );
      assert.deepEqual(s.subarray(len), copy.subarray(len), `${a.name}: tag untouched`);
      // And the genuine packet still opens.
      assert.equal(k.open(2 ** 32 + 1, sealed, out, ad), true);
      assert.deepEqual(out, pt);
    }
  }
});

Deno.test("seal rejects a wrongly sized destination on every backend", () => {
  for (const a of AEADS) {
    const k = a.key(new Uint8Array(32));
    assert.throws(() => k.seal(0, new Uint8Array(10), new Uint8Array(25)), a.name);
    assert.throws(() => k.seal(0, new Uint8Array(10), new Uint8Array(27)), a.name);
  }
});

Deno.test("AEAD key() rejects keys that are not 32 bytes", () => {
  for (const a of AEADS) {
    assert.throws(() => a.key(new Uint8Array(31)), /32 bytes/, a.name);
    assert.throws(() => a.key(new Uint8Array(33)), /32 bytes/, a.name);
  }
});

// RFC 7748 §5.2.
const X_VECTORS: [string, string, string][] = [
  [
    "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
    "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
    "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
  ],
  [
    "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
    "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
    "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
  ],
];

for (const dh of DHS) {
  Deno.test(`${dh.name}: RFC 7748 §5.2 X25519 vectors (incl. 1 and 1000 iterations)`, () => {
    for (const [k, u, out] of X_VECTORS) assert.equal(toHex(dh.shared(hex(k), hex(u))), out);
    let k: Uint8Array = new Uint8Array(32);
    k[0] = 9;
    let u: Uint8Array = k.slice();
    for (let i = 1; i <= 1000; i++) {
      const r = dh.shared(k, u);
      u = k;
      k = r;
      if (i === 1) {
        assert.equal(toHex(k), "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
      }
    }
    assert.equal(toHex(k), "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
  });

  Deno.test(`${dh.name}: RFC 7748 §6.1 Diffie-Hellman`, () => {
    const alice = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const bob = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    const alicePub = dh.publicKey(alice);
    const bobPub = dh.publicKey(bob);
    assert.equal(
      toHex(alicePub),
      "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
    );
    assert.equal(toHex(bobPub), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    const k = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    assert.equal(toHex(dh.shared(alice, bobPub)), k);
    assert.equal(toHex(dh.shared(bob, alicePub)), k);
  });

  Deno.test(`${dh.name}: low-order public keys make shared() throw`, () => {
    const priv = dh.generatePrivate();
    const lowOrder = [
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];
    for (const p of lowOrder) assert.throws(() => dh.shared(priv, hex(p)), /low-order/, p);
  });

  Deno.test(`${dh.name}: generatePrivate is clamped, random, and agrees across backends`, () => {
    const a = dh.generatePrivate();
    const b = dh.generatePrivate();
    assert.equal(a.length, 32);
    assert.notDeepEqual(a, b);
    assert.equal(a[0] & 7, 0);
    assert.equal(a[31] & 0x80, 0);
    assert.equal(a[31] & 0x40, 0x40);
    for (const other of DHS) {
      assert.deepEqual(other.publicKey(a), dh.publicKey(a), `${other.name} vs ${dh.name}`);
      assert.deepEqual(
        other.shared(a, dh.publicKey(b)),
        dh.shared(b, other.publicKey(a)),
        `${other.name} vs ${dh.name}`,
      );
    }
    assert.throws(() => dh.shared(a, new Uint8Array(31)), /32 bytes/);
    assert.throws(() => dh.publicKey(new Uint8Array(16)), /32 bytes/);
  });
}

Deno.test("selectSuite: unforced picks the fastest available backends", () => {
  const s = selectSuite();
  assert.equal(s.aead.name, openssl ? "openssl" : sodium ? "sodium" : "node");
  assert.equal(s.dh.name, sodium ? "sodium" : openssl ? "openssl" : "node");
  assert.equal(s.name, s.aead.name === s.dh.name ? s.aead.name : `${s.aead.name}+${s.dh.name}`);
});

Deno.test("selectSuite: forced names give that backend; unknown names throw clearly", () => {
  for (const name of availableBackends()) {
    const s = selectSuite(name);
    assert.equal(s.name, name);
    assert.equal(s.aead.name, name);
    assert.equal(s.dh.name, name);
    assert.equal(suiteByName(name)?.aead.name, name);
  }
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => selectSuite("boringssl" as any),
    /unknown crypto backend "boringssl".*noble, node, openssl, sodium/,
  );
});

Deno.test("selectSuite: a forced backend that cannot load throws a clear error", async () => {
  // A child without FFI permission cannot load libsodium; forcing it must fail loudly there.
  const code = `
    import { selectSuite, availableBackends } from ${
    JSON.stringify(import.meta.resolve("../../lib/crypto/select.ts"))
  };
    let msg = "no error";
    try { selectSuite("sodium"); } catch (e) { msg = e.message; }
    console.log(JSON.stringify({ msg, avail: availableBackends(), auto: selectSuite().name }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--allow-read", "--allow-env", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    cwd: new URL("../..", import.meta.url).pathname,
  }).spawn();
  const w = out.stdin.getWriter();
  await w.write(new TextEncoder().encode(code));
  await w.close();
  const res = await out.output();
  const stderr = new TextDecoder().decode(res.stderr);
  assert.equal(res.code, 0, stderr);
  const r = JSON.parse(new TextDecoder().decode(res.stdout));
  assert.match(
    r.msg,
    /crypto backend "sodium" is not available.*--allow-ffi.*available: node, noble/,
  );
  assert.deepEqual(r.avail, ["node", "noble"]);
  assert.equal(r.auto, "node");
});

Deno.test("a fault inside noble or node:crypto is thrown, not answered as a forgery", () => {
  for (const aead of [nobleAead, nodeAead]) {
    const k = aead.key(new Uint8Array(32).fill(1));
    const sealed = new Uint8Array(16 + 16);
    k.seal(1, new Uint8Array(16), sealed);
    // Additional data of the wrong type: a programming fault, not a forged packet.
    assert.throws(
      () => k.open(1, sealed, new Uint8Array(16), "not bytes" as unknown as Uint8Array),
      `${aead.name}`,
    );
    // A forgery is still a plain false.
    sealed[3] ^= 1;
    assert.equal(k.open(1, sealed, new Uint8Array(16)), false, aead.name);
  }
});
