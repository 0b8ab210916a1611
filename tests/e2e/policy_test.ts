/**
 * Network policies with real traffic (issue 7's proof), driving only the real CLI: a leader
 * labelled `role=web` and joiners labelled `role=app` and `role=db`, with TUN devices, in
 * namespaces. Debian's nc, iperf3 and ping are the clients. A policy applied with `weft policy
 * apply` reaches every node and is enforced (replies pass, denied packets are counted where they
 * are dropped: at the sender); a reload during long transfers keeps the allowed one going and
 * stops the one it denies; a broken file is rejected and the old rules hold; a policy in the
 * leader's `--config` file is put in force on a restart, and a broken one refused.
 */
import assert from "node:assert/strict";
import {
  canBuildLabs,
  eventually,
  HANG_GUARD_MS,
  haveCommands,
  Lab,
  sh,
  START_GUARD_MS,
} from "../fixtures/netns.ts";
import { selfCommand } from "../../lib/demo/self.ts";
import { agentApi, nodeList } from "../fixtures/mesh_lab.ts";
import { CONTROL_PORT } from "../../lib/members/ports.ts";

/** nc must be OpenBSD's: the flags below (-N, -z, -d, -u -l -p) are its own. */
async function haveOpenBsdNc(): Promise<boolean> {
  try {
    return /OpenBSD/.test((await sh("sh", "-c", "nc -h 2>&1")).stdout);
  } catch {
    return false;
  }
}

const ignore = !(await canBuildLabs()) ||
  !(await haveCommands("nc", "iperf3", "ping", "ss", "timeout", "curl")) ||
  !(await haveOpenBsdNc());
const [CMD, ...PRE] = selfCommand();
const CIDR = "10.93.0.0/24";
const HOSTS = ["web", "app", "db"] as const;
type Host = typeof HOSTS[number];

/** P1: web→app tcp/8090-8100, app→db tcp/5432, anything else to db denied; inbound deny. */
const P1 = `defaults: { inbound: deny, outbound: allow }
policies:
  - name: app-to-db
    action: allow
    priority: 10
    from: "role=app"
    to: "role=db"
    proto: tcp
    ports: [5432]
  - name: db-closed
    action: deny
    priority: 20
    to: { labels: { role: db } }
  - name: web-to-app
    action: allow
    from: "role=web"
    to: { labels: { role: app } }
    proto: tcp
    ports: ["8090-8100"]
`;

/** P2: web→app as before; now web→db tcp/5432 is allowed and app→db cut. */
const P2 = `defaults: { inbound: deny, outbound: allow }
policies:
  - name: app-db-cut
    action: deny
    priority: 5
    from: "role=app"
    to: "role=db"
  - name: web-to-db
    action: allow
    priority: 10
    from: "role=web"
    to: "role=db"
    proto: tcp
    ports: [5432]
  - name: db-closed
    action: deny
    priority: 20
    to: { labels: { role: db } }
  - name: web-to-app
    action: allow
    from: "role=web"
    to: { labels: { role: app } }
    proto: tcp
    ports: ["8090-8100"]
`;

/** A broken P2: a reversed port range on line 12. */
const BROKEN = `defaults: { inbound: deny, outbound: allow }
policies:
  - name: web-to-app
    action: allow
    from: "role=web"
    to: "role=app"
    proto: tcp
    ports: ["8090-8100"]
  - name: app-to-db
    action: allow
    proto: tcp
    ports: ["9000-80"]
`;

/** Polls a synchronous condition until it holds or `ms` pass. */
function until(fn: () => boolean, ms: number): Promise<boolean> {
  return eventually(() => Promise.resolve(fn()), ms, 100);
}

/** A process started in a namespace (`ip netns exec` execs it, so its pid is the program's). */
interface Proc {
  child: Deno.ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output: () => string;
  /** Set once it exited. */
  exited: () => boolean;
  /** Settles once its output is read to the end (its exit may come first). */
  drained: Promise<unknown>;
}

/** A test's lab, state directory and processes, cleaned up by `close`. */
class PolicyLab {
  readonly procs = new Set<Proc>();
  readonly agents = new Map<Host, Proc>();
  addr: Record<string, string> = {};

  constructor(readonly lab: Lab, readonly dir: string) {}

