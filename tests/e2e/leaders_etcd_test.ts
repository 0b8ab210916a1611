/**
 * Two leaders on a real three-member etcd cluster, every process in its own namespace: nodes join
 * with a token made at leader 1; leader 1 is killed (SIGKILL) and a new node joins with the same
 * token through leader 2, and the first nodes reach it (they moved to leader 2); addresses are
 * distinct; a node removed at leader 2 leaves every member's view; with one etcd member killed
 * joins still work; without quorum a join fails with the store's error (exit 1) while members
 * still ping each other; leader 1 started again sees every change made while it was down.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import { ping } from "../fixtures/wg_lab.ts";
import {
  type LabProc,
  nodeList,
  startMeshNode,
  statusOf,
  waitUp,
  weftIn,
} from "../fixtures/mesh_lab.ts";
import { startLabEtcd } from "../fixtures/etcd_lab.ts";
import { hasEtcd } from "../fixtures/etcd.ts";
import { selfCommand } from "../../lib/demo/self.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("ping", "etcdctl")) ||
  !(await hasEtcd());

const OPTS = { cidr: "10.94.0.0/24", ifPrefix: "we" };

Deno.test({
  name: "two leaders on a 3-member etcd: one killed, joins go on through the other; quorum lost",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const hosts = ["e1", "e2", "e3", "l1", "l2", "n1", "n2", "n3", "n4", "n5"];
    const lab = await Lab.create(hosts);
    const dir = await Deno.makeTempDir({ prefix: "weft-leaders-" });
    const running = new Map<string, LabProc>();
    const start = (h: string, args: string[]) => {
      const p = startMeshNode(lab, { ...OPTS, dir }, h, args);
      running.set(h, p);
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
    try {
      const etcd = await startLabEtcd(lab, ["e1", "e2", "e3"]);
      try {
        const leader = (h: string) =>
          start(h, ["--leader", "--advertise", `${ip(h)}:51820`, "--store", etcd.url]);
        await waitUp(lab, "l1", dir, leader("l1"));
        await waitUp(lab, "l2", dir, leader("l2"));
        await sees("l1", ["l1", "l2"]);
        const tok = await weftIn(lab, "l1", dir, "token", "create", "--uses", "10");
        assert.equal(tok.code, 0, tok.stderr);
        const token = tok.stdout.trim();
        const join = async (h: string) => {
          const p = start(h, ["--join", token]);
          await waitUp(lab, h, dir, p);
        };
        await join("n1");
        await join("n2");
        for (const h of ["l1", "l2", "n1", "n2"]) await sees(h, ["l1", "l2", "n1", "n2"]);

        // Leader 1 dies: the token (made there) joins n3 through leader 2.
        running.get("l1")!.child.kill("SIGKILL");
        await running.get("l1")!.child.status;
        await join("n3");
        const all = ["l1", "l2", "n1", "n2", "n3"];
        for (const h of ["l2", "n1", "n2", "n3"]) await sees(h, all);
        const members = (await nodeList(lab, "l2", dir))!;
        assert.equal(new Set(members.map((m) => m.address)).size, members.length, "distinct");
        const addr = Object.fromEntries(members.map((m) => [m.name, m.address]));
        // n1 and n2 reach the node that joined after leader 1 went, and sync with leader 2 now.
        for (const h of ["n1", "n2"]) {
          assert.ok(await ping(lab, h, addr.n3, 2, 3), `${h} -> n3`);
          const moved = await eventually(async () => {
            const s = await statusOf(lab, h);
            return (s?.node.leader as { name?: string } | undefined)?.name === "l2";
          }, HANG_GUARD_MS);
          assert.ok(moved, `${h} syncs with l2`);
        }

        // A removal at leader 2 reaches every member.
        const rm = await weftIn(lab, "l2", dir, "node", "remove", "n2");
        assert.equal(rm.code, 0, rm.stderr);
        const left = ["l1", "l2", "n1", "n3"];
        for (const h of ["l2", "n1", "n3"]) await sees(h, left);

        // One etcd member gone: the cluster has quorum, joins work.
        await etcd.members[0].kill();
        await join("n4");
        for (const h of ["l2", "n1", "n3", "n4"]) await sees(h, [...left, "n4"]);

        // Two gone: no quorum. A join fails with the store's error; members keep their tunnels.
        await etcd.members[1].kill();
        const refused = await lab.exec(
          "n5",
          ...weftArgs(dir, "n5", ["--join", token, "--cidr", OPTS.cidr]),
        );
        assert.equal(refused.code, 1, refused.stdout + refused.stderr);
        assert.match(refused.stderr, /join refused: the store (has no quorum|is unreachable)/);
        assert.ok(await ping(lab, "n1", addr.n3, 2, 3), "n1 -> n3 without quorum");
        assert.ok(await ping(lab, "n4", addr.n1, 2, 3), "n4 -> n1 without quorum");

        // Quorum back; leader 1 started again catches up with what changed while it was down.
        await etcd.members[1].restart();
        await etcd.members[0].restart();
        await waitUp(lab, "l1", dir, leader("l1"));
        await sees("l1", [...left, "n4"]);
      } finally {
        await etcd.destroy();
      }
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** `weft <args>` as a one-shot process on a lab host with its state dir and host name. */
function weftArgs(dir: string, host: string, args: string[]): [string, ...string[]] {
  const [cmd, ...pre] = selfCommand();
  return [
    cmd,
    ...pre,
    ...args,
    "--state-dir",
    `${dir}/${host}`,
    "--hostname",
    host,
    "--interface",
    `we${host}x`,
  ];
}
