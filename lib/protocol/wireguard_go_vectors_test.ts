/**
 * Known answers from wireguard-go. testdata/wireguard_go_vectors.json holds the bytes wireguard-go's
 * own device package put on the wire (scripts/kat/wireguard_go_vectors.go made them) with fixed
 * static and ephemeral keys, timestamps, indices, cookie secrets and nonces: a handshake under
 * load (initiation, cookie reply, initiation with MAC2, response) and transport messages, with and
 * without a preshared key. weft must make the very same bytes from the same inputs and take
 * wireguard-go's, with every crypto backend: a wrong construction string, label, layout, counter
 * or padding fails here, with no root, network or Go needed.
 */

import assert from "node:assert/strict";
import { bytesToHex as toHex, hexToBytes as fromHex } from "npm:@noble/hashes@^2.4.0/utils.js";
import vectors from "./testdata/wireguard_go_vectors.json" with { type: "json" };
import { availableBackends, suiteByName } from "../crypto/select.ts";
import type { CryptoSuite, Dh } from "../crypto/types.ts";
import { encodeKey, equalBytes } from "../crypto/keys.ts";
import type { Clock } from "../device/clock.ts";
import { Device } from "../device/device.ts";
import type { DatagramSink, Endpoint, PacketDevice, PacketSink, Transport } from "../io/driver.ts";
import { EndpointTable } from "../../drivers/shared/endpoint.ts";
import { COOKIE_REPLY_SIZE, DEFAULT_TIMERS, INITIATION_SIZE, RESPONSE_SIZE } from "./constants.ts";
import { CookieChecker, CookieGenerator, sourceBytes } from "./cookie.ts";
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  Handshake,
  type LocalIdentity,
} from "./noise.ts";
import { tai64n } from "./tai64n.ts";

type Case = (typeof vectors.cases)[number];

// The generator bound its cookies to the bytes weft's sourceBytes makes for INITIATOR.
const INITIATOR = { address: "192.0.2.1", port: 51820 };
const RESPONDER = "192.0.2.2:51820";
const REFRESH = DEFAULT_TIMERS.cookieRefreshTime;

/** The backend's X25519, its "fresh" ephemeral keys taken from `ephemerals` in order. */
function fixedEphemerals(dh: Dh, ephemerals: string[]): Dh {
  return {
    name: dh.name,
    generatePrivate: () => {
      const k = ephemerals.shift();
      assert.ok(k !== undefined, "an ephemeral key more than wireguard-go made");
      return fromHex(k);
    },
    publicKey: (k) => dh.publicKey(k),
    shared: (k, p) => dh.shared(k, p),
  };
}

/**
 * Random bytes that are wireguard-go's draws. Each call takes the first input of the size asked
 * for: weft draws a cookie reply's nonce before its secret, wireguard-go after, and both are free
 * to.
 */
function fixedRandom(inputs: Uint8Array[]): (bytes: Uint8Array) => void {
  return (bytes) => {
    const i = inputs.findIndex((b) => b.length === bytes.length);
    assert.ok(i >= 0, `a draw of ${bytes.length} random bytes wireguard-go did not make`);
    bytes.set(inputs.splice(i, 1)[0]);
  };
}

/** An index as the four random bytes it is read from (little-endian, by both). */
function indexBytes(index: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, index, true);
  return b;
}

function identity(
  suite: CryptoSuite,
  keys: Case["initiator"],
  ephemerals: string[],
): LocalIdentity {
  return {
    privateKey: fromHex(keys.privateKey),
    publicKey: fromHex(keys.publicKey),
    dh: fixedEphemerals(suite.dh, ephemerals),
    aead: suite.aead,
  };
}

