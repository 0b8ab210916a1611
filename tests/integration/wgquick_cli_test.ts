/**
 * `weft up` with wg-quick's extra keys through the real CLI, without root (userspace mode): keys
 * that cannot be honoured are refused with exit 2 naming the key; SaveConfig writes the running
 * configuration back on SIGTERM. The kernel-interface side (hooks, Table, DNS, FwMark) is in
 * tests/e2e/wgquick_keys_test.ts.
 */
import assert from "node:assert/strict";
import { confFor, nodes, startAgent, weft } from "../fixtures/procs.ts";
import { parseWgQuick } from "../../lib/config/wgquick.ts";
import { decodeBase64 } from "../../lib/crypto/base64.ts";

function hexOf(base64: string): string {
  return Array.from(decodeBase64(base64)!, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test({
  name: "weft up: keys that cannot be honoured are refused (exit 2), naming the key",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-wgq-" });
    try {
      const [a, b] = nodes(2);
      const cases: [string, string[], RegExp][] = [
        ["DNS = 10.77.0.53\n", ["--userspace"], /DNS: .*userspace mode/],
        ["Table = 1234\n", ["--userspace"], /Table = 1234: .*userspace mode/],
        ["PostUp = touch %i.up\n", ["--userspace"], /PostUp: .*userspace mode/],
        ["PreDown = true\n", ["--userspace"], /PreDown: .*userspace mode/],
        ["FwMark = 0x20\n", ["--userspace", "--underlay", "deno"], /FwMark: .*linux underlay/],
      ];
      for (const [extra, flags, reason] of cases) {
        const file = `${dir}/wq${crypto.randomUUID().slice(0, 6)}.conf`;
        const conf = confFor(a, [a, b]).replace("[Peer]", `${extra}\n[Peer]`);
        await Deno.writeTextFile(file, conf, { mode: 0o600 });
        const r = await weft(["up", file, ...flags, "--no-status"]);
        assert.equal(r.code, 2, `${extra.trim()}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`weft: ${file.replaceAll(".", "\\.")}: `));
        assert.match(r.stderr, reason);
        assert.doesNotMatch(r.stderr, /agent started/, "refused before anything started");
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "weft up: SaveConfig = true writes the running configuration back on SIGTERM",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-save-" });
    const [a, b] = nodes(2);
    const extra = nodes(1)[0];
    // a: no ListenPort (the OS picks one), SaveConfig; b knows a's key but not its endpoint.
    const confA = confFor(a, [a, b]).replace(/ListenPort = \d+\n/, "SaveConfig = true\n");
    const agentB = await startAgent(dir, b, confFor(b, [b]));
    const uapiDir = `${dir}/uapi`;
    const agentA = await startAgent(dir, a, confA, ["--uapi", uapiDir]);
    try {
      const status = await (await fetch(`http://${a.status}/status`)).json();
      const port = status.node.listenPort as number;
      assert.ok(port > 0);
      // A peer added at run time through the UAPI, as `wg set` does (in userspace mode the
      // socket is named after the stack, `userspace`, not after the file).
      const conn = await Deno.connect({ transport: "unix", path: `${uapiDir}/userspace.sock` });
      await conn.write(
        new TextEncoder().encode(
          `set=1\npublic_key=${hexOf(extra.publicKey)}\npersistent_keepalive_interval=15\n` +
            "allowed_ip=10.77.9.0/24\n\n",
        ),
      );
      const buf = new Uint8Array(64);
      const n = await conn.read(buf);
      assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "errno=0\n\n");
      conn.close();
      await agentA.stop();
      assert.equal((await agentA.child.status).code, 0, agentA.stderr());
      assert.match(agentA.stderr(), /config saved/);

      const file = `${dir}/${a.name}.conf`;
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
      const saved = parseWgQuick(await Deno.readTextFile(file));
      assert.equal(saved.interface.privateKey, a.privateKey);
      assert.deepEqual(saved.interface.addresses, [`${a.address}/24`]);
      assert.equal(saved.interface.listenPort, port, "the port in use is pinned, as wg-quick");
      assert.equal(saved.interface.saveConfig, true);
      assert.deepEqual(
        saved.peers.map((p) => p.publicKey).sort(),
        [b.publicKey, extra.publicKey].sort(),
      );
      const pb = saved.peers.find((p) => p.publicKey === b.publicKey)!;
      assert.deepEqual(pb.endpoint, { host: "127.0.0.1", port: b.port });
      assert.deepEqual(pb.allowedIPs, [`${b.address}/32`]);
      const px = saved.peers.find((p) => p.publicKey === extra.publicKey)!;
      assert.deepEqual(px.allowedIPs, ["10.77.9.0/24"]);
      assert.equal(px.persistentKeepalive, 15);
      // The saved file brings the same interface up again.
      const again = await startAgent(
        dir,
        { ...a, name: `${a.name}b` },
        await Deno.readTextFile(file),
      );
      const st2 = await (await fetch(`http://${a.status}/status`)).json();
      assert.equal(st2.node.listenPort, port);
      assert.equal(st2.peers.length, 2);
      await again.stop();
    } finally {
      await agentA.stop();
      await agentB.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
