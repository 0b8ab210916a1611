import assert from "node:assert/strict";
import { blake2s } from "npm:@noble/hashes@^2.4.0/blake2.js";
import {
  hash,
  hashBackend,
  hmac,
  kdf1,
  kdf2,
  kdf3,
  mac,
  nobleHash,
  nobleHmac,
  nobleMac,
  nodeHash,
  nodeHmac,
} from "./blake2s.ts";
import { loadOpensslBlake2s } from "./openssl_blake2s.ts";

const toHex = (b: Uint8Array): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

const OPENSSL = loadOpensslBlake2s();
type Hash = (...parts: Uint8Array[]) => Uint8Array;
type Hmac = (key: Uint8Array, ...parts: Uint8Array[]) => Uint8Array;
const HASHES: [string, Hash][] = [["noble", nobleHash], ["node", nodeHash]];
const HMACS: [string, Hmac][] = [["noble", nobleHmac], ["node", nodeHmac]];
if (OPENSSL !== null) {
  HASHES.push(["openssl", OPENSSL.hash]);
  // An empty key is not OpenSSL's (it would reuse the last one): the default hmac falls back.
  HMACS.push([
    "openssl",
    (key, ...parts) => key.length === 0 ? hmac(key, ...parts) : OPENSSL.hmac(key, ...parts),
  ]);
}

Deno.test("hash: BLAKE2s-256 vectors on every implementation (RFC 7693 App. B, empty)", () => {
  for (const [name, h] of [...HASHES, ["default", hash] as [string, Hash]]) {
    assert.equal(
      toHex(h(utf8("abc"))),
      "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982",
      name,
    );
    assert.equal(
      toHex(h(utf8("a"), utf8(""), utf8("bc"))),
      "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982",
      `${name}, in parts`,
    );
    assert.equal(
      toHex(h()),
      "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9",
      `${name}, empty`,
    );
    assert.equal(Object.getPrototypeOf(h(utf8("x"))), Uint8Array.prototype, `${name}: plain bytes`);
  }
  // The fastest that loads is in use.
  assert.equal(hashBackend, OPENSSL !== null ? "openssl" : "node");
});

