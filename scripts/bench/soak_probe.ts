/**
 * The soak benchmark's memory probe, run inside an agent's namespace (the agent runs with
 * `--inspect=127.0.0.1:PORT`, its namespace's loopback):
 *
 *   deno run -A scripts/bench/soak_probe.ts <inspector port> <status host:port> [--no-gc]
 *
 * asks the agent's V8 inspector for a full GC (`HeapProfiler.collectGarbage`), then for
 * `Deno.memoryUsage()` (`Runtime.evaluate`), reads `process_open_fds` from its `/metrics`, and
 * prints one JSON line: `{"rss", "heapUsed", "heapTotal", "external", "fds"}` (bytes; `fds` null
 * when /metrics did not answer). Exits 1 with a message when the inspector does not answer.
 *
 * With `--no-gc` it reads the same figures as the agent runs, without the GC: what its RSS is
 * between V8's own collections. A forced full GC also resets V8's sizing (the old generation's
 * limit is set anew from what is live), so a soak that forced one every sample measured an agent
 * that never ran as it does unobserved (scripts/bench/soak.ts).
 *
 * With `--snapshot FILE` after those, it writes a heap snapshot of the agent to FILE instead
 * (Chrome DevTools opens it; compare two in its Memory tab) and prints `{"snapshot": FILE}`.
 * @module
 */

import { metricValue } from "../../tests/fixtures/mesh_lab.ts";

/** How long the whole probe may take, ms: a busy agent answers late, never this late. */
const DEADLINE_MS = 30_000;

async function inspectorUrl(port: string): Promise<string> {
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`, {
    signal: AbortSignal.timeout(DEADLINE_MS),
  })).json();
  const url = list[0]?.webSocketDebuggerUrl;
  if (typeof url !== "string") throw new Error(`no inspector target at 127.0.0.1:${port}`);
  return url;
}

/** A one-shot inspector session: send a method, get its result. */
async function session(url: string) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`inspector ${url}: connection failed`));
  });
  let next = 1;
  const pending = new Map<number, (o: { result?: unknown; error?: unknown }) => void>();
  const events = new Map<string, (params: Record<string, unknown>) => void>();
  ws.onmessage = (e) => {
    const o = JSON.parse(String(e.data));
    if (o.method) return events.get(o.method)?.(o.params);
    pending.get(o.id)?.(o);
    pending.delete(o.id);
  };
  const send = (method: string, params: unknown = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = next++;
      pending.set(id, (o) => {
        if (o.error) reject(new Error(`${method}: ${JSON.stringify(o.error)}`));
        else resolve((o.result ?? {}) as Record<string, unknown>);
      });
      ws.send(JSON.stringify({ id, method, params }));
    });
  const on = (method: string, f: (params: Record<string, unknown>) => void) =>
    events.set(method, f);
  return { send, on, close: () => ws.close() };
}

/** Writes a heap snapshot of the session's process to `file`, chunk by chunk. */
async function snapshot(s: Awaited<ReturnType<typeof session>>, file: string): Promise<void> {
  const out = await Deno.open(file, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  let writing = Promise.resolve();
  s.on("HeapProfiler.addHeapSnapshotChunk", (p) => {
    const bytes = enc.encode(String(p.chunk));
    writing = writing.then(async () => {
      for (let off = 0; off < bytes.length;) off += await out.write(bytes.subarray(off));
    });
  });
  try {
    await s.send("HeapProfiler.enable");
    await s.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    await writing;
  } finally {
    out.close();
  }
}

async function fds(status: string): Promise<number | null> {
  try {
    const res = await fetch(`http://${status}/metrics`, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) return null;
    const text = await res.text();
    return text.includes("process_open_fds") ? metricValue(text, "process_open_fds") : null;
  } catch {
    return null;
  }
}

if (import.meta.main) {
  const [port, status, flag, file] = Deno.args;
  if (!port || !status) {
    console.error("usage: soak_probe.ts <inspector port> <status host:port> [--no-gc]");
    Deno.exit(2);
  }
  const deadline = flag === "--snapshot" ? 6 * DEADLINE_MS : DEADLINE_MS;
  const guard = setTimeout(() => {
    console.error(`the inspector at 127.0.0.1:${port} did not answer in ${deadline} ms`);
    Deno.exit(1);
  }, deadline);
  try {
    const s = await session(await inspectorUrl(port));
    if (flag === "--snapshot" && file) {
      await snapshot(s, file);
      s.close();
      console.log(JSON.stringify({ snapshot: file }));
      Deno.exit(0);
    }
    if (flag !== "--no-gc") await s.send("HeapProfiler.collectGarbage");
    const r = await s.send("Runtime.evaluate", {
      expression: "JSON.stringify(Deno.memoryUsage())",
      returnByValue: true,
    }) as { result?: { value?: string } };
    s.close();
    const mem = JSON.parse(r.result?.value ?? "null");
    if (!mem) throw new Error("Runtime.evaluate gave no value");
    console.log(JSON.stringify({ ...mem, fds: await fds(status) }));
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(1);
  }
  clearTimeout(guard);
}
