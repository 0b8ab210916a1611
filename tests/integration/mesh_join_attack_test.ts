/**
 * Attacks on the join exchange through the library on loopback: a captured join request
 * replayed from another address after the node was removed, requests without a token's MAC,
 * junk, and requests made with a wrong secret. None may cost the leader a DH, a log line per
 * datagram, a token use or a member. A token holder naming a member's key with a far-future time
 * cannot lock that key out (issue 44, finding 9).
 */
import assert from "node:assert/strict";
import { MeshAgent, type MeshOptions } from "../../lib/mesh/mesh_agent.ts";
import { createLogger } from "../../lib/log/logger.ts";
import { DenoUdpTransport } from "../../drivers/udp_deno.ts";
import { readU32 } from "../../lib/protocol/bytes.ts";
import { decodeToken, encodeToken } from "../../lib/mesh/join/token.ts";
import { checkJoinToken } from "../../lib/mesh/join/client.ts";
import { openJoinResponse, sealJoinRequest } from "../../lib/mesh/join/crypto.ts";
import { selectSuite } from "../../lib/crypto/select.ts";
import { freePort } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { promByLabel } from "../fixtures/prom_parse.ts";

/** A leader on a free loopback port whose log lines (debug and up) land in `lines`. */
async function startLeader(
  dir: string,
  lines: string[],
): Promise<{ mesh: MeshAgent; port: number }> {
  const port = freePort();
  const mesh = await MeshAgent.start({
    role: "leader",
    stateDir: `${dir}/leader`,
    hostname: "leader",
    userspace: true,
    listenPort: port,
    advertise: [`127.0.0.1:${port}`],
    dnsPort: 0,
    logger: createLogger({ level: "debug", sink: (l) => lines.push(l) }),
  });
  return { mesh, port };
}

function nodeOptions(dir: string, name: string, token: string): MeshOptions {
  return {
    role: "node",
    token,
    stateDir: `${dir}/${name}`,
    hostname: name,
    userspace: true,
    listenPort: freePort(),
    dnsPort: 0,
    logger: createLogger({ level: "error", sink: () => {} }),
  };
}

/** A socket on another loopback address, and the datagrams it receives. */
function attacker(): { sock: Deno.DatagramConn; got: Uint8Array[] } {
  const sock = Deno.listenDatagram({ hostname: "127.0.0.2", port: 0, transport: "udp" });
  const got: Uint8Array[] = [];
  (async () => {
    try {
      for await (const [d] of sock) got.push(d);
    } catch { /* closed */ }
  })();
  return { sock, got };
}

function joinDrops(mesh: MeshAgent): Record<string, number> {
  return promByLabel(mesh.agent.metrics.render(), "weft_join_drops_total", "reason");
}

