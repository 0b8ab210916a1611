/**
 * The fleet bench's simulator process: N simulated members (./members.ts) driven by the bench
 * (../fleet.ts) over stdin and stdout, one JSON object a line each way. Every command carries an
 * `id`, answered by `{id, ok: true, ...}` or `{id, error}`; a failure that ends the run (the
 * leader refused a join, stopped answering) is `{fatal}`, after which the process exits 1. It is
 * another process than the leader's, so that the leader's CPU and memory are its own.
 *
 *   deno run -A scripts/bench/fleet/sim.ts     (commands on stdin: see `handle`)
 * @module
 */

import { ownSocketInodes } from "../../../tests/fixtures/own_sockets.ts";
import { Fleet, LATE_BYE_MS, now, percentile } from "./members.ts";
import type { Member } from "./member.ts";

let fleet: Fleet | null = null;
const enc = new TextEncoder();

function write(o: unknown): void {
  Deno.stdout.writeSync(enc.encode(JSON.stringify(o) + "\n"));
}

function fatal(message: string): never {
  write({ fatal: message });
  Deno.exit(1);
}

function need(): Fleet {
  if (!fleet) throw new Error("no fleet: send open first");
  return fleet;
}

/** This process's CPU-seconds (user and system), from /proc. */
function cpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Join rates from the times each join was answered, `start` the first request. */
function joinFigures(times: number[], start: number) {
  times.sort((a, b) => a - b);
  const n = times.length;
  const seconds = (times[n - 1] - start) / 1000;
  // Sustained: the middle 80 % of the answers, so a slow start or tail does not count.
  const t10 = percentile(times, 0.1);
  const t90 = percentile(times, 0.9);
  const middle = (t90 - t10) / 1000;
  return {
    joined: n,
    joinSeconds: round(seconds, 2),
    joinsPerSecond: round(n >= 10 && middle > 0 ? (0.8 * n) / middle : n / seconds, 1),
    joinsPerSecondOverall: round(n / seconds, 1),
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// deno-lint-ignore no-explicit-any
async function handle(c: any): Promise<Record<string, unknown>> {
  switch (c.cmd) {
    case "open":
      fleet = await Fleet.open({
        token: c.token,
        sockets: c.sockets,
        joinTimeoutMs: c.joinTimeoutMs,
        sharedViews: c.sharedViews ?? true,
        peerSessions: c.peerSessions ?? false,
        carried: c.carried ?? true,
        onFatal: fatal,
        onProgress: (line) => write({ progress: line }),
      });
      return {};
    case "add": {
      const ids = need().add(c.count);
      return { first: ids[0] ?? -1, count: ids.length };
    }
    case "join": {
      const f = need();
      const ids = Array.from({ length: c.count }, (_, k) => c.first + k);
      const start = now();
      const cpu0 = cpuSeconds();
      const shared0 = structuredClone(f.shared);
      const received0 = { ...f.received };
      const sent0 = { ...f.sent };
      await f.joinAll(ids, c.concurrency ?? 256, c.perSecond ?? 0);
      const cpu = cpuSeconds() - cpu0;
      const ms = ids.map((i) => f.members[i]);
      const up = Math.max(...ms.map((m) => m.upAt));
      const view = Math.max(...ms.map((m) => m.viewAt));
      return {
        ...joinFigures(ms.map((m) => m.joinedAt), start),
        sessionsSeconds: round((up - start) / 1000, 2),
        viewsSeconds: round((view - start) / 1000, 2),
        // The simulator's own CPU in the joins (it seals and opens what members serve each
        // other), and what its members counted of shared views in them.
        simulatorCpuSeconds: round(cpu, 2),
        shared: sharedSince(f.shared, shared0),
        peerSessions: { ...f.peerSessions },
        received: countsSince(f.received, received0),
        sent: countsSince(f.sent, sent0),
      };
    }
    case "settle": {
      // Every live member holds the version the leader has (or a later one).
      const f = need();
      const start = now();
      await f.until(() => f.live().every((m) => m.version >= c.version), `version ${c.version}`);
      return { seconds: round((now() - start) / 1000, 2) };
    }
    case "watch":
      return { since: need().watch() };
    case "reach":
      return {
        reach: await need().reach(c.target, c.since, { policy: c.policy, exclude: c.exclude }),
      };
    case "move":
      return { address: await need().move(c.member) };
    case "quiet": {
      // What the leader sends when nothing changes (answers to probes, keepalives).
      const f = need();
      const b0 = f.bytesIn;
      await new Promise((r) => setTimeout(r, c.seconds * 1000));
      return { bytesPerSecond: Math.round((f.bytesIn - b0) / c.seconds) };
    }
    case "churn":
      return await churn(need(), c.joinsPerSecond, c.leavesPerSecond, c.seconds, c.keep ?? []);
    case "stats": {
      const f = need();
      return {
        cpuSeconds: cpuSeconds(),
        live: f.live().length,
        bytesIn: f.bytesIn,
        datagramsIn: f.datagramsIn,
        drops: { ...f.drops, ...socketDrops() },
        readLagMaxMs: f.readLagMaxMs,
        shared: f.shared,
        peerSessions: f.peerSessions,
        rssMiB: Math.round(Deno.memoryUsage().rss / 1048576),
      };
    }
    case "close":
      await (fleet as Fleet | null)?.close();
      fleet = null;
      return {};
    default:
      throw new Error(`unknown command ${JSON.stringify(c.cmd)}`);
  }
}

/** Where members without a view stand, by a short description, counted. */
function stuckOf(ms: Member[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of ms) {
    const f = m.shared?.fetch ?? null;
    const why = m.state !== "up"
      ? `state-${m.state}`
      : f
      ? `fetching-v${f.version > 0 ? "+" : "0"}-lacking-${
        Math.min(f.checker.lacking().length, 9)
      }-leader-${f.checker.lacking(true).length > 0 ? "some" : "none"}`
      : m.snapV > 0
      ? "snapshot-windows"
      : !m.fs
      ? `no-shared-views-${m.view ? "parts-partial" : "no-parts"}`
      : m.shared?.last
      ? "fetch-ended-no-view"
      : m.shared
      ? "manifest-not-whole"
      : "no-manifest";
    out[why] = (out[why] ?? 0) + 1;
  }
  return out;
}

/** What each counter of `now` counted since `then` (a counter `then` lacks started at 0). */
function countsSince(now: Record<string, number>, then: Record<string, number>) {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(now)) if (v !== (then[k] ?? 0)) out[k] = v - (then[k] ?? 0);
  return out;
}

/** What `now` counted since `then` (the same shape: numbers, and one level of records). */
function sharedSince<T extends object>(now: T, then: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(now)) {
    const was = (then as Record<string, unknown>)[k];
    out[k] = typeof v === "number" ? v - (was as number) : sharedSince(v, was as object);
  }
  return out as T;
}

