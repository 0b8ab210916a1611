import assert from "node:assert/strict";
import {
  EINVAL,
  EOPNOTSUPP,
  findRequestEnd,
  formatErrno,
  formatGetResponse,
  keyFromHex,
  keyToHex,
  parseSetRequest,
  UapiError,
} from "./protocol.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

const enc = new TextEncoder();
const rand = seededRandom(0x0a91);

/** 32 seeded bytes: a key as far as the text protocol is concerned. */
function randomKey(): Uint8Array {
  return Uint8Array.from({ length: 32 }, () => Math.floor(rand() * 256));
}

function uapiErrno(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof UapiError, `expected a UapiError, got ${e}`);
    return e.errno;
  }
  assert.fail("expected a UapiError");
}

// ---- hex keys, errno, framing ----

Deno.test("uapi: keys go to and from lowercase hex", () => {
  const key = new Uint8Array(32).map((_, i) => i * 8 + 1);
  const hex = keyToHex(key);
  assert.equal(hex, "0109111921293139414951596169717981899199a1a9b1b9c1c9d1d9e1e9f1f9");
  assert.deepEqual(keyFromHex(hex, "k"), key);
  assert.deepEqual(keyFromHex(hex.toUpperCase(), "k"), key);
  for (const bad of ["", hex.slice(2), hex + "00", "g" + hex.slice(1), " " + hex.slice(1)]) {
    assert.equal(uapiErrno(() => keyFromHex(bad, "k")), EINVAL, bad);
  }
  assert.throws(() => keyToHex(new Uint8Array(31)), RangeError);
});

Deno.test("uapi: errno lines are negated errno.h values, as wg expects", () => {
  assert.equal(formatErrno(0), "errno=0\n\n");
  assert.equal(formatErrno(EINVAL), "errno=-22\n\n");
  assert.equal(formatErrno(-EOPNOTSUPP), "errno=-95\n\n");
});

Deno.test("uapi: a request ends at its first empty line", () => {
  const end = (s: string, from = 0) => findRequestEnd(enc.encode(s), enc.encode(s).length, from);
  assert.equal(end("get=1\n\n"), 7);
  assert.equal(end("get=1\n"), -1);
  assert.equal(end("get=1"), -1);
  assert.equal(end(""), -1);
  assert.equal(end("\n"), 1);
  assert.equal(end("set=1\na=b\n\nget=1\n\n"), 11);
  // Resuming a search after a split read still finds a "\n\n" straddling the split.
  const buf = enc.encode("set=1\nk=v\n\n");
  assert.equal(findRequestEnd(buf, 10, 0), -1);
  assert.equal(findRequestEnd(buf, 11, 10), 11);
});

// ---- set parsing ----

Deno.test("uapi: a full set request parses, device keys and peer sections", () => {
  const priv = keyToHex(randomKey());
  const pub1 = keyToHex(randomKey());
  const pub2 = keyToHex(randomKey());
  const psk = keyToHex(randomKey());
  const req = parseSetRequest([
    `private_key=${priv}`,
    "listen_port=51820",
    "fwmark=0",
    "replace_peers=true",
    `public_key=${pub1}`,
    "protocol_version=1",
    `preshared_key=${psk}`,
    "endpoint=[fd00::1]:51821",
    "persistent_keepalive_interval=25",
    "allowed_ip=10.1.2.3/16",
    "replace_allowed_ips=true",
    "allowed_ip=10.9.0.0/24",
    "allowed_ip=fd00:1::/64",
    `public_key=${pub2}`,
    "update_only=true",
    "endpoint=192.0.2.7:1234",
  ]);
  assert.equal(keyToHex(req.privateKey!), priv);
  assert.equal(req.listenPort, 51820);
  assert.equal(req.fwmark, 0);
  assert.equal(req.replacePeers, true);
  assert.equal(req.peers.length, 2);
  const [p1, p2] = req.peers;
  assert.equal(keyToHex(p1.publicKey), pub1);
  assert.equal(keyToHex(p1.presharedKey!), psk);
  assert.equal(p1.endpoint, "[fd00::1]:51821");
  assert.equal(p1.persistentKeepalive, 25);
  // replace_allowed_ips drops what came before it in the section.
  assert.equal(p1.replaceAllowedIps, true);
  assert.deepEqual(p1.allowedIps, ["10.9.0.0/24", "fd00:1::/64"]);
  assert.equal(p1.remove, false);
  assert.equal(p2.updateOnly, true);
  assert.equal(p2.endpoint, "192.0.2.7:1234");
  assert.deepEqual(p2.allowedIps, []);
  assert.equal(p2.persistentKeepalive, undefined);
  assert.equal(p2.presharedKey, undefined);
});

Deno.test("uapi: after remove=true the rest of a peer section changes nothing", () => {
  const req = parseSetRequest([
    `public_key=${keyToHex(randomKey())}`,
    "allowed_ip=10.0.0.0/8",
    "remove=true",
    "allowed_ip=10.1.0.0/16",
    "endpoint=192.0.2.1:1",
  ]);
  assert.equal(req.peers[0].remove, true);
  assert.deepEqual(req.peers[0].allowedIps, ["10.0.0.0/8"]);
  assert.equal(req.peers[0].endpoint, undefined);
  // ... but is still validated.
  assert.equal(
    uapiErrno(() =>
      parseSetRequest([`public_key=${keyToHex(randomKey())}`, "remove=true", "endpoint=x"])
    ),
    EINVAL,
  );
});

