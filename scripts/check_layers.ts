/**
 * The layering check: reads the module graph from `deno info --json` and fails when files, or
 * the folders they live in, import each other in a cycle, when a module under `drivers/`
 * imports a part of `lib/` above the bottom layer its drivers implement, or when the command line
 * (`cli/` and `main.ts`) imports the library other than through its public entries (the files
 * deno.json exports). Run by `deno task check` and by its own test; `--graph` prints which folder
 * imports which.
 *
 * @example
 * ```sh
 * deno run -A scripts/check_layers.ts          # exit 1 and the cycles, if any
 * deno run -A scripts/check_layers.ts --graph  # the folder graph, bottom layer first
 * ```
 * @module
 */

import { relative, resolve } from "node:path";
import { fileURLToPath as fromFileUrl, pathToFileURL } from "node:url";

/** A module graph: each file (relative to the root) and the files it imports. */
export type ModuleGraph = Map<string, Set<string>>;

/** The folders under `lib/` that `drivers/` may import: the interfaces and value types below them. */
export const DRIVER_MAY_IMPORT = [
  "lib/io",
  "lib/net",
  "lib/log",
  "lib/text",
  "lib/store",
  "lib/routes",
  "lib/segments",
] as const;

/** Reads the graph of the modules reachable from `entries` with `deno info --json`. */
export async function readGraph(root: string, entries: string[]): Promise<ModuleGraph> {
  const graph: ModuleGraph = new Map();
  for (const entry of entries) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`deno info ${entry} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: {
        specifier: string;
        dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
      }[];
    };
    for (const m of info.modules) {
      if (!m.specifier.startsWith("file:")) continue;
      const from = relative(root, fromFileUrl(m.specifier));
      const deps = graph.get(from) ?? new Set<string>();
      graph.set(from, deps);
      for (const d of m.dependencies ?? []) {
        for (const s of [d.code?.specifier, d.type?.specifier]) {
          if (s?.startsWith("file:")) deps.add(relative(root, fromFileUrl(s)));
        }
      }
    }
  }
  return graph;
}

/**
 * The folder a file belongs to for layering: its directory (`lib/dns`, `drivers/linux`). An entry
 * point is a node of its own: a file at the root (`mod.ts`, `main.ts`) and a folder's `mod.ts`,
 * which gathers the public part of its folder and the folders under it (`drivers/mod.ts`
 * re-exports `drivers/linux`, which imports `drivers`).
 */
export function folderOf(file: string): string {
  const i = file.lastIndexOf("/");
  if (i < 0 || file.slice(i + 1) === "mod.ts") return file;
  return file.slice(0, i);
}

/** The folder graph: which folder imports which (self-imports left out). */
export function folderGraph(graph: ModuleGraph): ModuleGraph {
  const out: ModuleGraph = new Map();
  for (const [from, deps] of graph) {
    const f = folderOf(from);
    const set = out.get(f) ?? new Set<string>();
    out.set(f, set);
    for (const d of deps) if (folderOf(d) !== f) set.add(folderOf(d));
  }
  return out;
}

/** The strongly connected components of more than one node (cycles), each sorted. */
export function cycles(graph: ModuleGraph): string[][] {
  // Tarjan's algorithm, iterative so deep graphs cannot overflow the stack.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const found: string[][] = [];
  const nodes = new Set<string>([...graph.keys(), ...[...graph.values()].flatMap((s) => [...s])]);
  for (const start of nodes) {
    if (idx.has(start)) continue;
    const work: { node: string; it: Iterator<string> }[] = [];
    const visit = (n: string) => {
      idx.set(n, index);
      low.set(n, index++);
      stack.push(n);
      onStack.add(n);
      work.push({ node: n, it: (graph.get(n) ?? new Set<string>()).values() });
    };
    visit(start);
    while (work.length) {
      const top = work[work.length - 1];
      const next = top.it.next();
      if (!next.done) {
        const w = next.value;
        if (!idx.has(w)) visit(w);
        else if (onStack.has(w)) low.set(top.node, Math.min(low.get(top.node)!, idx.get(w)!));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === idx.get(top.node)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== top.node);
        if (comp.length > 1 || graph.get(top.node)?.has(top.node)) found.push(comp.sort());
      }
    }
  }
  return found;
}

/** Imports from `drivers/` into `lib/` folders other than {@link DRIVER_MAY_IMPORT}. */
export function driverViolations(graph: ModuleGraph): string[] {
  const out: string[] = [];
  for (const [from, deps] of graph) {
    if (!from.startsWith("drivers/")) continue;
    for (const d of deps) {
      if (!d.startsWith("lib/")) continue;
      if (!DRIVER_MAY_IMPORT.some((ok) => folderOf(d) === ok)) out.push(`${from} imports ${d}`);
    }
  }
  return out.sort();
}

/** Whether `file` is part of the command line: `main.ts` or a module under `cli/`. */
function isCli(file: string): boolean {
  return file === "main.ts" || file.startsWith("cli/");
}

/**
 * Imports from the command line (`main.ts`, `cli/`) of project modules other than `cli/` and the
 * public `entries` (the files deno.json exports, as `mod.ts`, `lib/mesh/mod.ts`): the CLI uses the
 * library as any program does.
 */
export function cliViolations(graph: ModuleGraph, entries: readonly string[]): string[] {
  const out: string[] = [];
  for (const [from, deps] of graph) {
    if (!isCli(from)) continue;
    for (const d of deps) {
      if (isCli(d) || entries.includes(d)) continue;
      out.push(`${from} imports ${d}`);
    }
  }
  return out.sort();
}

/** The files deno.json at `root` exports (`./mod.ts` as `mod.ts`). */
export async function exportedEntries(root: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${root}/deno.json`)) as {
    exports?: string | Record<string, string>;
  };
  const exports = typeof config.exports === "string"
    ? [config.exports]
    : Object.values(config.exports ?? {});
  return exports.map((e) => e.replace(/^\.\//, ""));
}

/** Folders in layers, bottom first: each imports only folders of the layers below it. */
export function layers(folders: ModuleGraph): string[][] {
  const out: string[][] = [];
  const placed = new Set<string>();
  const all = [...folders.keys()];
  while (placed.size < all.length) {
    const layer = all.filter((f) =>
      !placed.has(f) && [...folders.get(f)!].every((d) => placed.has(d) || !folders.has(d))
    ).sort();
    if (layer.length === 0) break; // a cycle: reported by cycles()
    out.push(layer);
    for (const f of layer) placed.add(f);
  }
  return out;
}

/**
 * The graph of every module of the project at `root`: the entry points and every non-test module
 * under `lib/`, `drivers/` and `cli/`, reachable from the entries or not (a module nothing imports yet is
 * checked too). They are read through one generated root module, so `deno info` runs once.
 */
export async function projectGraph(root: string): Promise<ModuleGraph> {
  const files = ["mod.ts", "main.ts", ...await exportedEntries(root)];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(`${root}/${dir}`)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory && e.name !== "testdata") await walk(path);
      else if (e.isFile && path.endsWith(".ts") && !path.endsWith("_test.ts")) files.push(path);
    }
  };
  await walk("lib");
  await walk("drivers");
  await walk("cli");
  const tmp = await Deno.makeTempDir();
  try {
    const entry = `${tmp}/all.ts`;
    const lines = files.map((f) => `import ${JSON.stringify(pathToFileURL(`${root}/${f}`).href)};`);
    await Deno.writeTextFile(entry, lines.join("\n") + "\n");
    const graph = await readGraph(root, [entry]);
    for (const k of [...graph.keys()]) if (k.startsWith("..") || k.startsWith("/")) graph.delete(k);
    return graph;
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Every problem with the layering of the project at `root`, as lines; empty when none. */
export async function checkLayers(root: string): Promise<string[]> {
  const graph = await projectGraph(root);
  const problems: string[] = [];
  for (const c of cycles(graph)) problems.push(`file cycle: ${c.join(" <-> ")}`);
  for (const c of cycles(folderGraph(graph))) problems.push(`folder cycle: ${c.join(" <-> ")}`);
  for (const v of driverViolations(graph)) problems.push(`driver above its layer: ${v}`);
  for (const v of cliViolations(graph, await exportedEntries(root))) {
    problems.push(`cli past the public entries: ${v}`);
  }
  return problems;
}

if (import.meta.main) {
  const root = resolve(fromFileUrl(new URL("..", import.meta.url)));
  if (Deno.args.includes("--graph")) {
    const folders = folderGraph(await projectGraph(root));
    layers(folders).forEach((layer, i) => {
      for (const f of layer) {
        const deps = [...folders.get(f)!].sort().join(", ");
        console.log(`L${i}  ${f}${deps ? `  -> ${deps}` : ""}`);
      }
    });
  }
  const problems = await checkLayers(root);
  for (const p of problems) console.error(p);
  if (problems.length) Deno.exit(1);
  console.error(
    "layers: no import cycles between files or folders; drivers are leaves; " +
      "the CLI uses the public entries only",
  );
}
