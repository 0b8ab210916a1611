/**
 * The fleet bench: one real `weft --leader` process and, in another process, N simulated members
 * speaking the real wire protocol with real keys (scripts/bench/fleet/sim.ts): the join exchange,
 * the WireGuard handshake, hellos every 3 s, views, deltas, policies, probes and byes over UDP
 * from many loopback addresses. It measures what the leader does for a fleet:
 *
 * - joins per second (sustained: the middle 80 % of the answers; and the time for all N);
 * - one change reaching every member (p50, p99, max from the change to each member holding its
 *   version) for three changes: a node removed (`DELETE /v1/nodes/NAME`, as `weft node
 *   remove`), a policy applied (`POST /v1/policy`, as `weft policy set`), a member's endpoint
 *   moved (it says hello from another address), with the bytes the members received meanwhile;
 * - the leader's CPU-seconds and peak RSS (VmHWM), from /proc;
 * - `GET /v1/nodes` (what `weft node list` asks) and `GET /status` latency during churn (50
 *   joins and 10 leaves a second, 20 s).
 *
 *   deno run -A scripts/bench/fleet.ts --members N [--store URL|etcd] [--sockets S] [--json]
 *     [--profile DIR] [--hubs K] [--concurrency C] [--leader-v8-flags FLAG,FLAG]
 *     [--leader-env NAME=VALUE,NAME=VALUE] [--shared-views 0|1] [--peer-sessions 0|1]
 *     [--carried 0|1]
 *
 * `--concurrency C` sets the joins unanswered at once (default 64).
 * `--shared-views 0` makes the simulated members not say `fs` in their hellos: whole views come
 * from the leader alone, in windows. The default (1) is what a node does: the leader answers
 * with a manifest and names holders, and members fetch the pieces from each other. What members
 * send each other never reaches the leader, so the simulator hands it over in its own process,
 * on a later turn of its event loop, as the message its sender made (no bytes, no parse:
 * scripts/bench/fleet/peer_links.ts); a piece's digest is hashed once per piece object, which
 * every member receiving it shares, and each member still looks it up in its own manifest
 * (scripts/bench/fleet/member_shared.ts); `--peer-sessions 1`
 * sends it over WireGuard sessions between members instead, each sealed and sent over UDP, as
 * nodes do (which costs the simulator as much CPU as the leader at 3,000 members).
 * `--carried 0` makes the members not say `ck`, as an older node: the leader pushes each change
 * to each member itself. The default (1) is what a node does: it takes the leader's signed parts
 * from the members the leader has carry them (scripts/bench/fleet/member_carried.ts).
 * `--leader-env` starts the leader with these environment variables too (the simulator and
 * this process without them): `DENO_TOKIO_EVENT_INTERVAL=N`, say, for how often its event loop
 * takes its sockets' readiness while busy (docs/performance.md, "Where a request waits at 10,000").
 * `--leader-v8-flags` starts the leader with these V8 flags instead of weft's own
 * (lib/agent/jit.ts; empty: V8's defaults).
 * `--hubs K` puts a policy in force before the joins that lets every member reach the first K
 * members only: views scoped by policy, as an edge fleet's devices see a few servers (without
 * it, every member sees every member).
 *
 * `--profile DIR` (or `FLEET_PROFILE=DIR`) writes the leader's CPU profile of each phase into DIR
 * (`leader-joins.cpuprofile`, `-changes`, `-churn`; read them with scripts/bench/cpuprofile.ts),
 * and the simulator's (`sim-joins.cpuprofile`, ...): both run with their V8 inspector on a
 * loopback port, which costs each a few per cent. Each phase's `.heapprofile` holds what is
 * still held at its end, or with `FLEET_PROFILE_ALLOC=1` all that the phase allocated, the
 * garbage too (scripts/bench/heapprofile.ts sums either): where the collector's work comes from.
 * `--store etcd` starts a real etcd (tests/fixtures/etcd.ts) and gives it to the leader. With
 * `--json` the last line printed is one JSON object ({@link FleetBenchResult}).
 * @module
 */

import { freeLoopbackPort, SimProcess, startLeader } from "./fleet/leader.ts";
import { LeaderProfiler } from "./fleet/profile.ts";
import { hasEtcd, startEtcd } from "../../tests/fixtures/etcd.ts";
import { percentile } from "./fleet/members.ts";
import type { SharedTotals } from "./fleet/member_shared.ts";

