/**
 * Sums a V8 sampling heap profile (`.heapprofile`, as the fleet bench's `--profile DIR` writes at
 * each phase's end) by the function that allocated the memory still held, self and with callees,
 * and by file. Where a process's memory went, as text.
 *
 *   deno run -R scripts/bench/heapprofile.ts FILE.heapprofile [--top N] [--total]
 * @module
 */

import { shortUrl } from "./cpuprofile.ts";

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children?: HeapNode[];
}

/** A `.heapprofile`: the tree of allocation stacks with the bytes each still holds. */
export interface HeapProfile {
  head: HeapNode;
}

/** One row: a function or a file, with the bytes it allocated itself and with its callees. */
export interface HeapRow {
  name: string;
  selfBytes: number;
  totalBytes: number;
}

/** Bytes held by function (`name file:line`) and by file, most self bytes first. */
export function summarizeHeap(
  p: HeapProfile,
): { byFunction: HeapRow[]; byFile: HeapRow[]; bytes: number } {
  const fns = new Map<string, HeapRow>();
  const files = new Map<string, HeapRow>();
  const row = (m: Map<string, HeapRow>, k: string) => {
    let r = m.get(k);
    if (!r) m.set(k, r = { name: k, selfBytes: 0, totalBytes: 0 });
    return r;
  };
  let bytes = 0;
  // Walks the tree with the stack of names above each node, counting a name once per node.
  const walk = (n: HeapNode, fnStack: string[], fileStack: string[]) => {
    const f = `${n.callFrame.functionName || "(anonymous)"} ${shortUrl(n.callFrame.url)}:${
      n.callFrame.lineNumber + 1
    }`;
    const file = shortUrl(n.callFrame.url);
    fnStack.push(f);
    fileStack.push(file);
    if (n.selfSize > 0) {
      bytes += n.selfSize;
      row(fns, f).selfBytes += n.selfSize;
      row(files, file).selfBytes += n.selfSize;
      for (const k of new Set(fnStack)) row(fns, k).totalBytes += n.selfSize;
      for (const k of new Set(fileStack)) row(files, k).totalBytes += n.selfSize;
    }
    for (const c of n.children ?? []) walk(c, fnStack, fileStack);
    fnStack.pop();
    fileStack.pop();
  };
  walk(p.head, [], []);
  const sort = (m: Map<string, HeapRow>) =>
    [...m.values()].sort((a, b) => b.selfBytes - a.selfBytes);
  return { byFunction: sort(fns), byFile: sort(files), bytes };
}

if (import.meta.main) {
  const file = Deno.args.find((a) => a.endsWith(".heapprofile"));
  if (!file) {
    console.error("usage: heapprofile.ts FILE.heapprofile [--top N] [--total]");
    Deno.exit(2);
  }
  const i = Deno.args.indexOf("--top");
  const top = i >= 0 ? Number(Deno.args[i + 1]) : 30;
  const s = summarizeHeap(JSON.parse(await Deno.readTextFile(file)));
  const byTotal = Deno.args.includes("--total");
  const mib = (x: number) => `${(x / 1048576).toFixed(1)}`.padStart(8);
  const print = (title: string, rows: HeapRow[]) => {
    if (byTotal) rows = [...rows].sort((a, b) => b.totalBytes - a.totalBytes);
    console.log(`\n${title} (MiB self, with callees; ${mib(s.bytes).trim()} MiB sampled)`);
    for (const r of rows.slice(0, top)) {
      console.log(`${mib(r.selfBytes)} ${mib(r.totalBytes)}  ${r.name}`);
    }
  };
  print("by function", s.byFunction);
  print("by file", s.byFile);
}