/** weft's noise and cookie functions against wireguard-go's bytes, one message at a time. */
function handshakeFunctions(suite: CryptoSuite, c: Case): void {
  const now = 1_000;
  const psk = fromHex(c.presharedKey);
  const a = identity(suite, c.initiator, [
    c.initiation.ephemeralPrivateKey,
    c.initiationWithCookie.ephemeralPrivateKey,
  ]);
  const b = identity(suite, c.responder, [c.response.ephemeralPrivateKey]);
  assert.equal(toHex(a.dh.publicKey(a.privateKey)), c.initiator.publicKey);
  assert.equal(toHex(b.dh.publicKey(b.privateKey)), c.responder.publicKey);

  // The initiator's messages.
  const hsA = new Handshake(b.publicKey, psk, a);
  const macsA = new CookieGenerator(b.publicKey, REFRESH);
  const initiate = (v: Case["initiation"]): string => {
    assert.equal(toHex(tai64n(v.unixMs)), v.timestamp, "TAI64N timestamp");
    const msg = new Uint8Array(INITIATION_SIZE);
    createInitiation(a, hsA, v.senderIndex, v.unixMs, msg);
    macsA.addMacs(msg, now);
    return toHex(msg);
  };
  assert.equal(initiate(c.initiation), c.initiation.message, "initiation");
  const source = sourceBytes(INITIATOR.address, INITIATOR.port);
  assert.equal(toHex(source), c.cookieReply.source);
  const checker = new CookieChecker(
    b.publicKey,
    REFRESH,
    fixedRandom([fromHex(c.cookieReply.secret), fromHex(c.cookieReply.nonce)]),
  );
  const reply = new Uint8Array(COOKIE_REPLY_SIZE);
  checker.createReply(fromHex(c.initiation.message), c.initiation.senderIndex, source, now, reply);
  assert.equal(toHex(reply), c.cookieReply.message, "cookie reply");
  assert.ok(macsA.consumeReply(fromHex(c.cookieReply.message), now), "cookie reply opens");
  assert.equal(initiate(c.initiationWithCookie), c.initiationWithCookie.message, "MAC2");

  // The responder takes wireguard-go's initiation and answers it.
  const init = fromHex(c.initiationWithCookie.message);
  assert.ok(checker.checkMac1(init), "MAC1 of wireguard-go's initiation");
  assert.ok(checker.checkMac2(init, source, now), "MAC2 of wireguard-go's initiation");
  const hsB = new Handshake(a.publicKey, psk, b);
  const consumed = consumeInitiation(
    b,
    init,
    (key) => equalBytes(key, a.publicKey) ? { peer: "initiator", handshake: hsB } : undefined,
    now,
    0,
  );
  assert.ok(consumed, "wireguard-go's initiation is taken");
  const resp = new Uint8Array(RESPONSE_SIZE);
  const responder = createResponse(b, consumed, c.response.senderIndex, resp);
  new CookieGenerator(a.publicKey, REFRESH).addMacs(resp, now);
  assert.equal(toHex(resp), c.response.message, "response");
  assert.ok(responder);
  assert.equal(toHex(responder.receive), c.initiatorSendKey, "responder's receive key");
  assert.equal(toHex(responder.send), c.initiatorReceiveKey, "responder's send key");
  assert.equal(responder.remoteIndex, c.initiationWithCookie.senderIndex);

  // The initiator takes wireguard-go's response.
  const initiator = consumeResponse(a, hsA, fromHex(c.response.message));
  assert.ok(initiator, "wireguard-go's response is taken");
  assert.equal(toHex(initiator.send), c.initiatorSendKey, "initiator's send key");
  assert.equal(toHex(initiator.receive), c.initiatorReceiveKey, "initiator's receive key");
  assert.equal(initiator.remoteIndex, c.response.senderIndex);
}