/** Options of {@link runFleetBench}. */
export interface FleetBenchOptions {
  /** Members joined before the changes are timed. */
  members: number;
  /** The leader's `--store` (`etcd` alone: a real etcd started here). */
  store?: string;
  /** Sockets (loopback addresses) the members share. Default 256. */
  sockets?: number;
  /** Seconds of churn. Default 20. */
  churnSeconds?: number;
  /** The mesh's network (default 10.96.0.0/16). */
  cidr?: string;
  /** Progress lines on stderr. */
  progress?: (line: string) => void;
  /** A directory for the leader's CPU profiles, one a phase (./fleet/profile.ts). */
  profileDir?: string;
  /**
   * Views scoped by policy: a policy in force before the joins lets every member reach the first
   * `hubs` members only (as an edge fleet's devices reach a few servers), so each device's view
   * holds the hubs and leaders, and a hub's every member. Default 0: no policy, whole views.
   */
  hubs?: number;
  /**
   * Joins unanswered at once (default 64): a fleet's devices join side by side, so this is
   * what the leader is offered, not a limit of its own.
   */
  concurrency?: number;
  /** V8 flags for the leader instead of weft's own (empty: V8's defaults). */
  leaderV8Flags?: string[];
  /** Environment variables for the leader alone. */
  leaderEnv?: Record<string, string>;
  /** Whether members take shared views (say `fs`), as a node does. Default true. */
  sharedViews?: boolean;
  /**
   * Whether members send each other pieces over WireGuard sessions of their own (default false:
   * handed over in the simulator's process).
   */
  peerSessions?: boolean;
  /** Whether members take and carry carried pushes (say `ck`), as a node does. Default true. */
  carried?: boolean;
}

/** What the members of the joins counted of shared views (scripts/bench/fleet/member_shared.ts). */
export type SharedFigures = SharedTotals;

/** One change's arrival at every member. */
export interface ChangeFigures {
  /** Milliseconds from the change to each member holding it. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Members that had to receive it. */
  members: number;
  /** Bytes the members received from the leader until the last one held it. */
  bytes: number;
  /** The same less what the leader sends in that time when nothing changes. */
  bytesForChange: number;
}

