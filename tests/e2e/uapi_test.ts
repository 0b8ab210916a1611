/**
 * The real `wg` tool (wireguard-tools) against weft's userspace API socket. Needs root (wg only
 * looks in /var/run/wireguard) and `wg` on PATH; each test serves a uniquely named interface and
 * removes its socket in a `finally`.
 */
import assert from "node:assert/strict";
import { serveUapi, type UapiServer } from "../../lib/uapi/server.ts";
import { Device } from "../../lib/device/device.ts";
import { ManualClock } from "../../lib/device/clock.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { nobleAead, nobleDh } from "../../lib/crypto/noble.ts";
import {
  encodeKey,
  generatePresharedKey,
  generatePrivateKey,
  publicKeyOf,
} from "../../lib/crypto/keys.ts";
import { makeMesh, RecordingPackets, udp } from "../fixtures/mesh.ts";

const DIR = "/var/run/wireguard";

async function wgAvailable(): Promise<boolean> {
  if (Deno.uid() !== 0) return false;
  try {
    return (await new Deno.Command("wg", { args: ["--version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

const ignore = !(await wgAvailable());

async function wg(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("wg", { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Like `wg`, but fails the test on a non-zero exit. */
async function wgOk(...args: string[]): Promise<string> {
  const r = await wg(...args);
  assert.equal(r.code, 0, `wg ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function uniqueName(): string {
  return "wtu" + crypto.randomUUID().replaceAll("-", "").slice(0, 8);
}

function newPublicKey(): string {
  return encodeKey(publicKeyOf(generatePrivateKey()));
}

/** Device a with a handshaken peer b and traffic both ways, served as a fresh interface. */
async function withServed(
  fn: (ctx: {
    name: string;
    server: UapiServer;
    a: ReturnType<typeof makeMesh>["nodes"][number];
    b: ReturnType<typeof makeMesh>["nodes"][number];
    handshakeMs: number;
  }) => Promise<void>,
): Promise<void> {
  const handshakeMs = Date.now() - 3_000;
  const { nodes: [a, b], net } = makeMesh(2, { clock: new ManualClock(handshakeMs) });
  a.packets.inject(udp(a.ip, b.ip, "ping"));
  net.deliver();
  b.packets.inject(udp(b.ip, a.ip, "pong"));
  net.deliver();
  const name = uniqueName();
  let server: UapiServer | null = null;
  try {
    server = await serveUapi(a.device, name);
    await fn({ name, server, a, b, handshakeMs });
  } finally {
    await server?.close();
    await Deno.remove(`${DIR}/${name}.sock`).catch(() => {});
    await Promise.all([a.device.close(), b.device.close()]);
  }
}

Deno.test({
  name: "wg show: interface, peer endpoint, allowed ips, latest handshake and transfer",
  ignore,
  fn: () =>
    withServed(async ({ name, a, b }) => {
      const peer = a.device.peer(b.publicKey)!;
      assert.ok(peer.counters.rxBytes > 0 && peer.counters.txBytes > 0);
      const out = await wgOk("show", name);
      assert.match(out, new RegExp(`^interface: ${name}\n`));
      assert.ok(out.includes(`  public key: ${a.publicKey}\n`), out);
      assert.ok(out.includes("  private key: (hidden)\n"), out);
      assert.ok(out.includes("  listening port: 51820\n"), out);
      assert.ok(out.includes(`peer: ${b.publicKey}\n`), out);
      assert.ok(out.includes("  endpoint: 192.0.2.2:51820\n"), out);
      assert.ok(out.includes("  allowed ips: 10.0.0.2/32\n"), out);
      assert.match(out, /\n {2}latest handshake: \d+ seconds ago\n/);
      assert.ok(
        out.includes(
          `  transfer: ${peer.counters.rxBytes} B received, ${peer.counters.txBytes} B sent\n`,
        ),
        out,
      );
      // The interface is listed among all of wg's interfaces.
      assert.ok((await wgOk("show", "interfaces")).split(/\s+/).includes(name));
      assert.equal((await wgOk("show", name, "listen-port")).trim(), "51820");
    }),
});

Deno.test({
  name: "wg show dump: every field exact, with a second peer (psk, keepalive, IPv6)",
  ignore,
  fn: () =>
    withServed(async ({ name, a, b, handshakeMs }) => {
      const c = newPublicKey();
      const psk = encodeKey(generatePresharedKey());
      a.device.setPeer({
        publicKey: c,
        presharedKey: psk,
        endpoint: "[fd00::3]:51820",
        allowedIps: ["fd00:3::/64", "10.3.0.0/16"],
        persistentKeepalive: 25,
      });
      const pb = a.device.peer(b.publicKey)!;
      const pc = a.device.peer(c)!;
      const lines = (await wgOk("show", name, "dump")).trimEnd().split("\n");
      assert.equal(lines.length, 3);
      assert.equal(lines[0], [a.privateKey, a.publicKey, "51820", "off"].join("\t"));
      const expected = [
        [
          b.publicKey,
          "(none)",
          "192.0.2.2:51820",
          "10.0.0.2/32",
          String(Math.floor(handshakeMs / 1000)),
          String(pb.counters.rxBytes),
          String(pb.counters.txBytes),
          "off",
        ].join("\t"),
        [
          c,
          psk,
          "[fd00::3]:51820",
          a.device.allowedIpsOf(pc).join(","),
          "0",
          String(pc.counters.rxBytes),
          String(pc.counters.txBytes),
          "25",
        ].join("\t"),
      ];
      assert.deepEqual(lines.slice(1).sort(), expected.sort());
      assert.deepEqual(a.device.allowedIpsOf(pc).sort(), ["10.3.0.0/16", "fd00:3::/64"]);
    }),
});

Deno.test({
  name: "wg showconf round-trips through wg setconf onto another weft device",
  ignore,
  fn: () =>
    withServed(async ({ name, a }) => {
      a.device.setPeer({
        publicKey: newPublicKey(),
        presharedKey: encodeKey(generatePresharedKey()),
        endpoint: "[fd00::3]:51820",
        allowedIps: ["10.3.0.0/16", "fd00:3::/64"],
        persistentKeepalive: 25,
      });
      const conf = await wgOk("showconf", name);
      assert.match(conf, /^\[Interface\]\nListenPort = 51820\nPrivateKey = /);
      assert.match(conf, /\nPresharedKey = /);
      assert.match(conf, /\nPersistentKeepalive = 25\n/);

      // A second device with the same key and port but no peers, fed the config by wg.
      const net = new MemoryNetwork({ manual: true });
      const twin = new Device({
        privateKey: a.privateKey,
        suite: { aead: nobleAead, dh: nobleDh },
        transport: net.bind("192.0.2.100", 51820),
        packets: new RecordingPackets(),
        clock: new ManualClock(),
        tickMs: 0,
      });
      twin.start();
      const name2 = uniqueName();
      const file = await Deno.makeTempFile({ suffix: ".conf" });
      let server2: UapiServer | null = null;
      try {
        server2 = await serveUapi(twin, name2);
        await Deno.writeTextFile(file, conf);
        await wgOk("setconf", name2, file);
        assert.equal(await wgOk("showconf", name2), conf);
        assert.equal(twin.peers().length, a.device.peers().length);
        // syncconf with the same file changes nothing.
        await wgOk("syncconf", name2, file);
        assert.equal(await wgOk("showconf", name2), conf);
      } finally {
        await server2?.close();
        await Deno.remove(`${DIR}/${name2}.sock`).catch(() => {});
        await Deno.remove(file);
        await twin.close();
      }
    }),
});

Deno.test({
  name: "wg set changes a peer, adds one, removes one; unsupported changes are refused",
  ignore,
  fn: () =>
    withServed(async ({ name, a, b }) => {
      const dev = a.device;
      const pb = dev.peer(b.publicKey)!;
      const session = pb.current;
      await wgOk(
        "set",
        name,
        "peer",
        b.publicKey,
        "allowed-ips",
        "10.1.0.0/16",
        "endpoint",
        "127.0.0.1:1234",
        "persistent-keepalive",
        "25",
      );
      assert.deepEqual(dev.allowedIpsOf(pb), ["10.1.0.0/16"]);
      assert.equal(pb.endpoint!.toString(), "127.0.0.1:1234");
      assert.equal(pb.timers.persistentKeepaliveMs, 25_000);
      assert.equal(pb.current, session, "the session survives a config change");

      // A new peer with a preshared key from a file, as wg reads it.
      const d = newPublicKey();
      const psk = generatePresharedKey();
      const pskFile = await Deno.makeTempFile();
      try {
        await Deno.writeTextFile(pskFile, encodeKey(psk) + "\n");
        await wgOk(
          "set",
          name,
          "peer",
          d,
          "preshared-key",
          pskFile,
          "allowed-ips",
          "10.9.0.0/24,fd00:9::/64",
          "endpoint",
          "[fd00::9]:51820",
        );
      } finally {
        await Deno.remove(pskFile);
      }
      const pd = dev.peer(d)!;
      assert.ok(pd);
      assert.deepEqual(pd.handshake.presharedKey, psk);
      assert.deepEqual(dev.allowedIpsOf(pd).sort(), ["10.9.0.0/24", "fd00:9::/64"]);
      assert.equal(pd.endpoint!.toString(), "[fd00::9]:51820");
      assert.equal(pd.timers.persistentKeepaliveMs, 0);

      await wgOk("set", name, "peer", b.publicKey, "remove");
      assert.equal(dev.peer(b.publicKey), undefined);
      assert.deepEqual(dev.peers().map((p) => p.publicKeyText), [d]);
      assert.ok(!(await wgOk("show", name)).includes(b.publicKey));

      const port = await wg("set", name, "listen-port", "1234");
      assert.equal(port.code, 1);
      assert.match(port.stderr, /Unable to modify interface: Operation not supported/);
      const keyFile = await Deno.makeTempFile();
      try {
        await Deno.writeTextFile(keyFile, encodeKey(generatePrivateKey()) + "\n");
        const key = await wg("set", name, "private-key", keyFile);
        assert.equal(key.code, 1);
        assert.match(key.stderr, /Operation not supported/);
        // Restating the current key is fine (wg setconf does it).
        await Deno.writeTextFile(keyFile, a.privateKey + "\n");
        await wgOk("set", name, "private-key", keyFile, "listen-port", "51820");
      } finally {
        await Deno.remove(keyFile);
      }
      assert.equal(dev.listenPort, 51820);
      assert.equal((await wgOk("show", name, "private-key")).trim(), a.privateKey);
    }),
});

Deno.test({
  name: "a malformed raw request gets errno=-22 and wg show keeps working",
  ignore,
  fn: () =>
    withServed(async ({ name, server, a, b }) => {
      const before = await wgOk("show", name, "dump");
      const conn = await Deno.connect({ transport: "unix", path: server.path });
      try {
        const req = `set=1\npublic_key=${"ab".repeat(32)}\nallowed_ip=10.0.0.0/99\n\n`;
        await conn.write(new TextEncoder().encode(req));
        const buf = new Uint8Array(64);
        let got = "";
        while (!got.endsWith("\n\n")) {
          const n = await conn.read(buf);
          if (n === null) break;
          got += new TextDecoder().decode(buf.subarray(0, n));
        }
        assert.equal(got, "errno=-22\n\n");
      } finally {
        conn.close();
      }
      // wg reports a refused set as "Invalid argument".
      const bad = await wg("set", name, "peer", b.publicKey, "endpoint", "[fe80::1%lo]:1");
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /Invalid argument/);
      assert.equal(await wgOk("show", name, "dump"), before);
      assert.equal(a.device.peers().length, 1);
    }),
});

Deno.test({
  name: "closing the server removes the socket; wg no longer sees the interface",
  ignore,
  fn: () =>
    withServed(async ({ name, server }) => {
      assert.equal((await Deno.lstat(server.path)).mode! & 0o777, 0o600);
      await server.close();
      await assert.rejects(() => Deno.lstat(server.path), Deno.errors.NotFound);
      assert.notEqual((await wg("show", name)).code, 0);
      assert.ok(!(await wgOk("show", "interfaces")).split(/\s+/).includes(name));
    }),
});
