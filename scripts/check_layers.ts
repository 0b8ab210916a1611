/**
 * The layering check: reads the module graph from `deno info --json` and fails when files, or
 * the folders they live in, import each other in a cycle (a folder counted with its sub-folders,
 * as a package with its sub-packages: `lib/mesh` and `lib/nat` are in a cycle when
 * `lib/nat/runtime` imports `lib/mesh/sync` and `lib/mesh` imports `lib/nat`), when a sub-folder
 * imports the files of a folder it is in (an arrow up: a folder's sub-folders are its parts,
 * below its own files; `testing/` folders excepted), when a module under `drivers/`
 * imports a part of `lib/` above the bottom layer its drivers implement, or when the command line
 * (`cli/` and `main.ts`) imports the library other than through its public entries (the files
 * deno.json exports) and its internal entries (`cli/internal.ts`, `cli/internal_*.ts`). Run by `deno task check` and by its own test; `--graph` prints which folder
 * imports which.
 *
 * @example
 * ```sh
 * deno run -A scripts/check_layers.ts          # exit 1 and the cycles, if any
 * deno run -A scripts/check_layers.ts --graph  # the folder tree, each level bottom layer first
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

/** The folder a file is in (`lib/dns`, `drivers/linux`); a file at the root is its own node. */
export function folderOf(file: string): string {
  const i = file.lastIndexOf("/");
  return i < 0 ? file : file.slice(0, i);
}

/** The folder graph: which folder imports which (self-imports left out), each folder alone. */
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

/**
 * Folders that only hold others: the root and `lib/`. Their sub-folders (`lib/dns`, `drivers`,
 * `cli`) are the top of the tree, side by side, and each of their own files (`mod.ts`,
 * `lib/version.ts`) is a node of its own.
 */
export const CONTAINERS: ReadonlySet<string> = new Set(["", "lib"]);

/** The folders `file` is in, outermost first, containers left out: `lib/mesh`, `lib/mesh/nat`. */
function foldersOf(file: string): string[] {
  const parts = file.split("/").slice(0, -1);
  const out: string[] = [];
  for (let i = 1; i <= parts.length; i++) {
    const f = parts.slice(0, i).join("/");
    if (!CONTAINERS.has(f)) out.push(f);
  }
  return out;
}

/** The folder tree's graph and the imports that point up it. */
export interface TreeGraph {
  /**
   * The edges between the nodes of each level of the tree: `lib/mesh/**` is `lib/mesh` with its
   * sub-folders, `lib/mesh/*` the files of `lib/mesh` itself. At the top the folders under the
   * containers and the containers' files; inside a folder its own files and its sub-folders.
   */
  graph: ModuleGraph;
  /** For each edge (`from -> to`), the file imports that make it. */
  imports: Map<string, string[]>;
  /** Imports from a sub-folder into the files of a folder it is in: arrows up the tree. */
  up: string[];
}

/** Whether `folder` is a `testing/` folder: test fixtures, which may import what they fake. */
function isTesting(folder: string): boolean {
  return folder === "testing" || folder.endsWith("/testing");
}

/**
 * The graph of the folder tree: a folder counts with its sub-folders, as a package with its
 * sub-packages. Each import lands at the level of the innermost folder holding both ends: from
 * the node there holding the importer to the one holding the imported file. A cycle at any level
 * is a cycle of folders; an import from a sub-folder into its own folder's files is an arrow up
 * (a folder's sub-folders are its parts, below its own files), except from a `testing/` folder.
 */
