import assert from "node:assert/strict";
import { loadWithoutFfi } from "./testing/without_ffi.ts";
import { loadOpenssl } from "./openssl.ts";
import { loadSodium } from "./sodium.ts";
import { SPLIT_AT, splitAead } from "./split.ts";
import { selectSuite } from "./select.ts";
import type { ExplicitNonceAead } from "./nonce.ts";
import { RAW_MAX } from "./openssl_raw.ts";

const openssl = loadOpenssl();
const sodium = loadSodium();

Deno.test("loadOpenssl is cached: the same suite object every call", () => {
  assert.notEqual(openssl, null);
  assert.equal(loadOpenssl(), openssl);
  assert.equal(openssl!.aead.name, "openssl");
  assert.equal(openssl!.dh.name, "openssl");
});

Deno.test("without FFI permission loadOpenssl is null, not an error", async () => {
  const url = new URL("./openssl.ts", import.meta.url).href;
  assert.equal(await loadWithoutFfi(url, "loadOpenssl"), "null");
});

Deno.test("a libcrypto that loads but refuses ChaCha20-Poly1305 (FIPS-only) is not used", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // What a FIPS-mode system sets: only FIPS-approved algorithms may be fetched.
    await Deno.writeTextFile(
      `${dir}/openssl.cnf`,
      "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n" +
        "alg_section = algorithm_sect\n[provider_sect]\ndefault = default_sect\n" +
        "[default_sect]\nactivate = 1\n[algorithm_sect]\ndefault_properties = fips=yes\n",
    );
    const select = new URL("./select.ts", import.meta.url).href;
    const script = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `import { availableBackends, selectSuite } from "${select}";\n` +
        `console.log(JSON.stringify([availableBackends(), selectSuite().name]));\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      // The project's configuration: select.ts imports npm packages by their mapped names.
      args: [
        "run",
        "-A",
        "--no-check",
        "--config",
        new URL("../../deno.json", import.meta.url).pathname,
        script,
      ],
      env: { OPENSSL_CONF: `${dir}/openssl.cnf` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const [backends, suite] = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.ok(!backends.includes("openssl"), backends.join(","));
    assert.equal(suite, "sodium");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("split: the long backend keys at the first long message; if it cannot, the short one carries it", () => {
  const keyed: string[] = [];
  const short: ExplicitNonceAead = {
    name: "sodium",
    key: (raw) => (keyed.push("short"), sodium!.aead.key(raw)),
  };
  const long: ExplicitNonceAead = {
    name: "openssl",
    key: () => {
      keyed.push("long");
      throw new Error("cannot key");
    },
  };
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const key = splitAead(short, long).key(raw);
  const small = new Uint8Array(SPLIT_AT - 1);
  key.seal(1, small, new Uint8Array(small.length + 16));
  assert.deepEqual(keyed, ["short"], "no long key while only short messages pass");
  const big = crypto.getRandomValues(new Uint8Array(1420));
  const ct = new Uint8Array(1436);
  key.seal(2, big, ct);
  assert.deepEqual(keyed, ["short", "long"]);
  const ref = new Uint8Array(1436);
  sodium!.aead.key(raw).seal(2, big, ref);
  assert.deepEqual(ct, ref);
  key.seal(3, big, ct);
  assert.deepEqual(keyed, ["short", "long"], "keyed once");
  key.destroy();
});

Deno.test("openssl: a forged packet opens to false and its destination is zeroed", () => {
  const key = openssl!.aead.key(new Uint8Array(32).fill(9));
  const pt = new Uint8Array(100).fill(0x5a);
  const ct = new Uint8Array(116);
  key.seal(7, pt, ct);
  ct[50] ^= 1;
  const out = new Uint8Array(100).fill(0xee);
  assert.equal(key.open(7, ct, out), false);
  assert.ok(out.every((b) => b === 0));
  // The context is usable after a failure: the next good packet opens.
  ct[50] ^= 1;
  assert.equal(key.open(7, ct, out), true);
  assert.deepEqual(out, pt);
  key.destroy();
});

Deno.test("openssl: a destroyed key throws instead of touching freed memory; destroy twice is safe", () => {
  const key = openssl!.aead.key(new Uint8Array(32));
  key.destroy();
  key.destroy();
  assert.throws(() => key.seal(0, new Uint8Array(1), new Uint8Array(17)), /after destroy/);
  assert.throws(() => key.open(0, new Uint8Array(17), new Uint8Array(1)), /after destroy/);
});

Deno.test("openssl: a key's AEAD contexts are made together at the first message past RAW_MAX, none for short ones, its key's copy wiped then, and seal as libsodium does", () => {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const contexts = (k: unknown) => (k as { contexts: number }).contexts;
  const copyHeld = (k: unknown) => (k as { keyCopyHeld: boolean }).keyCopyHeld;
  const a = openssl!.aead.key(raw);
  const b = openssl!.aead.key(raw);
  const ref = sodium!.aead.key(raw);
  raw.fill(0); // the key keeps its own copy
  const short = crypto.getRandomValues(new Uint8Array(1420));
  const sealed = new Uint8Array(short.length + 16);
  a.seal(1, short, sealed);
  assert.ok(b.open(1, sealed, new Uint8Array(short.length)));
  assert.equal(contexts(a), 0, "a short message needs no AEAD context");
  assert.equal(contexts(b), 0);
  assert.ok(copyHeld(a), "the copy is kept until the contexts are made");
  const long = crypto.getRandomValues(new Uint8Array(RAW_MAX + 1));
  const ours = new Uint8Array(long.length + 16);
  a.seal(2, long, ours);
  assert.equal(contexts(a), 2, "sealing makes both: a WireGuard key goes one way only");
  assert.ok(!copyHeld(a), "the key's copy is wiped once the contexts are keyed");
  const theirs = new Uint8Array(long.length + 16);
  ref.seal(2, long, theirs);
  assert.deepEqual(ours, theirs);
  const back = new Uint8Array(long.length);
  assert.ok(b.open(2, ours, back));
  assert.deepEqual(back, long);
  assert.equal(contexts(b), 2, "opening makes both");
  assert.ok(!copyHeld(b));
  // The copy wiped, the contexts still seal and open.
  assert.ok(a.open(2, ours, back));
  assert.equal(contexts(a), 2);
  a.seal(3, long, ours);
  ref.seal(3, long, theirs);
  assert.deepEqual(ours, theirs);
  a.destroy();
  b.destroy();
  ref.destroy();
  assert.equal(contexts(a), 0);
  assert.throws(() => a.seal(4, long, ours), /after destroy/);
});

Deno.test("openssl: seals and opens like libsodium for every length to 1500, in place", () => {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const a = openssl!.aead.key(raw);
  const b = sodium!.aead.key(raw);
  const ad = crypto.getRandomValues(new Uint8Array(32));
  for (let len = 0; len <= 1500; len++) {
    const pt = crypto.getRandomValues(new Uint8Array(len));
    const ours = new Uint8Array(len + 16);
    ours.set(pt);
    a.seal(len * 977, ours.subarray(0, len), ours, len % 3 === 0 ? ad : undefined);
    const theirs = new Uint8Array(len + 16);
    b.seal(len * 977, pt, theirs, len % 3 === 0 ? ad : undefined);
    assert.deepEqual(ours, theirs, `length ${len}`);
    assert.ok(a.open(len * 977, ours, ours.subarray(0, len), len % 3 === 0 ? ad : undefined));
    assert.deepEqual(ours.subarray(0, len), pt);
  }
  a.destroy();
  b.destroy();
});

Deno.test("openssl: both paths (raw ChaCha20 to RAW_MAX, the AEAD cipher past it) seal and open like libsodium, apart and in place, with associated data of any length", () => {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const a = openssl!.aead.key(raw);
  const b = sodium!.aead.key(raw);
  const lengths = [0, 1, 15, 16, 17, 63, 64, 65, 959, 960, 961, 1420, 4096, RAW_MAX - 1, RAW_MAX];
  for (const len of [...lengths, RAW_MAX + 1, RAW_MAX + 17]) {
    for (const adLength of [0, 1, 13, 16, 31]) {
      const ad = adLength === 0 ? undefined : crypto.getRandomValues(new Uint8Array(adLength));
      const what = `length ${len}, associated data ${adLength}`;
      const pt = crypto.getRandomValues(new Uint8Array(len));
      const ours = new Uint8Array(len + 16);
      a.seal(len + adLength, pt, ours, ad);
      const theirs = new Uint8Array(len + 16);
      b.seal(len + adLength, pt, theirs, ad);
      assert.deepEqual(ours, theirs, what);
      const out = new Uint8Array(len);
      assert.ok(a.open(len + adLength, theirs, out, ad), what);
      assert.deepEqual(out, pt, what);
      // In place, inside a larger buffer whose bytes around the message must stay as they were.
      const big = new Uint8Array(len + 16 + 128).fill(0xa5);
      const at = big.subarray(64, 64 + len + 16);
      at.set(pt);
      a.seal(len + adLength, at.subarray(0, len), at, ad);
      assert.deepEqual(at, theirs, `${what}, in place`);
      assert.ok(a.open(len + adLength, at, at.subarray(0, len), ad), `${what}, in place`);
      assert.deepEqual(at.subarray(0, len), pt);
      assert.ok(big.subarray(0, 64).every((x) => x === 0xa5), `${what}: the bytes before`);
      assert.ok(big.subarray(64 + len + 16).every((x) => x === 0xa5), `${what}: the bytes after`);
      // A flipped bit anywhere (ciphertext, tag, associated data) is refused, the output zeroed.
      const forged = theirs.slice();
      forged[(len * 7) % forged.length] ^= 0x10;
      out.fill(0xee);
      assert.equal(a.open(len + adLength, forged, out, ad), false, `${what}, forged`);
      assert.ok(out.every((x) => x === 0), `${what}: zeroed`);
      if (ad !== undefined) {
        const otherAd = ad.slice();
        otherAd[0] ^= 1;
        assert.equal(a.open(len + adLength, theirs, out, otherAd), false, `${what}, other data`);
      }
    }
  }
  a.destroy();
  b.destroy();
});

Deno.test("openssl: explicit nonces and counters share the key's nonce memory without mixing", () => {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const a = openssl!.aead.key(raw);
  const b = sodium!.aead.key(raw);
  const pt = crypto.getRandomValues(new Uint8Array(1420));
  const ours = new Uint8Array(1436);
  const theirs = new Uint8Array(1436);
  // An explicit nonce whose first four bytes are not WireGuard's zeros, then the counter form:
  // the counter's nonce must not keep them.
  const explicit = Uint8Array.of(7, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47);
  a.sealWithNonce(explicit, pt, ours);
  b.sealWithNonce(explicit, pt, theirs);
  assert.deepEqual(ours, theirs, "explicit");
  a.seal(9, pt, ours);
  b.seal(9, pt, theirs);
  assert.deepEqual(ours, theirs, "counter after an explicit nonce");
  assert.ok(a.openWithNonce(explicit, theirs, new Uint8Array(1420)) === false, "not that nonce");
  const out = new Uint8Array(1420);
  assert.ok(a.open(9, theirs, out), "counter after an explicit open");
  assert.deepEqual(out, pt);
  a.destroy();
  b.destroy();
});

Deno.test("openssl: X25519 agrees with libsodium", () => {
  for (let i = 0; i < 20; i++) {
    const x = openssl!.dh.generatePrivate();
    const y = sodium!.dh.generatePrivate();
    assert.deepEqual(openssl!.dh.publicKey(y), sodium!.dh.publicKey(y));
    assert.deepEqual(
      openssl!.dh.shared(x, sodium!.dh.publicKey(y)),
      sodium!.dh.shared(y, openssl!.dh.publicKey(x)),
    );
  }
});

Deno.test("split: short messages to one backend, long ones to the other, the same bytes either way", () => {
  const calls: string[] = [];
  const spy = (name: string, inner: ExplicitNonceAead): ExplicitNonceAead => ({
    name: inner.name,
    key: (raw) => {
      const k = inner.key(raw);
      return {
        seal: (c, s, d, ad) => (calls.push(`${name} seal ${s.length}`), k.seal(c, s, d, ad)),
        open: (c, s, d, ad) => (calls.push(`${name} open ${d.length}`), k.open(c, s, d, ad)),
        sealWithNonce: (n, s, d, ad) => k.sealWithNonce(n, s, d, ad),
        openWithNonce: (n, s, d, ad) => k.openWithNonce(n, s, d, ad),
        destroy: () => (calls.push(`${name} destroy`), k.destroy()),
      };
    },
  });
  const aead = splitAead(spy("short", sodium!.aead), spy("long", openssl!.aead));
  assert.equal(aead.name, "openssl");
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const key = aead.key(raw);
  const plain = sodium!.aead.key(raw);
  for (const len of [0, 1, SPLIT_AT - 1, SPLIT_AT, 1420]) {
    const pt = crypto.getRandomValues(new Uint8Array(len));
    const ct = new Uint8Array(len + 16);
    key.seal(3, pt, ct);
    const ref = new Uint8Array(len + 16);
    plain.seal(3, pt, ref);
    assert.deepEqual(ct, ref);
    const out = new Uint8Array(len);
    assert.ok(key.open(3, ct, out));
    assert.deepEqual(out, pt);
  }
  key.destroy();
  assert.deepEqual(calls, [
    "short seal 0",
    "short open 0",
    "short seal 1",
    "short open 1",
    `short seal ${SPLIT_AT - 1}`,
    `short open ${SPLIT_AT - 1}`,
    `long seal ${SPLIT_AT}`,
    `long open ${SPLIT_AT}`,
    "long seal 1420",
    "long open 1420",
    "short destroy",
    "long destroy",
  ]);
});

Deno.test("selectSuite: unforced with both libraries, the AEAD is split at SPLIT_AT", () => {
  const s = selectSuite();
  assert.equal(s.name, "openssl+sodium");
  const key = s.aead.key(new Uint8Array(32));
  // Destroyed keys throw in OpenSSL only: a long message shows which backend it reached.
  key.destroy();
  assert.throws(
    () => key.seal(0, new Uint8Array(SPLIT_AT), new Uint8Array(SPLIT_AT + 16)),
    /after destroy/,
  );
});
