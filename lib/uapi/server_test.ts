import assert from "node:assert/strict";
import { EMSGSIZE, EOPNOTSUPP, keyToHex } from "./protocol.ts";
import { handleUapiRequest, serveUapi, uapiGet } from "./server.ts";
import { ManualClock } from "../device/clock.ts";
import {
  encodeKey,
  generatePresharedKey,
  generatePrivateKey,
  parseKey,
  publicKeyOf,
} from "../crypto/keys.ts";
import { makeMesh, udp } from "../../tests/fixtures/mesh.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function hexOf(base64: string): string {
  return keyToHex(parseKey(base64, "key"));
}

function newPublicKey(): string {
  return encodeKey(publicKeyOf(generatePrivateKey()));
}

/** Two devices with a completed handshake and traffic both ways. */
function pair(start = 1_700_000_000_123) {
  const clock = new ManualClock(start);
  const { nodes, net } = makeMesh(2, { clock });
  const [a, b] = nodes;
  a.packets.inject(udp(a.ip, b.ip, "ping"));
  net.deliver();
  b.packets.inject(udp(b.ip, a.ip, "pong"));
  net.deliver();
  return { a, b, net, clock };
}

// ---- requests against a device ----

Deno.test("uapi: get reports a live device's key, port, peer, handshake and counters", () => {
  const { a, b } = pair();
  const text = uapiGet(a.device);
  const lines = text.split("\n");
  assert.equal(lines[0], `private_key=${hexOf(a.privateKey)}`);
  assert.equal(lines[1], "listen_port=51820");
  const peer = a.device.peer(b.publicKey)!;
  assert.ok(peer.counters.txBytes > 0 && peer.counters.rxBytes > 0);
  const at = lines.indexOf(`public_key=${hexOf(b.publicKey)}`);
  assert.deepEqual(lines.slice(at + 1, at + 10), [
    `preshared_key=${"00".repeat(32)}`,
    "protocol_version=1",
    "endpoint=192.0.2.2:51820",
    "last_handshake_time_sec=1700000000",
    "last_handshake_time_nsec=123000000",
    `tx_bytes=${peer.counters.txBytes}`,
    `rx_bytes=${peer.counters.rxBytes}`,
    "persistent_keepalive_interval=0",
    "allowed_ip=10.0.0.2/32",
  ]);
  assert.ok(text.endsWith("\nerrno=0\n\n"));
});

Deno.test("uapi: set adds, merges, replaces and removes through the device", () => {
  const { a, b } = pair();
  const dev = a.device;
  const c = newPublicKey();
  const psk = generatePresharedKey();
  const set = (...lines: string[]) =>
    handleUapiRequest(dev, ["set=1", ...lines, ""].join("\n")).response;

  // A new peer.
  assert.equal(
    set(
      `public_key=${hexOf(c)}`,
      `preshared_key=${keyToHex(psk)}`,
      "endpoint=[fd00::3]:51820",
      "persistent_keepalive_interval=15",
      "allowed_ip=10.0.0.3/32",
    ),
    "errno=0\n\n",
  );
  const pc = dev.peer(c)!;
  assert.ok(pc);
  assert.equal(pc.endpoint!.toString(), "[fd00::3]:51820");
  assert.deepEqual(pc.handshake.presharedKey, psk);
  assert.equal(pc.timers.persistentKeepaliveMs, 15_000);
  assert.deepEqual(dev.allowedIpsOf(pc), ["10.0.0.3/32"]);

  // Without replace_allowed_ips, prefixes add up; untouched fields stay.
  assert.equal(set(`public_key=${hexOf(c)}`, "allowed_ip=10.3.0.0/16"), "errno=0\n\n");
  assert.deepEqual(dev.allowedIpsOf(pc), ["10.0.0.3/32", "10.3.0.0/16"]);
  assert.deepEqual(pc.handshake.presharedKey, psk);
  assert.equal(pc.timers.persistentKeepaliveMs, 15_000);
  assert.equal(pc.endpoint!.toString(), "[fd00::3]:51820");

  // With it, they are replaced; an all-zero preshared key removes it.
  assert.equal(
    set(
      `public_key=${hexOf(c)}`,
      `preshared_key=${"00".repeat(32)}`,
      "replace_allowed_ips=true",
      "allowed_ip=10.4.0.0/16",
    ),
    "errno=0\n\n",
  );
  assert.deepEqual(dev.allowedIpsOf(pc), ["10.4.0.0/16"]);
  assert.deepEqual(pc.handshake.presharedKey, new Uint8Array(32));

  // The existing, handshaken peer keeps its session when only its prefixes change.
  const pb = dev.peer(b.publicKey)!;
  const session = pb.current;
  assert.ok(session);
  assert.equal(set(`public_key=${hexOf(b.publicKey)}`, "allowed_ip=10.2.0.0/16"), "errno=0\n\n");
  assert.equal(pb.current, session);
  assert.deepEqual(dev.allowedIpsOf(pb), ["10.0.0.2/32", "10.2.0.0/16"]);

  // update_only does not create; it does update.
  const d = newPublicKey();
  assert.equal(
    set(`public_key=${hexOf(d)}`, "update_only=true", "allowed_ip=10.5.0.0/16"),
    "errno=0\n\n",
  );
  assert.equal(dev.peer(d), undefined);
  assert.equal(
    set(`public_key=${hexOf(c)}`, "update_only=true", "endpoint=192.0.2.9:9"),
    "errno=0\n\n",
  );
  assert.equal(pc.endpoint!.toString(), "192.0.2.9:9");

  // Our own key is ignored, as wireguard-go does.
  assert.equal(set(`public_key=${hexOf(dev.publicKey)}`, "allowed_ip=10.6.0.0/16"), "errno=0\n\n");
  assert.equal(dev.peers().length, 2);

  // remove.
  assert.equal(set(`public_key=${hexOf(c)}`, "remove=true"), "errno=0\n\n");
  assert.equal(dev.peer(c), undefined);
  assert.equal(dev.peers().length, 1);

  // replace_peers then one section: only that peer is left.
  assert.equal(
    set("replace_peers=true", `public_key=${hexOf(d)}`, "allowed_ip=10.7.0.0/16"),
    "errno=0\n\n",
  );
  assert.deepEqual(dev.peers().map((p) => p.publicKeyText), [d]);
});

