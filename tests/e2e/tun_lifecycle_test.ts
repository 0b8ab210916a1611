/**
 * `weft up` with a TUN through the real CLI: the interface, its address and the peers' routes
 * appear on start and go away on SIGINT/SIGTERM; after SIGKILL nothing blocks the next start.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import { type LabNodeSpec, startWeft } from "../fixtures/wg_lab.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("wg"));

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "weft up: address and routes on start, removed on SIGTERM/SIGINT, SIGKILL recoverable",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["a"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-e2e-" });
    try {
      const k = generateKeyPair();
      const spec: LabNodeSpec = {
        host: "a",
        iface: `wl${lab.tag}`,
        privateKey: k.privateKey,
        address: "10.80.0.1/24",
        port: 51820,
        peers: [{
          publicKey: generateKeyPair().publicKey,
          endpoint: "192.0.2.9:51820",
          allowedIps: ["10.81.0.0/16", "fd00:81::/64"],
        }],
      };
      const sock = `/var/run/wireguard/${spec.iface}.sock`;
      for (const signal of ["SIGTERM", "SIGINT", "SIGKILL"] as const) {
        const node = await startWeft(lab, dir, spec);
        const addr = await lab.run("a", "ip", "-o", "addr", "show", "dev", spec.iface);
        assert.match(addr, /10\.80\.0\.1\/24/);
        const routes = await lab.run("a", "ip", "route", "show", "dev", spec.iface);
        assert.match(routes, /10\.81\.0\.0\/16/);
        const routes6 = await lab.run("a", "ip", "-6", "route", "show", "dev", spec.iface);
        assert.match(routes6, /fd00:81::\/64/);
        const mtu = await lab.run("a", "ip", "-o", "link", "show", "dev", spec.iface);
        assert.match(mtu, /mtu 1420/);
        assert.ok(await exists(sock));

        node.child.kill(signal);
        const status = await node.child.status;
        if (signal !== "SIGKILL") assert.equal(status.code, 0, node.output());
        const gone = await eventually(
          async () => (await lab.exec("a", "ip", "link", "show", spec.iface)).code !== 0,
          HANG_GUARD_MS,
          100,
        );
        assert.ok(gone, `interface still there after ${signal}`);
        if (signal !== "SIGKILL") assert.equal(await exists(sock), false, "socket removed");
      }
      // The SIGKILLed run left its socket file behind; the next start must not trip over it.
      const again = await startWeft(lab, dir, spec);
      again.child.kill("SIGTERM");
      assert.equal((await again.child.status).code, 0);
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
