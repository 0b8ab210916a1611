/**
 * The leader owns names (issue 44), through the real CLI (userspace mode, loopback) and the
 * leader's DNS server asked with `dig`: a joiner asking for a service's name or another member's
 * `node-x-y` name gets a suffix and the DNS answer stays the service's or the member's; a token
 * pinned with `--hostname bastion` gives that name, which a plain joiner asking for it does not
 * get; a removed member's name goes to no other joiner until the operator frees it.
 */
import assert from "node:assert/strict";
import {
  freePort,
  HOST_AGENT_FLAGS,
  type Running,
  startMeshAgent,
  weft,
} from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS, haveCommands } from "../fixtures/netns.ts";
import type { Member } from "../../lib/members/member.ts";
import { ControlClient } from "../../lib/control/mod.ts";

const DIG = await haveCommands("dig");

/** The A records `dig` gets for `name` from the DNS server at 127.0.0.1:`port`, sorted. */
async function digA(port: number, name: string): Promise<string[]> {
  const out = await new Deno.Command("dig", {
    args: ["@127.0.0.1", "-p", String(port), "+tries=1", "+short", name, "A"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").sort();
}

Deno.test({
  name: "names: the leader gives them; services, node-x-y names, pinned and removed ones are kept",
  ignore: !DIG,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-names-" });
    const dnsPort = freePort();
    const lport = freePort();
    const status = `127.0.0.1:${freePort("tcp")}`;
    const agents: Running[] = [];
    const ctl = async (...a: string[]) => {
      const r = await weft([...a, "--status-listen", status, "--state-dir", `${dir}/leader`]);
      return r;
    };
    const nodes = async (): Promise<Member[]> => {
      const r = await ctl("node", "list", "--json");
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout).nodes;
    };
    /**
     * The leader's members from its API, as `weft node list --json` reads them: for the waits,
     * which poll (a `weft` one-shot costs about a CPU-second).
     */
    const members = async (): Promise<Member[]> => {
      const token = (await Deno.readTextFile(`${dir}/leader/control.token`)).trim();
      return (await new ControlClient(status, token).nodes()).nodes as Member[];
    };
    const args = (token: string, hostname: string, extra: string[] = []) => [
      "--join",
      token,
      "--userspace",
      "--state-dir",
      `${dir}/${hostname}-${crypto.randomUUID().slice(0, 6)}`,
      "--hostname",
      hostname,
      "--listen-port",
      String(freePort()),
      "--dns-port",
      "0",
      ...extra,
    ];
    /** Starts a joiner; resolves with it and its record once the leader lists it. */
    const join = async (token: string, hostname: string, extra: string[] = []) => {
      const before = new Set((await members()).map((m) => m.publicKey));
      const agent = await startMeshAgent(
        hostname,
        args(token, hostname, extra),
        `127.0.0.1:${freePort("tcp")}`,
      );
      agents.push(agent);
      let member: Member | undefined;
      assert.ok(
        await eventually(async () => {
          member = (await members()).find((m) => !before.has(m.publicKey));
          return member !== undefined;
        }, HANG_GUARD_MS),
        agent.stderr(),
      );
      return { agent, member: member! };
    };
    const token = async (...flags: string[]) => {
      const r = await ctl("token", "create", ...flags);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    try {
      agents.push(
        await startMeshAgent("lead", [
          "--leader",
          "--userspace",
          "--cidr",
          "10.94.0.0/24",
          "--state-dir",
          `${dir}/leader`,
          "--hostname",
          "lead",
          "--listen-port",
          String(lport),
          "--advertise",
          `127.0.0.1:${lport}`,
          "--dns-port",
          String(dnsPort),
        ], status),
      );
      const plain = await token();

      // `db` is a service the operator granted to pg (10.94.0.2, so node-0-2).
      const pg = await join(await token("--service", "db"), "pg", ["--service", "db:5432/tcp"]);
      assert.equal(pg.member.address, "10.94.0.2");
      assert.deepEqual(await digA(dnsPort, "db.overlay.local"), ["10.94.0.2"]);

      // A joiner asking for `db` gets another name, says so, and `db` stays the service.
      const db = await join(plain, "db");
      assert.equal(db.member.name, "db-2");
      assert.match(
        db.agent.stderr(),
        /the leader gave this node another name than it asked for asked=db name=db-2/,
      );
      assert.deepEqual(await digA(dnsPort, "db.overlay.local"), ["10.94.0.2"]);
      assert.deepEqual(await digA(dnsPort, "db-2.overlay.local"), [db.member.address]);

      // Another member's address name.
      const n02 = await join(plain, "node-0-2");
      assert.equal(n02.member.name, "node-0-2-2");
      assert.deepEqual(await digA(dnsPort, "node-0-2.overlay.local"), ["10.94.0.2"]);

      // An open service (no grant names it) named like another member is left out of the offer:
      // services answer before host names, so it would take pg's name.
      const sh = await join(plain, "sh", ["--service", "pg:80/tcp", "--service", "web:80/tcp"]);
      const offers = async () => {
        const rec: Member | undefined = (await members()).find((m) =>
          m.publicKey === sh.member.publicKey
        );
        return rec?.services.map((x) => x.name).join(",");
      };
      assert.ok(await eventually(async () => (await offers()) === "web", HANG_GUARD_MS));
      assert.deepEqual(await digA(dnsPort, "pg.overlay.local"), ["10.94.0.2"]);
      assert.deepEqual(await digA(dnsPort, "web.overlay.local"), [sh.member.address]);

      // A name pinned by a token: a plain joiner asking for it first does not get it; the
      // pinned token's node does, whatever it asks for.
      const pin = await token("--hostname", "bastion", "--uses", "1");
      const listed = JSON.parse((await ctl("token", "list", "--json")).stdout);
      assert.equal(listed.at(-1).hostname, "bastion");
      const early = await join(plain, "bastion");
      assert.equal(early.member.name, "bastion-2");
      const bastion = await join(pin, "jumpbox");
      assert.equal(bastion.member.name, "bastion");
      assert.deepEqual(await digA(dnsPort, "bastion.overlay.local"), [bastion.member.address]);
      // The token cannot pin a name taken, reserved or a service's.
      for (
        const [name, why] of [["bastion", /another member's/], ["db", /service's name/]] as const
      ) {
        const r = await ctl("token", "create", "--hostname", name);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, why);
      }

      // A pinned name taken meanwhile (here by the token's own first node): refused, clearly.
      const pin2 = await token("--hostname", "gw", "--uses", "2");
      assert.equal((await join(pin2, "gw")).member.name, "gw");
      // Its own status address: the default one may be another test's agent's (a parallel run).
      const second = await weft([
        ...args(pin2, "gw2", ["--status-listen", `127.0.0.1:${freePort("tcp")}`]),
        ...HOST_AGENT_FLAGS,
      ]);
      assert.equal(second.code, 2, second.stderr);
      assert.match(second.stderr, /the name this token gives, "gw", is another member's/);

      // Removed: its name is held from other joiners until the operator frees it.
      const gone = bastion.member.address;
      await bastion.agent.stop();
      const rm = await ctl("node", "remove", "bastion");
      assert.equal(rm.code, 0, rm.stderr);
      const after = await join(plain, "bastion");
      assert.equal(after.member.name, "bastion-3");
      const pinAgain = await ctl("token", "create", "--hostname", "bastion");
      assert.match(pinAgain.stderr, /was a removed member's and is held until .*free-name/);
      const freed = await ctl("node", "free-name", "bastion");
      assert.equal(freed.code, 0, freed.stderr);
      assert.match(freed.stdout, /freed bastion/);
      const nothing = await ctl("node", "free-name", "bastion");
      assert.equal(nothing.code, 2, nothing.stderr);
      assert.match(nothing.stderr, /no removed member's name "bastion" is held/);
      const next = await join(plain, "bastion");
      assert.equal(next.member.name, "bastion");
      assert.notEqual(next.member.address, gone);
      assert.deepEqual(await digA(dnsPort, "bastion.overlay.local"), [next.member.address]);

      // No name twice.
      const names = (await nodes()).map((m) => m.name);
      assert.equal(new Set(names).size, names.length, names.join(","));
    } finally {
      for (const a of agents.reverse()) await a.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
