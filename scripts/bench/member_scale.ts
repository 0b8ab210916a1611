/**
 * A member's cost with many known peers (issue 28): the idle CPU and memory of ONE real member
 * process (`weft --join <token> --userspace`, the CLI as a user runs it) in meshes where it knows
 * few members and many, the same few of them active in both.
 *
 * Each mesh, in turn:
 *
 * - a real `weft --leader` (userspace, loopback) starts on a fresh state directory;
 * - the measured member joins with a token (`weft --join`, its own DNS server on 127.0.0.1, as
 *   a user runs it), then `active` real peers in ONE helper process (member_scale_peers.ts:
 *   `MeshAgent`s joined with tokens, real UDP sockets at 127.0.1.x), which ping the member once
 *   a second each from then on;
 * - the leader stops; its `leader.json` gets `known - active` synthetic member records (real
 *   X25519 keys, addresses in the mesh, one endpoint each at `127.100.x.y:9` where nothing
 *   listens: every packet sent to them stays on this host's loopback and is refused there; the
 *   documentation range 198.18.0.0/15 would leave by the default route), and it starts again on
 *   that state. Everyone joins the small mesh first because a join costs today's leader work
 *   for every member it knows (a push to each, a handshake for each it has no session with):
 *   21 joins into 10,000 members take many minutes, and they are not what is measured;
 * - once the member's `/peers` lists every member (its view is complete) and every active peer
 *   has had an answer, the bench waits `settle` seconds, then measures the member over a fixed
 *   `window`: CPU-seconds (`/proc/<pid>/stat` utime+stime, every thread), in 5 s slices for the
 *   spread; RSS and VmHWM at the end (`/proc/<pid>/status`); the leader's the same way.
 *
 * It reports, between the first mesh (the fewest known) and the last: the ratio of the member's
 * CPU, its extra RSS and the RSS per extra known member, the leader's RSS per member, against
 * the targets (no more CPU within noise, < 100 MiB more RSS). Figures, never assertions.
 * Every process and the temp directory are removed at the end, also when a step fails; a join or
 * a view that does not complete within the guard is an error naming it, with the process's log.
 *
 *   deno run -A --unstable-net scripts/bench/member_scale.ts [--known 20,10000] [--active 20]
 *     [--window 60] [--settle 15] [--guard 900] [--json]
 * @module
 */

import { selfCommand } from "../../lib/demo/self.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";
import { Cidr } from "../../lib/net/cidr.ts";
import { formatAddress } from "../../lib/net/ip.ts";
import { freePort } from "../../tests/fixtures/procs.ts";
import { activePeerHost } from "./member_scale_peers.ts";

const PEERS_SCRIPT = new URL("./member_scale_peers.ts", import.meta.url).pathname;
/** The mesh's network: room for 10,000 members and more. */
const CIDR = "10.213.0.0/16";
/** The port of the synthetic members' endpoints: nothing listens there (see the module docs). */
const DEAD_PORT = 9;
/** How often the window is sampled, ms. */
const SLICE_MS = 5000;

/** What the bench is asked to do. */
export interface MemberScaleOptions {
  /** Members the measured member knows (the leader aside), one mesh each (default [20, 10000]). */
  known?: number[];
  /** Of them, the active peers: real agents that ping the member every second (default 20). */
  active?: number;
  /** Seconds measured (default 60). */
  windowSeconds?: number;
  /** Seconds waited once the views are complete, before the window (default 15). */
  settleSeconds?: number;
  /** Seconds a step (a start, a join, the view) may take before the bench calls it a hang. */
  guardSeconds?: number;
  /** Progress lines (default: none). */
  progress?: (line: string) => void;
}

/** One process's figures over the window. */
export interface ProcFigures {
  /** CPU-seconds (user + system, every thread) over the window. */
  cpuSeconds: number;
  /**
   * Seconds its threads were runnable but waited for a CPU over the window: the machine's
   * contention (high: the process got less CPU than it asked for, and its CPU-seconds understate).
   */
  waitedSeconds: number;
  /** The same as a share of one core, percent. */
  cpuPercent: number;
  /** The least and most of one core a 5 s slice of the window used, percent. */
  slicePercent: { min: number; max: number };
  /** Resident memory at the end of the window, MiB. */
  rssMiB: number;
  /** Peak resident memory since the start (VmHWM), MiB. */
  hwmMiB: number;
}

