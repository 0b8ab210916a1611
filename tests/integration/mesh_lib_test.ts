import assert from "node:assert/strict";
import { MeshAgent, type MeshOptions } from "../../lib/mesh/mesh_agent.ts";
import { nullLogger } from "../../lib/log/logger.ts";
import { freePort } from "../fixtures/procs.ts";
import { eventually } from "../fixtures/netns.ts";

// Agents sharing one host cannot share a DNS port (a busy port is a startup error): these
// tests turn DNS off unless they give their own port.

/** A userspace leader on a free loopback port, state under `dir`. */
function startLeader(dir: string, extra: Partial<MeshOptions>): Promise<MeshAgent> {
  const lp = freePort();
  return MeshAgent.start({
    role: "leader",
    stateDir: `${dir}/leader`,
    hostname: "leader",
    userspace: true,
    listenPort: lp,
    advertise: [`127.0.0.1:${lp}`],
    dnsPort: 0,
    logger: nullLogger,
    ...extra,
  });
}

/** A userspace joiner named `name` on a free loopback port, state under `dir`. */
function startNode(
  dir: string,
  name: string,
  token: string,
  extra: Partial<MeshOptions> = {},
): Promise<MeshAgent> {
  return MeshAgent.start({
    role: "node",
    token,
    stateDir: `${dir}/${name}`,
    hostname: name,
    userspace: true,
    listenPort: freePort(),
    dnsPort: 0,
    logger: nullLogger,
    ...extra,
  });
}

/** Runs `body` with a temp dir and closes every agent it registers, even on failure. */
async function withAgents(
  prefix: string,
  body: (dir: string, agents: MeshAgent[]) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  const agents: MeshAgent[] = [];
  try {
    await body(dir, agents);
  } finally {
    for (const a of agents.reverse()) await a.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "library: a leader and two joiners form a mesh; removal propagates",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withAgents("weft-mesh-", async (dir, agents) => {
      const leader = await startLeader(dir, { network: "10.210.0.0/24" });
      agents.push(leader);
      const { token } = await leader.createToken({ ttlMs: 60_000, uses: 2 });
      for (const name of ["n1", "n2"]) agents.push(await startNode(dir, name, token));
      const [, n1, n2] = agents;
      const full = await eventually(
        () => Promise.resolve(agents.every((a) => a.view().members.length === 3)),
        10_000,
        100,
      );
      assert.ok(full, agents.map((a) => a.view().members.length).join(","));
      const addrs = leader.view().members.map((m) => m.address).sort();
      assert.deepEqual(addrs, ["10.210.0.1", "10.210.0.2", "10.210.0.3"]);
      const r = await n1.agent.ping(n2.self!.address, { count: 1, timeoutMs: 2000 });
      assert.ok(r.rtts[0] !== null, "n1 -> n2 direct");
      // A third join with the used-up token is refused.
      await assert.rejects(startNode(dir, "n3", token, { joinTimeoutMs: 5000 }), /token used up/);
      // Services advertised through the API reach every node's view.
      await n1.setServices([{ name: "web", port: 8080, protocol: "tcp" }]);
      const advertised = await eventually(
        () =>
          Promise.resolve(
            n2.view().members.find((m) => m.name === "n1")?.services[0]?.port === 8080,
          ),
        10_000,
        100,
      );
      assert.ok(advertised, "n1's service reached n2");
      await leader.removeNode("n2");
      const gone = await eventually(
        () =>
          Promise.resolve(
            n1.view().members.length === 2 && !n1.agent.device.peer(n2.agent.device.publicKey),
          ),
        10_000,
        100,
      );
      assert.ok(gone);
    }),
});

Deno.test({
  name: "library: with an IPv6 network every member gets an IPv6 address too, and pings over it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withAgents("weft-mesh6-", async (dir, agents) => {
      const leader = await startLeader(dir, {
        network: "10.212.0.0/24",
        network6: "fd00:212::/64",
        dnsPort: 0,
      });
      agents.push(leader);
      const { token } = await leader.createToken({ ttlMs: 60_000 });
      const n1 = await startNode(dir, "n1", token, { dnsPort: 0 });
      agents.push(n1);
      assert.ok(
        await eventually(() => Promise.resolve(n1.view().members.length === 2), 10_000, 100),
      );
      const me = n1.view().members.find((m) => m.name === "n1")!;
      assert.equal(me.address, "10.212.0.2");
      assert.equal(me.address6, "fd00:212::2");
      assert.equal(leader.self!.address6, "fd00:212::1");
      assert.ok(n1.agent.addresses.includes("fd00:212::2/64"));
      const r = await n1.agent.ping("fd00:212::1", { count: 1, timeoutMs: 2000 });
      assert.ok(r.rtts[0] !== null, "IPv6 through the tunnel");
    }),
});
