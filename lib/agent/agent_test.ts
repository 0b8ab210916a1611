import assert from "node:assert/strict";
import { Agent, type AgentOptions, type AgentParts } from "./agent.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { generateKeyPair } from "../crypto/keys.ts";
import { nullLogger } from "../log/logger.ts";
import { newTcpStats } from "../../drivers/stats.ts";
import { renderMetrics } from "../status/metrics.ts";

/** Two userspace agents, 10.77.0.1 and .2, on a memory underlay; `extra` goes to the first. */
async function pair(extra: Partial<AgentOptions> = {}): Promise<[Agent, Agent]> {
  const net = new MemoryNetwork();
  const a = generateKeyPair(), b = generateKeyPair();
  const first = await Agent.start({
    privateKey: a.privateKey,
    addresses: ["10.77.0.1/24"],
    transport: net.bind("192.0.2.1", 51820),
    peers: [{ publicKey: b.publicKey, endpoint: "192.0.2.2:51820", allowedIps: ["10.77.0.2/32"] }],
    logger: nullLogger,
    ...extra,
  });
  const second = await Agent.start({
    privateKey: b.privateKey,
    addresses: ["10.77.0.2/24"],
    transport: net.bind("192.0.2.2", 51820),
    peers: [{ publicKey: a.publicKey, endpoint: "192.0.2.1:51820", allowedIps: ["10.77.0.1/32"] }],
    logger: nullLogger,
  });
  return [first, second];
}

async function closeAll(agents: Agent[]): Promise<void> {
  for (const a of agents) await a.close();
}

Deno.test("agent: without collaborators, peers are named by their host address", async () => {
  const agents = await pair();
  try {
    const st = agents[0].status();
    assert.equal(st.node.name, "");
    assert.equal(st.node.role, "peer");
    assert.equal(st.peers[0].name, "");
    assert.equal(st.peers[0].address, "10.77.0.2");
    assert.equal(agents[0].control, null);
    assert.ok((await agents[0].ping("10.77.0.2", { timeoutMs: 2000 })).rtts[0] !== null);
  } finally {
    await closeAll(agents);
  }
});

Deno.test("agent: identity, peer names, status and metrics come from the options", async () => {
  const agents = await pair({
    identity: { name: "alpha", role: "leader" },
    describePeer: () => ({ name: "beta", address: "10.77.0.2" }),
    status: () => ({
      policy: { version: 7, rules: 1, dropped: { outbound: 0, inbound: 0 }, droppedByRule: {} },
    }),
    metrics: () => ({ policyDrops: { deny: 3 } }),
  });
  try {
    const st = agents[0].status();
    assert.equal(st.node.name, "alpha");
    assert.equal(st.node.role, "leader");
    assert.equal(st.node.policy?.version, 7);
    assert.equal(st.peers[0].name, "beta");
    const m = agents[0].metrics();
    assert.deepEqual(m.policyDrops, { deny: 3 });
    assert.equal(m.peers[0].name, "beta");
  } finally {
    await closeAll(agents);
  }
});

Deno.test("agent: relay and TCP figures from the options reach /metrics; a TcpStats fits as is", async () => {
  const tcp = newTcpStats();
  tcp.accepts = 2;
  tcp.drops["queue-full"] = 1;
  const client = {
    sessions: 1,
    wrapped: { packets: 3, bytes: 300 },
    unwrapped: { packets: 2, bytes: 200 },
    switches: 0,
    drops: {},
    refusals: {},
  };
  const agents = await pair({
    // The driver's own counters object, passed straight in: the shapes must stay in step.
    metrics: () => ({ tcp, relay: { client, fallbacks: { tcp: 1 }, routes: { tcp: 1 } } }),
  });
  try {
    const m = agents[0].metrics();
    assert.equal(m.tcp, tcp);
    assert.equal(m.relay?.client.sessions, 1);
    const text = renderMetrics(m);
    assert.match(text, /^weft_tcp_accepts_total 2$/m);
    assert.match(text, /^weft_tcp_send_drops_total\{reason="queue-full"\} 1$/m);
    assert.match(text, /^weft_relay_client_packets_total\{dir="out"\} 3$/m);
    assert.match(text, /^weft_routes\{route="tcp"\} 1$/m);
  } finally {
    await closeAll(agents);
  }
});

Deno.test("agent: the filter option decides which packets cross the tunnel", async () => {
  let outbound = 0;
  const agents = await pair({
    filter: {
      outbound: () => {
        outbound++;
        return false;
      },
      inbound: () => true,
    },
  });
  try {
    const r = await agents[0].ping("10.77.0.2", { timeoutMs: 300 });
    assert.deepEqual(r.rtts, [null]);
    assert.ok(outbound > 0);
  } finally {
    await closeAll(agents);
  }
});

Deno.test("agent: the probe factory gets the agent's parts; null turns probes off", async () => {
  let parts: AgentParts | null = null;
  const probed: string[] = [];
  const agents = await pair({
    control: true,
    health: { probeIntervalMs: 20 },
    probe: (p) => {
      parts = p;
      return (address) => {
        probed.push(address);
        return Promise.resolve(1.5);
      };
    },
  });
  try {
    const got = parts as AgentParts | null;
    assert.ok(got);
    assert.equal(got.device, agents[0].device);
    assert.equal(got.stack, agents[0].stack);
    assert.ok(got.control);
    assert.equal(got.control, agents[0].control);
    const deadline = Date.now() + 3000;
    while (probed.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(probed[0], "10.77.0.2");
  } finally {
    await closeAll(agents);
  }
  const quiet = await pair({ probe: null, health: { probeIntervalMs: 20 } });
  try {
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(
      quiet[0].health.get(quiet[0].device.peers()[0].publicKeyText)?.rttMs.avg ?? null,
      null,
    );
  } finally {
    await closeAll(quiet);
  }
});

Deno.test("agent: a probe factory that throws fails the start and leaves nothing open", async () => {
  const net = new MemoryNetwork();
  await assert.rejects(
    Agent.start({
      privateKey: generateKeyPair().privateKey,
      addresses: ["10.77.0.1/24"],
      transport: net.bind("192.0.2.1", 51820),
      logger: nullLogger,
      probe: () => {
        throw new Error("no probe here");
      },
    }),
    /no probe here/,
  );
  // The transport was closed with the device: its address is free again.
  net.bind("192.0.2.1", 51820);
});
