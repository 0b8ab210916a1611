import assert from "node:assert/strict";
import { dnsFromConfig, startMeshDns } from "./mesh_dns.ts";
import { Agent } from "../agent/agent.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { generateKeyPair } from "../crypto/keys.ts";
import { createLogger, nullLogger } from "../log/logger.ts";
import type { MembershipView } from "../members/member.ts";
import type { AgentConfig } from "../config/agent_config.ts";
import { member } from "../../tests/fixtures/members.ts";

/** A loopback port free for UDP and TCP now (the DNS server takes both). */
function freeUdpPort(): number {
  for (;;) {
    const s = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const port = (s.addr as Deno.NetAddr).port;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch {
      // Taken on TCP (another test's listener or connection): draw again.
    } finally {
      s.close();
    }
  }
}

async function withAgent(fn: (agent: Agent) => Promise<void>): Promise<void> {
  const agent = await Agent.start({
    privateKey: generateKeyPair().privateKey,
    addresses: ["10.9.0.1/24"],
    transport: new MemoryNetwork().bind("192.0.2.1", 51820),
    logger: nullLogger,
  });
  try {
    await fn(agent);
  } finally {
    await agent.close();
  }
}

const view: MembershipView = {
  network: "10.9.0.0/24",
  version: 1,
  members: [member("lead", "10.9.0.1")],
};

Deno.test("mesh dns: port 0 is no DNS", async () => {
  await withAgent(async (agent) => {
    const dns = await startMeshDns({ dnsPort: 0 }, {
      agent,
      view: () => view,
      userspace: true,
      underlay: "deno",
      logger: nullLogger,
    });
    assert.equal(dns, null);
    assert.equal(agent.listenerStats.dns_tcp, undefined);
  });
});

Deno.test("mesh dns: serves loopback in userspace mode; its TCP listener is counted", async () => {
  await withAgent(async (agent) => {
    const lines: string[] = [];
    const port = freeUdpPort();
    const dns = await startMeshDns({ dnsPort: port, dnsZone: "mesh.test." }, {
      agent,
      view: () => view,
      userspace: true,
      underlay: "deno",
      logger: createLogger({ sink: (l) => lines.push(l) }),
    });
    try {
      assert.ok(dns);
      assert.equal(dns.port, port);
      assert.equal(agent.listenerStats.dns_tcp, dns.listenerStats);
      assert.match(
        lines.join("\n"),
        new RegExp(`dns listening addresses=127\\.0\\.0\\.1 port=${port}`),
      );
    } finally {
      await dns?.close();
    }
  });
});

Deno.test("mesh dns: a port that cannot be bound fails the start, naming the cause", async () => {
  await withAgent(async (agent) => {
    const busy = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      await assert.rejects(
        startMeshDns({ dnsPort: (busy.addr as Deno.NetAddr).port }, {
          agent,
          view: () => view,
          userspace: true,
          underlay: "deno",
          logger: nullLogger,
        }),
        /the DNS server did not start: .*\(choose another DNS port, or 0 for no DNS\)/,
      );
    } finally {
      busy.close();
    }
  });
});

Deno.test("mesh dns: the DNS section of a configuration", () => {
  const config = { dnsPort: 5353, dnsZone: "x.test.", dnsForward: true, dnsRoute: [] };
  assert.deepEqual(dnsFromConfig(config as unknown as AgentConfig), {
    dnsPort: 5353,
    dnsZone: "x.test.",
    dnsForward: true,
  });
  const routes = [{ domain: "corp.", upstreams: ["198.51.100.53:53"] }];
  assert.deepEqual(
    dnsFromConfig({ ...config, dnsRoute: routes } as unknown as AgentConfig).dnsRoutes,
    routes,
  );
});
