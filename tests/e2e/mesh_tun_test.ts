/**
 * weft to weft with TUN devices: three namespaces in a full mesh ping every pair; one node's
 * underlay address changes and traffic resumes (endpoint roaming).
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import { type LabNodeSpec, ping, reaches, startWeft, wgDump } from "../fixtures/wg_lab.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("wg", "ping"));

Deno.test({
  name: "three weft nodes in a full mesh ping every pair; a roaming node is followed",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const names = ["a", "b", "c"];
    const lab = await Lab.create(names);
    const dir = await Deno.makeTempDir({ prefix: "weft-e2e-" });
    try {
      const keys = names.map(() => generateKeyPair());
      const specs: LabNodeSpec[] = names.map((host, i) => ({
        host,
        iface: `wm${host}${lab.tag}`,
        privateKey: keys[i].privateKey,
        address: `10.78.0.${i + 1}/24`,
        port: 51820,
        peers: names.flatMap((_, j) =>
          j === i ? [] : [{
            publicKey: keys[j].publicKey,
            endpoint: `192.0.2.${j + 1}:51820`,
            allowedIps: [`10.78.0.${j + 1}/32`],
          }]
        ),
      }));
      for (const s of specs) await startWeft(lab, dir, s);
      for (const [i, x] of names.entries()) {
        for (const [j] of names.entries()) {
          if (i === j) continue;
          assert.ok(await reaches(lab, x, `10.78.0.${j + 1}`), `${x} -> 10.78.0.${j + 1}`);
        }
      }

      // c moves to another underlay address; its sessions continue from there.
      // (Deleting a primary address also deletes secondaries of its subnet, so delete first.)
      await lab.run("c", "ip", "addr", "del", "192.0.2.3/24", "dev", "eth0");
      await lab.run("c", "ip", "addr", "add", "192.0.2.33/24", "dev", "eth0");
      const t0 = Date.now();
      const back = await eventually(() => ping(lab, "c", "10.78.0.1", 1, 1), HANG_GUARD_MS, 100);
      assert.ok(back, "c reaches a again after moving");
      const took = Date.now() - t0;
      // Each waited for: pings that are never answered (no roaming) fail at the hang guard.
      assert.ok(await reaches(lab, "a", "10.78.0.3"), "a reaches c at its new address");
      const row = (await wgDump(lab, "a", specs[0].iface)).find((p) =>
        p.publicKey === keys[2].publicKey
      )!;
      assert.equal(row.endpoint, "192.0.2.33:51820");
      // b learns it too once c talks to it.
      assert.ok(await reaches(lab, "c", "10.78.0.2"));
      assert.ok(await reaches(lab, "b", "10.78.0.3"));
      console.log(`roaming: traffic resumed after ${took} ms`);
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
