import assert from "node:assert/strict";
import {
  encodeKey,
  equalBytes,
  generatePresharedKey,
  generatePrivateKey,
  parseKey,
  publicKeyOf,
} from "./keys.ts";
import { nodeDh } from "./node.ts";
import { xchachaOpen, xchachaSeal } from "./xchacha.ts";

const hex = (s: string): Uint8Array =>
  new Uint8Array(s.match(/../g)?.map((b) => parseInt(b, 16)) ?? []);
const toHex = (b: Uint8Array): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("keys: encode/parse round-trip, 44-character padded standard base64", () => {
  for (let i = 0; i < 200; i++) {
    const k = crypto.getRandomValues(new Uint8Array(32));
    const text = encodeKey(k);
    assert.equal(text.length, 44);
    assert.match(text, /^[A-Za-z0-9+/]{43}=$/);
    assert.deepEqual(parseKey(text, "key"), k);
    assert.deepEqual(parseKey(`  ${text}\n`, "key"), k, "surrounding whitespace is ignored");
  }
  assert.equal(encodeKey(new Uint8Array(32)), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  assert.equal(
    encodeKey(new Uint8Array(32).fill(0xff)),
    "//////////////////////////////////////////8=",
  );
  // RFC 7748 §6.1 Alice's public key, as wg would print it.
  const alicePub = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  assert.equal(encodeKey(alicePub), "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
  // A subarray encodes only its own bytes.
  const big = new Uint8Array(40).fill(1);
  big.set(alicePub, 5);
  assert.equal(encodeKey(big.subarray(5, 37)), "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
  assert.throws(() => encodeKey(new Uint8Array(31)), /32 bytes/);
});

Deno.test("keys: parseKey rejects bad text with an error naming what was parsed", () => {
  const good = encodeKey(crypto.getRandomValues(new Uint8Array(32)));
  const bad: string[] = [
    "",
    "hello",
    good.slice(0, 43), // no padding
    good.slice(0, 42) + "==", // 31 bytes
    good + "=",
    good.slice(0, 43) + "A", // padding replaced
    "-" + good.slice(1), // URL-safe alphabet
    good.slice(0, 10) + " " + good.slice(11),
    "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=", // non-canonical last char (low bits set)
    encodeKey(new Uint8Array(32)).replace(/=$/, "") + "A=", // 45 chars
  ];
  for (const text of bad) {
    assert.throws(
      () => parseKey(text, "public key of peer alice"),
      (e: unknown) =>
        e instanceof Error && e.message.includes("public key of peer alice") &&
        e.message.includes("44-character base64"),
      JSON.stringify(text),
    );
  }
  // deno-lint-ignore no-explicit-any
  assert.throws(() => parseKey(undefined as any, "private key"), /invalid private key/);
  // The hint names the wg command that prints that kind of key.
  assert.throws(() => parseKey("x", "public key of peer alice"), /as printed by `wg pubkey`/);
  assert.throws(() => parseKey("x", "private key"), /as printed by `wg genkey`/);
  assert.throws(() => parseKey("x", "preshared key"), /as printed by `wg genpsk`/);
});

Deno.test("keys: generated keys are clamped / random; publicKeyOf matches the DH backends", () => {
  const a = generatePrivateKey();
  const b = generatePrivateKey();
  assert.equal(a.length, 32);
  assert.notDeepEqual(a, b);
  assert.equal(a[0] & 7, 0);
  assert.equal(a[31] & 0xc0, 0x40);
  assert.deepEqual(publicKeyOf(a), nodeDh.publicKey(a));
  assert.deepEqual(publicKeyOf(a, nodeDh), publicKeyOf(a));
  const psks = [generatePresharedKey(), generatePresharedKey()];
  assert.equal(psks[0].length, 32);
  assert.notDeepEqual(psks[0], psks[1]);
});

async function wg(args: string[], input?: string): Promise<string> {
  const p = new Deno.Command("wg", {
    args,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
  })
    .spawn();
  if (input !== undefined) {
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(input));
    await w.close();
  }
  const out = await p.output();
  assert.equal(out.code, 0);
  return new TextDecoder().decode(out.stdout).trim();
}

const hasWg = (() => {
  try {
    return new Deno.Command("wg", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync()
      .success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "keys: interoperate with wg genkey / wg pubkey / wg genpsk",
  ignore: !hasWg,
  fn: async () => {
    for (let i = 0; i < 5; i++) {
      // Theirs into ours.
      const priv = await wg(["genkey"]);
      const pub = await wg(["pubkey"], priv + "\n");
      assert.equal(encodeKey(publicKeyOf(parseKey(priv, "wg genkey output"))), pub);
      assert.equal(parseKey(await wg(["genpsk"]), "wg genpsk output").length, 32);
      // Ours into theirs.
      const mine = encodeKey(generatePrivateKey());
      assert.equal(await wg(["pubkey"], mine + "\n"), encodeKey(publicKeyOf(parseKey(mine, "k"))));
    }
  },
});

Deno.test("equalBytes: equal, different, different lengths", () => {
  const a = crypto.getRandomValues(new Uint8Array(32));
  assert.equal(equalBytes(a, a.slice()), true);
  assert.equal(equalBytes(new Uint8Array(0), new Uint8Array(0)), true);
  for (const i of [0, 15, 31]) {
    const b = a.slice();
    b[i] ^= 1;
    assert.equal(equalBytes(a, b), false, `differs at ${i}`);
  }
  assert.equal(equalBytes(a, a.subarray(0, 31)), false);
});

// draft-irtf-cfrg-xchacha-03 §A.3.1.
Deno.test("xchacha: draft-irtf-cfrg-xchacha A.3.1 vector, forgeries rejected", () => {
  const key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const nonce = hex("404142434445464748494a4b4c4d4e4f5051525354555657");
  const ad = hex("50515253c0c1c2c3c4c5c6c7");
  const pt = new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, " +
      "sunscreen would be it.",
  );
  const sealed = xchachaSeal(key, nonce, pt, ad);
  assert.equal(
    toHex(sealed),
    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e" +
      "39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565" +
      "d3fff921f9664c97637da9768812f615c68b13b52e" + "c0875924c1c7987947deafd8780acf49",
  );
  assert.deepEqual(xchachaOpen(key, nonce, sealed, ad), pt);
  const t = sealed.slice();
  t[t.length - 1] ^= 1;
  assert.equal(xchachaOpen(key, nonce, t, ad), null);
  assert.equal(xchachaOpen(key, nonce, sealed, ad.subarray(1)), null);
  const n2 = nonce.slice();
  n2[23] ^= 1;
  assert.equal(xchachaOpen(key, n2, sealed, ad), null);
  assert.equal(xchachaOpen(key, nonce, sealed.subarray(0, 15), ad), null);
  assert.throws(() => xchachaSeal(key, nonce.subarray(0, 12), pt, ad), /24 bytes/);
  // WireGuard's cookie reply shape: a 16-byte cookie sealed with mac1 as AD.
  const cookie = crypto.getRandomValues(new Uint8Array(16));
  const mac1 = crypto.getRandomValues(new Uint8Array(16));
  const enc = xchachaSeal(key, nonce, cookie, mac1);
  assert.equal(enc.length, 32);
  assert.deepEqual(xchachaOpen(key, nonce, enc, mac1), cookie);
});
