/**
 * The UAPI with device changes allowed (`deviceChanges`, as `weft wireguard` serves it): `set`
 * changes the private key, the listen port and the fwmark of a running device, as wireguard-go
 * does, and a change the device cannot make leaves it as it was.
 */
import assert from "node:assert/strict";
import { EOPNOTSUPP, keyToHex } from "./protocol.ts";
import { handleUapiRequest, serveUapi, uapiGet, type UapiSettings } from "./server.ts";
import { Device } from "../device/device.ts";
import { ManualClock } from "../device/clock.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { makeMesh, RecordingPackets } from "../../tests/fixtures/mesh.ts";
import { nobleAead, nobleDh } from "../crypto/noble.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../crypto/keys.ts";
import type { Transport } from "../io/driver.ts";

/** Ports a rebind fails on (EADDRINUSE), and a mark the kernel refuses (EPERM). */
const TAKEN = 51999;
const REFUSED_MARK = 666;

/**
 * A keyless device on a memory transport that can also move its port and set marks, as the
 * Linux UDP transport can; `marks` records the marks set.
 */
function changeableDevice() {
  const net = new MemoryNetwork({ manual: true });
  const inner = net.bind("192.0.2.1", 41000);
  let port = inner.port;
  const marks: number[] = [];
  const transport: Transport = {
    name: "udp",
    get port() {
      return port;
    },
    start: (sink) => inner.start(sink),
    send: (data, to) => inner.send(data, to),
    flush: () => {},
    endpoint: (text) => inner.endpoint(text),
    close: () => inner.close(),
    rebind(p: number) {
      if (p === TAKEN) throw Object.assign(new Error("bind [::]:51999: EADDRINUSE"), { errno: 98 });
      port = p === 0 ? 42000 : p;
    },
    setFwMark(m: number) {
      if (m === REFUSED_MARK) throw Object.assign(new Error("SO_MARK: EPERM"), { errno: 1 });
      marks.push(m);
    },
  };
  const device = new Device({
    suite: { aead: nobleAead, dh: nobleDh },
    transport,
    packets: new RecordingPackets(),
    clock: new ManualClock(),
    tickMs: 0,
  });
  device.start();
  const settings: UapiSettings = { fwmark: 0, deviceChanges: true };
  const set = (...lines: string[]) =>
    handleUapiRequest(device, ["set=1", ...lines, ""].join("\n"), undefined, settings).response;
  const get = () => handleUapiRequest(device, "get=1\n", undefined, settings).response;
  return { device, settings, marks, set, get };
}

Deno.test("uapi changes: a keyless device shows no key; set gives it one, and another", () => {
  const { device, set, get } = changeableDevice();
  assert.doesNotMatch(get(), /private_key=/, "wg show must not show a made-up key");
  assert.match(get(), /^listen_port=41000\n/);
  const key = generatePrivateKey();
  const peer = publicKeyOf(generatePrivateKey());
  assert.equal(
    set(
      `private_key=${keyToHex(key)}`,
      "replace_peers=true",
      `public_key=${keyToHex(peer)}`,
      "allowed_ip=10.0.0.2/32",
    ),
    "errno=0\n\n",
  );
  assert.equal(device.publicKey, encodeKey(publicKeyOf(key)));
  assert.match(get(), new RegExp(`^private_key=${keyToHex(key)}\n`));
  assert.equal(device.peerCount, 1);
  // Another key; a section naming the device's own new key is ignored, as wireguard-go does.
  const next = generatePrivateKey();
  assert.equal(
    set(`private_key=${keyToHex(next)}`, `public_key=${keyToHex(publicKeyOf(next))}`),
    "errno=0\n\n",
  );
  assert.equal(device.publicKey, encodeKey(publicKeyOf(next)));
  assert.equal(device.peerCount, 1);
  // All zeros: no key again.
  assert.equal(set(`private_key=${"00".repeat(32)}`), "errno=0\n\n");
  assert.equal(device.hasPrivateKey, false);
  assert.doesNotMatch(get(), /private_key=/);
});

Deno.test("uapi changes: the listen port moves; a taken one is EADDRINUSE and changes nothing", () => {
  const { device, settings, marks, set, get } = changeableDevice();
  assert.equal(set("listen_port=51820"), "errno=0\n\n");
  assert.equal(device.listenPort, 51820);
  assert.match(get(), /^listen_port=51820\n/);
  assert.equal(set("listen_port=51820"), "errno=0\n\n", "restated");
  // The mark of the same request is put back when the port cannot be had.
  const key = generatePrivateKey();
  assert.equal(
    set(`private_key=${keyToHex(key)}`, "fwmark=51820", `listen_port=${TAKEN}`),
    "errno=-98\n\n",
  );
  assert.equal(device.listenPort, 51820);
  assert.equal(settings.fwmark, 0);
  assert.deepEqual(marks, [51820, 0]);
  assert.equal(device.hasPrivateKey, false, "the key of the refused request is not taken");
  assert.doesNotMatch(get(), /fwmark=/);
  // 0: a new port the transport picks, as wireguard-go rebinds for it.
  assert.equal(set("listen_port=0"), "errno=0\n\n");
  assert.equal(device.listenPort, 42000);
});

Deno.test("uapi changes: fwmark is set, reported and cleared; a refused one is EPERM", () => {
  const { settings, marks, set, get } = changeableDevice();
  assert.equal(set("fwmark=51820"), "errno=0\n\n");
  assert.equal(settings.fwmark, 51820);
  assert.match(get(), /\nfwmark=51820\n/);
  assert.equal(set(`fwmark=${REFUSED_MARK}`), "errno=-1\n\n");
  assert.equal(settings.fwmark, 51820);
  assert.equal(set("fwmark=0"), "errno=0\n\n");
  assert.doesNotMatch(get(), /fwmark=/);
  assert.deepEqual(marks, [51820, 0]);
});

Deno.test("uapi changes: a transport that cannot move is EOPNOTSUPP, as before", () => {
  const { nodes: [a] } = makeMesh(1);
  const settings: UapiSettings = { fwmark: 0, deviceChanges: true };
  const reply = (line: string) =>
    handleUapiRequest(a.device, `set=1\n${line}\n`, undefined, settings).response;
  assert.equal(reply("listen_port=1234"), `errno=-${EOPNOTSUPP}\n\n`);
  assert.equal(reply("fwmark=3"), `errno=-${EOPNOTSUPP}\n\n`);
  assert.equal(a.device.listenPort, 51820);
  assert.equal(uapiGet(a.device).includes("fwmark"), false);
});

Deno.test("uapi changes: served over the socket with deviceChanges", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-uapi-changes-" });
  const { device } = changeableDevice();
  const server = await serveUapi(device, "wtc0", { dir, deviceChanges: true });
  try {
    const key = generatePrivateKey();
    const conn = await Deno.connect({ transport: "unix", path: server.path });
    await conn.write(
      new TextEncoder().encode(`set=1\nprivate_key=${keyToHex(key)}\nlisten_port=51821\n\n`),
    );
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    conn.close();
    assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "errno=0\n\n");
    assert.equal(device.publicKey, encodeKey(publicKeyOf(key)));
    assert.equal(device.listenPort, 51821);
  } finally {
    await server.close();
    await device.close();
    await Deno.remove(dir, { recursive: true });
  }
});
