/**
 * A running member whose site stops letting out UDP and framed TCP at once (it blocks UDP and
 * lets out only TCP that starts as HTTP: tests/fixtures/http_only.ts), through the real CLI in
 * TUN mode in the NAT lab, as scripts/bench/paths.ts's `--routes ws` does: a1 reaches the leader
 * over UDP; then nothing a1 sends gets out but a WebSocket, while the leader, not having heard
 * a1 anywhere else, still sends to a1's UDP address, and those packets still get in (the NAT's
 * mapping is alive). a1 leaves UDP for TCP, and the leader's packets still coming over UDP do not
 * roam it back there (its pings there went unanswered: lib/device/roaming.ts leaveFailedUdp); were
 * it roamed back, each return must not start TCP's grace anew, or a1 never reaches its WebSocket. Once
 * a1 sends on it, the leader follows (a peer's endpoint is where its last authenticated packet
 * came from, whatever the transport): both sides say websocket and pings go both ways.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands } from "../fixtures/netns.ts";
import { LEADER, masqueradeMesh, type NatMesh } from "../fixtures/nat_mesh.ts";
import { httpOnly } from "../fixtures/http_only.ts";
import { type PeerView, peerView } from "../fixtures/mesh_lab.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("iptables", "ping", "conntrack"));

const on = (t: string) => (v: PeerView) => v.path === "direct" && v.transport === t && v.hasSession;

/**
 * Waits until `a1` and the leader both see each other on `transport`, pinging the leader once
 * before each look (sessions are on demand, as the bench pings); throws with both views and logs.
 */
async function waitBoth(m: NatMesh, transport: string): Promise<void> {
  let seen: (PeerView | null)[] = [];
  const ok = await eventually(async () => {
    await m.lab.exec("a1", "ping", "-n", "-c", "1", "-W", "1", m.addr[LEADER]);
    seen = [await peerView(m.lab, "a1", LEADER), await peerView(m.lab, LEADER, "a1")];
    return seen.every((v) => v !== null && on(transport)(v));
  }, HANG_GUARD_MS);
  if (!ok) {
    const say = (v: PeerView | null) => `${v?.path}/${v?.transport} ${v?.endpoint}`;
    throw new Error(
      `not both on ${transport}: a1 sees the leader ${say(seen[0])}, the leader sees a1 ${
        say(seen[1])
      }\n--- a1 log ---\n${m.log("a1").slice(-5000)}\n--- leader log ---\n${
        m.log(LEADER).slice(-5000)
      }`,
    );
  }
}

/** Prints a1's and the leader's log lines of path changes and joins. */
function printMoves(m: NatMesh): void {
  const moves = (h: string) =>
    m.log(h).split("\n").filter((l) => /path changed|joined over/.test(l)).join("\n");
  console.log(`a1:\n${moves("a1")}\nleader:\n${moves(LEADER)}`);
}

Deno.test({
  name: "a member whose UDP and framed TCP stop getting out together moves to its WebSocket",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const m = await masqueradeMesh({ a: ["a1"] }, { ifPrefix: "wt", cidr: "10.95.9.0/24" });
    try {
      await m.join(["a1"]);
      await waitBoth(m, "udp");
      // From now on only a WebSocket gets out of a1's site; what comes in still comes in.
      await m.lab.blockUdp("a", true);
      await httpOnly(m, "a", true);
      await waitBoth(m, "websocket");
      const lead = await peerView(m.lab, LEADER, "a1");
      assert.match(String(lead?.endpoint), /^ws:\/\//);
      assert.ok(await m.pings("a1", LEADER, 5) >= 3, "a1 pings the leader over its WebSocket");
      assert.ok(await m.pings(LEADER, "a1", 5) >= 3, "the leader pings a1 over the WebSocket");
    } finally {
      printMoves(m);
      await m.close();
    }
  },
});

Deno.test({
  name: "a member whose TCP and old WebSocket stall together dials a fresh WebSocket",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // a1 joins behind the HTTP-only site, over a WebSocket; the site then lets framed TCP out
    // again and a1 moves up to TCP, leaving its WebSocket. The site's firewall then forgets
    // its connections (as a firewall restarted) and turns HTTP-only again:
    // the TCP connection and the WebSocket left before both stall, with no FIN or RST. a1 must
    // get to the leader on a WebSocket of its own again, and the leader follow it there.
    const m = await masqueradeMesh({ a: ["a1"] }, { ifPrefix: "wu", cidr: "10.95.10.0/24" });
    try {
      await m.lab.blockUdp("a", true);
      await httpOnly(m, "a", true);
      await m.join(["a1"]);
      assert.match(m.log("a1"), /joined over websocket/, m.log("a1"));
      await waitBoth(m, "websocket");
      await httpOnly(m, "a", false);
      await waitBoth(m, "tcp");
      // The firewall forgets its connections (and which of them started as HTTP).
      await m.lab.run("a", "conntrack", "-D", "-p", "tcp", "--dport", "51820");
      await httpOnly(m, "a", true);
      await waitBoth(m, "websocket");
      assert.ok(await m.pings("a1", LEADER, 5) >= 3, "a1 pings the leader over a WebSocket");
      assert.ok(await m.pings(LEADER, "a1", 5) >= 3, "the leader pings a1 over the WebSocket");
    } finally {
      printMoves(m);
      await m.close();
    }
  },
});