export function treeGraph(graph: ModuleGraph): TreeGraph {
  const out: TreeGraph = { graph: new Map(), imports: new Map(), up: [] };
  for (const [from, deps] of graph) {
    for (const to of deps) {
      const fa = foldersOf(from);
      const fb = foldersOf(to);
      let k = 0;
      while (k < fa.length && k < fb.length && fa[k] === fb[k]) k++;
      if (k > 0 && k === fa.length && k === fb.length) continue; // one folder's own files
      const node = (file: string, chain: string[]) =>
        k < chain.length ? `${chain[k]}/**` : k > 0 ? `${chain[k - 1]}/*` : file;
      const x = node(from, fa);
      const y = node(to, fb);
      if (x === y) continue;
      if (k > 0 && k === fb.length && !isTesting(fa[fa.length - 1])) {
        out.up.push(`${from} imports ${to}`);
      }
      const set = out.graph.get(x) ?? new Set<string>();
      out.graph.set(x, set);
      set.add(y);
      const key = `${x} -> ${y}`;
      out.imports.set(key, [...out.imports.get(key) ?? [], `${from} imports ${to}`]);
    }
  }
  out.up.sort();
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
 * The command line's internal entries, what it needs of the library beyond the public entries:
 * `cli/internal.ts` (the commands that run an agent) and `cli/internal_<part>.ts` beside it (what
 * the one-shot commands need, each name from the module that defines it, so that they load little).
 */
export const CLI_INTERNAL = "cli/internal*.ts";

/** Whether `file` is one of the CLI's internal entries ({@link CLI_INTERNAL}). */
export function isCliInternal(file: string): boolean {
  return /^cli\/internal(_[a-z]+)?\.ts$/.test(file);
}

/**
 * Imports from the command line (`main.ts`, `cli/`) of project modules other than `cli/` and the
 * public `entries` (the files deno.json exports, as `mod.ts`, `lib/mesh/mod.ts`): the CLI uses the
 * library as any program does, and what only it needs (the state directory's files, flag
 * parsing) through its own internal entries, {@link CLI_INTERNAL}, the only CLI modules that may
 * import any module of the library.
 */
export function cliViolations(graph: ModuleGraph, entries: readonly string[]): string[] {
  const out: string[] = [];
  for (const [from, deps] of graph) {
    if (!isCli(from) || isCliInternal(from)) continue;
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

/**
 * The tree graph split by level: the top (`""`) and each folder with sub-folders, each level's
 * nodes with the edges between them (every node a key). The top first, then folders by name.
 */
export function levels(tree: ModuleGraph): Map<string, ModuleGraph> {
  const levelOf = (node: string): string => {
    if (node.endsWith("/*")) return node.slice(0, -2);
    if (!node.endsWith("/**")) return "";
    const chain = foldersOf(`${node.slice(0, -3)}/x.ts`);
    return chain.length > 1 ? chain[chain.length - 2] : "";
  };
  const out = new Map<string, ModuleGraph>();
  const add = (node: string) => {
    const at = levelOf(node);
    const level = out.get(at) ?? new Map<string, Set<string>>();
    out.set(at, level);
    if (!level.has(node)) level.set(node, new Set());
    return level.get(node)!;
  };
  for (const [from, deps] of tree) {
    const set = add(from);
    for (const d of deps) {
      add(d);
      set.add(d);
    }
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
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
  const tree = treeGraph(graph);
  for (const c of cycles(tree.graph)) {
    problems.push(`folder cycle: ${c.join(" <-> ")}`);
    for (const x of c) {
      for (const y of c) {
        for (const i of tree.imports.get(`${x} -> ${y}`) ?? []) problems.push(`  ${i}`);
      }
    }
  }
  for (const u of tree.up) problems.push(`arrow up the folder tree: ${u}`);
  for (const v of driverViolations(graph)) problems.push(`driver above its layer: ${v}`);
  for (const v of cliViolations(graph, await exportedEntries(root))) {
    problems.push(`cli past the entries (public, or ${CLI_INTERNAL}): ${v}`);
  }
  return problems;
}

if (import.meta.main) {
  const root = resolve(fromFileUrl(new URL("..", import.meta.url)));
  if (Deno.args.includes("--graph")) {
    const tree = treeGraph(await projectGraph(root)).graph;
    levels(tree).forEach((level, at) => {
      console.log(at === "" ? "the top:" : `inside ${at}:`);
      layers(level).forEach((layer, i) => {
        for (const f of layer) {
          const deps = [...level.get(f)!].sort().join(", ");
          console.log(`  L${i}  ${f}${deps ? `  -> ${deps}` : ""}`);
        }
      });
    });
  }
  const problems = await checkLayers(root);
  for (const p of problems) console.error(p);
  if (problems.length) Deno.exit(1);
  console.error(
    "layers: no import cycles between files or folders (a folder counted with its sub-folders), " +
      "no arrow up the folder tree; drivers are leaves; the CLI uses the entries only",
  );
}