/** What the fleet bench measured. */
export interface FleetBenchResult {
  members: number;
  store: string;
  /** Members every member may reach under the policy (0: no policy, whole views). */
  hubs: number;
  /** Joins unanswered at once. */
  concurrency: number;
  /** Sustained joins a second (the middle 80 % of the answers). */
  joinsPerSecond: number;
  /** All N joins over the time from the first request to the last answer. */
  joinsPerSecondOverall: number;
  /** Seconds until every join was answered; every session up; every member held a view. */
  joinSeconds: number;
  sessionsSeconds: number;
  viewsSeconds: number;
  /** Seconds after that until every member held the leader's version. */
  convergeSeconds: number;
  /** The three changes. */
  changes: { remove: ChangeFigures; policy: ChangeFigures; move: ChangeFigures };
  /** The largest p99 of the three. */
  changeP99Ms: number;
  /** Bytes the leader sent per change, the mean of the three (less the quiet rate). */
  leaderBytesPerChange: number;
  /** What the leader sends a second when nothing changes (probe answers, keepalives). */
  quietBytesPerSecond: number;
  /** The leader's CPU-seconds: for the joins, and for the whole run. */
  leaderCpuSecondsJoins: number;
  /**
   * The leader's CPU-seconds from the first join until every member held the leader's version
   * (whole views, every push out): the joins' work with what they left to do after the last
   * join's answer, less the `/metrics` scrape between (and what the leader did during it).
   */
  leaderCpuSecondsViews: number;
  leaderCpuSeconds: number;
  /**
   * UDP datagrams the leader sent during the joins, per join (its `/metrics`
   * `weft_udp_datagrams_total{dir="out"}`): views, pushes, handshakes and answers.
   */
  leaderDatagramsPerJoin: number;
  /** Whether the members took shared views (`--shared-views`), and carried pushes (`--carried`). */
  sharedViews: boolean;
  carried: boolean;
  /**
   * The leader's datagrams of shared views per join by kind (its `/metrics`
   * `weft_leader_view_datagrams_total`: holders, manifest, piece, asked).
   */
  leaderViewDatagramsPerJoin: Record<string, number>;
  /**
   * The leader's pushes in the joins: pushes a second, and their datagrams per join (its
   * `/metrics` `weft_leader_pushes_total`, `weft_leader_push_datagrams_total`; NaN: not said).
   */
  leaderPushesPerSecond: number;
  leaderPushDatagramsPerJoin: number;
  /**
   * What the simulator's members received (control messages by type, `keepalive`, handshake
   * messages, `member-transport` from other members) and sent the leader in the joins, per join,
   * by kind: what the leader's datagrams a join are made of, and what its socket takes in.
   */
  receivedPerJoin: Record<string, number>;
  sentPerJoin: Record<string, number>;
  /** What the joining members counted of shared views. */
  shared: SharedFigures;
  /**
   * Sessions between members in the joins: initiated, answered, dropped for room, idle (with
   * `--peer-sessions 1`); else payloads handed over in the simulator's process, and dropped.
   */
  peerSessions: Record<string, number>;
  /** The simulator's CPU-seconds in the joins (beside the leader's). */
  simulatorCpuSecondsJoins: number;
  /** The leader's peak RSS, MiB. */
  leaderPeakRssMiB: number;
  /** Datagrams to the leader the kernel dropped (its socket's receive queue full). */
  leaderSocketDrops: number;
  /** `GET /v1/nodes` and `GET /status` during churn, ms. */
  nodeListP50Ms: number;
  nodeListP99Ms: number;
  statusP50Ms: number;
  statusP99Ms: number;
  /**
   * The churn itself: joins started in its time (up to 50 a second), those that held a view
   * within a minute after it, leaves, byes answered.
   */
  churn: {
    seconds: number;
    joinsStarted: number;
    joined: number;
    left: number;
    byesAnswered: number;
    /**
     * When the leader's answers to the byes came to the members' sockets (from each member's
     * first bye, answers after the member gave up included), the byes answered only after the
     * node's wait, and those never answered within 10 s after that. `byesAnswered`: within it.
     */
    byeAnswerP50Ms: number;
    byeAnswerP99Ms: number;
    byeAnswerMaxMs: number;
    byesLate: number;
    byesNeverAnswered: number;
    /**
     * Bytes unread in the leaving member's socket when its bye went (p50, max): what the
     * answer waited behind in the simulator, not at the leader.
     */
    byeSocketQueuedP50Bytes: number;
    byeSocketQueuedMaxBytes: number;
    /**
     * How long the answers waited unread in the simulator's sockets (p50, max), ms: the byes'
     * times above end when an answer came to the member's socket (the kernel's receive time),
     * as a node reads its own at once; the simulator read it this much later.
     */
    byeAnswerUnreadP50Ms: number;
    byeAnswerUnreadMaxMs: number;
    /**
     * Bytes unread in the leader's socket during the churn (p50, max of the samples taken with
     * the API's) and datagrams its full socket dropped then: what a bye waits behind at the leader.
     */
    leaderQueuedP50Bytes?: number;
    leaderQueuedMaxBytes?: number;
    leaderSocketDrops?: number;
    /** The joins that held no view a minute after the churn: where each stood, counted. */
    stuck?: Record<string, number>;
    /** What the simulator's members received and sent the leader in the churn, by kind. */
    received?: Record<string, number>;
    sent?: Record<string, number>;
    /** Why the churn failed (a join the leader left unanswered), if it did. */
    error?: string;
    nodeListSamples: number;
    statusSamples: number;
    /** Samples unanswered within 60 s (counted as 60 s). */
    apiTimeouts: number;
    /** Samples that failed otherwise (not counted in the latencies), and the first reason. */
    apiErrors: number;
    apiFirstError?: string;
  };
  /**
   * The leader's counts of what it refused and dropped at the end (its `/metrics`:
   * `weft_member_refusals_total`, `weft_drops_total`, ... by name and labels, the non-zero).
   */
  leaderDrops: Record<string, number>;
  /** The simulator's own cost (it must not be the bottleneck). */
  simulator: {
    cpuSeconds: number;
    rssMiB: number;
    drops: Record<string, number>;
    /** The longest a datagram from the leader waited unread in its sockets, ms. */
    readLagMaxMs?: number;
    /** What its members counted of shared views over the whole run (joins, changes, churn). */
    shared?: SharedFigures;
  };
  /** The machine's 1-minute load average when the run started and when it ended. */
  load: { start: number; end: number };
}

/**
 * The bench's policy: every member reaches every member, or with `hubs` those members only (put
 * in force before they join: named under `future:`, as the leader wants names of members to come).
 */
const POLICY = (n: number, hubs: string[]) =>
  `# fleet bench, change ${n}
${hubs.length === 0 ? "" : `future: [${hubs.join(", ")}]\n`}policies:
  - name: ${hubs.length === 0 ? "fleet-all" : "fleet-hubs"}
    action: allow
    from: "*"
    to: ${hubs.length === 0 ? `"*"` : `{ names: [${hubs.join(", ")}] }`}
`;

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
/** Each count of `counts` over `n` joins. */
const perJoin = (counts: Record<string, number>, n: number) =>
  Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, round(v / n, 2)]));

/** Unix ms with fractions (the simulator's clock). */
const now = () => performance.timeOrigin + performance.now();