Deno.test("uapi: a set request with any bad line changes nothing", () => {
  const { a, b } = pair();
  const dev = a.device;
  const before = uapiGet(dev);
  const c = newPublicKey();
  const reply = handleUapiRequest(
    dev,
    [
      "set=1",
      "replace_peers=true",
      `public_key=${hexOf(c)}`,
      "allowed_ip=10.0.0.3/32",
      `public_key=${hexOf(b.publicKey)}`,
      "allowed_ip=10.0.0.300/32",
      "",
    ].join("\n"),
  );
  assert.deepEqual(reply, { response: "errno=-22\n\n", close: false });
  assert.equal(uapiGet(dev), before);
  assert.equal(dev.peer(c), undefined);
});

Deno.test("uapi: private key, port and fwmark may be restated but not changed", () => {
  const { a } = pair();
  const dev = a.device;
  const before = uapiGet(dev);
  const set = (...lines: string[]) =>
    handleUapiRequest(dev, ["set=1", ...lines, ""].join("\n")).response;
  assert.equal(
    set(`private_key=${hexOf(a.privateKey)}`, "listen_port=51820", "fwmark=0"),
    "errno=0\n\n",
  );
  const c = newPublicKey();
  for (
    const line of [
      `private_key=${keyToHex(generatePrivateKey())}`,
      "listen_port=51821",
      "fwmark=1",
    ]
  ) {
    // The peer section after the refused device line is not applied either.
    assert.equal(set(line, `public_key=${hexOf(c)}`), `errno=-${EOPNOTSUPP}\n\n`, line);
  }
  assert.equal(uapiGet(dev), before);
  assert.equal(dev.peer(c), undefined);
});

Deno.test("uapi: a device whose socket has a mark reports it; it may be restated only", () => {
  const { a } = pair();
  const dev = a.device;
  const req = (text: string) => handleUapiRequest(dev, text, undefined, 0xca6c).response;
  assert.match(req("get=1\n"), new RegExp(`\nfwmark=${0xca6c}\n`));
  assert.doesNotMatch(uapiGet(dev), /fwmark=/, "no mark, no line");
  assert.equal(req(`set=1\nfwmark=${0xca6c}\n`), "errno=0\n\n");
  assert.equal(req("set=1\nfwmark=0\n"), `errno=-${EOPNOTSUPP}\n\n`);
  assert.equal(req("set=1\nfwmark=7\n"), `errno=-${EOPNOTSUPP}\n\n`);
});

