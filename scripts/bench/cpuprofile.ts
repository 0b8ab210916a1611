/**
 * Sums a V8 `.cpuprofile` (Chrome DevTools' format: the fleet bench's `--profile DIR`, or any
 * other) by function and by file: self time (the samples in it) and total time (the samples with
 * it on the stack, counted once a sample). Where a process's time goes, as text.
 *
 *   deno run -R scripts/bench/cpuprofile.ts FILE.cpuprofile [--top N] [--total] [--callers NAME]
 *
 * `--callers NAME` sums, for the samples spent in functions whose `name file:line` starts with
 * NAME (say `(anonymous) (native)`), the nearest caller that is not one of them.
 * @module
 */

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** A `.cpuprofile`. */
export interface CpuProfile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** One row: a function or a file, with its self and total milliseconds. */
export interface ProfileRow {
  name: string;
  selfMs: number;
  totalMs: number;
}

/** The path below the project (or the URL's last parts) of a frame's script. */
export function shortUrl(url: string): string {
  if (!url) return "(native)";
  const i = url.search(/\/(lib|drivers|cli|scripts|main\.ts|mod\.ts)\b/);
  if (i >= 0) return url.slice(i + 1);
  return url.replace(/^.*\/([^/]+\/[^/]+)$/, "$1");
}

/** Self and total time by function (`name file:line`) and by file, most self time first. */
export function summarize(
  p: CpuProfile,
  callersOf?: string,
): { byFunction: ProfileRow[]; byFile: ProfileRow[]; callers: ProfileRow[]; ms: number } {
  const parent = new Map<number, number>();
  const byId = new Map<number, Node>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const fnKey = (n: Node) =>
    `${n.callFrame.functionName || "(anonymous)"} ${shortUrl(n.callFrame.url)}:${
      n.callFrame.lineNumber + 1
    }`;
  const fileKey = (n: Node) => shortUrl(n.callFrame.url);
  const fns = new Map<string, ProfileRow>();
  const files = new Map<string, ProfileRow>();
  const callers = new Map<string, ProfileRow>();
  const row = (m: Map<string, ProfileRow>, k: string) => {
    let r = m.get(k);
    if (!r) m.set(k, r = { name: k, selfMs: 0, totalMs: 0 });
    return r;
  };
  let ms = 0;
  for (let i = 0; i < p.samples.length; i++) {
    // A sample's time is the gap to the next one.
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    ms += dt;
    const leaf = byId.get(p.samples[i]);
    if (!leaf) continue;
    row(fns, fnKey(leaf)).selfMs += dt;
    row(files, fileKey(leaf)).selfMs += dt;
    if (callersOf !== undefined && fnKey(leaf).startsWith(callersOf)) {
      let n: Node | undefined = leaf;
      while (n && fnKey(n).startsWith(callersOf)) n = byId.get(parent.get(n.id) ?? -1);
      row(callers, n ? fnKey(n) : "(root)").selfMs += dt;
    }
    const seenFn = new Set<string>();
    const seenFile = new Set<string>();
    for (let n: Node | undefined = leaf; n; n = byId.get(parent.get(n.id) ?? -1)) {
      const f = fnKey(n);
      if (!seenFn.has(f)) {
        seenFn.add(f);
        row(fns, f).totalMs += dt;
      }
      const k = fileKey(n);
      if (!seenFile.has(k)) {
        seenFile.add(k);
        row(files, k).totalMs += dt;
      }
    }
  }
  const sort = (m: Map<string, ProfileRow>) => [...m.values()].sort((a, b) => b.selfMs - a.selfMs);
  return { byFunction: sort(fns), byFile: sort(files), callers: sort(callers), ms };
}

if (import.meta.main) {
  const file = Deno.args.find((a) => !a.startsWith("--"));
  if (!file) {
    console.error("usage: cpuprofile.ts FILE.cpuprofile [--top N] [--total] [--callers NAME]");
    Deno.exit(2);
  }
  const i = Deno.args.indexOf("--top");
  const top = i >= 0 ? Number(Deno.args[i + 1]) : 30;
  const c = Deno.args.indexOf("--callers");
  const callersOf = c >= 0 ? Deno.args[c + 1] : undefined;
  const s = summarize(JSON.parse(await Deno.readTextFile(file)), callersOf);
  const byTotal = Deno.args.includes("--total");
  const pct = (x: number) => `${(100 * x / s.ms).toFixed(1)}%`.padStart(6);
  const print = (title: string, rows: ProfileRow[]) => {
    if (byTotal) rows = [...rows].sort((a, b) => b.totalMs - a.totalMs);
    console.log(`\n${title} (self, total of ${Math.round(s.ms)} ms sampled)`);
    for (const r of rows.slice(0, top)) {
      console.log(`${pct(r.selfMs)} ${pct(r.totalMs)}  ${r.name}`);
    }
  };
  print("by function", s.byFunction);
  print("by file", s.byFile);
  if (callersOf !== undefined) print(`callers of ${callersOf}`, s.callers);
}