// The cleanups of the runs under way: a signal stops their leader, simulator and etcd too.
const active = new Set<() => Promise<void>>();

/** Runs the fleet bench once. See the module docs. */
export async function runFleetBench(opts: FleetBenchOptions): Promise<FleetBenchResult> {
  const n = opts.members;
  if (!Number.isInteger(n) || n < 2) throw new Error("--members must be an integer of 2 or more");
  const say = opts.progress ?? (() => {});
  const loadStart = Deno.loadavg()[0];
  const churnSeconds = opts.churnSeconds ?? 20;
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  };
  active.add(cleanup);
  try {
    let store = opts.store;
    if (store === "etcd") {
      if (!(await hasEtcd())) throw new Error("--store etcd: etcd is not installed");
      const etcd = await startEtcd();
      cleanups.push(() => etcd.destroy());
      store = etcd.url;
    }
    const inspect = opts.profileDir ? `127.0.0.1:${freeLoopbackPort()}` : undefined;
    const leader = await startLeader({
      store,
      cidr: opts.cidr,
      inspect,
      v8Flags: opts.leaderV8Flags,
      env: opts.leaderEnv,
    });
    cleanups.push(() => leader.stop());
    const profiler = inspect ? await LeaderProfiler.connect(inspect, opts.profileDir!) : null;
    if (profiler) cleanups.push(() => profiler.close());
    // The simulator is profiled too (it shares the machine's cores with the leader).
    const simInspect = opts.profileDir ? `127.0.0.1:${freeLoopbackPort()}` : undefined;
    let simProfiler: LeaderProfiler | null = null;
    const phase = async (name: string) => {
      await profiler?.phase(name);
      await simProfiler?.phase(name);
    };
    // A failure says what the leader dropped and what it logged last.
    const fail = async (e: unknown): Promise<never> => {
      let drops = "";
      try {
        drops = (await leader.text("/metrics")).split("\n")
          .filter((l) =>
            /^weft_(join_drops|handshake|device_drops|drops_total)\w*\{/.test(l) && !/ 0$/.test(l)
          )
          .join("\n");
      } catch { /* no answer */ }
      const state = leader.running() ? "the leader's" : "the leader exited; its";
      throw new Error(
        `${(e as Error).message ?? e}\nthe leader's socket: ${leader.socketDrops()} datagrams ` +
          `dropped by the kernel; its drops:\n${drops}\n${state} log ends:\n` +
          leader.log().slice(-3000),
      );
    };
    const api = (method: string, path: string, body?: unknown) =>
      leader.api(method, path, body).catch(fail);
    say(`leader pid ${leader.pid} at ${leader.endpoint}${store ? ` store ${store}` : ""}`);
    const churnJoins = Math.round(50 * churnSeconds);
    const { token } = await api("POST", "/v1/tokens", {
      ttl: "24h",
      uses: n + churnJoins + 16,
    }) as { token: string };
    const sim = new SimProcess((l) => say(`simulator: ${l}`), simInspect);
    cleanups.push(() => sim.stop());
    if (simInspect) {
      simProfiler = await LeaderProfiler.connect(simInspect, opts.profileDir!, "sim");
      cleanups.push(() => simProfiler!.close());
    }
    const call = (cmd: string, args: Record<string, unknown> = {}, ms?: number) =>
      sim.call(cmd, args, ms).catch(fail);
    const sharedViews = opts.sharedViews ?? true;
    await call("open", {
      token,
      sockets: opts.sockets ?? 256,
      sharedViews,
      peerSessions: opts.peerSessions ?? false,
      carried: opts.carried ?? true,
    });
    const { first } = await call("add", { count: n });
    const hubCount = opts.hubs ?? 0;
    if (!Number.isInteger(hubCount) || hubCount < 0 || hubCount > n - 2) {
      throw new Error("--hubs must be an integer from 0 to members - 2");
    }
    // The simulator names member i `f<i>`; the hubs are the first members.
    const hubs = Array.from({ length: hubCount }, (_, k) => `f${first + k}`);
    if (hubCount > 0) await api("POST", "/v1/policy", { text: POLICY(1, hubs) });

    say(`joining ${n} members`);
    await phase("joins");
    // One scrape read three ways: at 10,000 members a scrape is seconds of the leader's CPU, so
    // the CPU counted for the joins starts after it.
    const metrics0 = leader.text("/metrics");
    const out0 = await udpOut(metrics0);
    const kinds0 = await viewDatagrams(metrics0);
    const pushes0 = await pushFigures(metrics0);
    const cpu0 = leader.cpuSeconds();
    const joinsStarted = now();
    const concurrency = opts.concurrency ?? 64;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 4096) {
      throw new Error("--concurrency must be an integer from 1 to 4096");
    }
    const join = await call("join", { first, count: n, concurrency }, 3_600_000);
    const cpuJoins = leader.cpuSeconds() - cpu0;
    const metrics1 = leader.text("/metrics");
    const outJoins = await udpOut(metrics1) - out0;
    const kinds1 = await viewDatagrams(metrics1);
    const pushes1 = await pushFigures(metrics1);
    // The scrape's CPU (with what the leader did meanwhile) is left out of the views' figure.
    const cpuScrape = leader.cpuSeconds() - cpu0 - cpuJoins;
    const joinsMs = now() - joinsStarted;
    const viewKinds: Record<string, number> = {};
    for (const [k, v] of Object.entries(kinds1)) {
      viewKinds[k] = round((v - (kinds0[k] ?? 0)) / n, 2);
    }
    say(`joined: ${JSON.stringify(join)}; leader ${cpuJoins} CPU-s`);
    const t1 = now();
    const nodes = () => api("GET", "/v1/nodes") as Promise<{ version: number }>;
    await call("settle", { version: (await nodes()).version }, 600_000);
    const convergeSeconds = (now() - t1) / 1000;
    // The joins' whole cost: the views and pushes still going out after the last join's answer
    // (seconds of them: a faster join phase leaves more of its work after it).
    const cpuViews = leader.cpuSeconds() - cpu0 - cpuScrape;

    const { bytesPerSecond: quiet } = await call("quiet", { seconds: 3 });
    const figures = (
      r: {
        p50Ms: number;
        p99Ms: number;
        maxMs: number;
        members: number;
        bytes: number;
        lost: number;
      },
      since: number,
      what: string,
    ): ChangeFigures => {
      if (r.lost > 0) throw new Error(`${what}: ${r.lost} members stopped being up meanwhile`);
      const seconds = (now() - since) / 1000;
      return {
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
        maxMs: r.maxMs,
        members: r.members,
        bytes: r.bytes,
        bytesForChange: Math.max(0, Math.round(r.bytes - quiet * seconds)),
      };
    };

    await phase("changes");
    say("change 1: a node removed");
    // With hubs, a hub goes (every member sees it); else the last member.
    const gone = hubCount > 0 ? first + hubCount - 1 : first + n - 1;
    let { since } = await call("watch");
    let at = now();
    await api("DELETE", `/v1/nodes/f${gone}`);
    let target = (await nodes()).version;
    let r = await call("reach", { target, since: { ...since, at }, exclude: [gone] }, 600_000);
    const remove = figures(r.reach, at, "removal");
    say(`removal: ${JSON.stringify(remove)}`);

    say("change 2: a policy applied");
    ({ since } = await call("watch"));
    at = now();
    ({ version: target } = await api("POST", "/v1/policy", {
      // With hubs, one more: a policy that changes what every member sees (a text that only
      // differs in its comment is no change).
      text: POLICY(2, hubCount > 0 ? [...hubs, `f${first + hubCount}`] : hubs),
    }) as {
      version: number;
    });
    r = await call("reach", { target, since: { ...since, at }, policy: true }, 600_000);
    const policy = figures(r.reach, at, "policy");
    say(`policy: ${JSON.stringify(policy)}`);

    say("change 3: a member's endpoint moved");
    ({ since } = await call("watch"));
    const held = async () =>
      (await leaderCounts(leader.text("/metrics")).catch(() => ({})) as Record<string, number>)[
        'weft_member_refusals_total{reason="hello"}'
      ] ?? 0;
    const heldBefore = await held();
    at = now();
    const dropsBefore = leader.socketDrops();
    await call("move", { member: first });
    r = await call("reach", { target: "move", since: { ...since, at } }, 600_000);
    const move = figures(r.reach, at, "move");
    say(`move: ${JSON.stringify(move)}`);
    // Whether the move came late to all at once (its hello lost, or held): when the first member
    // held it, the hellos that said it, and what the leader's socket dropped meanwhile.
    say(
      `move: first member after ${r.reach.firstMs} ms, said in ${r.reach.told ?? 1} hellos, ` +
        `${leader.socketDrops() - dropsBefore} datagrams dropped at the leader's socket and ` +
        `${(await held()) - heldBefore} hellos held to its rate meanwhile`,
    );
    say(`leader so far: ${leader.cpuSeconds()} CPU-s, peak RSS ${leader.peakRssMiB()} MiB`);

    await phase("churn");
    say(`churn: 50 joins/s and 10 leaves/s for ${churnSeconds} s`);
    const list: number[] = [];
    const status: number[] = [];
    const queued: number[] = [];
    const churnDrops0 = leader.socketDrops();
    let churning = true;
    const churn = call("churn", {
      joinsPerSecond: 50,
      leavesPerSecond: 10,
      seconds: churnSeconds,
      keep: [first],
    }, 1_800_000).finally(() => churning = false);
    // Handled below; without this a failure during the sampling would be an unhandled rejection.
    churn.catch(() => {});
    // A request the leader leaves unanswered past the API's deadline counts as that long; one
    // it fails (a connection refused or reset) is counted, with the first reason.
    let timeouts = 0;
    let errors = 0;
    let firstError: string | undefined;
    const timed = async (path: string, into: number[]) => {
      const t = performance.now();
      try {
        await leader.api("GET", path);
        into.push(performance.now() - t);
      } catch (e) {
        if (!leader.running()) await fail(e);
        if ((e as Error).name === "TimeoutError") {
          timeouts++;
          into.push(performance.now() - t);
        } else {
          errors++;
          firstError ??= `${path}: ${(e as Error).message}`;
        }
      }
    };
    while (churning) {
      queued.push(leader.socketQueued());
      await timed("/v1/nodes", list);
      await timed("/status", status);
      await new Promise((r) => setTimeout(r, 200));
    }
    // A churn the leader could not keep up with still leaves the figures measured so far.
    let churnError: string | undefined;
    const churnDrops = leader.socketDrops() - churnDrops0;
    queued.sort((a, b) => a - b);
    say(
      `churn samples: node list ${JSON.stringify(list.map(Math.round))}, status ` +
        `${JSON.stringify(status.map(Math.round))}, ${timeouts} timeouts, ${errors} errors` +
        (firstError ? ` (${firstError})` : ""),
    );
    const churned = await churn.catch((e) => {
      churnError = (e as Error).message.split("\n")[0];
      say(`churn failed: ${churnError}`);
      return {
        seconds: NaN,
        joinsStarted: NaN,
        joined: NaN,
        left: NaN,
        byesAnswered: NaN,
        byeAnswerP50Ms: NaN,
        byeAnswerP99Ms: NaN,
        byeAnswerMaxMs: NaN,
        byesLate: NaN,
        byesNeverAnswered: NaN,
        byeSocketQueuedP50Bytes: NaN,
        byeSocketQueuedMaxBytes: NaN,
        byeAnswerUnreadP50Ms: NaN,
        byeAnswerUnreadMaxMs: NaN,
      };
    });
    const leaderDrops = await leaderCounts(leader.text("/metrics")).catch(() => ({}));
    await profiler?.end();
    await simProfiler?.end();
    const simStats = churnError ? { cpuSeconds: NaN, rssMiB: NaN, drops: {} } : await call("stats");
    list.sort((a, b) => a - b);
    status.sort((a, b) => a - b);
    const changes = { remove, policy, move };
    const all = [remove, policy, move];
    return {
      members: n,
      store: opts.store ?? "file",
      hubs: hubCount,
      concurrency,
      joinsPerSecond: join.joinsPerSecond,
      joinsPerSecondOverall: join.joinsPerSecondOverall,
      joinSeconds: join.joinSeconds,
      sessionsSeconds: join.sessionsSeconds,
      viewsSeconds: join.viewsSeconds,
      convergeSeconds: round(convergeSeconds, 2),
      changes,
      changeP99Ms: Math.max(...all.map((c) => c.p99Ms)),
      leaderBytesPerChange: Math.round(all.reduce((s, c) => s + c.bytesForChange, 0) / 3),
      quietBytesPerSecond: quiet,
      leaderCpuSecondsJoins: round(cpuJoins, 2),
      leaderCpuSecondsViews: round(cpuViews, 2),
      leaderCpuSeconds: round(leader.cpuSeconds(), 2),
      leaderDatagramsPerJoin: round(outJoins / n, 1),
      sharedViews,
      carried: opts.carried ?? true,
      leaderViewDatagramsPerJoin: viewKinds,
      sentPerJoin: perJoin(join.sent, n),
      receivedPerJoin: perJoin(join.received, n),
      leaderPushesPerSecond: round((pushes1.pushes - pushes0.pushes) / (joinsMs / 1000), 2),
      leaderPushDatagramsPerJoin: round((pushes1.datagrams - pushes0.datagrams) / n, 1),
      shared: join.shared,
      peerSessions: join.peerSessions,
      simulatorCpuSecondsJoins: join.simulatorCpuSeconds,
      leaderPeakRssMiB: leader.peakRssMiB(),
      leaderSocketDrops: leader.socketDrops(),
      nodeListP50Ms: round(percentile(list, 0.5)),
      nodeListP99Ms: round(percentile(list, 0.99)),
      statusP50Ms: round(percentile(status, 0.5)),
      statusP99Ms: round(percentile(status, 0.99)),
      churn: {
        seconds: churned.seconds,
        joinsStarted: churned.joinsStarted,
        joined: churned.joined,
        left: churned.left,
        byesAnswered: churned.byesAnswered,
        byeAnswerP50Ms: churned.byeAnswerP50Ms,
        byeAnswerP99Ms: churned.byeAnswerP99Ms,
        byeAnswerMaxMs: churned.byeAnswerMaxMs,
        byesLate: churned.byesLate,
        byesNeverAnswered: churned.byesNeverAnswered,
        byeSocketQueuedP50Bytes: churned.byeSocketQueuedP50Bytes,
        byeSocketQueuedMaxBytes: churned.byeSocketQueuedMaxBytes,
        byeAnswerUnreadP50Ms: churned.byeAnswerUnreadP50Ms,
        byeAnswerUnreadMaxMs: churned.byeAnswerUnreadMaxMs,
        leaderQueuedP50Bytes: percentile(queued, 0.5),
        leaderQueuedMaxBytes: queued.at(-1) ?? 0,
        leaderSocketDrops: churnDrops,
        ...(churnError ? { error: churnError } : {}),
        nodeListSamples: list.length,
        apiTimeouts: timeouts,
        apiErrors: errors,
        ...(firstError ? { apiFirstError: firstError } : {}),
        statusSamples: status.length,
        ...(churned.stuck && Object.keys(churned.stuck).length > 0 ? { stuck: churned.stuck } : {}),
        ...("received" in churned ? { received: churned.received, sent: churned.sent } : {}),
      },
      leaderDrops,
      simulator: {
        cpuSeconds: simStats.cpuSeconds,
        rssMiB: simStats.rssMiB,
        drops: simStats.drops,
        readLagMaxMs: simStats.readLagMaxMs,
        ...("shared" in simStats ? { shared: simStats.shared } : {}),
      },
      load: { start: loadStart, end: Deno.loadavg()[0] },
    };
  } finally {
    active.delete(cleanup);
    await cleanup();
  }
}

