/**
 * `weft ping <name>` on a TUN node (issue 45, item 6): the real CLI in TUN mode in the NAT lab
 * (tests/fixtures/nat_mesh.ts). a1 and b1 sit behind `MASQUERADE --random-fully` (no hole can be
 * punched between them), the leader on the internet: a1 pings the leader by name and says the
 * direct path and its endpoint, pings b1 by its DNS name and says the leader's relay, and a name
 * no member has is refused naming it (exit 2). The agent's echo goes through its own tunnel
 * (from the control stack, its reply taken before the TUN).
 */
import assert from "node:assert/strict";
import { canBuildLabs, HANG_GUARD_MS, haveCommands } from "../fixtures/netns.ts";
import { LEADER, LEADER_IP, NatMesh, WG_PORT } from "../fixtures/nat_mesh.ts";
import { type PeerView, weftIn } from "../fixtures/mesh_lab.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("ping", "iptables", "curl"));

/**
 * How long `weft ping` waits for each reply: a guard against a hang, not a bound (the output
 * must say "2 sent, 2 received": a fixed few seconds would count a loaded machine's late reply
 * as lost).
 */
const WAIT_MS = String(HANG_GUARD_MS);

/** A member's view of a peer it reaches through the leader's relay. */
function relayedByLeader(v: PeerView): boolean {
  return v.path === "relay" && v.via === LEADER;
}

Deno.test({
  name: "weft ping <name> in TUN mode: replies, saying direct (and where) or the relay",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const m = await NatMesh.create({
      internet: [LEADER],
      sites: {
        a: { nat: "random-fully", hosts: ["a1"] },
        b: { nat: "random-fully", hosts: ["b1"] },
      },
    }, { ifPrefix: "pg", cidr: "10.97.0.0/24" });
    try {
      await m.join(["a1", "b1"]);
      const ping = (...args: string[]) =>
        weftIn(m.lab, "a1", m.dir, "ping", ...args, "--timeout", WAIT_MS);

      // The leader by name: a direct path to its advertised endpoint.
      await m.waitPeer("a1", LEADER, (v) => v.path === "direct", "direct");
      const direct = await ping(LEADER, "-c", "2");
      assert.equal(direct.code, 0, direct.stdout + direct.stderr);
      assert.match(
        direct.stdout,
        new RegExp(
          `pong from ${LEADER} \\(${m.addr[LEADER].replaceAll(".", "\\.")}\\) via direct ` +
            `${LEADER_IP}:${WG_PORT} in [\\d.]+ ms`,
        ),
      );
      assert.match(direct.stdout, /2 sent, 2 received/);
      console.log(direct.stdout.trim());

      // b1 by its name in the zone: the session on demand starts with the first echo; once
      // the path is the leader's relay, the replies say so.
      await m.waitPeer("a1", "b1", (v) => v.path !== undefined, "known");
      const first = await ping("b1.overlay.local", "-c", "3");
      assert.match(first.stdout, /received/, first.stdout + first.stderr);
      await m.waitPeer("a1", "b1", relayedByLeader, "relayed by the leader");
      const relayed = await ping("b1.overlay.local", "-c", "2");
      assert.equal(relayed.code, 0, relayed.stdout + relayed.stderr);
      assert.match(
        relayed.stdout,
        new RegExp(`pong from b1 \\(${m.addr.b1.replaceAll(".", "\\.")}\\) via relay ${LEADER} in`),
      );

      console.log(relayed.stdout.trim());

      // By address too, in TUN mode.
      const byAddress = await ping(m.addr.b1, "-c", "1");
      assert.equal(byAddress.code, 0, byAddress.stdout + byAddress.stderr);
      assert.match(byAddress.stdout, /pong from b1 .* via relay lead in/);

      // A name no member has: refused, naming it and the likely one.
      const typo = await ping("b2", "-c", "1");
      assert.equal(typo.code, 2, typo.stdout + typo.stderr);
      assert.match(typo.stderr, /no member named "b2" \(did you mean b1\?\)/);

      // The kernel saw none of the agent's echo replies (they were taken before the TUN): a1's
      // own `ping` still gets its own.
      const kernel = await m.lab.exec(
        "a1",
        "ping",
        "-c",
        "1",
        "-W",
        String(HANG_GUARD_MS / 1000),
        m.addr.b1,
      );
      assert.equal(kernel.code, 0, kernel.stdout);
    } finally {
      await m.close();
    }
  },
});
