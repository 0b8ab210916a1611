import assert from "node:assert/strict";
import {
  checkLayers,
  cliViolations,
  cycles,
  driverViolations,
  folderGraph,
  type ModuleGraph,
  treeGraph,
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
  // The CLI's internal entry may reach into the library; the other CLI modules go through it.
  const internal = graph({
    "cli/run.ts": ["cli/internal.ts", "lib/mesh/mod.ts"],
    "cli/internal.ts": ["lib/mesh/state/state.ts"],
    "cli/up.ts": ["lib/mesh/state/state.ts"],
  });
  assert.deepEqual(cliViolations(internal, entries), ["cli/up.ts imports lib/mesh/state/state.ts"]);
  // Its light internal entries too (cli/internal_client.ts), and nothing else named alike.
  const light = graph({
    "cli/node.ts": ["cli/internal_client.ts"],
    "cli/internal_client.ts": ["lib/mesh/state/agent_address.ts"],
    "cli/internal_client_test.ts": ["lib/mesh/state/state.ts"],
    "cli/internals.ts": ["lib/mesh/state/state.ts"],
  });
  assert.deepEqual(cliViolations(light, entries), [
    "cli/internal_client_test.ts imports lib/mesh/state/state.ts",
    "cli/internals.ts imports lib/mesh/state/state.ts",
  ]);
});

Deno.test("layers: a folder counts with its sub-folders: a cycle through a sub-folder is found", () => {
  // lib/nat/runtime speaks over lib/mesh/sync while lib/mesh composes lib/nat/runtime: folder by
  // folder no cycle (lib/nat/runtime -> lib/mesh/sync -> lib/nat), by folder tree lib/mesh <-> lib/nat.
  const g = graph({
    "lib/nat/runtime/paths.ts": ["lib/mesh/sync/channel.ts"],
    "lib/mesh/sync/channel.ts": ["lib/nat/probe.ts"],
    "lib/mesh/agent.ts": ["lib/nat/runtime/paths.ts", "lib/mesh/sync/channel.ts"],
  });
  assert.deepEqual(cycles(folderGraph(g)), []);
  const tree = treeGraph(g);
  assert.deepEqual(cycles(tree.graph), [["lib/mesh/**", "lib/nat/**"]]);
  assert.deepEqual(tree.imports.get("lib/nat/** -> lib/mesh/**"), [
    "lib/nat/runtime/paths.ts imports lib/mesh/sync/channel.ts",
  ]);
  // Inside lib/mesh, its files import its sub-folder sync (the import of lib/nat is counted above).
  assert.deepEqual(tree.graph.get("lib/mesh/*"), new Set(["lib/mesh/sync/**"]));
});

Deno.test("layers: a folder's mod.ts re-exporting a sub-folder that imports the folder is a cycle and an arrow up", () => {
  const g = graph({
    "drivers/mod.ts": ["drivers/linux/tun.ts", "drivers/memory.ts"],
    "drivers/linux/tun.ts": ["drivers/stats.ts"],
  });
  const tree = treeGraph(g);
  assert.deepEqual(cycles(tree.graph), [["drivers/*", "drivers/linux/**"]]);
  assert.deepEqual(tree.up, ["drivers/linux/tun.ts imports drivers/stats.ts"]);
  // With the shared file in a sub-folder of its own: no cycle, nothing up.
  const fixed = treeGraph(graph({
    "drivers/mod.ts": ["drivers/linux/tun.ts", "drivers/memory.ts"],
    "drivers/linux/tun.ts": ["drivers/shared/stats.ts"],
  }));
  assert.deepEqual(cycles(fixed.graph), []);
  assert.deepEqual(fixed.up, []);
});

Deno.test("layers: an import into a parent folder is an arrow up even without a cycle; testing/ may", () => {
  const tree = treeGraph(graph({
    "lib/nat/runtime/peer.ts": ["lib/nat/paths.ts"],
    "lib/crypto/testing/fake.ts": ["lib/crypto/pool.ts"],
  }));
  assert.deepEqual(cycles(tree.graph), []);
  assert.deepEqual(tree.up, ["lib/nat/runtime/peer.ts imports lib/nat/paths.ts"]);
});

Deno.test("layers: the root's and lib/'s own files are nodes each, beside the folders under them", () => {
  const tree = treeGraph(graph({
    "main.ts": ["cli/main.ts"],
    "cli/main.ts": ["mod.ts"],
    "mod.ts": ["lib/agent/mod.ts", "lib/version.ts"],
    "lib/agent/agent.ts": ["lib/version.ts", "drivers/udp.ts"],
    "drivers/udp.ts": ["lib/io/driver.ts"],
  }));
  assert.deepEqual(cycles(tree.graph), []);
  assert.deepEqual(tree.up, []);
  assert.deepEqual(tree.graph.get("lib/agent/**"), new Set(["lib/version.ts", "drivers/**"]));
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