/**
 * The non-zero samples of the leader's drop and refusal counters in a `/metrics` text, by name
 * and labels (`weft_member_refusals_total{reason="bye"}`).
 */
export async function leaderCounts(text: Promise<string>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await text).split("\n")) {
    const m = /^(weft_\w*(?:drops|refusals|dropped)\w*(?:\{[^}]*\})?) (\d+(?:\.\d+)?)$/.exec(line);
    if (m && Number(m[2]) > 0) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** The leader's datagrams of shared views so far by kind, from its `/metrics` text. */
export async function viewDatagrams(text: Promise<string>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const re = /^weft_leader_view_datagrams_total\{kind="(\w+)"\} (\d+)$/gm;
  for (const m of (await text.catch(() => "")).matchAll(re)) out[m[1]] = Number(m[2]);
  return out;
}

/** The pushes a leader made so far and their datagrams, from its `/metrics` text (NaN: not said). */
export async function pushFigures(
  text: Promise<string>,
): Promise<{ pushes: number; datagrams: number }> {
  const t = await text.catch(() => "");
  const read = (name: string) => {
    const m = new RegExp(`^${name} (\\d+)$`, "m").exec(t);
    return m ? Number(m[1]) : NaN;
  };
  return {
    pushes: read("weft_leader_pushes_total"),
    datagrams: read("weft_leader_push_datagrams_total"),
  };
}

