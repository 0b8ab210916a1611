/**
 * `weft up` with `AllowedIPs = 0.0.0.0/0, ::/0` and `Table = auto`, as wg-quick does it: the
 * default routes go into a table of their own that every packet without the socket's mark looks
 * up, so the host's traffic takes the tunnel while weft's own UDP still leaves by the underlay.
 * The underlay here reaches the peer (the real wireguard-go) only through a default route, which
 * the tunnel's table would swallow without the mark. After the interface goes down, the rules and
 * routing tables are as before. Every bound asserted is a hang guard.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import { type LabNodeSpec, reaches, startWeft, startWireguardGo } from "../fixtures/wg_lab.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("wireguard-go", "wg", "ping"));

Deno.test({
  name: "weft up: a default route with Table = auto goes through the tunnel, the underlay does not",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["a", "b"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-defroute-" });
    try {
      // a reaches b's underlay address only by its default route (no connected /24).
      await lab.run("a", "ip", "route", "del", "192.0.2.0/24", "dev", "eth0");
      await lab.run("a", "ip", "route", "add", "default", "dev", "eth0");
      const snapshot = async () =>
        [
          (await lab.exec("a", "ip", "rule", "show")).stdout,
          (await lab.exec("a", "ip", "-6", "rule", "show")).stdout,
          (await lab.exec("a", "ip", "route", "show", "table", "all")).stdout,
          (await lab.exec("a", "ip", "-6", "route", "show", "table", "all")).stdout,
        ].join("\n---\n")
          // The kernel's link-local routes appear once duplicate detection ends, whenever that is.
          .split("\n").filter((l) => !l.includes("fe80:")).join("\n");
      const before = await snapshot();
      const ka = generateKeyPair();
      const kb = generateKeyPair();
      const weft: LabNodeSpec = {
        host: "a",
        iface: `wda${lab.tag}`,
        privateKey: ka.privateKey,
        address: "10.78.0.1/24",
        port: 51820,
        peers: [{
          publicKey: kb.publicKey,
          endpoint: "192.0.2.2:51820",
          allowedIps: ["0.0.0.0/0", "::/0"],
        }],
      };
      const wg: LabNodeSpec = {
        host: "b",
        iface: `wdb${lab.tag}`,
        privateKey: kb.privateKey,
        address: "10.78.0.2/24",
        port: 51820,
        peers: [{
          publicKey: ka.publicKey,
          endpoint: "192.0.2.1:51820",
          allowedIps: ["10.78.0.1/32"],
        }],
      };
      await startWireguardGo(lab, dir, wg);
      const node = await startWeft(lab, dir, weft);
      // Any address goes into the tunnel; the marked socket's packets go by the underlay.
      const get = (...args: string[]) =>
        lab.run("a", "ip", "-4", "route", "get", "198.51.100.7", ...args);
      // The UAPI socket is up before the rules are (as wg-quick adds them after `wg setconf`).
      const tunnelled = new RegExp(`dev ${weft.iface} table 51820`);
      assert.ok(
        await eventually(async () => tunnelled.test(await get()), HANG_GUARD_MS),
        await get(),
      );
      assert.match(await get("mark", "51820"), /dev eth0/, await get("mark", "51820"));
      assert.ok(
        await reaches(lab, "a", "10.78.0.2"),
        `a -> b through the tunnel\n${node.output()}`,
      );
      assert.ok(await reaches(lab, "b", "10.78.0.1"), "b -> a");
      await lab.stop(node.child, 5000);
      assert.equal(await snapshot(), before, "a's rules and routes after weft went down");
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
