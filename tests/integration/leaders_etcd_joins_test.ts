/**
 * 200 joins split across two leader processes (the real CLI, userspace, loopback) that share a
 * real etcd, sent as fast as they come over real UDP sockets: each answered, every address
 * distinct, both leaders list all 200 (no lost join); and a one-use token asked at both leaders
 * at once admits exactly one node.
 */

import assert from "node:assert/strict";
import { resolveMesh } from "../../lib/mesh/resolve.ts";
import { freePort, type Running, startMeshAgent, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { hasEtcd, startEtcd } from "../fixtures/etcd.ts";
import { checkJoinToken, JoinError, requestJoin } from "../../lib/mesh/join/client.ts";
import { decodeToken, encodeToken } from "../../lib/mesh/join/token.ts";
import { selectSuite } from "../../lib/crypto/select.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";
import { nullLogger } from "../../lib/log/logger.ts";

const ETCD_OK = await hasEtcd();
const JOINS = 200;

/** The same token with its leaders in the other order: the joiner asks the second one first. */
function swapped(text: string): string {
  const t = decodeToken(text);
  const [first, second] = t.leaders;
  return encodeToken({
    ...t,
    leaderKey: second.key,
    endpoints: second.endpoints,
    leaders: [second, first],
  });
}

Deno.test({
  name: "200 joins split across two leaders on etcd: 200 distinct addresses, a one-use token once",
  ignore: !ETCD_OK,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const etcd = await startEtcd();
    const dir = await Deno.makeTempDir({ prefix: "weft-leaders-joins-" });
    const leaders: (Running & { status: string; dir: string })[] = [];
    try {
      for (const name of ["boss1", "boss2"]) {
        const port = freePort();
        const status = `127.0.0.1:${freePort("tcp")}`;
        const args = [
          "--leader",
          "--userspace",
          "--cidr",
          "10.214.0.0/22",
          "--state-dir",
          `${dir}/${name}`,
          "--listen-port",
          String(port),
          "--advertise",
          `127.0.0.1:${port}`,
          "--hostname",
          name,
          "--dns-port",
          "0",
          "--store",
          etcd.url,
        ];
        leaders.push({
          ...(await startMeshAgent(name, args, status)),
          status,
          dir: `${dir}/${name}`,
        });
      }
      const cli = async (at: { status: string; dir: string }, ...args: string[]) => {
        const r = await weft([...args, "--status-listen", at.status, "--state-dir", at.dir]);
        assert.equal(r.code, 0, r.stderr);
        return r.stdout;
      };
      const listed = async (at: { status: string; dir: string }) => {
        const out = JSON.parse(await cli(at, "node", "list", "--json"));
        return (out.nodes ?? out) as { name: string; address: string }[];
      };
      // The token names both leaders once leader 1 lists leader 2.
      assert.ok(
        await eventually(async () => (await listed(leaders[0])).length === 2, HANG_GUARD_MS),
        "leader 1 lists leader 2",
      );
      const token = (await cli(leaders[0], "token", "create", "--ttl", "1h")).trim();
      assert.equal(decodeToken(token).leaders.length, 2);
      const suite = selectSuite();
      const join = (text: string, i: number) =>
        requestJoin(
          resolveMesh({
            role: "node",
            stateDir: `${dir}/n${i}`,
            hostname: `n${i}`,
            userspace: true,
            listenPort: 0,
            joinTimeoutMs: HANG_GUARD_MS,
          }).join,
          checkJoinToken(text, suite.dh),
          generateKeyPair().privateKey,
          nullLogger,
        );
      // Half ask leader 1 first, half leader 2: all at once.
      const other = swapped(token);
      const answers = await Promise.all(
        Array.from({ length: JOINS }, (_, i) => join(i % 2 ? other : token, i)),
      );
      const keys = [...new Set(answers.map((a) => a.answeredBy))];
      assert.equal(keys.length, 2, "both leaders answered joins");
      const addresses = answers.map((a) => a.member.address);
      assert.equal(new Set(addresses).size, JOINS, "every address distinct");
      for (const l of leaders) {
        const ok = await eventually(
          async () => (await listed(l)).length === JOINS + 2,
          HANG_GUARD_MS,
        );
        assert.ok(ok, `${l.dir} lists every join`);
        const members = await listed(l);
        assert.equal(new Set(members.map((m) => m.address)).size, JOINS + 2);
        for (const a of addresses) assert.ok(members.some((m) => m.address === a));
      }

      // One use, asked at both leaders at once: one node joins, the other is refused.
      const once = (await cli(leaders[1], "token", "create", "--uses", "1")).trim();
      const results = await Promise.allSettled([join(once, 1000), join(swapped(once), 1001)]);
      assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
      const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
      assert.ok(refused.reason instanceof JoinError, String(refused.reason));
      assert.equal(refused.reason.message, "join refused: token used up");
    } finally {
      for (const l of leaders) await l.stop();
      await etcd.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