/** The UDP datagrams a leader sent so far, from its `/metrics` text (NaN: not said). */
export async function udpOut(text: Promise<string>): Promise<number> {
  const m = /^weft_udp_datagrams_total\{dir="out"\} (\d+)$/m.exec(await text.catch(() => ""));
  return m ? Number(m[1]) : NaN;
}

/** The result as table rows, for `deno task bench` and the plain output. */
export function fleetRows(r: FleetBenchResult): Record<string, string | number>[] {
  const c = r.changes;
  return [{
    members: r.members,
    store: r.store,
    hubs: r.hubs,
    "in flight": r.concurrency,
    "shared views": r.sharedViews ? 1 : 0,
    "joins/s": r.joinsPerSecond,
    "all joined s": r.joinSeconds,
    "remove p50/p99/max ms": `${c.remove.p50Ms}/${c.remove.p99Ms}/${c.remove.maxMs}`,
    "policy p50/p99/max ms": `${c.policy.p50Ms}/${c.policy.p99Ms}/${c.policy.maxMs}`,
    "move p50/p99/max ms": `${c.move.p50Ms}/${c.move.p99Ms}/${c.move.maxMs}`,
    "KiB/change": round(r.leaderBytesPerChange / 1024),
    "leader CPU s": r.leaderCpuSeconds,
    "leader RSS MiB": r.leaderPeakRssMiB,
    "node list p50/p99 ms": `${r.nodeListP50Ms}/${r.nodeListP99Ms}`,
    "status p50/p99 ms": `${r.statusP50Ms}/${r.statusP99Ms}`,
    // Figures taken on a busy machine are not comparable with a quiet one's: say which it was.
    "load 1m start→end": `${r.load.start.toFixed(2)}→${r.load.end.toFixed(2)}`,
  }];
}