Deno.test({
  name: "attack: a captured join replayed from another address after removal is refused",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-replay-" });
    const lines: string[] = [];
    const { mesh: leader, port } = await startLeader(dir, lines);
    const a = attacker();
    let node: MeshAgent | null = null;
    try {
      const { token } = await leader.createToken({ ttlMs: 60_000, uses: 2 });
      // The joiner's own transport, recording the join request it sends (what a wire tap sees).
      let captured: Uint8Array | null = null;
      node = await MeshAgent.start({
        ...nodeOptions(dir, "n1", token),
        openTransport: async (p) => {
          const t = await DenoUdpTransport.open({ port: p });
          const send = t.send.bind(t);
          t.send = (data, to) => {
            if (!captured && data.length > 4 && readU32(data, 0) === 0x10) captured = data.slice();
            send(data, to);
          };
          return t;
        },
      });
      assert.ok(captured, "the join request was seen");
      const key = node.agent.device.publicKey;
      await node.close();
      node = null;
      await leader.removeNode("n1");
      const usesBefore = leader.leader!.listTokens()[0].usesLeft;
      assert.equal(usesBefore, 1);

      // Replayed from 127.0.0.2: the leader answers (a refusal only n1's ephemeral key reads).
      await a.sock.send(captured!, { transport: "udp", hostname: "127.0.0.1", port });
      assert.ok(
        await eventually(() => Promise.resolve(a.got.length > 0), HANG_GUARD_MS, 20),
        "the replay was answered",
      );
      await leader.leader!.flush();
      const view = leader.view();
      assert.equal(view.members.find((m) => m.publicKey === key), undefined, "n1 stays removed");
      assert.ok(!view.members.some((m) => m.endpoints.some((e) => e.startsWith("127.0.0.2:"))));
      assert.equal(leader.leader!.listTokens()[0].usesLeft, usesBefore, "no token use");
      assert.match(lines.join("\n"), /join refused.*stale join request/);
    } finally {
      a.sock.close();
      await node?.close();
      await leader.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "attack: junk, MAC-less and wrong-secret join requests are counted drops, never log lines",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-junk-" });
    const lines: string[] = [];
    const { mesh: leader, port } = await startLeader(dir, lines);
    const a = attacker();
    try {
      const { token } = await leader.createToken({ ttlMs: 60_000, uses: 1 });
      const before = lines.length;
      const to = { transport: "udp" as const, hostname: "127.0.0.1", port };
      const N = 200;
      for (let i = 0; i < N; i++) {
        // A join type and random rest (no token the leader knows, no MAC).
        const macless = crypto.getRandomValues(new Uint8Array(200));
        macless.set([0x10, 0, 0, 0]);
        await a.sock.send(macless, to);
      }
      // A request sealed to the real leader key with the token's id and a wrong secret.
      const forged = encodeToken({ ...decodeToken(token), secret: btoa("x".repeat(32)) });
      const forgedJoin = await MeshAgent.start({
        ...nodeOptions(dir, "x1", forged),
        joinTimeoutMs: 2500,
      }).then(async (m) => {
        await m.close();
        return "joined";
      }, (e) => String(e));
      assert.deepEqual(lines.slice(before).filter((l) => /join/.test(l)), [], "no log lines");
      assert.match(forgedJoin, /no answer from the leader/);
      const counted = () => {
        const d = joinDrops(leader);
        return (d["unknown-token"] ?? 0) >= N && (d["mac1"] ?? 0) >= 1;
      };
      assert.ok(
        await eventually(() => Promise.resolve(counted()), HANG_GUARD_MS, 50),
        JSON.stringify(joinDrops(leader)),
      );
      assert.equal(a.got.length, 0, "nothing answered");
      assert.deepEqual(leader.view().members.map((m) => m.name), ["leader"]);
      assert.equal(leader.leader!.listTokens()[0].usesLeft, 1);
    } finally {
      a.sock.close();
      await leader.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "attack: a token holder naming a member's key from the far future cannot lock it out",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-lockout-" });
    const lines: string[] = [];
    const { mesh: leader, port } = await startLeader(dir, lines);
    const a = attacker();
    let node: MeshAgent | null = null;
    try {
      const { token } = await leader.createToken({ ttlMs: 60_000, uses: null });
      node = await MeshAgent.start(nodeOptions(dir, "n1", token));
      const n1 = node;
      assert.ok(
        await eventually(
          () => Promise.resolve(n1.view().version > 0 && leader.view().members.length === 2),
          HANG_GUARD_MS,
        ),
      );
      const key = n1.agent.device.publicKey;

      // The token holder names n1's key (in every view) with a time ten years on, from elsewhere.
      const suite = selectSuite();
      const checked = checkJoinToken(token, suite.dh);
      const forged = {
        tokenId: checked.token.id,
        secret: checked.token.secret,
        publicKey: key,
        hostname: "evil",
        labels: {},
        services: [],
        endpoints: [],
        time: Date.now() + 10 * 365 * 86_400_000,
      };
      const { message, pending } = sealJoinRequest(
        suite.dh,
        suite.aead,
        checked.leaderKey,
        checked.tokenId,
        checked.mac1Key,
        new TextEncoder().encode(JSON.stringify(forged)),
      );
      await a.sock.send(message, { transport: "udp", hostname: "127.0.0.1", port });
      assert.ok(
        await eventually(() => Promise.resolve(a.got.length > 0), HANG_GUARD_MS, 20),
        "the forged request was answered",
      );
      const opened = openJoinResponse(suite.dh, suite.aead, pending, a.got[0]);
      const answer = JSON.parse(new TextDecoder().decode(opened!));

      // n1 is removed, and joins again with its own key and a new token.
      await leader.removeNode("n1");
      assert.ok(await eventually(() => Promise.resolve(n1.removed), HANG_GUARD_MS));
      await n1.close();
      node = null;
      const again = await leader.createToken({ ttlMs: 60_000, uses: 1 });
      const back = await MeshAgent.start(nodeOptions(dir, "n1", again.token)).then(
        (m) => {
          node = m;
          return "joined";
        },
        (e) => String(e),
      );
      assert.equal(back, "joined", "the real n1 joins again");
      assert.equal(leader.view().members.find((m) => m.name === "n1")?.publicKey, key);

      // The forged request was refused, and counted.
      assert.equal(answer.ok, false, JSON.stringify(answer));
      assert.match(answer.error, /does not prove it comes from that member|from the future/);
      const drops = joinDrops(leader);
      assert.equal(
        (drops["not-key-holder"] ?? 0) + (drops["future"] ?? 0),
        1,
        JSON.stringify(drops),
      );
      assert.ok(!leader.view().members.some((m) => m.name === "evil"));
    } finally {
      a.sock.close();
      await node?.close();
      await leader.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