Deno.test("uapi: bad get and unknown operations", () => {
  const { a } = pair();
  assert.deepEqual(handleUapiRequest(a.device, "get=1\nx=y\n"), {
    response: "errno=-22\n\n",
    close: false,
  });
  assert.deepEqual(handleUapiRequest(a.device, "get=2\n"), {
    response: "errno=-22\n\n",
    close: true,
  });
  assert.deepEqual(handleUapiRequest(a.device, ""), { response: "errno=-22\n\n", close: true });
});

// ---- the socket, in a temporary directory (no root, no wg) ----

async function withServer(
  fn: (path: string, dir: string, dev: ReturnType<typeof pair>) => Promise<void>,
  opts: { maxRequestBytes?: number } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weft-uapi-" });
  const p = pair();
  const server = await serveUapi(p.a.device, "wtu0", { dir, ...opts });
  try {
    await fn(server.path, dir, p);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const pending = new WeakMap<Deno.Conn, string>();

/** Reads one complete response (up to its errno line and the empty line), or what came first. */
async function readResponse(conn: Deno.Conn): Promise<string> {
  let text = pending.get(conn) ?? "";
  const buf = new Uint8Array(65536);
  for (;;) {
    const m = /(^|\n)errno=-?\d+\n\n/.exec(text);
    if (m) {
      const end = m.index + m[0].length;
      pending.set(conn, text.slice(end));
      return text.slice(0, end);
    }
    const n = await conn.read(buf);
    if (n === null) return text;
    text += dec.decode(buf.subarray(0, n));
  }
}

async function exchange(path: string, request: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    await conn.write(enc.encode(request));
    return await readResponse(conn);
  } finally {
    conn.close();
  }
}

Deno.test("uapi socket: get and set over one connection, pipelined", async () => {
  await withServer(async (path, _dir, { a }) => {
    assert.equal((await Deno.lstat(path)).mode! & 0o777, 0o600);
    const c = newPublicKey();
    const conn = await Deno.connect({ transport: "unix", path });
    try {
      // Two requests in one write, then a third split across writes.
      await conn.write(
        enc.encode(`set=1\npublic_key=${hexOf(c)}\nallowed_ip=10.0.0.3/32\n\nget=1\n\n`),
      );
      assert.equal(await readResponse(conn), "errno=0\n\n");
      const got = await readResponse(conn);
      assert.match(got, new RegExp(`public_key=${hexOf(c)}\n`));
      assert.ok(got.endsWith("errno=0\n\n"));
      await conn.write(enc.encode("ge"));
      await new Promise((r) => setTimeout(r, 20));
      await conn.write(enc.encode("t=1\n"));
      await new Promise((r) => setTimeout(r, 20));
      await conn.write(enc.encode("\n"));
      assert.equal(await readResponse(conn), uapiGet(a.device));
    } finally {
      conn.close();
    }
    assert.deepEqual(a.device.allowedIpsOf(a.device.peer(c)!), ["10.0.0.3/32"]);
  });
});

Deno.test("uapi socket: a malformed request gets EINVAL and the server keeps serving", async () => {
  await withServer(async (path, _dir, { a }) => {
    const conn = await Deno.connect({ transport: "unix", path });
    try {
      await conn.write(enc.encode("set=1\npublic_key=nothex\n\n"));
      assert.equal(await readResponse(conn), "errno=-22\n\n");
      // The same connection still answers.
      await conn.write(enc.encode("get=1\n\n"));
      assert.equal(await readResponse(conn), uapiGet(a.device));
    } finally {
      conn.close();
    }
    // An unknown operation is answered, then the connection is closed.
    const bad = await Deno.connect({ transport: "unix", path });
    try {
      await bad.write(enc.encode("hello\n\n"));
      assert.equal(await readResponse(bad), "errno=-22\n\n");
      assert.equal(await bad.read(new Uint8Array(16)), null);
    } finally {
      bad.close();
    }
    // Bytes that are not UTF-8: the same.
    const bin = await Deno.connect({ transport: "unix", path });
    try {
      await bin.write(new Uint8Array([0x73, 0x65, 0x74, 0xff, 0x0a, 0x0a]));
      assert.equal(await readResponse(bin), "errno=-22\n\n");
      assert.equal(await bin.read(new Uint8Array(16)), null);
    } finally {
      bin.close();
    }
    assert.match(await exchange(path, "get=1\n\n"), /errno=0\n\n$/);
  });
});

Deno.test("uapi socket: a client leaving mid-request changes nothing", async () => {
  await withServer(async (path, _dir, { a }) => {
    const before = uapiGet(a.device);
    const c = newPublicKey();
    const conn = await Deno.connect({ transport: "unix", path });
    await conn.write(enc.encode(`set=1\npublic_key=${hexOf(c)}\nallowed_ip=10.0.0.3/32\n`));
    conn.close();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await exchange(path, "get=1\n\n"), before);
    assert.equal(a.device.peer(c), undefined);
  });
});

