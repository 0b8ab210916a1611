/**
 * lib/nat is the NAT machinery below the mesh: it keeps to the bottom folders (crypto,
 * protocol, net, text, log, io, and the metrics registry lib/metrics), so its runtime
 * (lib/mesh/nat/, which the mesh composes) builds on it and the agent and the device never
 * depend on it. scripts/check_layers.ts checks cycles; this checks the floor.
 */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { cycles, folderGraph, folderOf, readGraph } from "../../scripts/check_layers.ts";

const ALLOWED = [
  "lib/crypto",
  "lib/protocol",
  "lib/net",
  "lib/text",
  "lib/log",
  "lib/io",
  "lib/metrics",
];

Deno.test("lib/nat imports only lib/crypto, protocol, net, text, log, io and metrics, in no cycle", async () => {
  const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));
  const modules = [...Deno.readDirSync(new URL(".", import.meta.url))]
    .map((e) => e.name)
    .filter((n) => n.endsWith(".ts") && !n.endsWith("_test.ts"))
    .map((n) => `lib/nat/${n}`);
  assert.ok(modules.length >= 5);
  const graph = await readGraph(root, modules);
  const outside = new Set<string>();
  for (const [from, deps] of graph) {
    if (folderOf(from) !== "lib/nat") continue;
    for (const d of deps) if (folderOf(d) !== "lib/nat") outside.add(folderOf(d));
  }
  assert.deepEqual([...outside].filter((f) => !ALLOWED.includes(f)), []);
  assert.deepEqual(cycles(graph), []);
  assert.deepEqual(cycles(folderGraph(graph)), []);
});