/** An underlay that records what the device sends and delivers what the test gives it. */
class Wire implements Transport {
  readonly name = "kat";
  readonly port = 51820;
  readonly sent: Uint8Array[] = [];
  readonly #table = new EndpointTable();
  #sink: DatagramSink | null = null;
  start(sink: DatagramSink): void {
    this.#sink = sink;
  }
  send(data: Uint8Array): void {
    this.sent.push(data.slice());
  }
  flush(): void {}
  endpoint(text: string): Endpoint {
    return this.#table.parse(text);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  /** Hands the device a datagram (hex) from `from`. */
  deliver(hex: string, from: string): void {
    this.#sink!.datagram(fromHex(hex), this.endpoint(from));
    this.#sink!.flush();
  }
  /** The one datagram sent since the last call, as hex. */
  take(what: string): string {
    assert.equal(this.sent.length, 1, `${what}: one datagram sent`);
    return toHex(this.sent.pop()!);
  }
}

/** A host side that records what the tunnel delivers. */
class Host implements PacketDevice {
  readonly name = "kat";
  readonly mtu = vectors.mtu; // wireguard-go's padding depends on it
  readonly written: Uint8Array[] = [];
  #sink: PacketSink | null = null;
  start(sink: PacketSink): void {
    this.#sink = sink;
  }
  write(data: Uint8Array): void {
    this.written.push(data.slice());
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  /** Sends a packet (hex) into the tunnel. */
  inject(hex: string): void {
    this.#sink!.packet(fromHex(hex));
    this.#sink!.flush();
  }
  /** What was delivered since the last call, as hex ("" for nothing, as for a keepalive). */
  take(what: string): string {
    assert.ok(this.written.length <= 1, `${what}: at most one packet delivered`);
    return toHex(this.written.pop() ?? new Uint8Array(0));
  }
}

class FixedClock implements Clock {
  mono = 1_000;
  wall = 0;
  now(): number {
    return this.mono;
  }
  wallNow(): number {
    return this.wall;
  }
}

/** A started weft device on recording drivers, its randomness and ephemerals wireguard-go's. */
function rig(
  suite: CryptoSuite,
  c: Case,
  role: "initiator" | "responder",
  ephemerals: string[],
  random: Uint8Array[],
  underLoadThreshold?: number,
) {
  const wire = new Wire();
  const host = new Host();
  const clock = new FixedClock();
  const device = new Device({
    privateKey: fromHex(c[role].privateKey),
    suite: { aead: suite.aead, dh: fixedEphemerals(suite.dh, ephemerals) },
    transport: wire,
    packets: host,
    clock,
    tickMs: 0,
    random: fixedRandom(random),
    underLoadThreshold,
  });
  const other = role === "initiator" ? c.responder : c.initiator;
  const peerKey = device.setPeer({
    publicKey: fromHex(other.publicKey),
    presharedKey: fromHex(c.presharedKey),
    endpoint: role === "initiator" ? RESPONDER : undefined,
    allowedIps: [role === "initiator" ? "10.0.0.2/32" : "10.0.0.1/32"],
  });
  device.start();
  return { device, wire, host, clock, peer: () => device.peer(peerKey)! };
}

/** A weft device in wireguard-go's initiator's place, fed the responder's messages. */
async function deviceAsInitiator(suite: CryptoSuite, c: Case): Promise<void> {
  const { device, wire, host, clock, peer } = rig(
    suite,
    c,
    "initiator",
    [c.initiation.ephemeralPrivateKey, c.initiationWithCookie.ephemeralPrivateKey],
    [indexBytes(c.initiation.senderIndex), indexBytes(c.initiationWithCookie.senderIndex)],
  );
  const peerKey = encodeKey(fromHex(c.responder.publicKey));
  clock.wall = c.initiation.unixMs;
  device.initiateHandshake(peerKey);
  assert.equal(wire.take("initiation"), c.initiation.message, "initiation");
  wire.deliver(c.cookieReply.message, RESPONDER);
  // The retry comes a rekey timeout later, now with MAC2.
  clock.mono += DEFAULT_TIMERS.rekeyTimeout;
  clock.wall = c.initiationWithCookie.unixMs;
  device.initiateHandshake(peerKey);
  assert.equal(wire.take("initiation with MAC2"), c.initiationWithCookie.message, "MAC2");
  wire.deliver(c.response.message, RESPONDER);
  for (const t of c.transport) {
    const what = `transport from the ${t.from} at ${t.counter}`;
    if (t.from === "initiator") {
      // The keepalive went out on its own as the response arrived; the rest are sent now.
      if (t.plaintext !== "") {
        // Skip ahead rather than send four billion packets.
        if (t.counter >= 2 ** 32) peer().current!.sendCounter = t.counter;
        host.inject(t.plaintext);
      }
      assert.equal(wire.take(what), t.message, what);
    } else {
      wire.deliver(t.message, RESPONDER);
      assert.equal(host.take(what), t.plaintext, what);
    }
  }
  assert.equal(device.drops.total(), 0);
  await device.close();
}

/** A weft device in wireguard-go's responder's place, under load, fed the initiator's messages. */
async function deviceAsResponder(suite: CryptoSuite, c: Case): Promise<void> {
  const from = `${INITIATOR.address}:${INITIATOR.port}`;
  const { device, wire, host, clock, peer } = rig(
    suite,
    c,
    "responder",
    [c.response.ephemeralPrivateKey],
    [
      fromHex(c.cookieReply.secret),
      fromHex(c.cookieReply.nonce),
      indexBytes(c.response.senderIndex),
    ],
    0, // every handshake counts as load: MAC2 is demanded, as the vectors' responder did
  );
  wire.deliver(c.initiation.message, from);
  assert.equal(wire.take("cookie reply"), c.cookieReply.message, "cookie reply");
  clock.mono += DEFAULT_TIMERS.rekeyTimeout;
  wire.deliver(c.initiationWithCookie.message, from);
  assert.equal(wire.take("response"), c.response.message, "response");
  for (const t of c.transport) {
    const what = `transport from the ${t.from} at ${t.counter}`;
    if (t.from === "initiator") {
      wire.deliver(t.message, from);
      assert.equal(host.take(what), t.plaintext, what);
    } else {
      if (t.counter >= 2 ** 32) peer().current!.sendCounter = t.counter;
      host.inject(t.plaintext);
      assert.equal(wire.take(what), t.message, what);
    }
  }
  assert.equal(device.drops.get("cookie-required"), 1);
  assert.equal(device.drops.total(), 1);
  await device.close();
}

for (const name of availableBackends()) {
  const suite = suiteByName(name)!;
  for (const c of vectors.cases) {
    const prefix = `wireguard-go vectors, ${name}, ${c.name}`;
    Deno.test(`${prefix}: noise and cookie functions make and take its bytes, same keys`, () => {
      handshakeFunctions(suite, c);
    });
    Deno.test(`${prefix}: device as initiator`, () => deviceAsInitiator(suite, c));
    Deno.test(`${prefix}: device as responder under load`, () => deviceAsResponder(suite, c));
  }
}

const GENERATOR = new URL("../../scripts/kat/wireguard_go_vectors.go", import.meta.url).pathname;
const WIREGUARD_GO = "/usr/share/gocode/src/golang.zx2c4.com/wireguard/device";

/** True when Go and Debian's wireguard-go source are here to rerun the generator. */
function canRegenerate(): boolean {
  try {
    Deno.statSync(WIREGUARD_GO);
    const go = new Deno.Command("go", { args: ["version"], stdout: "null", stderr: "null" });
    return go.outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "wireguard-go vectors: the fixture is what wireguard-go makes (needs go and its source)",
  ignore: !canRegenerate(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "weft-kat-" });
    try {
      const out = `${dir}/vectors.json`;
      const go = new Deno.Command("go", {
        args: ["run", GENERATOR, "-o", out],
        // The generator needs no module: keep a GOFLAGS=-mod=... of the caller's out of it.
        env: { GO111MODULE: "off", GOFLAGS: "" },
        stdout: "piped",
        stderr: "piped",
      });
      const run = await go.output();
      assert.ok(run.success, new TextDecoder().decode(run.stderr));
      assert.deepEqual(JSON.parse(await Deno.readTextFile(out)), vectors);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
