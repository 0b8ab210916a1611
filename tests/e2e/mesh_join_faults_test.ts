/**
 * Joins through the real CLI in namespaces when things go wrong: the leader's first answer is
 * lost on the way (a one-use token must still work), the leader cannot write its state
 * (nothing may be answered from memory, and a restart must not hand out an address twice), and
 * the joiner is killed after the leader admitted it but before any answer arrived (started again,
 * it is the member admitted, and the leader holds no orphan).
 */
import assert from "node:assert/strict";
import {
  canBuildLabs,
  eventually,
  HANG_GUARD_MS,
  haveCommands,
  Lab,
  sh,
  START_GUARD_MS,
} from "../fixtures/netns.ts";
import { ping } from "../fixtures/wg_lab.ts";
import {
  joinDrops,
  type LabProc,
  nodeList,
  startMeshNode,
  waitUp,
  weftIn,
} from "../fixtures/mesh_lab.ts";
import { StateDir } from "../../lib/mesh/state/state.ts";

const ignore = !(await canBuildLabs()) ||
  !(await haveCommands("ping", "iptables", "chattr", "curl"));

const OPTS = { cidr: "10.92.0.0/24", ifPrefix: "wf", extra: ["--log-level", "debug"] };
const ADVERTISE = ["--advertise", "192.0.2.1:51820"];

function startNode(lab: Lab, dir: string, host: string, args: string[]): LabProc {
  return startMeshNode(lab, { ...OPTS, dir }, host, args);
}

