/**
 * `weft node list` says how far behind the view in force the list it got is: the real CLI against
 * the leader's API worker (lib/control/api_front.ts), which serves a node list of more than 1,000
 * members behind the view while the view changes (as during churn) and says how far in
 * `Weft-View-Age-Ms`. The worker stands alone here, with a view the test changes (a real leader's
 * view changes when members join, whose timing a test cannot hold), and serves a list up to a
 * minute behind (a leader: a second) so that a CLI process starting slowly still gets one.
 */
import assert from "node:assert/strict";
import { LAGGING_NODES_OVER, PUBLISH_EVERY_MS } from "../../lib/control/api_front.ts";
import { StateDir } from "../../lib/mesh/state/state.ts";
import { aCheck, loneApiWorker } from "../fixtures/api_worker.ts";
import { weft } from "../fixtures/procs.ts";

const proc = { sanitizeOps: false, sanitizeResources: false };

/** The node list of view `version`: `n` members, as `GET /v1/nodes` answers it. */
function listOf(version: number, n: number) {
  return {
    version,
    network: "10.9.0.0/16",
    nodes: Array.from({ length: n }, (_, i) => ({
      name: `m${i}-v${version}`,
      publicKey: `key-${i}`,
      address: `10.9.${i >> 8}.${i & 255}`,
      endpoints: [`192.0.2.1:${1000 + i}`],
      labels: {},
      role: i === 0 ? "leader" : "node",
    })),
  };
}
type List = ReturnType<typeof listOf>;

/** The API worker on a free port, its app answering with the view in force (age 0). */
async function workerOf(holder: { list: List }, token: string) {
  const { front, port } = await loneApiWorker({
    view: () => holder.list,
    members: (v) => v.nodes.length,
    token,
    maxAgeMs: 60_000,
  });
  return { front, address: `127.0.0.1:${port}` };
}

Deno.test({
  name: "weft node list says how far behind the view in force a leader's list is",
  ...proc,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-node-age-" });
    const n = LAGGING_NODES_OVER + 1;
    const holder = { list: listOf(1, n) };
    const token = await new StateDir(dir).controlToken();
    const { front, address } = await workerOf(holder, token);
    const at = ["--status-listen", address, "--state-dir", dir];
    let version = 1;
    /**
     * The view moves on twice, a check after each: the worker then holds the list of a view no
     * longer in force, last known in force before the second change (at least a check ago).
     */
    const behind = async () => {
      await front.flush();
      holder.list = listOf(++version, n);
      await aCheck();
      holder.list = listOf(++version, n);
      await aCheck();
    };
    try {
      // The first request goes to the app: the view in force, nothing said.
      const fresh = await weft(["node", "list", ...at]);
      assert.equal(fresh.code, 0, fresh.stderr);
      assert.match(fresh.stdout, /m1-v1 +10\.9\.0\.1 +node +192\.0\.2\.1:1001/);
      assert.doesNotMatch(fresh.stderr, /view/, "a list of the view in force has no age line");

      await behind();
      const table = await weft(["node", "list", ...at]);
      assert.equal(table.code, 0, table.stderr);
      const listed = /m1-v(\d+) /.exec(table.stdout)?.[1];
      assert.ok(
        listed !== undefined && Number(listed) < version,
        `listed v${listed} of ${version}`,
      );
      const line = /^\(view (\d+(?:\.\d)?) (ms|s) old\)$/m.exec(table.stderr);
      assert.ok(line, `no age on stderr: ${JSON.stringify(table.stderr)}`);
      const ms = Number(line[1]) * (line[2] === "s" ? 1000 : 1);
      assert.ok(ms >= 2 * PUBLISH_EVERY_MS, `age ${ms} ms`);
      assert.doesNotMatch(table.stdout, /view .* old/, "stdout stays the table");

      await behind();
      const json = await weft(["node", "list", "--json", ...at]);
      assert.equal(json.code, 0, json.stderr);
      const doc = JSON.parse(json.stdout);
      // The object scripts read, as before, with the age beside the list.
      assert.deepEqual(Object.keys(doc), ["version", "network", "nodes", "viewAgeMs"]);
      assert.ok(doc.version < version, `listed v${doc.version} of ${version}`);
      assert.equal(doc.nodes.length, n);
      assert.ok(doc.viewAgeMs >= 2 * PUBLISH_EVERY_MS, `viewAgeMs ${doc.viewAgeMs}`);
      assert.equal(json.stderr, "", "--json says it in the JSON only");
    } finally {
      await front.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
