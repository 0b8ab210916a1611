/**
 * The fleet bench's leader: a real `weft --leader` process (the CLI, as tests start it) on its
 * own state directory, loopback only, and what the bench asks of it: its HTTP API with the
 * control token, its CPU-seconds and peak RSS from /proc.
 * @module
 */

import { selfCommand } from "../../../lib/demo/self.ts";
import { JIT_V8_FLAGS_ARG } from "../../../lib/agent/jit.ts";

/** A free port on 127.0.0.1 (UDP and TCP: the leader takes TCP on its UDP port's number). */
export function freeLoopbackPort(): number {
  for (let tries = 0; tries < 100; tries++) {
    const p = 20_000 + Math.floor(Math.random() * 12_000);
    const held: { close(): void }[] = [];
    try {
      held.push(Deno.listen({ hostname: "127.0.0.1", port: p }));
      held.push(Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: p }));
      return p;
    } catch {
      // Taken: draw again.
    } finally {
      for (const h of held) h.close();
    }
  }
  throw new Error("no free port on 127.0.0.1");
}

/** A running leader. */
export interface Leader {
  /** Its process id (the deno running main.ts). */
  pid: number;
  /** Its UDP endpoint, `127.0.0.1:PORT`. */
  endpoint: string;
  /** Its status server, `127.0.0.1:PORT`. */
  status: string;
  /** Calls its HTTP API with the control token; throws on an error status. */
  api(method: string, path: string, body?: unknown): Promise<unknown>;
  /** Datagrams the kernel dropped at the leader's UDP socket (its receive queue was full). */
  socketDrops(): number;
  /** Bytes unread in the leader's UDP socket now (what a datagram arriving now waits behind). */
  socketQueued(): number;
  /** GETs a text page (`/metrics`) with the control token. */
  text(path: string): Promise<string>;
  /** CPU-seconds used so far (user and system). */
  cpuSeconds(): number;
  /** Peak resident memory so far, MiB (VmHWM). */
  peakRssMiB(): number;
  /** What it logged (the last 64 KiB). */
  log(): string;
  /** Whether it is still running. */
  running(): boolean;
  /** Stops it (SIGTERM, then SIGKILL after 5 s) and removes its state directory. */
  stop(): Promise<void>;
}

/** The deadline of one API call, ms: the leader is busy, not gone, before this. */
const API_TIMEOUT_MS = 60_000;

/**
 * Starts `weft --leader` on loopback; `store`: its `--store` URL, if any; `inspect`: a
 * `127.0.0.1:PORT` for its V8 inspector (to profile it: ./profile.ts), under `deno run` only;
 * `v8Flags`: these V8 flags instead of weft's own, under `deno run` only; `env`: environment
 * variables for it alone (added to this process's).
 */