/** One mesh's figures. */
export interface MemberScaleRow {
  /** Members the measured member knows, the leader aside. */
  known: number;
  /** Of them, active (pinging it). */
  active: number;
  /** Of them, synthetic records (never there). */
  synthetic: number;
  /** Seconds from the leader's restart with the synthetic members to the member's full view. */
  viewSeconds: number;
  /** The measured member. */
  member: ProcFigures;
  /** The leader. */
  leader: ProcFigures;
  /** The machine's load average (1 min) at the end of the window: other work on it. */
  loadAverage: number;
  /** Pings the active peers sent the member during the window, and the ones answered. */
  pings: { sent: number; answered: number };
}

/** Everything the bench reports. */
export interface MemberScaleResult {
  /** Seconds measured, per mesh. */
  windowSeconds: number;
  /** Seconds waited before each window. */
  settleSeconds: number;
  /** One row per mesh, fewest known first. */
  rows: MemberScaleRow[];
  /** The member's CPU in the last mesh over the first (target: 1 within noise). */
  cpuRatio: number;
  /**
   * The first mesh's spread, as a ratio: its busiest 5 s slice over its mean. A ratio above it
   * is beyond noise.
   */
  cpuNoise: number;
  /** The member's RSS in the last mesh minus the first, MiB (target < 100). */
  rssDeltaMiB: number;
  /** That per extra known member, KiB. */
  rssPerKnownKiB: number;
  /** The leader's RSS per member (the last mesh's over its members), KiB. */
  leaderRssPerMemberKiB: number;
  /** The leader's RSS per extra member, between the first mesh and the last, KiB. */
  leaderRssPerExtraMemberKiB: number;
  /** The targets, met or not. */
  targets: { cpuWithinNoise: boolean; rssUnder100MiB: boolean };
}

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on Linux). */
let clockTicks = 100;

async function readClockTicks(): Promise<void> {
  try {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" }).output();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    if (n > 0) clockTicks = n;
  } catch { /* no getconf: Linux's 100 */ }
}

/** CPU-seconds a process used so far (utime + stime of every thread). */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The command name may hold spaces: the fields after it start past the last ")".
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / clockTicks;
}

/** VmRSS and VmHWM of a process, MiB. */
function memory(pid: number): { rssMiB: number; hwmMiB: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { rssMiB: kib("VmRSS") / 1024, hwmMiB: kib("VmHWM") / 1024 };
}

