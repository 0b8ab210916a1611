import assert from "node:assert/strict";
import {
  checkLayers,
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

Deno.test("layers: a graph that points down has no cycles", () => {
  const g = graph({ "lib/a/x.ts": ["lib/b/z.ts"], "lib/b/z.ts": ["lib/c/q.ts"] });
  assert.deepEqual(cycles(g), []);
  assert.deepEqual(cycles(folderGraph(g)), []);
});

Deno.test("layers: the project itself has no import cycles and its drivers are leaves", async () => {
  const root = fileURLToPath(new URL("..", import.meta.url));
  assert.deepEqual(await checkLayers(root), []);
});