/** The scoped fleet of issue 47's targets: views scoped to this many hubs... */
export const SCOPED_HUBS = 10;
/** ...with this many joins in flight. */
export const SCOPED_CONCURRENCY = 1024;

/**
 * The fleet runs of `deno task bench`: at each size (`sizes`, the `FLEET_SIZES` text `n,n,...`;
 * default 1,000 and 3,000, and 10,000 with `fleet10k`), a full mesh with the generator's defaults
 * (no policy, 64 joins in flight), then a scoped fleet (`--hubs 10 --concurrency 1024`). `hubs`
 * (the `FLEET_HUBS` text) sets the scoped fleet's hubs; `0` leaves the scoped runs out.
 */
export function fleetPlan(
  opts: { sizes?: string; hubs?: string; fleet10k?: boolean } = {},
): FleetBenchOptions[] {
  const sizes = opts.sizes === undefined
    ? [1000, 3000, ...(opts.fleet10k ? [10_000] : [])]
    : opts.sizes.split(",").map((t) => Number(t.trim()));
  for (const n of sizes) {
    if (!Number.isInteger(n) || n < 2) {
      throw new Error(
        `FLEET_SIZES: ${JSON.stringify(opts.sizes)}: sizes are integers of 2 or more`,
      );
    }
  }
  const hubs = opts.hubs === undefined ? SCOPED_HUBS : Number(opts.hubs);
  if (opts.hubs?.trim() === "" || !Number.isInteger(hubs) || hubs < 0) {
    throw new Error(`FLEET_HUBS: ${JSON.stringify(opts.hubs)}: an integer of 0 or more`);
  }
  return sizes.flatMap((members) => [
    { members },
    // A scoped fleet needs at least two members beyond its hubs (runFleetBench's check).
    ...(hubs > 0 && hubs <= members - 2
      ? [{ members, hubs, concurrency: SCOPED_CONCURRENCY }]
      : []),
  ]);
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Deno.args[i + 1] : undefined;
  };
  const json = Deno.args.includes("--json");
  // `NAME=VALUE,NAME=VALUE`, each NAME a shell-style name.
  const leaderEnvArg = (text: string | undefined): Record<string, string> | undefined => {
    if (text === undefined) return undefined;
    const env: Record<string, string> = {};
    for (const item of text.split(",").filter((x) => x !== "")) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(item);
      if (!m) throw new Error(`--leader-env: want NAME=VALUE, not "${item}"`);
      env[m[1]] = m[2];
    }
    return env;
  };
  const flagArg = (name: string, fallback: boolean): boolean => {
    const text = arg(name);
    if (text === undefined) return fallback;
    if (text === "1") return true;
    if (text === "0") return false;
    throw new Error(`--${name}: want 0 or 1, not "${text}"`);
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, async () => {
      for (const c of active) await c();
      Deno.exit(130);
    });
  }
  const members = Number(arg("members") ?? "1000");
  try {
    const r = await runFleetBench({
      members,
      store: arg("store"),
      sockets: arg("sockets") ? Number(arg("sockets")) : undefined,
      churnSeconds: arg("churn-seconds") ? Number(arg("churn-seconds")) : undefined,
      profileDir: arg("profile") ?? Deno.env.get("FLEET_PROFILE"),
      hubs: arg("hubs") ? Number(arg("hubs")) : undefined,
      concurrency: arg("concurrency") ? Number(arg("concurrency")) : undefined,
      leaderV8Flags: arg("leader-v8-flags")?.split(",").filter((f) => f !== ""),
      leaderEnv: leaderEnvArg(arg("leader-env")),
      sharedViews: flagArg("shared-views", true),
      peerSessions: flagArg("peer-sessions", false),
      carried: flagArg("carried", true),
      progress: (l) => console.error(`fleet: ${l}`),
    });
    if (json) console.log(JSON.stringify(r));
    else {
      console.table(fleetRows(r));
      console.log(r);
    }
  } catch (e) {
    console.error(`fleet bench failed: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