Deno.test("hash: WireGuard's initial chaining key and hash (whitepaper §5.4)", () => {
  const ck = hash(utf8("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"));
  assert.equal(toHex(ck), "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
  const h = hash(ck, utf8("WireGuard v1 zx2c4 Jason@zx2c4.com"));
  assert.equal(toHex(h), "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
});

Deno.test("hash: every implementation agrees on many lengths and splits", () => {
  for (const len of [0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000]) {
    const data = crypto.getRandomValues(new Uint8Array(len));
    const whole = nobleHash(data);
    const cut = len >> 1;
    for (const [name, h] of HASHES) {
      assert.deepEqual(h(data), whole, `${name} len ${len}`);
      assert.deepEqual(h(data.subarray(0, cut), data.subarray(cut)), whole, `${name} split`);
    }
  }
});

Deno.test({
  name: "hmac: OpenSSL refuses an empty key (it would reuse the last one); the default falls back",
  ignore: OPENSSL === null,
  fn: () => {
    const msg = utf8("abc");
    OPENSSL!.hmac(new Uint8Array(32).fill(7), msg);
    assert.throws(() => OPENSSL!.hmac(new Uint8Array(0), msg), RangeError);
    assert.deepEqual(hmac(new Uint8Array(0), msg), referenceHmac(new Uint8Array(0), msg));
  },
});

/** RFC 7693 Appendix E's deterministic input generator. */
function selftestSeq(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let a = Math.imul(0xdead4bad, seed) >>> 0;
  let b = 1;
  for (let i = 0; i < len; i++) {
    const t = (a + b) >>> 0;
    a = b;
    b = t;
    out[i] = t >>> 24;
  }
  return out;
}

Deno.test("mac/hash: RFC 7693 Appendix E BLAKE2s self-test (keyed and unkeyed)", () => {
  // Our mac() is keyed BLAKE2s-128 and hash() is unkeyed BLAKE2s-256; the other output lengths
  // of the self-test come from noble directly.
  const parts: Uint8Array[] = [];
  for (const outlen of [16, 20, 28, 32]) {
    for (const inlen of [0, 3, 64, 65, 255, 1024]) {
      const input = selftestSeq(inlen, inlen);
      parts.push(outlen === 32 ? hash(input) : blake2s(input, { dkLen: outlen }));
      const key = selftestSeq(outlen, outlen);
      parts.push(outlen === 16 ? mac(key, input) : blake2s(input, { key, dkLen: outlen }));
    }
  }
  assert.equal(
    toHex(hash(...parts)),
    "6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe",
  );
});

Deno.test({
  name: "mac: OpenSSL's keyed BLAKE2s-128 is noble's, for every key length and many inputs",
  ignore: OPENSSL === null,
  fn: () => {
    for (const keyLen of [1, 16, 31, 32]) {
      for (const len of [0, 1, 63, 64, 65, 116, 148, 1000]) {
        const key = crypto.getRandomValues(new Uint8Array(keyLen));
        const msg = crypto.getRandomValues(new Uint8Array(len));
        const want = nobleMac(key, msg);
        assert.deepEqual(OPENSSL!.mac(key, msg), want, `key ${keyLen} msg ${len}`);
        assert.deepEqual(
          OPENSSL!.mac(key, msg.subarray(0, len >> 1), msg.subarray(len >> 1)),
          want,
        );
        assert.deepEqual(mac(key, msg), want);
      }
    }
    assert.throws(() => OPENSSL!.mac(new Uint8Array(0), utf8("x")), RangeError);
    assert.throws(() => OPENSSL!.mac(new Uint8Array(33), utf8("x")), RangeError);
  },
});

Deno.test("mac: 16 bytes, keyed, split-invariant", () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const msg = crypto.getRandomValues(new Uint8Array(116));
  const m = mac(key, msg);
  assert.equal(m.length, 16);
  assert.deepEqual(mac(key, msg.subarray(0, 50), msg.subarray(50)), m);
  assert.notDeepEqual(mac(crypto.getRandomValues(new Uint8Array(32)), msg), m);
  // BLAKE2s-128 is its own parameter set, not a truncated BLAKE2s-256.
  assert.notDeepEqual(m, blake2s(msg, { key }).subarray(0, 16));
});

/** HMAC from RFC 2104 on top of `hash`, as an independent reference. */
function referenceHmac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  const k = new Uint8Array(64);
  k.set(key.length > 64 ? hash(key) : key);
  const ipad = k.map((b) => b ^ 0x36);
  const opad = k.map((b) => b ^ 0x5c);
  return hash(opad, hash(ipad, msg));
}

Deno.test("hmac: both implementations match RFC 2104 built from hash()", () => {
  for (const keyLen of [0, 1, 16, 32, 64, 65, 100]) {
    for (const len of [0, 1, 32, 64, 65, 200]) {
      const key = crypto.getRandomValues(new Uint8Array(keyLen));
      const msg = crypto.getRandomValues(new Uint8Array(len));
      const want = referenceHmac(key, msg);
      for (const [name, h] of [...HMACS, ["default", hmac] as [string, Hmac]]) {
        assert.deepEqual(h(key, msg), want, `${name} key ${keyLen} msg ${len}`);
        assert.deepEqual(h(key, msg.subarray(0, len >> 1), msg.subarray(len >> 1)), want);
      }
    }
  }
});

Deno.test("kdf1/2/3 follow the WireGuard paper's HKDF chain", () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const input = crypto.getRandomValues(new Uint8Array(32));
  const t0 = referenceHmac(key, input);
  const t1 = referenceHmac(t0, Uint8Array.of(1));
  const t2 = referenceHmac(t0, Uint8Array.of(...t1, 2));
  const t3 = referenceHmac(t0, Uint8Array.of(...t2, 3));
  assert.deepEqual(kdf1(key, input), [t1]);
  assert.deepEqual(kdf2(key, input), [t1, t2]);
  assert.deepEqual(kdf3(key, input), [t1, t2, t3]);
  assert.deepEqual(
    kdf1(key, new Uint8Array(0))[0],
    referenceHmac(referenceHmac(key, new Uint8Array(0)), Uint8Array.of(1)),
  );
  for (const out of kdf3(key, input)) assert.equal(out.length, 32);
  assert.notDeepEqual(t1, t2);
  assert.notDeepEqual(t2, t3);
});