Deno.test("uapi socket: an oversized request is refused with EMSGSIZE and cut off", async () => {
  await withServer(async (path, _dir, { a }) => {
    const before = a.device.peers().length;
    const conn = await Deno.connect({ transport: "unix", path });
    try {
      const line = `public_key=${hexOf(newPublicKey())}\n`;
      await conn.write(enc.encode("set=1\n" + line.repeat(100)));
      assert.equal(await readResponse(conn), `errno=-${EMSGSIZE}\n\n`);
      assert.equal(await conn.read(new Uint8Array(16)), null);
    } catch (e) {
      // The server may close before our write finishes; the refusal is what matters.
      if (!(e instanceof Deno.errors.BrokenPipe || e instanceof Deno.errors.ConnectionReset)) {
        throw e;
      }
    } finally {
      conn.close();
    }
    assert.equal(a.device.peers().length, before);
    assert.match(await exchange(path, "get=1\n\n"), /errno=0\n\n$/);
  }, { maxRequestBytes: 4096 });
});

Deno.test("uapi socket: stale sockets are replaced, live ones and other files refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-uapi-" });
  const { a } = pair();
  try {
    // A socket nobody listens on any more, as a killed agent leaves it.
    const stalePath = `${dir}/wtus.sock`;
    // Deno unlinks a socket it closes; a hard link keeps the dead socket inode around.
    const l = Deno.listen({ transport: "unix", path: `${dir}/tmp.sock` });
    await Deno.link(`${dir}/tmp.sock`, stalePath);
    l.close();
    await assert.rejects(
      () => Deno.connect({ transport: "unix", path: stalePath }),
      Deno.errors.ConnectionRefused,
    );
    assert.ok((await Deno.lstat(stalePath)).isSocket);
    const s1 = await serveUapi(a.device, "wtus", { dir });
    try {
      assert.match(await exchange(s1.path, "get=1\n\n"), /errno=0\n\n$/);
      // A second server for the same name is refused while the first lives.
      await assert.rejects(() => serveUapi(a.device, "wtus", { dir }), /already served/);
      assert.match(await exchange(s1.path, "get=1\n\n"), /errno=0\n\n$/);
    } finally {
      await s1.close();
    }
    await assert.rejects(() => Deno.lstat(stalePath), Deno.errors.NotFound);

    await Deno.writeTextFile(`${dir}/wtuf.sock`, "not a socket");
    await assert.rejects(() => serveUapi(a.device, "wtuf", { dir }), /not a socket/);
    assert.equal(await Deno.readTextFile(`${dir}/wtuf.sock`), "not a socket");

    for (const name of ["", "a/b", "..", "x".repeat(16), "sp ace"]) {
      await assert.rejects(() => serveUapi(a.device, name, { dir }), /invalid interface name/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("uapi socket: close drops open connections and creates the directory first", async () => {
  const parent = await Deno.makeTempDir({ prefix: "weft-uapi-" });
  const dir = `${parent}/sub/wireguard`;
  const { a } = pair();
  try {
    const s = await serveUapi(a.device, "wtuc", { dir });
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o755);
    const idle = await Deno.connect({ transport: "unix", path: s.path });
    await idle.write(enc.encode("set=1\n"));
    await s.close();
    // The server hangs up on the half-sent request: a clean end if it had read those bytes,
    // a reset if they were still unread (on a busy machine it may not have got to them).
    const end = await idle.read(new Uint8Array(16)).catch((e) => {
      if (e instanceof Deno.errors.ConnectionReset) return "reset";
      throw e;
    });
    assert.ok(end === null || end === "reset", `got ${end}`);
    idle.close();
    await assert.rejects(() => Deno.lstat(s.path), Deno.errors.NotFound);
    await s.close(); // idempotent
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
