import assert from "node:assert/strict";
import {
  checkLayers,
  cliViolations,
  cycles,
  driverViolations,
  folderGraph,
  type ModuleGraph,
} from "./check_layers.ts";
import { fileURLToPath } from "node:url";

const graph = (edges: Record<string, string[]>): ModuleGraph =>
  new Map(Object.entries(edges).map(([k, v]) => [k, new Set(v)]));

Deno.test("layers: a file cycle, a folder cycle and a driver reaching up are all found", () => {
  const g = graph({
    "lib/a/x.ts": ["lib/a/y.ts", "lib/b/z.ts"],
    "lib/a/y.ts": ["lib/a/x.ts"],
    "lib/b/z.ts": ["lib/b/w.ts"],
    "lib/b/w.ts": ["lib/a/v.ts"],
    "drivers/t.ts": ["lib/io/driver.ts", "lib/device/device.ts"],
  });
  assert.deepEqual(cycles(g), [["lib/a/x.ts", "lib/a/y.ts"]]);
  assert.deepEqual(cycles(folderGraph(g)), [["lib/a", "lib/b"]]);
  assert.deepEqual(driverViolations(g), ["drivers/t.ts imports lib/device/device.ts"]);
});

Deno.test("layers: the CLI may import the public entries and cli/, nothing deeper", () => {
  const g = graph({
    "main.ts": ["cli/main.ts"],
    "cli/main.ts": ["cli/token.ts", "mod.ts", "lib/mesh/mod.ts"],
    "cli/token.ts": ["lib/mesh/leader.ts", "lib/status/mod.ts"],
    "mod.ts": ["lib/mesh/mod.ts"],
    "lib/mesh/mod.ts": ["lib/mesh/leader.ts"],
  });
  const entries = ["mod.ts", "lib/mesh/mod.ts"];
  assert.deepEqual(cliViolations(g, entries), [
    "cli/token.ts imports lib/mesh/leader.ts",
    "cli/token.ts imports lib/status/mod.ts",
  ]);
  assert.deepEqual(cliViolations(g, [...entries, "lib/status/mod.ts"]), [
    "cli/token.ts imports lib/mesh/leader.ts",
  ]);
  const direct = graph({ "main.ts": ["cli/main.ts", "lib/agent/agent.ts"] });
  assert.deepEqual(cliViolations(direct, entries), ["main.ts imports lib/agent/agent.ts"]);
});

Deno.test("layers: an entry's mod.ts is a node of its own, so re-exporting a subfolder is no cycle", () => {
  const g = graph({
    "drivers/mod.ts": ["drivers/linux/tun.ts", "drivers/memory.ts"],
    "drivers/linux/tun.ts": ["drivers/stats.ts"],
  });
  assert.deepEqual(cycles(folderGraph(g)), []);
});

Deno.test("layers: a graph that points down has no cycles", () => {
  const g = graph({ "lib/a/x.ts": ["lib/b/z.ts"], "lib/b/z.ts": ["lib/c/q.ts"] });
  assert.deepEqual(cycles(g), []);
  assert.deepEqual(cycles(folderGraph(g)), []);
});

Deno.test("layers: the project itself has no import cycles, its drivers are leaves, its CLI uses the entries", async () => {
  const root = fileURLToPath(new URL("..", import.meta.url));
  assert.deepEqual(await checkLayers(root), []);
});
