/**
 * CPU profiles of the fleet bench's leader, phase by phase. Deno has no `--cpu-prof`: the leader
 * runs with `--inspect` on a loopback port and this client speaks the V8 inspector protocol to it
 * (Profiler.start/stop), writing one `.cpuprofile` a phase (Chrome DevTools opens them;
 * `scripts/bench/cpuprofile.ts` sums them by function and file). V8's sampling heap profiler runs
 * along: at each phase's end, where the memory still held was allocated goes into a
 * `.heapprofile` (`scripts/bench/heapprofile.ts` sums it); with `FLEET_PROFILE_ALLOC=1`, where
 * all the phase allocated was, the garbage too.
 * @module
 */

/** A connection to a process's V8 inspector that takes CPU profiles. */
export class LeaderProfiler {
  readonly #ws: WebSocket;
  readonly #dir: string;
  readonly #prefix: string;
  #next = 1;
  readonly #pending = new Map<number, (v: Record<string, unknown>) => void>();
  #phase: string | null = null;

  private constructor(ws: WebSocket, dir: string, prefix: string) {
    this.#ws = ws;
    this.#dir = dir;
    this.#prefix = prefix;
    ws.onmessage = (e) => {
      const o = JSON.parse(String(e.data));
      const done = this.#pending.get(o.id);
      if (!done) return;
      this.#pending.delete(o.id);
      done(o.error ? { error: o.error } : o.result ?? {});
    };
  }

  /**
   * Connects to the inspector at `hostPort` (`127.0.0.1:PORT`); profiles go into `dir`, their
   * names starting with `prefix` (`leader`, or `sim` for the simulator).
   */
  static async connect(hostPort: string, dir: string, prefix = "leader"): Promise<LeaderProfiler> {
    await Deno.mkdir(dir, { recursive: true });
    const deadline = Date.now() + 30_000;
    let url = "";
    while (!url) {
      try {
        const list = await (await fetch(`http://${hostPort}/json/list`)).json();
        url = list[0]?.webSocketDebuggerUrl ?? "";
      } catch { /* not yet */ }
      if (!url) {
        if (Date.now() > deadline) throw new Error(`no inspector at ${hostPort}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`inspector ${url}: connection failed`));
    });
    const p = new LeaderProfiler(ws, dir, prefix);
    await p.#send("Profiler.enable");
    // 1 ms: enough samples over a phase of seconds, little cost to the leader.
    await p.#send("Profiler.setSamplingInterval", { interval: 1000 });
    await p.#send("HeapProfiler.enable");
    // One sample per 64 KiB allocated on average: cheap, and plenty for a heap of hundreds of MiB.
    await p.#startHeap();
    return p;
  }

  #send(method: string, params: unknown = {}): Promise<Record<string, unknown>> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(
        id,
        (v) => v.error ? reject(new Error(JSON.stringify(v.error))) : resolve(v),
      );
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  // With FLEET_PROFILE_ALLOC=1 the heap profile of a phase counts what it allocated, the garbage
  // too (what the collector had to take away), not only what is still held at its end.
  readonly #alloc = Deno.env.get("FLEET_PROFILE_ALLOC") === "1";

  async #startHeap(): Promise<void> {
    await this.#send("HeapProfiler.startSampling", {
      samplingInterval: 65536,
      ...(this.#alloc
        ? { includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }
        : {}),
    });
  }

  /** Ends the phase under way (its profile written) and starts `name`'s. */
  async phase(name: string): Promise<void> {
    await this.end();
    if (this.#alloc) {
      await this.#send("HeapProfiler.stopSampling");
      await this.#startHeap();
    }
    await this.#send("Profiler.start");
    this.#phase = name;
  }

  /** Ends the phase under way, writing `DIR/PREFIX-PHASE.cpuprofile` and `.heapprofile`. */
  async end(): Promise<void> {
    if (!this.#phase) return;
    const name = this.#phase;
    this.#phase = null;
    const { profile } = await this.#send("Profiler.stop");
    await Deno.writeTextFile(
      `${this.#dir}/${this.#prefix}-${name}.cpuprofile`,
      JSON.stringify(profile),
    );
    const heap = await this.#send("HeapProfiler.getSamplingProfile");
    await Deno.writeTextFile(
      `${this.#dir}/${this.#prefix}-${name}.heapprofile`,
      JSON.stringify(heap.profile),
    );
  }

  /** Ends the phase under way and closes the connection. */
  async close(): Promise<void> {
    await this.end().catch(() => {});
    this.#ws.close();
  }
}
