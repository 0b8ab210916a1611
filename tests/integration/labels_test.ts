/**
 * Who may set labels: a node that joined with a token labelled role=web claims role=db in a real
 * hello; the leader keeps role=web and policy selectors see only the granted labels. A node's own
 * labels live under node.weft/, apart, and a joiner asking for granted ones at start is refused.
 */
import assert from "node:assert/strict";
import { JoinError, MeshAgent, type MeshOptions } from "../../lib/mesh/mesh_agent.ts";
import { nullLogger } from "../../lib/log/logger.ts";
import { freePort } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { sendMessage } from "../../lib/mesh/sync/protocol.ts";
import { compilePolicyText } from "../../lib/policy/source.ts";
import type { Member } from "../../lib/members/member.ts";

function leaderOpts(dir: string): MeshOptions {
  const lp = freePort();
  return {
    role: "leader",
    stateDir: `${dir}/leader`,
    hostname: "leader",
    userspace: true,
    listenPort: lp,
    advertise: [`127.0.0.1:${lp}`],
    dnsPort: 0,
    probes: false,
    logger: nullLogger,
  };
}

function nodeOpts(dir: string, name: string, token: string): MeshOptions {
  return {
    role: "node",
    token,
    stateDir: `${dir}/${name}`,
    hostname: name,
    userspace: true,
    listenPort: freePort(),
    dnsPort: 0,
    probes: false,
    // Its own hellos would race the crafted one below; the first goes out at start.
    syncIntervalMs: 600_000,
    logger: nullLogger,
  };
}

const POLICY = `
defaults: { inbound: deny, outbound: allow }
policies:
  - name: db-clients
    action: allow
    from: "role=db"
    to: "*"
    proto: tcp
    ports: [5432]
  - name: web-clients
    action: allow
    from: "role=web"
    to: "*"
    proto: tcp
    ports: [80]
  - name: self-asserted
    action: allow
    from: "node.weft/claim=yes"
    to: "*"
    proto: tcp
    ports: [7000]
`;

Deno.test({
  name: "labels: a node cannot change its granted labels with a hello; selectors see granted ones",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-labels-" });
    const agents: MeshAgent[] = [];
    try {
      const leader = await MeshAgent.start(leaderOpts(dir));
      agents.push(leader);
      const { token } = await leader.createToken({ ttlMs: 60_000, labels: { role: "web" } });
      const node = await MeshAgent.start(nodeOpts(dir, "n1", token));
      agents.push(node);
      const me = () => leader.view().members.find((m) => m.name === "n1") as Member | undefined;
      assert.ok(
        await eventually(() => Promise.resolve(me() !== undefined), HANG_GUARD_MS, 50),
        "n1 joined",
      );
      assert.deepEqual(me()!.labels, { role: "web" });
      const leaderAddress = leader.leader!.leader.address;

      // The attack: a real hello from the joined node's overlay address, claiming role=db. The
      // endpoint in it shows when the leader has processed it.
      const marker = "192.0.2.77:51820";
      const hello = {
        t: "hello" as const,
        v: node.view().version,
        pv: 0,
        endpoints: [marker],
        labels: { role: "db", env: "prod", "node.weft/claim": "yes" },
      };
      // Sent again until one is taken: a busy leader may take more than one, each counted.
      let sent = 0;
      const processed = await eventually(
        () => {
          sendMessage(node.agent.control!, leaderAddress, hello);
          sent++;
          return Promise.resolve(me()?.endpoints.includes(marker) ?? false);
        },
        HANG_GUARD_MS,
        100,
      );
      assert.ok(processed, `the leader never took the hello: ${JSON.stringify(me())}`);
      assert.deepEqual(me()!.labels, { role: "web" }, JSON.stringify(me()));
      assert.deepEqual(me()!.nodeLabels, { "node.weft/claim": "yes" });
      // Two granted keys claimed per hello taken (role and env), and only those.
      const dropped = leader.labelsDropped;
      assert.ok(dropped >= 2 && dropped <= 2 * sent && dropped % 2 === 0, `${dropped}/${sent}`);

      // Policy selectors on ordinary keys see the token's role, not the claim.
      await leader.applyPolicy(compilePolicyText(POLICY).canonical);
      const nodeAddress = me()!.address;
      const ask = (port: number) =>
        leader.policyFilter.explain({ from: nodeAddress, to: leaderAddress, proto: "tcp", port });
      assert.equal(ask(5432).allowed, false, ask(5432).summary);
      assert.equal(ask(80).allowed, true, ask(80).summary);
      assert.equal(ask(80).rule?.name, "web-clients");
      // A selector that asks for a self-asserted label by its prefix matches it, knowingly.
      assert.equal(ask(7000).rule?.name, "self-asserted");

      // The node learns the record and the policy from the leader, and its own engine decides
      // as the leader's. (Its own hellos since then said it asserts nothing: `nodeLabels` gone.)
      const synced = await eventually(
        () =>
          Promise.resolve(
            node.view().version === leader.view().version &&
              node.policy?.version === leader.policy?.version,
          ),
        HANG_GUARD_MS,
        100,
      );
      assert.ok(
        synced,
        `node at ${node.view().version}/${node.policy?.version}, ` +
          `leader at ${leader.view().version}/${leader.policy?.version}`,
      );
      const rec = node.view().members.find((m) => m.name === "n1")!;
      assert.deepEqual(rec.labels, { role: "web" });
      const askNode = (port: number) =>
        node.policyFilter.explain({ from: nodeAddress, to: leaderAddress, proto: "tcp", port });
      assert.equal(askNode(5432).allowed, false, askNode(5432).summary);
      assert.equal(askNode(80).rule?.name, "web-clients");
    } finally {
      for (const a of agents.reverse()) await a.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "labels: a joiner's own --label role=db is refused at start; node.weft/ ones are its own",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-labels-" });
    const agents: MeshAgent[] = [];
    try {
      const leader = await MeshAgent.start(leaderOpts(dir));
      agents.push(leader);
      const { token } = await leader.createToken({ ttlMs: 60_000, labels: { role: "web" } });
      const err = await MeshAgent.start({ ...nodeOpts(dir, "n2", token), labels: { role: "db" } })
        .then((a) => {
          agents.push(a);
          return null;
        }, (e) => e);
      assert.ok(err instanceof JoinError, `a joiner granting itself role=db started: ${err}`);
      assert.match(err.message, /cannot give itself labels/);
      assert.match(err.message, /node\.weft\/role=db/);
      assert.equal(leader.view().members.length, 1, "nothing was allocated");

      const node = await MeshAgent.start({
        ...nodeOpts(dir, "n3", token),
        labels: { "node.weft/os": "linux" },
      });
      agents.push(node);
      const rec = () => leader.view().members.find((m) => m.name === "n3");
      assert.ok(await eventually(() => Promise.resolve(rec() !== undefined), HANG_GUARD_MS, 50));
      assert.deepEqual(rec()!.labels, { role: "web" });
      assert.deepEqual(rec()!.nodeLabels, { "node.weft/os": "linux" });
    } finally {
      for (const a of agents.reverse()) await a.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