/**
 * Datagrams the kernel dropped at this process's UDP sockets (their receive queues full), as
 * `socket-full` when any: what the leader sent that no member saw.
 */
function socketDrops(): Record<string, number> {
  const mine = ownSocketInodes();
  let drops = 0;
  for (const line of Deno.readTextFileSync("/proc/net/udp").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (mine.has(f[9])) drops += Number(f.at(-1)) || 0;
  }
  return drops > 0 ? { "socket-full": drops } : {};
}

/**
 * For `seconds`: new members join at up to `jps` a second (at most 128 unanswered at once: a
 * slower leader sets the pace) and `lps` live ones a second leave (bye). Then waits until every
 * started join holds a view and every leave was answered or given up. `keep`: members that must
 * not leave (those a later step uses).
 */
async function churn(f: Fleet, jps: number, lps: number, seconds: number, keep: number[]) {
  const fresh = f.add(Math.round(jps * seconds));
  const keepSet = new Set(keep);
  const leavers = f.live().filter((m) => !keepSet.has(m.i)).slice(0, Math.round(lps * seconds));
  const start = performance.now();
  const t0 = now();
  const received0 = { ...f.received };
  const sent0 = { ...f.sent };
  const leaves: Promise<void>[] = [];
  let started = 0;
  for (;;) {
    const elapsed = (performance.now() - start) / 1000;
    if (elapsed >= seconds) break;
    const joinsDue = Math.min(fresh.length, Math.floor(elapsed * jps) + 1);
    while (started < joinsDue && f.joining < 128) f.startJoin(fresh[started++]);
    const leavesDue = Math.min(leavers.length, Math.floor(elapsed * lps) + 1);
    while (leaves.length < leavesDue) leaves.push(f.leave(leavers[leaves.length].i));
    await new Promise((r) => setTimeout(r, 20));
  }
  // The leaves of the last tick's share: 10 a second for 20 s is 200.
  while (leaves.length < leavers.length) leaves.push(f.leave(leavers[leaves.length].i));
  const joined = fresh.slice(0, started).map((i) => f.members[i]);
  let said = performance.now();
  // The started joins get a minute more to complete; what did not is counted, not waited for.
  const end = performance.now() + 60_000;
  await f.until(() => {
    if (performance.now() > end) return true;
    if (performance.now() - said > 5000) {
      said = performance.now();
      const up = joined.filter((m) => m.upAt > 0).length;
      const views = joined.filter((m) => m.viewAt > 0).length;
      write({ progress: `churn: ${joined.length} joins started, ${up} sessions, ${views} views` });
    }
    return joined.every((m) => m.viewAt > 0);
  }, "the churn's joins");
  await Promise.all(leaves);
  // Byes unanswered in the member's wait: did their answers come late, or never?
  const leftMembers = leavers.slice(0, leaves.length);
  const lateUntil = performance.now() + LATE_BYE_MS;
  await f.until(
    () => performance.now() > lateUntil || leftMembers.every((m) => m.byeOkAt > 0),
    "late byes",
  );
  const heard = leftMembers.filter((m) => m.byeOkAt > 0);
  const byeMs = heard.map((m) => m.byeOkAt - m.byeAt).sort((a, b) => a - b);
  // In time: the answer came to the member's socket within the node's wait (an answer the
  // simulator read only after it, behind its other members' datagrams, came in time).
  const answered = heard.filter((m) => m.byeOkAt - m.byeAt <= m.byeWaitMs).length;
  const unread = heard.map((m) => m.byeOkLagMs).sort((a, b) => a - b);
  // What the answers waited behind in the simulator's own sockets (late on its side, if much).
  const queued = leftMembers.map((m) => m.byeQueued).sort((a, b) => a - b);
  return {
    byeAnswerP50Ms: round(percentile(byeMs, 0.5), 1),
    byeAnswerP99Ms: round(percentile(byeMs, 0.99), 1),
    byeAnswerMaxMs: round(byeMs.at(-1) ?? NaN, 1),
    byesLate: byeMs.length - answered,
    byeSocketQueuedP50Bytes: percentile(queued, 0.5),
    byeSocketQueuedMaxBytes: queued.at(-1) ?? 0,
    byeAnswerUnreadP50Ms: round(percentile(unread, 0.5), 1),
    byeAnswerUnreadMaxMs: round(unread.at(-1) ?? NaN, 1),
    byesNeverAnswered: leftMembers.length - byeMs.length,
    seconds: round((now() - t0) / 1000, 2),
    joinsStarted: joined.length,
    joined: joined.filter((m) => m.viewAt > 0).length,
    left: leaves.length,
    byesAnswered: answered,
    // What the simulator's members got in the churn, by kind (the leader's sends, mostly).
    received: countsSince(f.received, received0),
    // And what they sent the leader.
    sent: countsSince(f.sent, sent0),
    // Joins that hold no view: where each stands (a shared view under way, a snapshot, nothing).
    stuck: stuckOf(joined.filter((m) => m.viewAt === 0)),
  };
}

const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let buf = "";
for await (const chunk of lines) {
  buf += chunk;
  let nl;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    if (!line.trim()) continue;
    let c;
    try {
      c = JSON.parse(line);
    } catch {
      fatal(`a command is not JSON: ${line.slice(0, 80)}`);
    }
    // Commands run side by side (the bench asks /v1/nodes while churn runs here).
    handle(c).then(
      (r) => write({ id: c.id, ok: true, ...r }),
      (e) => write({ id: c.id, error: String(e?.message ?? e) }),
    );
  }
}
await (fleet as Fleet | null)?.close();
