/**
 * A leader cut off from etcd (an iptables DROP to etcd's port in its namespace) while another
 * leader keeps it: the cut leader's `weft status` says its store is failing, `/metrics` has
 * `weft_store_up 0`, and a member that synced with it moves to the other leader, where it learns
 * of a node that joins through that leader during the cut; a write at the cut leader (a token)
 * fails with the store's error. With the rule gone the cut leader catches up (its node list has the new
 * node) and says its store answers again. Every process in its own namespace, the real CLI.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import {
  type LabProc,
  metricsOf,
  nodeList,
  startMeshNode,
  statusOf,
  statusTable,
  waitUp,
  weftIn,
} from "../fixtures/mesh_lab.ts";
import { startLabEtcd } from "../fixtures/etcd_lab.ts";
import { hasEtcd } from "../fixtures/etcd.ts";
import { selfCommand } from "../../lib/demo/self.ts";

/** The status table's store line of a leader whose store fails, and of one whose store answers. */
const FAILING = /^store +etcd:\/\/\S+ FAILING: /m;
const STORE_OK = /^store +etcd:\/\/\S+ ok /m;

const ignore = !(await canBuildLabs()) || !(await haveCommands("iptables", "etcdctl", "curl")) ||
  !(await hasEtcd());

const OPTS = { cidr: "10.95.0.0/24", ifPrefix: "wk" };

