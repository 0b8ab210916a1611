/**
 * Bad input to `weft --leader` / `weft --join` through the real CLI (userspace mode, loopback):
 * every refusal is a clear message with exit code 2, and nothing is allocated.
 */
import assert from "node:assert/strict";
import { freePort, HOST_AGENT_FLAGS, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { selfCommand } from "../../lib/demo/self.ts";
import { decodeToken, encodeToken } from "../../lib/mesh/join/token.ts";
import { StateDir } from "../../lib/mesh/state/state.ts";

const [CMD, ...PRE] = selfCommand();

async function members(dir: string): Promise<string[]> {
  // leader.json with the journal of the commits since (lib/mesh/state/leader_journal.ts).
  const s = await new StateDir(`${dir}/leader`).readLeader();
  return s!.members.map((m) => m.name);
}

Deno.test({
  name: "join refusals: unknown, expired, revoked, used-up tokens; taken names; full CIDR",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-bad-" });
    const lport = freePort();
    const status = `127.0.0.1:${freePort("tcp")}`;
    const leader = new Deno.Command(CMD, {
      args: [
        ...PRE,
        "--leader",
        "--userspace",
        ...HOST_AGENT_FLAGS,
        "--cidr",
        "10.211.0.0/29", // leader + 5 hosts
        "--state-dir",
        `${dir}/leader`,
        "--listen-port",
        String(lport),
        "--advertise",
        `127.0.0.1:${lport}`,
        "--status-listen",
        status,
        "--hostname",
        "boss",
        "--dns-port",
        "0", // agents on one host need distinct DNS ports; these tests need no DNS
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let log = "";
    leader.stderr.pipeTo(
      new WritableStream({ write: (c) => void (log += new TextDecoder().decode(c)) }),
    ).catch(() => {});
    const joiners: Deno.ChildProcess[] = [];
    const ctl = (...a: string[]) =>
      weft([...a, "--status-listen", status, "--state-dir", `${dir}/leader`]);
    const join = (token: string, name: string, extra: string[] = []) =>
      weft([
        "--join",
        token,
        "--userspace",
        ...HOST_AGENT_FLAGS,
        "--state-dir",
        `${dir}/${name}-${crypto.randomUUID().slice(0, 4)}`,
        "--hostname",
        name,
        "--listen-port",
        "0",
        "--status-listen",
        `127.0.0.1:${freePort("tcp")}`,
        "--dns-port",
        "0",
        ...extra,
      ]);
    const joinAndStay = (token: string, name: string) => {
      const c = new Deno.Command(CMD, {
        args: [
          ...PRE,
          "--join",
          token,
          "--userspace",
          ...HOST_AGENT_FLAGS,
          "--state-dir",
          `${dir}/${name}`,
          "--hostname",
          name,
          "--listen-port",
          String(freePort()),
          "--status-listen",
          `127.0.0.1:${freePort("tcp")}`,
          "--dns-port",
          "0",
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      joiners.push(c);
    };
    try {
      assert.ok(
        await eventually(async () => (await ctl("token", "list")).code === 0, HANG_GUARD_MS),
        log,
      );
      const good = (await ctl("token", "create", "--uses", "10")).stdout.trim();
      // A label key given twice is refused (exit 2), as the agent's own --label refuses it.
      const twice = await ctl("token", "create", "--label", "role=web", "--label", "role=db");
      assert.equal(twice.code, 2);
      assert.match(twice.stderr, /--label: label "role" is given twice/);

      const garbage = await join("hello", "x1");
      assert.equal(garbage.code, 2);
      assert.match(garbage.stderr, /not a weft join token/);

      // (A forged secret gets no answer at all: tests/integration/mesh_join_attack_test.ts.)

      const short = (await ctl("token", "create", "--ttl", "1s")).stdout.trim();
      await new Promise((r) => setTimeout(r, 1500));
      const exp = await join(short, "x3");
      assert.equal(exp.code, 2);
      assert.match(exp.stderr, /token expired/);

      const rev = (await ctl("token", "create")).stdout.trim();
      const list = JSON.parse((await ctl("token", "list", "--json")).stdout);
      const revId = list.at(-1).id;
      assert.equal((await ctl("token", "revoke", revId)).code, 0);
      const r = await join(rev, "x4");
      assert.equal(r.code, 2);
      assert.match(r.stderr, /token revoked/);

      // A name another member holds: a joiner asking for it gets a suffix instead
      // (names_cli_test.ts), and no token may pin it.
      const taken = await ctl("token", "create", "--hostname", "boss");
      assert.equal(taken.code, 2, taken.stderr);
      assert.match(taken.stderr, /hostname "boss" is another member's/);

      assert.deepEqual(await members(dir), ["boss"], "nothing allocated by refusals");

      // Fill the /29: five joiners stay up, the sixth finds it exhausted.
      for (let i = 1; i <= 5; i++) joinAndStay(good, `ok${i}`);
      assert.ok(await eventually(async () => (await members(dir)).length === 6, HANG_GUARD_MS));
      const full = await join(good, "ok6");
      // The leader's state, not the joiner's input: a failure (1), which a start again may pass.
      assert.equal(full.code, 1, full.stderr);
      assert.match(full.stderr, /network 10\.211\.0\.0\/29 is exhausted/);
      assert.equal((await members(dir)).length, 6);
      const uses = JSON.parse((await ctl("token", "list", "--json")).stdout)
        .find((t: { id: string; usesLeft: number | null }) =>
          t.id !== revId && t.usesLeft !== null
        );
      assert.equal(uses.usesLeft, 5, "refused joins use nothing");

      // Grants (issue 24): services and relaying in a token; relaying set on a node.
      assert.equal((await ctl("token", "create", "--service", "auth", "--relay")).code, 0);
      const granting = JSON.parse((await ctl("token", "list", "--json")).stdout).at(-1);
      assert.deepEqual([granting.services, granting.relay], [["auth"], true]);
      assert.match((await ctl("token", "list")).stdout, /service=auth,relay/);
      const badService = await ctl("token", "create", "--service", "Not A Name");
      assert.equal(badService.code, 2, badService.stderr);
      assert.match(badService.stderr, /--service: service name/);
      const set = await ctl("node", "set", "ok1", "--relay");
      assert.equal(set.code, 0, set.stderr);
      assert.match(set.stdout, /^ok1 \(10\.211\.0\.\d+\): may relay/);
      const ok1 = () =>
        ctl("node", "list", "--json").then((r) =>
          JSON.parse(r.stdout).nodes.find((n: { name: string }) => n.name === "ok1")
        );
      assert.deepEqual((await ok1()).grants, { relay: true });
      assert.equal((await ctl("node", "set", "ok1", "--no-relay")).code, 0);
      assert.equal((await ok1()).grants, undefined);
      assert.equal((await ctl("node", "set", "nobody", "--relay")).code, 2);
      assert.equal((await ctl("node", "set", "ok1")).code, 2, "neither --relay nor --no-relay");

      // Secrets never reach the log.
      for (const t of [good, short, rev]) assert.ok(!log.includes(t.slice(6)), "token in log");
    } finally {
      for (const c of [leader, ...joiners]) {
        try {
          c.kill("SIGTERM");
        } catch { /* gone */ }
      }
      await Promise.allSettled([leader.status, ...joiners.map((j) => j.status)]);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a token that cannot be used exits 2 before anything is created", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-badtok-" });
  try {
    const base = decodeToken(encodeToken({
      leaderKey: "",
      endpoints: ["127.0.0.1:9"],
      network: "10.9.0.0/24",
      id: "0123456789ab",
      secret: btoa("s".repeat(32)),
    }));
    const cases: [string, RegExp][] = [
      ["hello", /not a weft join token/],
      [encodeToken({ ...base, leaderKey: "not a key" }), /leader key in the token/],
      // Low-order points: every shared secret with them is zero.
      [encodeToken({ ...base, leaderKey: "A".repeat(43) + "=" }), /low-order/],
      [encodeToken({ ...base, leaderKey: "AQ" + "A".repeat(41) + "=" }), /low-order/],
      [encodeToken({ ...base, leaderKey: btoa("k".repeat(32)), id: "x" }), /bad id/],
    ];
    for (const [i, [token, why]] of cases.entries()) {
      const state = `${dir}/n${i}`;
      const r = await weft([
        "--join",
        token,
        "--userspace",
        ...HOST_AGENT_FLAGS,
        "--state-dir",
        state,
        "--hostname",
        "n",
        "--listen-port",
        "0",
        "--dns-port",
        "0",
        // Not the default status port: another test's agent may hold it (CI saw it taken).
        "--status-listen",
        "127.0.0.1:0",
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, why);
      await assert.rejects(Deno.lstat(state), Deno.errors.NotFound, "nothing created");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("configuration errors name the key and line; exit 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/weft.yaml`,
      "leader: true\nuserspace: true\nlisten_port: 51820\n",
    );
    const r = await weft(["--config", `${dir}/weft.yaml`, "--state-dir", `${dir}/s`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /line 3/);
    assert.match(r.stderr, /listen_port/);
    await Deno.writeTextFile(`${dir}/weft2.yaml`, "leader: true\nlisten-port: many\n");
    const t = await weft(["--config", `${dir}/weft2.yaml`, "--state-dir", `${dir}/s`]);
    assert.equal(t.code, 2);
    assert.match(t.stderr, /line 2/);
    const none = await weft(["--state-dir", `${dir}/empty`]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--leader/);
    const bad = await weft(["--leader", "--cidr", "10.0.0.0/33", "--state-dir", `${dir}/s`]);
    assert.equal(bad.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