Deno.test("uapi: every kind of bad set line is EINVAL", () => {
  const pk = `public_key=${keyToHex(randomKey())}`;
  const bad: string[][] = [
    ["no_equals_sign"],
    ["=value"],
    ["bogus=1"],
    ["private_key=abc"],
    ["listen_port=65536"],
    ["listen_port=-1"],
    ["listen_port=0x10"],
    ["fwmark=4294967296"],
    ["replace_peers=yes"],
    ["public_key=zz"],
    [pk, "bogus=1"],
    [pk, "remove=false"],
    [pk, "update_only=1"],
    [pk, "replace_allowed_ips=false"],
    [pk, "protocol_version=2"],
    [pk, "preshared_key=00"],
    [pk, "persistent_keepalive_interval=65536"],
    [pk, "persistent_keepalive_interval="],
    [pk, "endpoint=192.0.2.1"],
    [pk, "endpoint=example.com:51820"],
    [pk, "endpoint=192.0.2.1:0"],
    [pk, "endpoint=192.0.2.1:65536"],
    [pk, "endpoint=fd00::1:51820"],
    [pk, "endpoint=[fd00::1]51820"],
    [pk, "endpoint=256.0.0.1:1"],
    [pk, "allowed_ip=10.0.0.1"],
    [pk, "allowed_ip=10.0.0.0/33"],
    [pk, "allowed_ip=fd00::/129"],
    [pk, "allowed_ip=10.0.0/8"],
    [pk, "allowed_ip= 10.0.0.0/8"],
    [pk, "allowed_ip=10.0.0.0/08"],
    // A device key after a peer section has started is a peer key, and not one.
    [pk, "listen_port=1"],
  ];
  for (const lines of bad) {
    assert.equal(uapiErrno(() => parseSetRequest(lines)), EINVAL, lines.join(" | "));
  }
});

Deno.test("uapi: a malformed line is reported by number, not echoed (it may be a key)", () => {
  const secret = "private_key" + "ab".repeat(32);
  try {
    parseSetRequest(["listen_port=1", secret]);
    assert.fail("expected an error");
  } catch (e) {
    assert.ok(e instanceof UapiError);
    assert.match(e.message, /line 3/);
    assert.ok(!e.message.includes("abab"), e.message);
  }
});

// ---- get formatting ----

Deno.test("uapi: the get response lists device then peers, exactly", () => {
  const priv = new Uint8Array(32).fill(0x11);
  const pub = new Uint8Array(32).fill(0x22);
  const psk = new Uint8Array(32).fill(0x33);
  const text = formatGetResponse({
    privateKey: priv,
    listenPort: 51820,
    fwmark: 7,
    peers: [
      {
        publicKey: pub,
        presharedKey: psk,
        endpoint: "[fd00::2]:51821",
        lastHandshakeUnixMs: 1_700_000_000_123,
        txBytes: 148,
        rxBytes: 92,
        persistentKeepalive: 25,
        allowedIps: ["10.0.0.2/32", "fd00:1::/64"],
      },
      {
        publicKey: new Uint8Array(32).fill(0x44),
        presharedKey: new Uint8Array(32),
        endpoint: null,
        lastHandshakeUnixMs: 0,
        txBytes: 0,
        rxBytes: 0,
        persistentKeepalive: 0,
        allowedIps: [],
      },
    ],
  });
  assert.equal(
    text,
    [
      `private_key=${"11".repeat(32)}`,
      "listen_port=51820",
      "fwmark=7",
      `public_key=${"22".repeat(32)}`,
      `preshared_key=${"33".repeat(32)}`,
      "protocol_version=1",
      "endpoint=[fd00::2]:51821",
      "last_handshake_time_sec=1700000000",
      "last_handshake_time_nsec=123000000",
      "tx_bytes=148",
      "rx_bytes=92",
      "persistent_keepalive_interval=25",
      "allowed_ip=10.0.0.2/32",
      "allowed_ip=fd00:1::/64",
      `public_key=${"44".repeat(32)}`,
      `preshared_key=${"00".repeat(32)}`,
      "protocol_version=1",
      "last_handshake_time_sec=0",
      "last_handshake_time_nsec=0",
      "tx_bytes=0",
      "rx_bytes=0",
      "persistent_keepalive_interval=0",
      "errno=0",
      "",
      "",
    ].join("\n"),
  );
  // A device without a key, port or mark shows none of them.
  assert.equal(
    formatGetResponse({ privateKey: new Uint8Array(32), listenPort: 0, fwmark: 0, peers: [] }),
    "errno=0\n\n",
  );
});

// ---- specifics of the parser and formatter ----