Deno.test({
  name: "a leader cut from etcd says so; its members move to the leader that has the store",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["e1", "l1", "l2", "n1", "n2", "n3"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-store-cut-" });
    const running: LabProc[] = [];
    const start = (h: string, args: string[]) => {
      const p = startMeshNode(lab, { ...OPTS, dir }, h, args);
      running.push(p);
      return p;
    };
    const ip = (h: string) => lab.host(h).ip;
    const names = async (h: string) => (await nodeList(lab, h, dir))?.map((m) => m.name).sort();
    const sees = async (h: string, want: string[]) => {
      const ok = await eventually(
        async () => JSON.stringify(await names(h)) === JSON.stringify([...want].sort()),
        HANG_GUARD_MS,
      );
      assert.ok(ok, `${h} sees ${want.join(",")}, not ${await names(h)}`);
    };
    const leaderOf = async (h: string) =>
      ((await statusOf(lab, h))?.node.leader as { name?: string } | undefined)?.name;
    /** `weft status` itself: once a wait (on the same table, made from `/status`) is over. */
    const statusText = async (h: string) => {
      const [cmd, ...pre] = selfCommand();
      return (await lab.exec(h, cmd, ...pre, "status")).stdout;
    };
    const logs = () => running.map((p) => p.output()).join("\n---\n");
    try {
      const etcd = await startLabEtcd(lab, ["e1"]);
      try {
        const leader = (h: string) =>
          start(h, ["--leader", "--advertise", `${ip(h)}:51820`, "--store", etcd.url]);
        const l1 = leader("l1");
        await waitUp(lab, "l1", dir, l1);
        await waitUp(lab, "l2", dir, leader("l2"));
        await sees("l1", ["l1", "l2"]);
        const token = async (at: string) => {
          const t = await weftIn(lab, at, dir, "token", "create", "--uses", "10");
          assert.equal(t.code, 0, t.stderr);
          return t.stdout.trim();
        };
        const join = async (h: string, tok: string) => {
          const p = start(h, ["--join", tok]);
          await waitUp(lab, h, dir, p);
          return p;
        };
        // n1 joins through l1 and syncs with it; n2 through l2.
        const n1 = await join("n1", await token("l1"));
        const atL2 = await token("l2");
        await join("n2", atL2);
        for (const h of ["l1", "l2", "n1", "n2"]) await sees(h, ["l1", "l2", "n1", "n2"]);
        assert.equal(await leaderOf("n1"), "l1");

        // l1 cut from etcd.
        // A cut from etcd, both ways: a silent link (no reset), the streams just go quiet.
        const rule = (h: string, op: "-A" | "-D") =>
          Promise.all([
            ["OUTPUT", "-d", ip("e1"), "--dport"],
            ["INPUT", "-s", ip("e1"), "--sport"],
          ].map(([chain, peer, addr, port]) =>
            lab.run(h, "iptables", op, chain, "-p", "tcp", peer, addr, port, "2379", "-j", "DROP")
          ));
        await rule("l1", "-A");
        const failing = await eventually(
          async () => FAILING.test(await statusTable(lab, "l1")),
          HANG_GUARD_MS,
        );
        assert.ok(failing, `l1's status says its store fails:\n${await statusTable(lab, "l1")}`);
        assert.match(await statusText("l1"), FAILING, "weft status says so");
        assert.match(await metricsOf(lab, "l1"), /^weft_store_up 0$/m);
        assert.match(await metricsOf(lab, "l2"), /^weft_store_up 1$/m);

        // n1 moves to l2, which has the store.
        const moved = await eventually(async () => (await leaderOf("n1")) === "l2", HANG_GUARD_MS);
        assert.ok(moved, `n1 syncs with ${await leaderOf("n1")}, not l2\n${logs()}`);
        assert.match(l1.output(), /WARN store failing store=etcd:/);
        // A write at the cut leader (a token) fails with the store's error; a join through l2
        // works, and n1 learns of it from l2.
        const write = await weftIn(lab, "l1", dir, "token", "create");
        assert.notEqual(write.code, 0, write.stdout);
        assert.match(write.stderr, /the store (has no quorum|is unreachable)/);
        await join("n3", atL2);
        const all = ["l1", "l2", "n1", "n2", "n3"];
        for (const h of ["l2", "n1", "n2", "n3"]) await sees(h, all);

        // The rule gone: l1 catches up by itself and says its store answers.
        await rule("l1", "-D");
        await sees("l1", all);
        const back = await eventually(
          async () => STORE_OK.test(await statusTable(lab, "l1")),
          HANG_GUARD_MS,
        );
        assert.ok(back, `l1's store answers again:\n${await statusTable(lab, "l1")}`);
        assert.match(await statusText("l1"), STORE_OK, "weft status says so");
        assert.match(l1.output(), /INFO store answers again store=etcd:/);
        assert.match(await metricsOf(lab, "l1"), /^weft_store_up 1$/m);

        // Both leaders cut off: neither counts as current. n1 stays with l2 (nowhere better to
        // go), says so once, and keeps its view.
        // l1 first, and l2 only once l1 knows: n1 has no current leader to move to then.
        await rule("l1", "-A");
        const l1Failing = await eventually(
          async () => FAILING.test(await statusTable(lab, "l1")),
          HANG_GUARD_MS,
        );
        assert.ok(l1Failing, await statusTable(lab, "l1"));
        await rule("l2", "-A");
        const bothStale = await eventually(async () => {
          const leaders = (await statusOf(lab, "n1"))?.node.leaders as
            | { name: string; storeUnreachable?: boolean }[]
            | undefined;
          return leaders?.filter((l) => l.storeUnreachable).length === 2;
        }, HANG_GUARD_MS);
        assert.ok(
          bothStale,
          `n1 sees both leaders stale: ${JSON.stringify(await statusOf(lab, "n1"))}`,
        );
        const said = await eventually(
          () => Promise.resolve(/no other leader that does answers/.test(n1.output())),
          HANG_GUARD_MS,
        );
        assert.ok(said, n1.output());
        assert.equal(await leaderOf("n1"), "l2");
        assert.match(await statusText("n1"), /its store is unreachable/);
        assert.deepEqual(await names("n1"), [...all].sort());
        assert.equal(n1.output().match(/now syncing with leader/g)?.length, 1, n1.output());
        await rule("l1", "-D");
        await rule("l2", "-D");
      } finally {
        await etcd.destroy();
      }
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
