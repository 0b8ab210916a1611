/**
 * The public entries hold what an embedding program uses, not the agent's collaborators: the
 * classes a program gets (`Agent`, `MeshAgent`, `MeshServices`) document their API and keep
 * the parts they are made of internal, so no entry has to export the types those parts are made
 * of (a device, stacks, the leader's store and files, the policy engine). Read from what JSR
 * shows: `deno doc --json` of each entry alone.
 */
import assert from "node:assert/strict";
import { ROOT_PATH } from "./programs.ts";

interface DocSymbol {
  name: string;
  declarations: {
    declarationKind: string;
    kind: string;
    def?: {
      properties?: { name: string }[];
      methods?: { name: string }[];
    };
  }[];
}

/** The symbols `deno doc --json` shows for `entry` (relative to the root), exported ones only. */
async function shown(entry: string): Promise<DocSymbol[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", entry],
    cwd: ROOT_PATH,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const doc = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    nodes: Record<string, { symbols: DocSymbol[] }>;
  };
  return Object.values(doc.nodes).flatMap((n) => n.symbols)
    .filter((s) => s.declarations.some((d) => d.declarationKind !== "private"));
}

/** The members JSR shows of class `name` in `symbols`. */
function members(symbols: DocSymbol[], name: string): string[] {
  const s = symbols.find((x) => x.name === name);
  assert.ok(s, `${name} is not shown`);
  const def = s.declarations.find((d) => d.kind === "class")?.def ?? {};
  return [...(def.properties ?? []), ...(def.methods ?? [])].map((m) => m.name);
}

// The parts an agent is made of: a program drives the agent, never these.
const INTERNAL = [
  "ControlledAgent",
  "Device",
  "UserspaceStack",
  "HealthTracker",
  "MetricsRegistry",
  "PolicyEngine",
  "PolicyFilter",
  "DnsServer",
  "Transport",
  "PacketDevice",
  "LeaderStore",
  "LeaderFile",
  "KvStore",
  "StateDir",
  "SystemDns",
  "HostForwarding",
  "SegmentDriver",
];

const ENTRIES = ["./mod.ts", "./lib/mesh/mod.ts", "./lib/control/mod.ts"];

for (const entry of ENTRIES) {
  Deno.test(`entries: ${entry} shows no agent part`, async () => {
    const names = new Set((await shown(entry)).map((s) => s.name));
    assert.deepEqual(INTERNAL.filter((n) => names.has(n)), [], `${entry} exports agent parts`);
  });
}

Deno.test("entries: Agent and MeshAgent show their API, not their parts", async () => {
  const root = await shown("./mod.ts");
  const agent = members(root, "Agent");
  for (const m of ["status", "ping", "send", "listen", "onEvent", "onHealth", "addCollector"]) {
    assert.ok(agent.includes(m), `Agent.${m} is not shown`);
  }
  for (const m of ["device", "stack", "control", "health", "metrics", "listenerStats"]) {
    assert.ok(!agent.includes(m), `Agent.${m} is shown`);
  }
  const mesh = members(root, "MeshAgent");
  for (
    const m of ["status", "ping", "view", "onMembership", "createToken", "set", "services"]
  ) assert.ok(mesh.includes(m), `MeshAgent.${m} is not shown`);
  for (
    const m of ["agent", "leader", "prober", "policyEngine", "policyFilter", "dns", "paths"]
  ) assert.ok(!mesh.includes(m), `MeshAgent.${m} is shown`);
});

Deno.test("entries: the control entry is the client; serving is the root's", async () => {
  const control = new Set((await shown("./lib/control/mod.ts")).map((s) => s.name));
  assert.ok(control.has("ControlClient"));
  assert.ok(!control.has("MeshAgent") && !control.has("Agent"), "control exports the agents");
  const root = new Set((await shown("./mod.ts")).map((s) => s.name));
  assert.ok(root.has("serveControl"));
});
