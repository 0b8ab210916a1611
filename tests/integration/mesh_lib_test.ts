import assert from "node:assert/strict";
import { MeshAgent, type MeshOptions } from "../../lib/mesh/mesh_agent.ts";
import { nullLogger } from "../../lib/log/logger.ts";
import { freePort } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { decodeToken } from "../../lib/mesh/join/token.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";
import type { NameLookup } from "../../lib/net/resolve.ts";
import { StateDir } from "../../lib/mesh/state/state.ts";

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
        HANG_GUARD_MS,
        100,
      );
      assert.ok(full, agents.map((a) => a.view().members.length).join(","));
      const addrs = leader.view().members.map((m) => m.address).sort();
      assert.deepEqual(addrs, ["10.210.0.1", "10.210.0.2", "10.210.0.3"]);
      // The echo also waits for the first handshake: the hang guard, not a bound.
      const r = await n1.agent.ping(n2.self!.address, { count: 1, timeoutMs: HANG_GUARD_MS });
      assert.ok(r.rtts[0] !== null, "n1 -> n2 direct");
      // A third join with the used-up token is refused (the refusal ends the wait at once; the
      // join timeout is only a guard).
      await assert.rejects(
        startNode(dir, "n3", token, { joinTimeoutMs: HANG_GUARD_MS }),
        /token used up/,
      );
      // Services advertised through the API reach every node's view.
      await n1.setServices([{ name: "web", port: 8080, protocol: "tcp" }]);
      const advertised = await eventually(
        () =>
          Promise.resolve(
            n2.view().members.find((m) => m.name === "n1")?.services[0]?.port === 8080,
          ),
        HANG_GUARD_MS,
        100,
      );
      assert.ok(advertised, "n1's service reached n2");
      await leader.removeNode("n2");
      const gone = await eventually(
        () =>
          Promise.resolve(
            n1.view().members.length === 2 && !n1.agent.device.peer(n2.agent.device.publicKey),
          ),
        HANG_GUARD_MS,
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
        await eventually(
          () => Promise.resolve(n1.view().members.length === 2),
          HANG_GUARD_MS,
          100,
        ),
      );
      const me = n1.view().members.find((m) => m.name === "n1")!;
      assert.equal(me.address, "10.212.0.2");
      assert.equal(me.address6, "fd00:212::2");
      assert.equal(leader.self!.address6, "fd00:212::1");
      assert.ok(n1.agent.addresses.includes("fd00:212::2/64"));
      // One echo, waited for up to the hang guard (a guard, not a bound).
      const r = await n1.agent.ping("fd00:212::1", { count: 1, timeoutMs: HANG_GUARD_MS });
      assert.ok(r.rtts[0] !== null, "IPv6 through the tunnel");
    }),
});

/** A lookup that knows the names in `hosts` and fails like getaddrinfo for the others. */
function hostsLookup(hosts: Record<string, string>): NameLookup {
  return (host) =>
    host in hosts
      ? Promise.resolve([hosts[host]])
      : Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), {
        code: "ENOTFOUND",
      }));
}

Deno.test({
  name: "library: a leader that advertises only a name is joined and reached through it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withAgents("weft-mesh-name-", async (dir, agents) => {
      const lp = freePort();
      const lookup = hostsLookup({ "leader.mesh.test": "127.0.0.1" });
      const leader = await startLeader(dir, {
        network: "10.213.0.0/24",
        listenPort: lp,
        advertise: [`leader.mesh.test:${lp}`],
        dnsPort: 0,
        lookup,
      });
      agents.push(leader);
      const { token } = await leader.createToken({ ttlMs: 60_000, uses: 1 });
      assert.deepEqual(decodeToken(token).endpoints, [`leader.mesh.test:${lp}`]);
      // No path probes: they would move the session to the leader's LAN address (its record's
      // `lan`), and this is about the name.
      const n1 = await startNode(dir, "n1", token, { dnsPort: 0, lookup, natTraversal: false });
      agents.push(n1);
      // The leader's record carries only the name: n1 resolved it to reach the leader.
      const peer = n1.agent.device.peer(leader.agent.device.publicKey)!;
      assert.ok(
        await eventually(() => Promise.resolve(peer.lastHandshakeUnixMs > 0), HANG_GUARD_MS, 50),
        "handshake with the leader",
      );
      assert.equal(peer.endpoint?.toString(), `127.0.0.1:${lp}`);
      const r = await n1.agent.ping(leader.self!.address, { count: 1, timeoutMs: HANG_GUARD_MS });
      assert.ok(r.rtts[0] !== null, "n1 -> leader through the name");
    }),
});

Deno.test({
  name: "library: a join whose leader name never resolves fails with the cause after the timeout",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-mesh-noname-" });
    try {
      const leader = generateKeyPair().publicKey;
      const { encodeToken } = await import("../../lib/mesh/join/token.ts");
      const token = encodeToken({
        leaderKey: leader,
        endpoints: ["nowhere.mesh.test:51820"],
        network: "10.214.0.0/24",
        id: "000000000000",
        secret: "AAAA",
      });
      await assert.rejects(
        startNode(dir, "n1", token, {
          joinTimeoutMs: 3000,
          dnsPort: 0,
          lookup: hostsLookup({}),
        }),
        /could not resolve the leader's endpoint nowhere\.mesh\.test:51820: cannot resolve nowhere\.mesh\.test: ENOTFOUND/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "library: an allocation never heard from is released after the hold; its token use, address and name return",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withAgents("weft-mesh-ghost-", async (dir, agents) => {
      const leader = await startLeader(dir, {
        network: "10.215.0.0/24",
        dnsPort: 0,
        joinHoldMs: 400,
      });
      agents.push(leader);
      const { token } = await leader.createToken({ ttlMs: 60_000, uses: 1 });
      const t = decodeToken(token);
      // A join answered into the void: nobody ever says hello with that key.
      const ghost = await leader.leader!.join({
        tokenId: t.id,
        secret: t.secret,
        publicKey: generateKeyPair().publicKey,
        hostname: "ghost",
        labels: {},
        services: [],
        endpoints: [],
        time: Date.now(),
      }, null);
      assert.ok(ghost.ok);
      assert.ok(leader.agent.device.peer(ghost.member.publicKey));
      const gone = () => Promise.resolve(!leader.view().members.some((m) => m.name === "ghost"));
      assert.ok(await eventually(gone, HANG_GUARD_MS, 50), "ghost released");
      assert.equal(leader.agent.device.peer(ghost.member.publicKey), undefined);
      // The one-use token has its use back: a real node joins with it, at the freed address and
      // under the freed name.
      const n1 = await startNode(dir, "ghost", token, { dnsPort: 0 });
      agents.push(n1);
      assert.equal(n1.self!.address, ghost.member.address);
      assert.equal(n1.self!.name, "ghost");
    }),
});

Deno.test({
  name: "library: a joined node's hello marks its allocation as heard from, on disk",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withAgents("weft-mesh-heard-", async (dir, agents) => {
      const leader = await startLeader(dir, { network: "10.216.0.0/24", dnsPort: 0 });
      agents.push(leader);
      const { token } = await leader.createToken({ ttlMs: 60_000, uses: 1 });
      const n1 = await startNode(dir, "n1", token, { dnsPort: 0 });
      agents.push(n1);
      const key = n1.agent.device.publicKey;
      const heard = async () => {
        const file = await new StateDir(`${dir}/leader`).readLeader();
        return file?.joins.get(key)?.heard === true;
      };
      assert.ok(await eventually(heard, HANG_GUARD_MS, 50), "n1 heard from");
    }),
});