  /** Starts a program in `host`'s namespace; `input` (if any) is written to its stdin. */
  start(host: Host, cmd: string, args: string[], input?: string): Proc {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", this.lab.host(host).ns, cmd, ...args],
      stdin: input === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let out = "";
    let done = false;
    const dec = new TextDecoder();
    const sink = () =>
      new WritableStream<Uint8Array>({ write: (c) => void (out += dec.decode(c)) });
    const drained = Promise.allSettled([
      child.stdout.pipeTo(sink()),
      child.stderr.pipeTo(sink()),
    ]);
    if (input !== undefined) {
      const w = child.stdin.getWriter();
      w.write(new TextEncoder().encode(input)).then(() => w.close()).catch(() => {});
    }
    const p: Proc = { child, output: () => out, exited: () => done, drained };
    this.procs.add(p);
    child.status.then(() => {
      done = true;
    });
    return p;
  }

  /** Stops a process (SIGTERM, then SIGKILL). */
  async stop(p: Proc): Promise<void> {
    if (!p.exited()) {
      try {
        p.child.kill("SIGTERM");
      } catch { /* gone */ }
      const t = setTimeout(() => {
        try {
          p.child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 3000);
      await p.child.status;
      clearTimeout(t);
    }
    this.procs.delete(p);
  }

  /** Starts the weft agent of `host` (leader on web) with the test's flags. */
  startAgent(host: Host, args: string[]): Proc {
    const joins = args.includes("--join");
    const p = this.start(host, CMD, [
      ...PRE,
      ...args,
      // A join keeps asking as long as a start may take (a starved leader answers late).
      ...(joins ? ["--join-timeout", `${START_GUARD_MS / 1000}s`] : []),
      "--state-dir",
      `${this.dir}/${host}`,
      "--hostname",
      host,
      "--interface",
      `wp${host}${this.lab.tag}`,
      "--cidr",
      CIDR,
      "--log-level",
      "debug",
    ]);
    this.agents.set(host, p);
    return p;
  }

  /** A weft command that talks to `host`'s agent (with its control token). */
  weft(host: Host, ...args: string[]) {
    return this.lab.exec(host, CMD, ...PRE, ...args, "--state-dir", `${this.dir}/${host}`);
  }

  /** `weft status --json` on `host`. */
  async status(host: Host): Promise<StatusDoc> {
    const r = await this.lab.exec(host, CMD, ...PRE, "status", "--json");
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  }

  /**
   * The policy in force on `host`, what `weft policy show --json` prints (null when the agent
   * does not answer): read from its API, as the waits poll it (a `weft` one-shot costs about a
   * CPU-second).
   */
  async policy(host: Host): Promise<PolicyDoc | null> {
    return await agentApi(this.lab, host, this.dir, "/v1/policy") as PolicyDoc | null;
  }

  /** Members seen by `host` (null when the agent does not answer). */
  nodes(host: Host): Promise<{ name: string; address: string }[] | null> {
    return nodeList(this.lab, host, this.dir);
  }

  /** Waits for `host`'s agent to answer; fails with its output if it exits or never does. */
  async waitUp(host: Host): Promise<void> {
    const p = this.agents.get(host)!;
    const ok = await eventually(
      async () => p.exited() || (await this.nodes(host)) !== null,
      START_GUARD_MS,
    );
    if (!ok || p.exited()) throw new Error(`${host} did not start:\n${p.output()}`);
  }

  /** Waits until every node has policy `version`; returns how long that took. */
  async waitPolicy(version: number): Promise<number> {
    const t0 = Date.now();
    for (const h of HOSTS) {
      const ok = await eventually(async () => (await this.policy(h))?.version === version, 45_000);
      assert.ok(ok, `${h} has policy ${(await this.policy(h))?.version}, not ${version}`);
    }
    return Date.now() - t0;
  }

  /** Waits until a TCP ("t") or UDP ("u") socket of `host` listens on `port`. */
  async listening(host: Host, proto: "t" | "u", port: number): Promise<void> {
    const ok = await eventually(async () => {
      const r = await this.lab.exec(host, "ss", `-Hln${proto}`, `sport = :${port}`);
      return r.stdout.trim() !== "";
    }, 20_000);
    assert.ok(ok, `${host} does not listen on ${proto === "t" ? "tcp" : "udp"}/${port}`);
  }

  /** Kills every process the test started (agents included) and removes the lab. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.procs].map((p) => this.stop(p)));
    await this.lab.destroy();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

interface StatusDoc {
  node: {
    policy?: {
      version: number;
      rules: number;
      dropped: { inbound: number; outbound: number };
      droppedByRule: Record<string, number>;
    };
  };
}

interface PolicyDoc {
  version: number;
  text: string;
  stats: { stoppedFlows: number; droppedByRule: Record<string, number> };
}

/** What a TCP exchange with nc showed. */
interface TcpResult {
  /** The client got the server's line (the reply direction carried data). */
  replied: boolean;
  /** The server got the client's line. */
  received: boolean;
  /** The client's exit code. */
  code: number;
  /** The client's output, for messages. */
  output: string;
}

/**
 * A TCP exchange: a one-connection nc server on `to` that answers a line, a client on `from`
 * that sends one. The server is left running when nothing connected (so a denied SYN cannot
 * pass as a refused connection). `wait` bounds the client's connect and idle time, in seconds.
 */
async function tcpExchange(
  t: PolicyLab,
  from: Host,
  to: Host,
  port: number,
  wait: number,
): Promise<TcpResult> {
  const server = t.start(to, "nc", ["-l", "-p", String(port)], `from-${to}\n`);
  try {
    await t.listening(to, "t", port);
    const c = await t.lab.exec(
      from,
      "sh",
      "-c",
      `echo from-${from} | timeout ${wait + 11} nc -N -w ${wait} ${t.addr[to]} ${port}`,
    );
    // A client that connected: wait for the server's side of it (its exit ends the wait at the
    // latest). One that did not: a short look for a line arriving late, which can only make a
    // slow machine's check weaker, never fail a flow that is blocked.
    await until(
      () => server.exited() || server.output().includes(`from-${from}`),
      c.code === 0 ? HANG_GUARD_MS : 2000,
    );
    return {
      replied: c.stdout.includes(`from-${to}`),
      received: server.output().includes(`from-${from}`),
      code: c.code,
      output: `client ${c.code}: ${c.stdout}${c.stderr}; server: ${server.output()}`,
    };
  } finally {
    await t.stop(server);
  }
}

/** Asserts a TCP flow is allowed both ways (data from the client and the reply). */
async function assertTcpAllowed(t: PolicyLab, from: Host, to: Host, port: number): Promise<void> {
  // A hang guard, not a bound: on a loaded box a lost SYN or two takes the connect past 4 s
  // (TCP backs off 1 s, 2 s, 4 s); an allowed exchange ends as soon as both lines crossed.
  const r = await tcpExchange(t, from, to, port, 60);
  assert.ok(r.received && r.replied && r.code === 0, `${from}->${to} tcp/${port}: ${r.output}`);
}

/** Asserts a TCP flow never connects (the listening server receives nothing). */
async function assertTcpBlocked(t: PolicyLab, from: Host, to: Host, port: number): Promise<void> {
  // Short: a blocked flow's check can only be weakened by a short wait, never fail.
  const r = await tcpExchange(t, from, to, port, 4);
  assert.ok(!r.received && !r.replied && r.code !== 0, `${from}->${to} tcp/${port}: ${r.output}`);
}

/**
 * Whether a datagram from `from` reaches an nc UDP server on `to`; `fromPort` is the client's
 * source port (an ephemeral one when not given).
 */
async function udpDelivered(
  t: PolicyLab,
  from: Host,
  to: Host,
  port: number,
  fromPort?: number,
): Promise<boolean> {
  const source = fromPort === undefined ? "" : `-p ${fromPort} `;
  const server = t.start(to, "nc", ["-u", "-l", "-p", String(port), "-d"]);
  try {
    await t.listening(to, "u", port);
    const line = `udp-from-${from}-${port}`;
    for (let i = 0; i < 3 && !server.output().includes(line); i++) {
      await t.lab.exec(
        from,
        "sh",
        "-c",
        `echo ${line} | timeout 5 nc -u -w 1 ${source}${t.addr[to]} ${port}`,
      );
      await until(() => server.output().includes(line), 3000);
    }
    return server.output().includes(line);
  } finally {
    await t.stop(server);
  }
}

/** Whether `from` gets echo replies from `to`. */
async function pings(t: PolicyLab, from: Host, to: Host): Promise<boolean> {
  const r = await t.lab.exec(from, "ping", "-c", "3", "-i", "0.3", "-W", "2", t.addr[to]);
  return r.code === 0;
}

/** Writes a file in the test directory; returns its path. */
async function file(t: PolicyLab, name: string, text: string): Promise<string> {
  const path = `${t.dir}/${name}`;
  await Deno.writeTextFile(path, text);
  return path;
}

/** `weft policy apply` on the leader; returns the version it reports. */
async function apply(t: PolicyLab, name: string, text: string): Promise<number> {
  const r = await t.weft("web", "policy", "apply", await file(t, name, text));
  assert.equal(r.code, 0, r.stderr);
  const m = /policy version (\d+) in force/.exec(r.stdout);
  assert.ok(m, r.stdout);
  return Number(m[1]);
}

/** Interval lines of iperf3's text output: [start, bytes]. */
function textIntervals(out: string): [number, number][] {
  const units: Record<string, number> = {
    Bytes: 1,
    KBytes: 1024,
    MBytes: 1 << 20,
    GBytes: 1 << 30,
  };
  const re = /\[\s*\d+\]\s+([\d.]+)-([\d.]+)\s+sec\s+([\d.]+)\s+(Bytes|KBytes|MBytes|GBytes)/g;
  const rows: [number, number][] = [];
  for (const m of out.matchAll(re)) {
    // The summary line spans the whole test; interval lines span about one second.
    if (Number(m[2]) - Number(m[1]) > 1.5) continue;
    rows.push([Number(m[1]), Number(m[3]) * units[m[4]]]);
  }
  return rows;
}

/** Bytes `host`'s established TCP connections to `port` have had acknowledged (`ss -ti`). */
async function ackedTo(t: PolicyLab, host: Host, port: number): Promise<number> {
  const r = await t.lab.exec(host, "ss", "-Htin", "state", "established", "dport", "=", `:${port}`);
  assert.equal(r.code, 0, r.stderr);
  let sum = 0;
  for (const m of r.stdout.matchAll(/bytes_acked:(\d+)/g)) sum += Number(m[1]);
  return sum;
}

/** Brings up the three-node mesh with labels; fills `t.addr`. */
async function buildMesh(t: PolicyLab): Promise<void> {
  t.startAgent("web", ["--leader", "--advertise", "192.0.2.1:51820", "--label", "role=web"]);
  await t.waitUp("web");
  for (const h of ["app", "db"] as const) {
    // A node's role is granted by its token: a joiner cannot give itself one.
    const tok = await t.weft(
      "web",
      "token",
      "create",
      "--uses",
      "1",
      "--ttl",
      "1h",
      "--label",
      `role=${h}`,
    );
    assert.equal(tok.code, 0, tok.stderr);
    t.startAgent(h, ["--join", tok.stdout.trim()]);
    await t.waitUp(h);
  }
  for (const h of HOSTS) {
    const ok = await eventually(async () => (await t.nodes(h))?.length === 3, 45_000);
    assert.ok(ok, `${h} does not see 3 nodes: ${JSON.stringify(await t.nodes(h))}`);
  }
  const list = (await t.weft("web", "node", "list", "--json")).stdout;
  const members = JSON.parse(list).nodes as {
    name: string;
    address: string;
    labels?: Record<string, string>;
  }[];
  t.addr = Object.fromEntries(members.map((m) => [m.name, m.address]));
  for (const m of members) assert.equal(m.labels?.role, m.name, `labels of ${m.name}: ${list}`);
}

Deno.test({
  name: "policies with real traffic: enforcement, replies, drop counters, reload, broken files",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const started = Date.now();
    const lap = (what: string) =>
      console.log(`  ${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const t = new PolicyLab(
      await Lab.create([...HOSTS]),
      await Deno.makeTempDir({ prefix: "weft-policy-" }),
    );
    try {
      await buildMesh(t);
      lap("mesh up");

      // Without a policy everything passes: the checks below can see a flow that passes.
      assert.ok(await pings(t, "web", "app"), "no policy: web pings app");
      assert.ok(await udpDelivered(t, "web", "app", 8093), "no policy: udp web->app");
      assert.ok(
        await udpDelivered(t, "web", "app", 8092, CONTROL_PORT),
        "no policy: udp web:51821->app",
      );
      await assertTcpAllowed(t, "web", "app", 9000);
      await assertTcpAllowed(t, "web", "db", 5432);
      lap("baseline without policy");

      // 1. The policy, pushed with `weft policy apply`, reaches every node.
      assert.equal(await apply(t, "p1.yaml", P1), 1);
      const spread1 = await t.waitPolicy(1);
      lap(`policy 1 on every node (${spread1} ms after apply returned)`);
      const explain = async (from: Host, to: Host, port: number) =>
        JSON.parse(
          (await t.weft(
            "web",
            "policy",
            "test",
            "--from",
            from,
            "--to",
            to,
            "--proto",
            "tcp",
            "--port",
            String(port),
            "--json",
          )).stdout,
        );
      const e1 = await explain("web", "db", 5432);
      assert.equal(e1.allowed, false, JSON.stringify(e1));
      assert.equal(e1.rule?.name, "db-closed", JSON.stringify(e1));
      const e2 = await explain("app", "db", 5432);
      assert.equal(e2.allowed, true, JSON.stringify(e2));
      assert.equal(e2.rule?.name, "app-to-db", JSON.stringify(e2));

      // 2. Real clients.
      const before = { web: await t.status("web"), db: await t.status("db") };
      await assertTcpAllowed(t, "web", "app", 8091);
      await assertTcpBlocked(t, "web", "app", 9000);
      assert.equal(await udpDelivered(t, "web", "app", 8094), false, "udp web->app is denied");
      // The mesh's control port as the source does not get past the policy (issue 24).
      assert.equal(
        await udpDelivered(t, "web", "app", 8095, CONTROL_PORT),
        false,
        "udp web:51821->app is denied",
      );
      await assertTcpAllowed(t, "app", "db", 5432);
      await assertTcpBlocked(t, "web", "db", 5432);
      await assertTcpBlocked(t, "app", "web", 8096); // no rule app->web: web's inbound default
      assert.equal(await pings(t, "web", "db"), false, "ping web->db is denied");
      assert.equal(await pings(t, "web", "app"), false, "ping web->app is denied (no icmp rule)");
      // Replies carry data: iperf3 -R has app send to web over web's allowed connection.
      const appIperf = t.start("app", "iperf3", ["-s", "-p", "8090"]);
      await t.listening("app", "t", 8090);
      const rev = await t.lab.exec(
        "web",
        "timeout",
        "40",
        "iperf3",
        "-c",
        t.addr.app,
        "-p",
        "8090",
        "-R",
        "-t",
        "2",
        "-b",
        "20M",
        "-J",
      );
      assert.equal(rev.code, 0, rev.stdout + rev.stderr);
      const revBytes = JSON.parse(rev.stdout).end.sum_received.bytes as number;
      assert.ok(revBytes > 0, `iperf3 -R web<-app moved ${revBytes} bytes`);
      lap(`flows checked (iperf3 -R app->web over web's connection: ${revBytes} bytes)`);

      // The denied packets are counted where they were dropped: at the sender.
      const after = { web: await t.status("web"), db: await t.status("db") };
      const delta = (s: typeof after.web, b: typeof before.web, rule: string) =>
        (s.node.policy?.droppedByRule[rule] ?? 0) - (b.node.policy?.droppedByRule[rule] ?? 0);
      assert.ok(delta(after.web, before.web, "db-closed") >= 2, JSON.stringify(after.web.node));
      assert.ok(delta(after.web, before.web, "(default)") >= 2, JSON.stringify(after.web.node));
      assert.equal(after.web.node.policy?.version, 1);
      assert.equal(delta(after.db, before.db, "db-closed"), 0, "db never saw web's packets");
      assert.equal(
        after.db.node.policy?.dropped.inbound,
        before.db.node.policy?.dropped.inbound,
        `db dropped nothing inbound: ${JSON.stringify(after.db.node.policy)}`,
      );
      const metrics = await t.lab.exec("web", "curl", "-sf", "http://127.0.0.1:51880/metrics");
      assert.match(metrics.stdout, /weft_policy_drops_total\{rule="db-closed"\} [1-9]/);
      const table = await t.lab.exec("web", CMD, ...PRE, "status");
      assert.match(table.stdout, /db-closed=\d+/);
      console.log(
        `  drops at web: ${JSON.stringify(after.web.node.policy?.droppedByRule)}; ` +
          `at db: ${JSON.stringify(after.db.node.policy?.droppedByRule)}`,
      );

      // 3. Reload during two long transfers: web->app stays allowed, app->db gets cut. Both run
      // until the test has seen what it needs (-t 0), however long the reload takes to spread;
      // `timeout` only guards against a hang.
      const dbIperf = t.start("db", "iperf3", [
        "-s",
        "-p",
        "5432",
        "-1",
        "-i",
        "1",
        "--forceflush",
      ]);
      await t.listening("db", "t", 5432);
      const cut = t.start("app", "timeout", [
        "-s",
        "KILL",
        "600",
        "iperf3",
        "-c",
        t.addr.db,
        "-p",
        "5432",
        "-t",
        "0",
        "-i",
        "1",
        "-b",
        "20M",
        "--forceflush",
      ]);
      // web's drop counters before the kept flow: web is its only end the policy could stop it at
      // (app's ACKs come in to web, under a default inbound deny), and no other flow touches web
      // until the flow ends.
      const webDropsBefore = (await t.status("web")).node.policy?.dropped;
      const tWeb = Date.now();
      // SIGINT ends it with its report (timeout passes the signal on to iperf3).
      const kept = t.start("web", "timeout", [
        "-s",
        "INT",
        "600",
        "iperf3",
        "-c",
        t.addr.app,
        "-p",
        "8090",
        "-t",
        "0",
        "-i",
        "1",
        "-b",
        "20M",
        "-J",
      ]);
      const dbRows = () => textIntervals(dbIperf.output());
      const flowing = await until(
        () => dbRows().filter(([, b]) => b > 0).length >= 2 && Date.now() - tWeb >= 3000,
        HANG_GUARD_MS,
      );
      assert.ok(flowing, `app->db transfer did not start: ${cut.output()} / ${dbIperf.output()}`);
      const tApply = Date.now();
      assert.equal(await apply(t, "p2.yaml", P2), 2);
      const spread2 = await t.waitPolicy(2);
      const tEverywhere = Date.now();
      const ackedAtReload = await ackedTo(t, "web", 8090);
      lap(
        `policy 2 applied ${((tApply - tWeb) / 1000).toFixed(1)} s into the transfers, ` +
          `on every node ${spread2} ms later`,
      );
      // Data in flight when the policy landed may still arrive: wait for db's first empty
      // second after that...
      const n0 = dbRows().length;
      const emptySecond = () => dbRows().findIndex(([, b], i) => i >= n0 && b === 0);
      assert.ok(
        await until(() => emptySecond() >= 0, HANG_GUARD_MS),
        `app->db still carries data after the reload: ${JSON.stringify(dbRows().slice(n0))}`,
      );
      // ...after which nothing more may come: three more of db's one-second reports.
      const first = emptySecond();
      assert.ok(
        await until(() => dbRows().length >= first + 4, HANG_GUARD_MS),
        `db's iperf3 stopped reporting: ${dbIperf.output()}`,
      );
      const late = dbRows().slice(first);
      // The kept flow moves data after the reload: app acknowledges more of it. Waited for, not
      // timed: a starved box can stall a flow for seconds (TCP backoff) without any block.
      const moved = await eventually(
        async () => (await ackedTo(t, "web", 8090)) > ackedAtReload,
        HANG_GUARD_MS,
      );
      kept.child.kill("SIGINT");
      await kept.child.status;
      // Its JSON report comes at its exit: read to the end, not only to the exit.
      await kept.drained;
      const webDropsAfter = (await t.status("web")).node.policy?.dropped;
      await t.stop(cut);
      await t.stop(dbIperf);
      console.log(`  app->db (cut) at db, bytes per second: ${dbRows().map(([, b]) => b)}`);
      assert.ok(
        late.every(([, b]) => b === 0),
        `app->db carried data after the reload: ${JSON.stringify(late)}; ${dbIperf.output()}`,
      );
      const keptOut = kept.output();
      const run = JSON.parse(keptOut.slice(keptOut.indexOf("{"), keptOut.lastIndexOf("}") + 1));
      // Ended by our SIGINT, not by a failure of its own.
      assert.match(run.error ?? "", /interrupt/, keptOut);
      // Whole seconds only: the one our SIGINT cut short may be nearly empty.
      const intervals = run.intervals
        .filter((i: { sum: { seconds: number } }) => i.sum.seconds >= 0.5)
        .map((i: { sum: { start: number; bytes: number } }) => [i.sum.start, i.sum.bytes]) as [
          number,
          number,
        ][];
      // Its clock starts after tWeb, so these seconds certainly began after every node had the
      // new policy.
      const reloadAt = (tEverywhere - tWeb) / 1000;
      const afterReload = intervals.filter(([start]) => start >= reloadAt);
      console.log(
        `  web->app (kept) bytes per second: ${intervals.map(([, b]) => b)}; retransmits ` +
          `${run.end.sum_sent.retransmits}; the reload reached every node ` +
          `${reloadAt.toFixed(1)} s after start; web's drops ${
            JSON.stringify(webDropsBefore)
          } -> ` +
          `${JSON.stringify(webDropsAfter)}`,
      );
      assert.ok(
        afterReload.length >= 2,
        `web->app: ${afterReload.length} seconds after the reload`,
      );
      // The kept flow survives the reload (not reset: the SIGINT above ended it) and still moves
      // data after it (app acknowledged more). An empty second alone proves no block: on a loaded box a starved agent
      // loses a packet and TCP backs off for seconds, then sends the backlog in one burst. What a
      // reload must never do is drop the flow's packets, and that is counted: web dropped none.
      assert.ok(
        moved,
        `web->app moved no data after the reload (${ackedAtReload} bytes acked then): ` +
          JSON.stringify(intervals),
      );
      assert.deepEqual(
        webDropsAfter,
        webDropsBefore,
        `web dropped packets during the kept flow (bytes per second ${JSON.stringify(intervals)})`,
      );
      const stopped = (await t.policy("app"))!.stats.stoppedFlows +
        (await t.policy("db"))!.stats.stoppedFlows;
      assert.ok(stopped >= 1, "the cut flow is counted as stopped");
      // New flows follow the new policy.
      // Views are scoped by the policy: app may no longer reach db nor db app, so each has
      // dropped the other (record and peer); app's packets to db find no peer to go to.
      assert.ok(
        await eventually(
          async () => (await t.nodes("app"))?.some((n) => n.name === "db") === false,
          HANG_GUARD_MS,
          200,
        ),
        "app's view no longer holds db",
      );
      assert.equal((await t.nodes("db"))?.some((n) => n.name === "app"), false);
      await assertTcpBlocked(t, "app", "db", 5432);
      await assertTcpAllowed(t, "web", "db", 5432);
      await assertTcpAllowed(t, "web", "app", 8100);
      lap("reload checked");

      // 4. A broken file is rejected with its line; the old rules hold.
      const textBefore = (await t.policy("web"))!.text;
      const bad = await t.weft("web", "policy", "apply", await file(t, "broken.yaml", BROKEN));
      assert.equal(bad.code, 2, bad.stdout + bad.stderr);
      assert.match(bad.stderr, /line 12/);
      assert.match(bad.stderr, /9000-80/);
      for (const h of HOSTS) assert.equal((await t.policy(h))?.version, 2, `${h} keeps policy 2`);
      assert.equal((await t.policy("web"))!.text, textBefore);
      await assertTcpAllowed(t, "web", "app", 8091);
      await assertTcpBlocked(t, "app", "db", 5432);
      lap("broken file rejected");

      // 5. The leader's --config `policy:` section: a broken one is refused (exit 2, its line),
      // a good one is put in force on restart and reaches every node.
      await t.stop(t.agents.get("web")!);
      const cfgHead = "leader: true\nlabels:\n  role: web\npolicy:\n";
      const indent = (s: string) => s.split("\n").map((l) => l ? `  ${l}` : l).join("\n");
      const badCfg = await file(
        t,
        "bad.yaml",
        `${cfgHead}  policies:\n    - name: x\n      action: maybe\n`,
      );
      const refused = await t.lab.exec(
        "web",
        "timeout",
        "60",
        CMD,
        ...PRE,
        "--config",
        badCfg,
        "--state-dir",
        `${t.dir}/web`,
        "--interface",
        `wq${t.lab.tag}`,
      );
      assert.equal(refused.code, 2, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /line 7/);
      assert.match(refused.stderr, /action/);
      const goodCfg = await file(t, "leader.yaml", cfgHead + indent(P1));
      t.startAgent("web", ["--config", goodCfg, "--advertise", "192.0.2.1:51820"]);
      await t.waitUp("web");
      await t.waitPolicy(3);
      assert.match((await t.policy("db"))!.text, /app-to-db/);
      await assertTcpAllowed(t, "app", "db", 5432);
      await assertTcpBlocked(t, "web", "db", 5432);
      await assertTcpAllowed(t, "web", "app", 8090 + 5);
      await t.stop(appIperf);
      lap("policy from --config");
    } finally {
      await t.close();
    }
  },
});
