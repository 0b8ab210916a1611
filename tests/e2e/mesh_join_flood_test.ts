/**
 * A join through the real CLI while another namespace floods the leader's port at full speed
 * with junk, MAC-less join requests and replays of one valid request: the join must complete,
 * and the leader must have counted the flood as drops (no DH, no log line per datagram).
 * Timing and memory figures come from scripts/bench/join_flood_bench.ts, not from here.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import {
  joinDrops,
  type LabProc,
  nodeList,
  startMeshNode,
  waitUp,
  weftIn,
} from "../fixtures/mesh_lab.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("curl"));

const OPTS = { cidr: "10.93.0.0/24", ifPrefix: "wj" };
const FLOODER = new URL("../../scripts/bench/join_flood.ts", import.meta.url).pathname;

/** UDP datagrams that reached the leader's namespace (delivered or dropped for a full buffer). */
async function udpIn(lab: Lab): Promise<number> {
  const snmp = (await lab.exec("lead", "cat", "/proc/net/snmp")).stdout.split("\n")
    .filter((l) => l.startsWith("Udp:"));
  if (snmp.length < 2) return 0;
  const names = snmp[0].split(/\s+/);
  const values = snmp[1].split(/\s+/).map(Number);
  return values[names.indexOf("InDatagrams")] + values[names.indexOf("RcvbufErrors")];
}

Deno.test({
  name: "a join completes while another namespace floods the leader's port",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["lead", "atk", "n1"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-flood-" });
    try {
      const leader: LabProc = startMeshNode(lab, { ...OPTS, dir }, "lead", [
        "--leader",
        "--userspace",
        "--advertise",
        "192.0.2.1:51820",
      ]);
      await waitUp(lab, "lead", dir, leader);
      const create = async () => {
        const r = await weftIn(lab, "lead", dir, "token", "create", "--uses", "1");
        assert.equal(r.code, 0, r.stderr);
        return r.stdout.trim();
      };
      const floodToken = await create();
      const token = await create();
      // Bounded: it stops by itself; the lab kills it if the test ends first.
      const flood = lab.spawn("atk", Deno.execPath(), [
        "run",
        "-A",
        FLOODER,
        "--to",
        "192.0.2.1:51820",
        "--seconds",
        "120",
        "--token",
        floodToken,
      ]);
      // The flood is on: datagrams reach the leader's namespace by the hundred thousand.
      const flooding = async () => (await udpIn(lab)) > 100_000;
      assert.ok(await eventually(flooding, HANG_GUARD_MS), `no flood:\n${flood.output()}`);

      const n1 = startMeshNode(lab, { ...OPTS, dir }, "n1", ["--join", token, "--userspace"]);
      await waitUp(lab, "n1", dir, n1);
      const names = (await nodeList(lab, "lead", dir))!.map((m) => m.name);
      assert.ok(names.includes("n1"), names.join(","));

      const drops = await joinDrops(lab);
      assert.ok(drops["unknown-token"] > 10_000, JSON.stringify(drops));
      assert.ok(drops["cookie-required"] > 0, JSON.stringify(drops));
      // The flood left a handful of log lines, not one per datagram.
      const joinLines = leader.output().split("\n").filter((l) => /join/.test(l)).length;
      assert.ok(joinLines < 100, `${joinLines} join log lines`);
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