export async function startLeader(
  opts: {
    store?: string;
    cidr?: string;
    inspect?: string;
    v8Flags?: readonly string[];
    env?: Record<string, string>;
  } = {},
): Promise<Leader> {
  const dir = await Deno.makeTempDir({ prefix: "weft-fleet-leader-" });
  const port = freeLoopbackPort();
  const status = `127.0.0.1:${freeLoopbackPort()}`;
  const [cmd, ...pre] = selfCommand();
  if (opts.inspect) {
    if (pre[0] !== "run") throw new Error("profiling the leader needs it run by `deno run`");
    pre.splice(1, 0, `--inspect=${opts.inspect}`);
  }
  if (opts.v8Flags) {
    const at = pre.indexOf(JIT_V8_FLAGS_ARG);
    if (at < 0) throw new Error("other V8 flags for the leader need it run by `deno run`");
    pre.splice(at, 1, ...(opts.v8Flags.length ? [`--v8-flags=${opts.v8Flags.join(",")}`] : []));
  }
  const args = [
    ...pre,
    "--leader",
    "--userspace",
    "--state-dir",
    dir,
    "--status-listen",
    status,
    "--listen-port",
    String(port),
    "--advertise",
    `127.0.0.1:${port}`,
    "--cidr",
    opts.cidr ?? "10.96.0.0/16",
    "--dns-port",
    "0",
    "--hostname",
    "leader",
    "--no-lan-discovery",
    "--no-nat-traversal",
    ...(opts.store ? ["--store", opts.store] : []),
  ];
  const child = new Deno.Command(cmd, {
    args,
    ...(opts.env ? { env: opts.env } : {}),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const dec = new TextDecoder();
  const pump = child.stderr.pipeTo(
    new WritableStream({
      write: (c) => void (log = (log + dec.decode(c)).slice(-65_536)),
    }),
  ).catch(() => {});
  let exited = false;
  child.status.then(() => exited = true);
  let token = "";
  // The fields of the leader's UDP socket's lines in /proc/net/udp and udp6 (its port's).
  const socketLines = (): string[][] => {
    const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
    const out: string[][] = [];
    for (const file of ["/proc/net/udp", "/proc/net/udp6"]) {
      let text = "";
      try {
        text = Deno.readTextFileSync(file);
      } catch { /* no IPv6 */ }
      for (const line of text.split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f[1]?.endsWith(hex) && f[1].includes(":")) out.push(f);
      }
    }
    return out;
  };
  const leader: Leader = {
    pid: child.pid,
    endpoint: `127.0.0.1:${port}`,
    status,
    async api(method, path, body) {
      const res = await fetch(`http://${status}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(API_TIMEOUT_MS),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`leader answered ${method} ${path} with ${res.status}: ${text}`);
      return JSON.parse(text);
    },
    socketDrops() {
      let drops = 0;
      for (const f of socketLines()) drops += Number(f.at(-1)) || 0;
      return drops;
    },
    socketQueued() {
      let queued = 0;
      // f[4] is tx_queue:rx_queue in hex.
      for (const f of socketLines()) queued += parseInt(f[4]?.split(":")[1] ?? "0", 16) || 0;
      return queued;
    },
    async text(path) {
      const res = await fetch(`http://${status}${path}`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(API_TIMEOUT_MS),
      });
      return await res.text();
    },
    cpuSeconds() {
      const stat = Deno.readTextFileSync(`/proc/${child.pid}/stat`);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(f[11]) + Number(f[12])) / 100;
    },
    peakRssMiB() {
      const m = Deno.readTextFileSync(`/proc/${child.pid}/status`).match(/VmHWM:\s+(\d+) kB/);
      return m ? Math.round(Number(m[1]) / 1024) : NaN;
    },
    log: () => log,
    running: () => !exited,
    async stop() {
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch { /* gone */ }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* gone */ }
        }, 5000);
        await child.status;
        clearTimeout(timer);
      }
      await pump;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  // Up once its status server answers and its control token is written.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`the leader exited at its start:\n${log}`);
    if (Date.now() > deadline) {
      await leader.stop();
      throw new Error(`the leader did not start within 60 s:\n${log}`);
    }
    try {
      token = (await Deno.readTextFile(`${dir}/control.token`)).trim();
      await leader.api("GET", "/v1/nodes");
      return leader;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The simulator process (./sim.ts), spoken to one JSON line each way. */
export class SimProcess {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  // deno-lint-ignore no-explicit-any
  readonly #pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  #next = 1;
  #fatal: string | null = null;
  #stderr = "";
  readonly #onProgress: (line: string) => void;

  /**
   * Starts the simulator; `onProgress` hears its progress lines; `inspect`: a `127.0.0.1:PORT`
   * for its V8 inspector (to profile it too: ./profile.ts).
   */
  constructor(onProgress: (line: string) => void = () => {}, inspect?: string) {
    this.#onProgress = onProgress;
    const url = new URL("./sim.ts", import.meta.url);
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-net",
        ...(inspect ? [`--inspect=${inspect}`] : []),
        decodeURIComponent(url.pathname),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    const read = this.#read();
    const dec = new TextDecoder();
    this.#child.stderr.pipeTo(
      new WritableStream({
        write: (c) => void (this.#stderr = (this.#stderr + dec.decode(c)).slice(-16_384)),
      }),
    ).catch(() => {});
    // After its output is read to the end: a fatal line written just before the exit says why.
    Promise.all([this.#child.status, read.catch(() => {})]).then(([s]) => {
      this.#failAll(
        this.#fatal ??
          `the simulator exited (code ${s.code}) with commands unanswered:\n${this.#stderr}`,
      );
    });
  }

  /** The simulator's process id. */
  get pid(): number {
    return this.#child.pid;
  }

  #failAll(message: string): void {
    for (const p of this.#pending.values()) p.reject(new Error(message));
    this.#pending.clear();
  }

  async #read(): Promise<void> {
    let buf = "";
    for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let o;
        try {
          o = JSON.parse(line);
        } catch {
          continue;
        }
        if (typeof o.progress === "string") {
          this.#onProgress(o.progress);
          continue;
        }
        if (o.fatal) {
          this.#fatal = `simulator: ${o.fatal}`;
          this.#failAll(this.#fatal);
          continue;
        }
        const p = this.#pending.get(o.id);
        if (!p) continue;
        this.#pending.delete(o.id);
        if (o.error) p.reject(new Error(`simulator: ${o.error}`));
        else p.resolve(o);
      }
    }
  }

  /** Sends a command; resolves with its answer, rejects on an error or after `timeoutMs`. */
  // deno-lint-ignore no-explicit-any
  async call(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 600_000): Promise<any> {
    if (this.#fatal) throw new Error(this.#fatal);
    const id = this.#next++;
    const answer = new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    await this.#writer.write(new TextEncoder().encode(JSON.stringify({ id, cmd, ...args }) + "\n"));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`simulator: no answer to ${cmd} within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
      this.#pending.delete(id);
    }
  }

  /** Closes the fleet and ends the process (killed if it does not end in 10 s). */
  async stop(): Promise<void> {
    await this.call("close", {}, 10_000).catch(() => {});
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 10_000);
    await this.#child.status;
    clearTimeout(timer);
  }
}
