import assert from "node:assert/strict";
import { Command } from "npm:@commander-js/extra-typings@^15.1.0";
import { COMMAND_GROUPS } from "./main.ts";

const ROOT = new URL("../", import.meta.url);

/** What a process running an agent loads, and a one-shot command must not. */
const AGENT = [
  "lib/mesh/mesh_agent.ts",
  "lib/agent/agent.ts",
  "lib/device/device.ts",
  "lib/control/server.ts",
];

interface Info {
  roots: string[];
  modules: {
    specifier: string;
    dependencies?: { isDynamic?: boolean; code?: { specifier: string } }[];
  }[];
}

/** `deno info --json main.ts`: the modules `weft` may load, dynamic imports included. */
async function info(): Promise<Info> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(out.success, "deno info main.ts");
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/**
 * The modules `from` loads before any of its code runs (its static imports, type-only ones left
 * out), each with the chain of imports that brings it, relative to the repository.
 */
function staticClosure(graph: Info, from: string): Map<string, string[]> {
  const bySpec = new Map(graph.modules.map((m) => [m.specifier, m]));
  const rel = (s: string) => s.slice(ROOT.href.length);
  const chains = new Map<string, string[]>([[from, [rel(from)]]]);
  const queue = [from];
  while (queue.length > 0) {
    const s = queue.pop()!;
    for (const d of bySpec.get(s)?.dependencies ?? []) {
      const to = d.code?.specifier;
      if (d.isDynamic || !to?.startsWith("file:") || chains.has(to)) continue;
      chains.set(to, [...chains.get(s)!, rel(to)]);
      queue.push(to);
    }
  }
  return new Map([...chains].map(([s, chain]) => [rel(s), chain]));
}

Deno.test("cli: neither `weft` nor any command's module loads the agent before it runs one", async () => {
  const graph = await info();
  const main = new URL("cli/main.ts", ROOT).href;
  // What cli/main.ts imports when a command is given: each command group's module, the root's.
  const lazy = graph.modules.find((m) => m.specifier === main)!.dependencies!
    .filter((d) => d.isDynamic && d.code?.specifier.startsWith(ROOT.href))
    .map((d) => d.code!.specifier);
  assert.ok(lazy.length >= COMMAND_GROUPS.length, `cli/main.ts imports ${lazy.length} lazily`);
  const loaded: string[] = [];
  for (const from of [new URL("main.ts", ROOT).href, ...lazy]) {
    const closure = staticClosure(graph, from);
    for (const m of AGENT) {
      const chain = closure.get(m);
      if (chain) loaded.push(chain.join(" -> "));
    }
  }
  assert.deepEqual(loaded, []);
});

Deno.test("cli: each command group's words are the commands its module adds", async () => {
  const words: string[] = [];
  for (const group of COMMAND_GROUPS) {
    const program = new Command();
    (await group.load())(
      program as unknown as Parameters<Awaited<ReturnType<typeof group.load>>>[0],
    );
    assert.deepEqual(program.commands.map((c) => c.name()), group.words);
    words.push(...group.words);
  }
  assert.equal(new Set(words).size, words.length, `a word in two groups: ${words}`);
});