async function createToken(lab: Lab, dir: string, uses: number): Promise<string> {
  const r = await weftIn(lab, "lead", dir, "token", "create", "--uses", String(uses));
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** Waits until a process is up or has exited; returns its exit code, or null when it is up. */
async function upOrExit(lab: Lab, host: string, dir: string, run: LabProc): Promise<number | null> {
  let code: number | null = null;
  run.child.status.then((s) => code = s.code);
  const settled = await eventually(
    async () => code !== null || (await nodeList(lab, host, dir)) !== null,
    START_GUARD_MS,
  );
  assert.ok(settled, `${host} neither came up nor exited:\n${run.output()}`);
  return code;
}

Deno.test({
  name: "the leader's first join answer is lost: the retransmission with a one-use token joins",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["lead", "n1"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-lost-" });
    try {
      const leader = startNode(lab, dir, "lead", ["--leader", ...ADVERTISE]);
      await waitUp(lab, "lead", dir, leader);
      // Drop the first datagram of type 0x11 (a join answer: little-endian 17 in the first
      // payload word) that the leader sends, and only that one.
      await lab.run(
        "lead",
        "iptables",
        "-A",
        "OUTPUT",
        "-p",
        "udp",
        "--sport",
        "51820",
        "-m",
        "u32",
        "--u32",
        "0>>22&0x3C@8=0x11000000",
        "-m",
        "statistic",
        "--mode",
        "nth",
        "--every",
        "1000000",
        "--packet",
        "0",
        "-j",
        "DROP",
      );
      const token = await createToken(lab, dir, 1);
      const n1 = startNode(lab, dir, "n1", ["--join", token]);
      const code = await upOrExit(lab, "n1", dir, n1);
      assert.equal(code, null, `n1 did not join:\n${n1.output()}`);
      const rules = await lab.run("lead", "iptables", "-L", "OUTPUT", "-v", "-x", "-n");
      const dropped = Number(
        rules.split("\n").find((l) => l.includes("DROP"))!.trim().split(/\s+/)[0],
      );
      assert.equal(dropped, 1, `the first answer was dropped:\n${rules}`);
      // The retransmissions got the answer again without a second join: a copy while the request
      // was handled is dropped before its DH, one within 5 s of the answer (the same source) is
      // answered from memory; both are counted as resent, and the join is logged once.
      const drops = await joinDrops(lab);
      assert.ok((drops.resent ?? 0) >= 1, `no retransmission counted: ${JSON.stringify(drops)}`);
      assert.equal(leader.output().match(/node joined.*name=n1/g)?.length, 1, leader.output());

      const list = (await nodeList(lab, "lead", dir))!;
      assert.deepEqual(list.map((m) => m.name).sort(), ["lead", "n1"], "one allocation");
      const tokens = JSON.parse((await weftIn(lab, "lead", dir, "token", "list", "--json")).stdout);
      assert.equal(tokens[0].usesLeft, 0, "the token was used once");
      const lead = list.find((m) => m.name === "lead")!.address;
      assert.ok(await eventually(() => ping(lab, "n1", lead, 1, 2), HANG_GUARD_MS), "n1 -> leader");
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a leader that cannot write its state answers no join; after a restart no address repeats",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["lead", "n1", "n2"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-ro-" });
    const leaderDir = `${dir}/lead`;
    try {
      let leader = startNode(lab, dir, "lead", ["--leader", ...ADVERTISE, "--userspace"]);
      await waitUp(lab, "lead", dir, leader);
      const token = await createToken(lab, dir, 1);
      // Immutable: not even root can create the temp file of an atomic write in there, nor
      // append to the journal of the commits since leader.json was written (an open file too).
      const immutable = [leaderDir, `${leaderDir}/leader.json`];
      if (await Deno.stat(`${leaderDir}/leader.journal`).then(() => true, () => false)) {
        immutable.push(`${leaderDir}/leader.journal`);
      }
      await lab.run("lead", "chattr", "+i", ...immutable);
      const refused = startNode(lab, dir, "n1", ["--join", token, "--userspace"]);
      const code = await upOrExit(lab, "n1", dir, refused);
      // The leader's failure, not the joiner's input: exit code 1 (and the key it sent is kept).
      assert.equal(
        code,
        1,
        `n1 must not join while the leader cannot record it:\n${refused.output()}`,
      );
      assert.match(refused.output(), /join refused: the leader could not save the join/);
      assert.match(leader.output(), /join failed.*hostname=n1/);
      assert.deepEqual((await nodeList(lab, "lead", dir))!.map((m) => m.name), ["lead"]);
      const tokens = JSON.parse((await weftIn(lab, "lead", dir, "token", "list", "--json")).stdout);
      assert.equal(tokens[0].usesLeft, 1, "the token was not used");

      // The disk is writable again: the same joiner (same key) joins at the first free address.
      await lab.run("lead", "chattr", "-i", ...immutable);
      const n1 = startNode(lab, dir, "n1", ["--join", token, "--userspace"]);
      await waitUp(lab, "n1", dir, n1);
      const a1 = (await nodeList(lab, "lead", dir))!.find((m) => m.name === "n1")!.address;
      assert.equal(a1, "10.92.0.2");

      // Restarted, the leader has exactly what it answered; the next joiner gets a new address.
      await lab.stop(leader.child);
      leader = startNode(lab, dir, "lead", ["--leader", ...ADVERTISE, "--userspace"]);
      await waitUp(lab, "lead", dir, leader);
      const token2 = await createToken(lab, dir, 1);
      const n2 = startNode(lab, dir, "n2", ["--join", token2, "--userspace"]);
      await waitUp(lab, "n2", dir, n2);
      const state = (await new StateDir(leaderDir).readLeader())!;
      const addresses = state.members.map((m) => m.address).sort();
      assert.deepEqual(addresses, ["10.92.0.1", "10.92.0.2", "10.92.0.3"]);
    } finally {
      await sh("chattr", "-i", leaderDir);
      for (const f of ["leader.json", "leader.journal"]) {
        await sh("chattr", "-i", `${leaderDir}/${f}`);
      }
      await lab.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** The members the leader knows, with their keys (`weft node list --json`). */
async function members(
  lab: Lab,
  dir: string,
): Promise<{ name: string; address: string; publicKey: string }[]> {
  const r = await weftIn(lab, "lead", dir, "node", "list", "--json");
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).nodes;
}

Deno.test({
  name:
    "a joiner killed before its join's answer arrives starts again as the same member, no orphan",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["lead", "jm"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-joincrash-" });
    try {
      const leader = startNode(lab, dir, "lead", ["--leader", ...ADVERTISE]);
      await waitUp(lab, "lead", dir, leader);
      // Every join answer is lost: the leader's datagrams of type 0x11 (a join answer) are
      // dropped, and nothing leaves its TCP port (the joiner tries TCP after 2 s unanswered).
      const lost = [
        ["-p", "udp", "--sport", "51820", "-m", "u32", "--u32", "0>>22&0x3C@8=0x11000000"],
        ["-p", "tcp", "--sport", "51820"],
      ];
      for (const rule of lost) {
        await lab.run("lead", "iptables", "-A", "OUTPUT", ...rule, "-j", "DROP");
      }
      const token = await createToken(lab, dir, 1);
      const first = startNode(lab, dir, "jm", ["--join", token]);
      // The leader admitted it (its record is on disk before the answer goes)...
      assert.ok(
        await eventually(
          () => Promise.resolve(/node joined.*name=jm/.test(leader.output())),
          HANG_GUARD_MS,
        ),
        `the leader never took the join:\n${leader.output()}\n${first.output()}`,
      );
      const admitted = (await members(lab, dir)).find((m) => m.name === "jm")!;
      assert.ok(admitted, "jm is a member");
      // ...and the joiner dies before any answer reached it.
      first.child.kill("SIGKILL");
      assert.equal((await first.child.status).signal, "SIGKILL", first.output());
      for (const rule of lost) {
        await lab.run("lead", "iptables", "-D", "OUTPUT", ...rule, "-j", "DROP");
      }

      // Started again with the same command: the same member (key, address, name), and the
      // one-use token was used once.
      const again = startNode(lab, dir, "jm", ["--join", token]);
      const code = await upOrExit(lab, "jm", dir, again);
      assert.equal(code, null, `jm did not come back:\n${again.output()}`);
      const list = await members(lab, dir);
      assert.deepEqual(list.map((m) => m.name).sort(), ["jm", "lead"], "no orphan, no jm-2");
      const jm = list.find((m) => m.name === "jm")!;
      assert.equal(jm.publicKey, admitted.publicKey, "the key it joined with");
      assert.equal(jm.address, admitted.address, "the address it was given");
      const status = JSON.parse((await weftIn(lab, "jm", dir, "status", "--json")).stdout);
      assert.equal(status.node.publicKey, admitted.publicKey, "jm runs as the member admitted");
      const tokens = JSON.parse((await weftIn(lab, "lead", dir, "token", "list", "--json")).stdout);
      assert.equal(tokens[0].usesLeft, 0, "the token was used once");
      const lead = list.find((m) => m.name === "lead")!.address;
      assert.ok(await eventually(() => ping(lab, "jm", lead, 1, 2), HANG_GUARD_MS), "jm -> leader");
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