/** Seconds the threads of a process spent runnable but waiting for a CPU, so far (schedstat). */
function runQueueSeconds(pid: number): number {
  let ns = 0;
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/schedstat`).split(" ")[1]);
    } catch { /* the thread ended */ }
  }
  return ns / 1e9;
}

/** Members in a node's saved view (`node.json`), 0 while there is none. */
async function viewSize(stateDir: string): Promise<number> {
  try {
    const doc = JSON.parse(await Deno.readTextFile(`${stateDir}/node.json`));
    return Array.isArray(doc?.view?.members) ? doc.view.members.length : 0;
  } catch {
    return 0;
  }
}

/** A child process whose stderr's tail (and stdout's JSON lines, when piped) are kept. */
class Proc {
  readonly child: Deno.ChildProcess;
  #tail = "";
  readonly lines: Record<string, unknown>[] = [];
  exit: Deno.CommandStatus | null = null;
  readonly #pumps: Promise<void>[] = [];
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array> | null;

  constructor(readonly name: string, cmd: string, args: string[], stdio: "piped" | "null") {
    // Stopped from outside (Ctrl-C): nothing new starts while the cleanup runs.
    if (live.aborted) throw new Error("the bench was stopped");
    this.child = new Deno.Command(cmd, {
      args,
      stdin: stdio,
      stdout: stdio,
      stderr: "piped",
    }).spawn();
    this.child.status.then((s) => this.exit = s);
    this.#stdin = stdio === "piped" ? this.child.stdin.getWriter() : null;
    this.#pumps.push(
      this.child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
        new WritableStream({
          // The last 16 KiB: enough to say why it failed, bounded however much it logs.
          write: (c) => void (this.#tail = (this.#tail + c).slice(-16_384)),
        }),
      ).catch(() => {}),
    );
    if (stdio === "piped") {
      let buf = "";
      this.#pumps.push(
        this.child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
          new WritableStream({
            write: (c) => {
              buf += c;
              let nl;
              while ((nl = buf.indexOf("\n")) >= 0) {
                const line = buf.slice(0, nl);
                buf = buf.slice(nl + 1);
                try {
                  if (line.startsWith("{")) this.lines.push(JSON.parse(line));
                } catch { /* not a report */ }
              }
            },
          }),
        ).catch(() => {}),
      );
    }
  }

  get pid(): number {
    return this.child.pid;
  }

  /** What it logged last, for an error. */
  get log(): string {
    return this.#tail;
  }

  /** Writes a line to its stdin. */
  async tell(line: string): Promise<void> {
    await this.#stdin?.write(new TextEncoder().encode(line + "\n"));
  }

  /** The last stdout report of `kind`, if any. */
  report(kind: string): Record<string, unknown> | undefined {
    return this.lines.findLast((l) => l.kind === kind);
  }

  /** Stops it: SIGTERM, then SIGKILL when it has not ended within 15 s. */
  async stop(): Promise<void> {
    if (!this.exit) {
      await this.#stdin?.close().catch(() => {});
      try {
        this.child.kill("SIGTERM");
      } catch { /* gone already */ }
      const timer = setTimeout(() => {
        try {
          this.child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 15_000);
      await this.child.status;
      clearTimeout(timer);
    }
    await Promise.all(this.#pumps);
  }
}

/** The processes and the directory of the run under way, for the cleanup (and Ctrl-C). */
const live = { procs: new Set<Proc>(), dirs: new Set<string>(), aborted: false };

let cleaning: Promise<void> | null = null;

/** Stops every process and removes the directories; a call while one runs waits for it. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    // Members and peers first, the leader last: they say bye to it on the way out.
    const procs = [...live.procs].reverse();
    live.procs.clear();
    for (const p of procs) await p.stop();
    for (const d of live.dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
    live.dirs.clear();
  })().finally(() => cleaning = null);
  return cleaning;
}

function spawnWeft(name: string, args: string[]): Proc {
  const [cmd, ...pre] = selfCommand();
  const p = new Proc(name, cmd, [...pre, ...args], "null");
  live.procs.add(p);
  return p;
}

async function stopProc(p: Proc): Promise<void> {
  live.procs.delete(p);
  await p.stop();
}

/**
 * Waits for `cond`, checking every 250 ms; throws naming `what` when one of `watch` exits first
 * (with its log) or when `guardMs` pass (with every watched process's log).
 */
async function waitFor(
  what: string | (() => string),
  cond: () => Promise<boolean> | boolean,
  watch: Proc[],
  guardMs: number,
): Promise<void> {
  const deadline = Date.now() + guardMs;
  for (;;) {
    const said = () => typeof what === "string" ? what : what();
    const logs = () => watch.map((p) => `--- ${p.name}'s log (its end):\n${p.log}`).join("\n");
    const gone = watch.find((p) => p.exit);
    if (gone) {
      throw new Error(`${said()}: ${gone.name} exited (code ${gone.exit!.code}) first\n${logs()}`);
    }
    if (await cond()) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${said()}: not within ${guardMs / 1000} s (the guard)\n${logs()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function getJson(url: string): Promise<unknown> {
  try {
    const r = await fetch(url);
    if (!r.ok) {
      await r.body?.cancel();
      return null;
    }
    return await r.json();
  } catch {
    return null;
  }
}

async function healthy(status: string): Promise<boolean> {
  try {
    const r = await fetch(`http://${status}/healthz`);
    await r.body?.cancel();
    return r.ok;
  } catch {
    return false;
  }
}

/** Runs a one-shot `weft` command; its stdout, or an error with its output. */
async function weftOnce(args: string[]): Promise<string> {
  const [cmd, ...pre] = selfCommand();
  const out = await new Deno.Command(cmd, { args: [...pre, ...args], stdin: "null" }).output();
  const dec = new TextDecoder();
  if (out.code !== 0) {
    throw new Error(`weft ${args[0]} ${args[1] ?? ""} failed: ${dec.decode(out.stderr)}`);
  }
  return dec.decode(out.stdout).trim();
}

/** The endpoint of synthetic member `i`: a loopback address in 127.100.0.0/14, port 9. */
function deadEndpoint(i: number): string {
  const n = i + 1;
  return `127.${100 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}:${DEAD_PORT}`;
}

/**
 * Adds `count` synthetic member records to a stopped leader's `leader.json`: names `s<i>`, real
 * X25519 keys, the addresses after the leader's, endpoints where nothing listens.
 */
async function addSynthetic(leaderDir: string, count: number): Promise<void> {
  const file = `${leaderDir}/leader.json`;
  const doc = JSON.parse(await Deno.readTextFile(file));
  const net = Cidr.parse(doc.network);
  const taken = new Set<string>(doc.members.map((m: { address: string }) => m.address));
  const now = Date.now();
  let index = 1;
  for (let i = 0; i < count; i++) {
    let address;
    do address = formatAddress(net.addressAt(++index)); while (taken.has(address));
    doc.members.push({
      name: `s${i}`,
      publicKey: generateKeyPair().publicKey,
      address,
      endpoints: [deadEndpoint(i)],
      labels: {},
      role: "node",
      services: [],
      joinedAt: now,
    });
  }
  doc.version += 1;
  // The leader is stopped: nothing else writes the file now.
  await Deno.writeTextFile(`${file}.tmp`, JSON.stringify(doc), { mode: 0o600 });
  await Deno.rename(`${file}.tmp`, file);
}

function figures(
  pid: number,
  cpu0: number,
  cpu1: number,
  slices: number[],
  seconds: number,
  waited0: number,
): ProcFigures {
  const m = memory(pid);
  const r1 = (x: number) => Math.round(x * 10) / 10;
  return {
    cpuSeconds: Math.round((cpu1 - cpu0) * 100) / 100,
    waitedSeconds: Math.round((runQueueSeconds(pid) - waited0) * 100) / 100,
    cpuPercent: r1(((cpu1 - cpu0) / seconds) * 100),
    slicePercent: { min: r1(Math.min(...slices)), max: r1(Math.max(...slices)) },
    rssMiB: r1(m.rssMiB),
    hwmMiB: r1(m.hwmMiB),
  };
}

/** One mesh: `known` members besides the leader, `active` of them real, the rest synthetic. */
async function runMesh(
  known: number,
  active: number,
  o: Required<Omit<MemberScaleOptions, "known" | "active">>,
): Promise<MemberScaleRow> {
  const guardMs = o.guardSeconds * 1000;
  const dir = await Deno.makeTempDir({ prefix: "weft-member-scale-" });
  live.dirs.add(dir);
  const synthetic = known - active;
  const leaderPort = freePort();
  const leaderStatus = `127.0.0.1:${freePort("tcp")}`;
  const leaderArgs = [
    "--leader",
    "--userspace",
    "--no-lan-discovery",
    "--cidr",
    CIDR,
    "--state-dir",
    `${dir}/leader`,
    "--hostname",
    "leader",
    "--listen-port",
    String(leaderPort),
    "--advertise",
    `127.0.0.1:${leaderPort}`,
    "--status-listen",
    leaderStatus,
    "--dns-port",
    String(freePort()),
  ];

  // Everyone joins a small mesh first: with today's leader each join would cost work for every
  // member it knows (see the module docs), and what is measured is the idle mesh after.
  o.progress(`[${known} known] the leader starts, the member and ${active} active peers join`);
  let leader = spawnWeft("leader", leaderArgs);
  await waitFor("the leader's start", () => healthy(leaderStatus), [leader], guardMs);
  const token = await weftOnce([
    "token",
    "create",
    "--uses",
    String(active + 1),
    "--ttl",
    "24h",
    "--state-dir",
    `${dir}/leader`,
    "--status-listen",
    leaderStatus,
  ]);

  // The measured member: the real CLI, as a user starts it.
  const memberPort = freePort();
  const memberStatus = `127.0.0.1:${freePort("tcp")}`;
  const member = spawnWeft("member", [
    "--join",
    token,
    "--userspace",
    "--no-lan-discovery",
    "--state-dir",
    `${dir}/member`,
    "--hostname",
    "member",
    "--listen-port",
    String(memberPort),
    "--advertise",
    `127.0.0.1:${memberPort}`,
    "--status-listen",
    memberStatus,
    "--dns-port",
    String(freePort()),
  ]);
  await waitFor("the member's join", () => healthy(memberStatus), [member, leader], guardMs);
  const st = await getJson(`http://${memberStatus}/status`) as
    | { node?: { addresses?: string[] } }
    | null;
  const target = st?.node?.addresses?.[0]?.split("/")[0];
  if (!target) {
    throw new Error(`the member's /status has no overlay address: ${JSON.stringify(st)}`);
  }

  const peerPort = freePort();
  for (let i = 0; i < active; i++) {
    // Each active peer binds its own loopback address: one of them taken is a clear error now.
    const s = Deno.listenDatagram({
      transport: "udp",
      hostname: activePeerHost(i),
      port: peerPort,
    });
    s.close();
  }
  const peers = new Proc("active peers", Deno.execPath(), [
    "run",
    "-A",
    "--unstable-net",
    PEERS_SCRIPT,
    "--token",
    token,
    "--count",
    String(active),
    "--target",
    target,
    "--port",
    String(peerPort),
    "--state-dir",
    `${dir}/peers`,
  ], "piped");
  live.procs.add(peers);
  await waitFor("the active peers' joins", () => !!peers.report("joined"), [
    leader,
    member,
    peers,
  ], guardMs);
  await waitFor("every active peer's first answered ping", () => !!peers.report("active"), [
    leader,
    member,
    peers,
  ], guardMs);

  // Then the leader stops, its state gets the synthetic members, and it starts again on it.
  if (synthetic > 0) {
    o.progress(`[${known} known] the leader restarts with ${synthetic} synthetic members`);
    await stopProc(leader);
    await addSynthetic(`${dir}/leader`, synthetic);
    leader = spawnWeft("leader", leaderArgs);
    // Not its /healthz: a leader busy with many members may not answer HTTP for minutes.
  }
  const all = [leader, member, peers];

  // The view is complete when the member's saved view (node.json, written once a view is
  // applied) holds every member: itself, the leader and `known`. Read from disk, not asked
  // over HTTP: a member busy with many peers may not answer for minutes.
  const t0 = performance.now();
  let held = 0;
  await waitFor(
    () => `the member's view (${known + 2} members with itself; it held ${held})`,
    async () => {
      held = await viewSize(`${dir}/member`);
      return held >= known + 2;
    },
    all,
    guardMs,
  );
  const viewSeconds = (performance.now() - t0) / 1000;

  o.progress(`[${known} known] view complete in ${viewSeconds.toFixed(1)} s; settling`);
  await new Promise((r) => setTimeout(r, o.settleSeconds * 1000));

  o.progress(`[${known} known] measuring ${o.windowSeconds} s`);
  await peers.tell("stats");
  await waitFor("the active peers' stats", () => !!peers.report("stats"), all, guardMs);
  const before = peers.report("stats")!;
  const n0 = peers.lines.length;
  const m0 = cpuSeconds(member.pid);
  const l0 = cpuSeconds(leader.pid);
  const mWait0 = runQueueSeconds(member.pid);
  const lWait0 = runQueueSeconds(leader.pid);
  const mSlices: number[] = [];
  const lSlices: number[] = [];
  let mPrev = m0;
  let lPrev = l0;
  const start = performance.now();
  const end = start + o.windowSeconds * 1000;
  for (let t = performance.now(); t < end; t = performance.now()) {
    const step = Math.min(SLICE_MS, end - t);
    await new Promise((r) => setTimeout(r, step));
    for (const p of all) {
      if (p.exit) throw new Error(`${p.name} exited during the window:\n${p.log}`);
    }
    const m = cpuSeconds(member.pid);
    const l = cpuSeconds(leader.pid);
    // Only whole slices: a short last one would stretch the spread.
    if (step >= SLICE_MS / 2) {
      mSlices.push(((m - mPrev) / (step / 1000)) * 100);
      lSlices.push(((l - lPrev) / (step / 1000)) * 100);
    }
    mPrev = m;
    lPrev = l;
  }
  const seconds = (performance.now() - start) / 1000;
  const memberFig = figures(member.pid, m0, mPrev, mSlices, seconds, mWait0);
  const leaderFig = figures(leader.pid, l0, lPrev, lSlices, seconds, lWait0);
  const loadAverage = Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  await peers.tell("stats");
  await waitFor("the active peers' stats", () => peers.lines.length > n0, all, guardMs);
  const after = peers.report("stats")!;

  o.progress(`[${known} known] stopping`);
  await cleanup();
  return {
    known,
    active,
    synthetic,
    viewSeconds: Math.round(viewSeconds * 10) / 10,
    member: memberFig,
    leader: leaderFig,
    loadAverage,
    pings: {
      sent: Number(after.sent) - Number(before.sent),
      answered: Number(after.answered) - Number(before.answered),
    },
  };
}

/** Runs the bench: one mesh per `known`, fewest first, and compares the first and the last. */
export async function runMemberScaleBench(
  opts: MemberScaleOptions = {},
): Promise<MemberScaleResult> {
  const known = [...(opts.known ?? [20, 10_000])].sort((a, b) => a - b);
  const active = opts.active ?? 20;
  if (!known.length || known.some((k) => !Number.isInteger(k) || k < active)) {
    throw new Error(`--known: each mesh must know at least the ${active} active peers`);
  }
  if (!(active >= 1 && active <= 250)) throw new Error("--active: from 1 to 250");
  const o = {
    windowSeconds: opts.windowSeconds ?? 60,
    settleSeconds: opts.settleSeconds ?? 15,
    guardSeconds: opts.guardSeconds ?? 900,
    progress: opts.progress ?? (() => {}),
  };
  await readClockTicks();
  const rows: MemberScaleRow[] = [];
  try {
    for (const k of known) {
      rows.push(await runMesh(k, active, o));
      // Each mesh's figures as soon as they are measured: a later mesh may fail.
      o.progress(`[${k} known] ${JSON.stringify(rows[rows.length - 1])}`);
    }
  } finally {
    await cleanup();
  }
  const a = rows[0];
  const b = rows[rows.length - 1];
  const extra = b.known - a.known;
  const cpuRatio = a.member.cpuSeconds > 0 ? b.member.cpuSeconds / a.member.cpuSeconds : NaN;
  const cpuNoise = a.member.cpuPercent > 0 ? a.member.slicePercent.max / a.member.cpuPercent : NaN;
  const rssDeltaMiB = b.member.rssMiB - a.member.rssMiB;
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    windowSeconds: o.windowSeconds,
    settleSeconds: o.settleSeconds,
    rows,
    cpuRatio: r2(cpuRatio),
    cpuNoise: r2(cpuNoise),
    rssDeltaMiB: Math.round(rssDeltaMiB * 10) / 10,
    rssPerKnownKiB: extra > 0 ? r2((rssDeltaMiB * 1024) / extra) : 0,
    leaderRssPerMemberKiB: r2((b.leader.rssMiB * 1024) / (b.known + 2)),
    leaderRssPerExtraMemberKiB: extra > 0
      ? r2(((b.leader.rssMiB - a.leader.rssMiB) * 1024) / extra)
      : 0,
    targets: {
      cpuWithinNoise: cpuRatio <= Math.max(cpuNoise, 1),
      rssUnder100MiB: rssDeltaMiB < 100,
    },
  };
}

/** Prints the bench's tables. */
export function printMemberScale(r: MemberScaleResult): void {
  console.table(r.rows.map((x) => ({
    known: x.known,
    active: x.active,
    "view s": x.viewSeconds,
    "member CPU-s": x.member.cpuSeconds,
    "member CPU %": x.member.cpuPercent,
    "5 s slices %": `${x.member.slicePercent.min}–${x.member.slicePercent.max}`,
    "member RSS MiB": x.member.rssMiB,
    "member HWM MiB": x.member.hwmMiB,
    "member waited s": x.member.waitedSeconds,
    "leader CPU %": x.leader.cpuPercent,
    "leader RSS MiB": x.leader.rssMiB,
    pings: `${x.pings.answered}/${x.pings.sent}`,
    load: x.loadAverage,
  })));
  const a = r.rows[0];
  const b = r.rows[r.rows.length - 1];
  console.log(
    `${r.windowSeconds} s window after ${r.settleSeconds} s settling. Member, ${b.known} known ` +
      `against ${a.known}: CPU ×${r.cpuRatio} (noise: busiest slice ×${r.cpuNoise} the mean; ` +
      `target: no more within noise: ${r.targets.cpuWithinNoise ? "met" : "not met"}), ` +
      `RSS +${r.rssDeltaMiB} MiB (target < 100 MiB: ` +
      `${r.targets.rssUnder100MiB ? "met" : "not met"}), ${r.rssPerKnownKiB} KiB per known ` +
      `member. Leader: ${r.leaderRssPerMemberKiB} KiB RSS per member at ${b.known + 2}, ` +
      `${r.leaderRssPerExtraMemberKiB} KiB per extra member.`,
  );
}

function argList(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

if (import.meta.main) {
  const num = (name: string) => {
    const v = argList(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: a positive number, not ${v}`);
    return n;
  };
  const json = Deno.args.includes("--json");
  const onSignal = () => {
    live.aborted = true;
    cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const result = await runMemberScaleBench({
      known: argList("known")?.split(",").map(Number),
      active: num("active"),
      windowSeconds: num("window"),
      settleSeconds: num("settle"),
      guardSeconds: num("guard"),
      progress: (l) => console.error(l),
    });
    printMemberScale(result);
    if (json) console.log(JSON.stringify(result));
  } catch (e) {
    console.error(`member_scale: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(1);
  }
}
