/**
 * Join tokens: the `weft1_` string form, the stored secret hash, and when a stored token may be
 * used.
 */
import assert from "node:assert/strict";
import {
  decodeToken,
  encodeToken,
  hashSecret,
  newTokenSecret,
  secretMatches,
  type StoredToken,
  type TokenPayload,
  tokenProblem,
} from "./token.ts";
import { decodeBase64, encodeBase64 } from "../../crypto/base64.ts";

const PAYLOAD: TokenPayload = {
  leaderKey: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
  endpoints: ["192.0.2.1:51820", "[2001:db8::1]:51820", "leader.example.com:51820"],
  network: "10.77.0.0/24",
  id: "0123456789ab",
  secret: encodeBase64(new Uint8Array(32).fill(0xfb)),
};

/** A payload as decoded: its one leader listed. */
function decoded(p: TokenPayload) {
  const first = {
    key: p.leaderKey,
    endpoints: p.endpoints,
    ...(p.tcpPort !== undefined ? { tcpPort: p.tcpPort } : {}),
  };
  return { ...p, leaders: [first] };
}

/** The token text for an arbitrary JSON body. */
function tokenOf(json: unknown): string {
  const b64 = encodeBase64(new TextEncoder().encode(JSON.stringify(json)));
  return "weft1_" + b64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function stored(over: Partial<StoredToken> = {}): StoredToken {
  return {
    id: "0123456789ab",
    secretHash: hashSecret(PAYLOAD.secret),
    createdAt: 1_000,
    expiresAt: 61_000,
    usesLeft: 1,
    labels: {},
    revoked: false,
    ...over,
  };
}

Deno.test("token: encode/decode round-trip, as a weft1_ base64url string", () => {
  const text = encodeToken(PAYLOAD);
  assert.match(text, /^weft1_[A-Za-z0-9_-]+$/, "URL and shell safe: no +, / or =");
  assert.deepEqual(decodeToken(text), decoded(PAYLOAD));
  // Surrounding whitespace (a pasted line) is ignored.
  assert.deepEqual(decodeToken(`  ${text}\n`), decoded(PAYLOAD));
  // The body is the documented JSON.
  const json = new TextDecoder().decode(
    decodeBase64(
      text.slice(6).replaceAll("-", "+").replaceAll("_", "/") +
        "=".repeat((4 - (text.length - 6) % 4) % 4),
    )!,
  );
  assert.deepEqual(JSON.parse(json), {
    v: 1,
    k: PAYLOAD.leaderKey,
    e: PAYLOAD.endpoints,
    n: PAYLOAD.network,
    i: PAYLOAD.id,
    s: PAYLOAD.secret,
  });
});

Deno.test("token: every padding length decodes (base64url without '=')", () => {
  for (let extra = 0; extra < 3; extra++) {
    const p = { ...PAYLOAD, network: "10.0.0.0/8" + " ".repeat(extra) };
    assert.deepEqual(decodeToken(encodeToken(p)), decoded(p));
  }
});

Deno.test("token: malformed tokens are refused with a reason that never shows the secret", () => {
  const good = {
    v: 1,
    k: PAYLOAD.leaderKey,
    e: PAYLOAD.endpoints,
    n: PAYLOAD.network,
    i: PAYLOAD.id,
    s: PAYLOAD.secret,
  };
  const cases: [string, RegExp][] = [
    ["", /not a weft join token/],
    ["weft2_abcd", /not a weft join token/],
    [encodeToken(PAYLOAD).slice(6), /not a weft join token/],
    ["weft1_***", /not base64url/],
    ["weft1_a", /not base64url/],
    [tokenOf("just a string"), /missing or wrong fields/],
    [
      "weft1_" + encodeBase64(new TextEncoder().encode("{not json")).replace(/=+$/, ""),
      /bad content/,
    ],
    [tokenOf({ ...good, v: 2 }), /missing or wrong fields/],
    [tokenOf({ ...good, k: 5 }), /missing or wrong fields/],
    [tokenOf({ ...good, e: [] }), /missing or wrong fields/],
    [tokenOf({ ...good, e: "192.0.2.1:51820" }), /missing or wrong fields/],
    [tokenOf({ ...good, e: [1] }), /missing or wrong fields/],
    [tokenOf({ ...good, n: undefined }), /missing or wrong fields/],
    [tokenOf({ ...good, i: 7 }), /missing or wrong fields/],
    [tokenOf({ ...good, s: null }), /missing or wrong fields/],
    [tokenOf(null), /missing or wrong fields/],
    [tokenOf({ ...good, t: 0 }), /bad TCP port/],
    [tokenOf({ ...good, t: 65536 }), /bad TCP port/],
    [tokenOf({ ...good, t: "443" }), /bad TCP port/],
  ];
  for (const [text, error] of cases) {
    assert.throws(
      () => decodeToken(text),
      (e: Error) => {
        assert.match(e.message, error, text);
        assert.ok(!e.message.includes(PAYLOAD.secret), "secret echoed");
        if (text.length > 12) assert.ok(!e.message.includes(text.slice(6, 18)), "token echoed");
        return true;
      },
    );
  }
  // The untampered body decodes, so the refusals above are about what was changed.
  assert.deepEqual(decodeToken(tokenOf(good)), decoded(PAYLOAD));
});

Deno.test("token: the stored hash matches its secret only", () => {
  const { secret } = newTokenSecret();
  const h = hashSecret(secret);
  assert.equal(hashSecret(secret), h, "deterministic");
  assert.equal(decodeBase64(h)?.length, 32, "BLAKE2s-256, base64");
  assert.ok(!h.includes(secret));
  assert.notEqual(hashSecret(newTokenSecret().secret), h);
  const t = stored({ secretHash: h });
  assert.ok(secretMatches(t, secret));
  assert.equal(secretMatches(t, newTokenSecret().secret), false);
  assert.equal(secretMatches(t, ""), false);
  assert.equal(secretMatches(t, secret + "A"), false);
  // A stored hash that is not base64 matches nothing.
  assert.equal(secretMatches(stored({ secretHash: "not base64!" }), secret), false);
});

Deno.test("token: tokenProblem says why a token cannot be used, in a fixed order", () => {
  assert.equal(tokenProblem(undefined, 0), "unknown token");
  assert.equal(tokenProblem(stored(), 1_000), null);
  assert.equal(tokenProblem(stored(), 60_999), null, "until the last millisecond");
  assert.equal(tokenProblem(stored(), 61_000), "token expired", "expiresAt itself is expired");
  assert.equal(tokenProblem(stored({ usesLeft: 0 }), 1_000), "token used up");
  assert.equal(tokenProblem(stored({ usesLeft: -1 }), 1_000), "token used up");
  assert.equal(tokenProblem(stored({ usesLeft: null }), 1_000), null, "unlimited");
  assert.equal(tokenProblem(stored({ revoked: true }), 1_000), "token revoked");
  // Revoked before expired before used up.
  assert.equal(
    tokenProblem(stored({ revoked: true, usesLeft: 0 }), 99_000),
    "token revoked",
  );
  assert.equal(tokenProblem(stored({ usesLeft: 0 }), 99_000), "token expired");
});

Deno.test("token: new ids are 12 hex digits, secrets 32 random bytes in base64", () => {
  const ids = new Set<string>();
  const secrets = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const { id, secret } = newTokenSecret();
    assert.match(id, /^[0-9a-f]{12}$/);
    assert.equal(decodeBase64(secret)?.length, 32);
    ids.add(id);
    secrets.add(secret);
  }
  assert.equal(ids.size, 200);
  assert.equal(secrets.size, 200);
});

