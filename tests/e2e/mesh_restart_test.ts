/**
 * A node restarted (SIGTERM, then started again with its state dir) within the rekey timeout (5 s)
 * of a handshake a peer started with it: to that peer the restarted node's new handshake looks
 * like the other half of a crossing. The peer must send on the new session, which is the only one
 * the restarted node holds, whichever static key is the larger (lib/device/device_race_test.ts
 * has the protocol cases). Keys are made here, so that one peer's is larger than the restarted
 * node's and the other's smaller.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import { ping } from "../fixtures/wg_lab.ts";
import { type LabProc, nodeList, startMeshNode, waitUp, weftIn } from "../fixtures/mesh_lab.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../../lib/crypto/keys.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("ping"));

const OPTS = { cidr: "10.92.0.0/24", ifPrefix: "wr", extra: ["--log-level", "debug"] };

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** Three private keys, base64, in descending order of their public keys. */
function descendingKeys(): string[] {
  const keys = Array.from({ length: 3 }, () => generatePrivateKey());
  keys.sort((a, b) => compareBytes(publicKeyOf(b), publicKeyOf(a)));
  return keys.map(encodeKey);
}

Deno.test({
  name: "a node restarted just after its peers' handshakes is reachable at once, either key order",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const hosts = ["lead", "n1", "n2", "n3"];
    const lab = await Lab.create(hosts);
    const dir = await Deno.makeTempDir({ prefix: "weft-restart-" });
    const start = (h: string, args: string[]) => startMeshNode(lab, { ...OPTS, dir }, h, args);
    const running = new Map<string, LabProc>();
    const restart = async (h: string) => {
      await lab.stop(running.get(h)!.child);
      const p = start(h, []);
      running.set(h, p);
      await waitUp(lab, h, dir, p);
    };
    try {
      // n1's key is larger than n2's, n3's smaller.
      for (const [i, key] of descendingKeys().entries()) {
        await Deno.mkdir(`${dir}/n${i + 1}`, { recursive: true, mode: 0o700 });
        await Deno.writeTextFile(`${dir}/n${i + 1}/private.key`, key + "\n", { mode: 0o600 });
      }
      const leader = start("lead", ["--leader", "--advertise", "192.0.2.1:51820"]);
      running.set("lead", leader);
      await waitUp(lab, "lead", dir, leader);
      const tok = await weftIn(lab, "lead", dir, "token", "create", "--uses", "3");
      assert.equal(tok.code, 0, tok.stderr);
      for (const h of ["n1", "n2", "n3"]) {
        const p = start(h, ["--join", tok.stdout.trim()]);
        running.set(h, p);
        await waitUp(lab, h, dir, p);
      }
      for (const h of hosts) {
        const ok = await eventually(
          async () => (await nodeList(lab, h, dir))?.length === 4,
          HANG_GUARD_MS,
        );
        assert.ok(ok, `${h} sees the mesh`);
      }
      const addr = Object.fromEntries(
        (await nodeList(lab, "lead", dir))!.map((m) => [m.name, m.address]),
      );
      // The first sessions with n2: set-up, so wait for them (a busy machine may need more
      // than a ping's few seconds for a first handshake).
      for (const x of ["n1", "n3"]) {
        assert.ok(await eventually(() => ping(lab, x, addr.n2, 1, 3), HANG_GUARD_MS), `${x} -> n2`);
      }

      // n1 and n3 restart: each starts a handshake with n2 as it comes up (persistent
      // keepalive), so each holds a session it started itself; n2 restarts right after, within
      // the 5 s window, and starts its own handshakes as it comes up.
      await restart("n1");
      await restart("n3");
      await restart("n2");
      // Four pings, a second apart, each way: a busy machine may take a second or two for the
      // handshake (or lose a ping: one alone back from n2 failed at load), while a peer sending
      // on the session n2 no longer holds would not get through for 15 s (keepalive timeout and
      // rekey timeout before it handshakes again).
      for (const x of ["n1", "n3"]) {
        assert.ok(await ping(lab, x, addr.n2, 4, 3), `${x} -> n2 after n2's restart`);
        assert.ok(await ping(lab, "n2", addr[x], 4, 3), `n2 -> ${x} after n2's restart`);
      }
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