Deno.test("uapi: allowed_ip prefixes come back in canonical network/bits form", () => {
  const req = parseSetRequest([
    `public_key=${keyToHex(randomKey())}`,
    "allowed_ip=10.1.2.3/16",
    "allowed_ip=FD00:0:0::1/64",
    "allowed_ip=0.0.0.0/0",
  ]);
  assert.deepEqual(req.peers[0].allowedIps, ["10.1.0.0/16", "fd00::/64", "0.0.0.0/0"]);
});

Deno.test("uapi: the bounds of numeric device keys are inclusive", () => {
  const req = parseSetRequest(["listen_port=0", "fwmark=4294967295"]);
  assert.equal(req.listenPort, 0);
  assert.equal(req.fwmark, 0xffffffff);
  assert.equal(req.privateKey, undefined);
  assert.equal(req.replacePeers, false);
  assert.deepEqual(req.peers, []);
  assert.equal(parseSetRequest(["listen_port=65535"]).listenPort, 65535);
  // An empty request is valid and changes nothing.
  assert.deepEqual(parseSetRequest([]), { replacePeers: false, peers: [] });
});

Deno.test("uapi: a key stated twice makes two sections; remove keeps its section's key", () => {
  const key = randomKey();
  const req = parseSetRequest([
    `public_key=${keyToHex(key)}`,
    "remove=true",
    "update_only=true",
    "persistent_keepalive_interval=5",
    `public_key=${keyToHex(key)}`,
    "allowed_ip=10.0.0.1/32",
  ]);
  assert.equal(req.peers.length, 2);
  const [gone, back] = req.peers;
  assert.deepEqual(gone.publicKey, key);
  assert.equal(gone.remove, true);
  assert.equal(gone.updateOnly, false, "update_only after remove=true changes nothing");
  assert.equal(gone.persistentKeepalive, undefined);
  assert.equal(back.remove, false);
  assert.deepEqual(back.allowedIps, ["10.0.0.1/32"]);
});

Deno.test("uapi: error messages name the key and cut long names and values short", () => {
  const message = (lines: string[]) => {
    try {
      parseSetRequest(lines);
    } catch (e) {
      assert.ok(e instanceof UapiError);
      assert.equal(e.errno, EINVAL);
      assert.equal(e.name, "UapiError");
      return e.message;
    }
    assert.fail("expected an error");
  };
  assert.equal(message(["x".repeat(100) + "=1"]), `unknown device key "${"x".repeat(40)}"`);
  const pk = `public_key=${keyToHex(randomKey())}`;
  assert.equal(message([pk, "y".repeat(60) + "=1"]), `unknown peer key "${"y".repeat(40)}"`);
  assert.equal(
    message([pk, "protocol_version=" + "9".repeat(50)]),
    `unsupported protocol_version "${"9".repeat(20)}"`,
  );
  assert.match(message([pk, "preshared_key=zz"]), /^invalid preshared_key: want 64 hex digits$/);
  // A bad key is named but its text is not repeated.
  const almost = "cd".repeat(31) + "c";
  const m = message([`private_key=${almost}`]);
  assert.match(m, /private_key/);
  assert.ok(!m.includes(almost));
});

Deno.test("uapi: the errno constants are the Linux errno.h values", () => {
  assert.equal(EINVAL, 22);
  assert.equal(EOPNOTSUPP, 95);
  const e = new UapiError(EOPNOTSUPP, "no");
  assert.ok(e instanceof Error);
  assert.equal(e.errno, 95);
  assert.equal(formatErrno(e.errno), "errno=-95\n\n");
});

Deno.test("uapi: a handshake time is whole milliseconds, never negative", () => {
  const peer = (lastHandshakeUnixMs: number) => ({
    publicKey: new Uint8Array(32).fill(1),
    presharedKey: new Uint8Array(32),
    endpoint: null,
    lastHandshakeUnixMs,
    txBytes: 0,
    rxBytes: 0,
    persistentKeepalive: 0,
    allowedIps: [],
  });
  const times = (ms: number) => {
    const text = formatGetResponse({
      privateKey: new Uint8Array(32),
      listenPort: 0,
      fwmark: 0,
      peers: [peer(ms)],
    });
    return text.split("\n").filter((l) => l.startsWith("last_handshake_time"));
  };
  assert.deepEqual(times(1999.9), [
    "last_handshake_time_sec=1",
    "last_handshake_time_nsec=999000000",
  ]);
  assert.deepEqual(times(-5.5), ["last_handshake_time_sec=0", "last_handshake_time_nsec=0"]);
  assert.deepEqual(times(1000), ["last_handshake_time_sec=1", "last_handshake_time_nsec=0"]);
});

Deno.test("uapi: findRequestEnd looks only at the first `length` bytes", () => {
  const buf = enc.encode("get=1\n\nset=1\n\n");
  assert.equal(findRequestEnd(buf, 6), -1, "the second newline is beyond length");
  assert.equal(findRequestEnd(buf, 7), 7);
  // Searching the rest from where the first request ended finds the second.
  assert.equal(findRequestEnd(buf.subarray(7), 7), 7);
  assert.equal(findRequestEnd(buf, 0), -1);
});