Deno.test("token: the leader's TCP port travels only when given; tokens without it stay valid", () => {
  const text = encodeToken({ ...PAYLOAD, tcpPort: 443 });
  assert.deepEqual(decodeToken(text), decoded({ ...PAYLOAD, tcpPort: 443 }));
  assert.equal("tcpPort" in decodeToken(encodeToken(PAYLOAD)), false);
});

Deno.test("token: every leader travels, the making leader first; one-leader tokens name one", () => {
  const second = {
    key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=",
    endpoints: ["198.51.100.2:51820"],
  };
  const third = {
    key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAI=",
    endpoints: ["h3:1"],
    tcpPort: 443,
  };
  const first = { key: PAYLOAD.leaderKey, endpoints: PAYLOAD.endpoints };
  // The making leader listed among the others is not listed twice.
  const text = encodeToken({ ...PAYLOAD, leaders: [second, first, third] });
  const d = decodeToken(text);
  assert.deepEqual(d.leaders, [first, second, third]);
  assert.equal(d.leaderKey, PAYLOAD.leaderKey, "older joiners read the first leader as before");
  // An old token (no leader list) names its one leader.
  assert.deepEqual(decodeToken(encodeToken(PAYLOAD)).leaders, [first]);
  // A malformed list is refused, as any malformed field.
  const body = {
    v: 1,
    k: PAYLOAD.leaderKey,
    e: PAYLOAD.endpoints,
    n: "10.0.0.0/8",
    i: "0123456789ab",
    s: "AA==",
  };
  for (
    const l of [
      {},
      [{ k: 1, e: ["a:1"] }],
      [{ k: "x", e: [] }],
      [{ k: "x", e: ["a:1"], t: 0 }],
      new Array(16).fill({ k: "x", e: ["a:1"] }),
    ]
  ) {
    assert.throws(() => decodeToken(tokenOf({ ...body, l })), /bad leader list/);
  }
});

Deno.test("token: a decoded token given another leader key names that leader in place of the first", () => {
  const a = { key: "A".repeat(43) + "=", endpoints: ["192.0.2.1:51820"] };
  const b = { key: "B".repeat(43) + "=", endpoints: ["192.0.2.2:51820"] };
  const text = encodeToken({
    leaderKey: a.key,
    endpoints: a.endpoints,
    network: "10.9.0.0/24",
    id: "0123456789ab",
    secret: btoa("s".repeat(32)),
    leaders: [a, b],
  });
  const t = decodeToken(text);
  assert.deepEqual(t.leaders.map((l) => l.key), [a.key, b.key]);
  const c = "C".repeat(43) + "=";
  const replaced = decodeToken(encodeToken({ ...t, leaderKey: c, endpoints: ["192.0.2.3:1"] }));
  assert.deepEqual(replaced.leaders.map((l) => l.key), [c, b.key]);
  // In the other order (ask b first): b, then a.
  const swapped = decodeToken(encodeToken({ ...t, leaderKey: b.key, leaders: [b, a] }));
  assert.deepEqual(swapped.leaders.map((l) => l.key), [b.key, a.key]);
});
