/**
 * A policy rule's rate limit with real traffic, through the real CLI in namespaces: a leader and
 * members a and b (TUN mode); a policy with an allow-all rule and a rule for a→b tcp/5202 with
 * `qos: { rate: 20mbit }`; two iperf3 flows from a to b at once, to 5201 (unrated) and 5202
 * (rated), 10 s each. The rated one's received rate never exceeds 20 Mbit/s + 10% (and comes
 * within 10% below at moderate load: a figure, printed); measured against what the tunnel carried
 * in the same run, neither flow is starved (the rated one gets a quarter of its share, half the
 * total up to its rate; the unrated one half of the rest); a's /metrics counts the bytes the rate
 * sent at once, held back (shaped) and dropped for the rule, and `/status` shows them; `weft policy
 * test` shows the rule's qos. Then pings pass a bulk flood (iperf3 to 5203, a rule with `rate:
 * 100mbit`, or half of what the unrated flow got if less: below what the tunnel carries), their
 * RTT printed against idle: the flood's queue is then the rate's, inside weft, which the ping
 * passes (an unrated flood queues in the receiver's socket buffer, where nothing can pass it). The
 * waits are for events.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import {
  agentApi,
  metricsOf,
  metricValue,
  nodeList,
  startMeshNode,
  waitUp,
  weftIn,
} from "../fixtures/mesh_lab.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("iperf3", "ss", "curl", "ping"));

const RULE = "a-to-b-5202";
/**
 * A bulk flood's rate: below what the tunnel carries on a busy 2-core machine (0.5-1.5 Gbit/s);
 * lowered to half of what the unrated flow got when a starved machine carries less.
 */
const BULK_MBIT = 100;
const policy = (bulkMbit: number) =>
  `policies:
  - name: ${RULE}
    action: allow
    priority: 10
    from: { names: [a] }
    to: { names: [b] }
    proto: tcp
    ports: [5202]
    qos: { rate: 20mbit }
  - name: bulk-5203
    action: allow
    priority: 20
    proto: tcp
    ports: [5203]
    qos: { rate: ${bulkMbit}mbit, class: bulk }
  - name: pings
    action: allow
    priority: 30
    proto: icmp
    qos: { class: interactive }
  - name: everything
    action: allow
`;
/** The rated flow's target and the tolerance the policy docs promise. */
const RATE_MBIT = 20;
const TOLERANCE = 0.1;
const SECONDS = 10;

/** A leader and members a and b in a lab of their own (TUN mode); b's overlay address. */
async function qosMesh(cidr: string, ifPrefix: string) {
  const lab = await Lab.create(["lead", "a", "b"]);
  const dir = await Deno.makeTempDir({ prefix: "weft-qos-" });
  const weft = (host: string, ...args: string[]) => weftIn(lab, host, dir, ...args);
  try {
    const opts = { dir, cidr, ifPrefix };
    const leader = startMeshNode(lab, opts, "lead", [
      "--leader",
      "--advertise",
      "192.0.2.1:51820",
    ]);
    await waitUp(lab, "lead", dir, leader);
    for (const h of ["a", "b"]) {
      const tok = await weft("lead", "token", "create", "--uses", "1");
      assert.equal(tok.code, 0, tok.stderr);
      const p = startMeshNode(lab, opts, h, ["--join", tok.stdout.trim()]);
      await waitUp(lab, h, dir, p);
    }
    for (const h of ["a", "b"]) {
      assert.ok(
        await eventually(async () => (await nodeList(lab, h, dir))?.length === 3, HANG_GUARD_MS),
        `${h} does not see 3 members`,
      );
    }
    const b = (await nodeList(lab, "a", dir))!.find((m) => m.name === "b")!.address;
    return { lab, dir, weft, b };
  } catch (e) {
    await lab.destroy();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

/** Applies a policy on the leader and waits until a and b have it. */
async function applyPolicy(
  lab: Lab,
  weft: (
    host: string,
    ...args: string[]
  ) => Promise<{ code: number; stdout: string; stderr: string }>,
  dir: string,
  text: string,
): Promise<void> {
  const file = `${dir}/qos.yaml`;
  await Deno.writeTextFile(file, text);
  const applied = await weft("lead", "policy", "apply", file);
  assert.equal(applied.code, 0, applied.stderr);
  const version = Number(/policy version (\d+)/.exec(applied.stdout)![1]);
  for (const h of ["a", "b"]) {
    assert.ok(
      // Polled from the agent's API (what `weft policy show --json` prints): a `weft` one-shot
      // costs about a CPU-second.
      await eventually(
        async () =>
          ((await agentApi(lab, h, dir, "/v1/policy")) as { version?: number } | null)
            ?.version === version,
        HANG_GUARD_MS,
      ),
      `${h} does not have policy ${version}`,
    );
  }
}

/**
 * The median RTT (ms) of `count` pings from `host` to `to`, 50 ms apart; 90% must answer. `-w`
 * waits for the replies (up to the hang guard): without it ping gives up twice the largest RTT
 * after its last request, so replies a starved machine delays past that would count as lost.
 */
async function medianRtt(lab: Lab, host: string, to: string, count: number): Promise<number> {
  const wait = String(HANG_GUARD_MS / 1000);
  const r = await lab.exec(host, "ping", "-c", String(count), "-i", "0.05", "-w", wait, to);
  const ms = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  assert.ok(ms.length >= count * 0.9, r.stdout + r.stderr);
  return ms.sort((x, y) => x - y)[Math.floor(ms.length / 2)];
}

/**
 * iperf3 TCP from `host` to `to`:`port` for `seconds` over `streams` streams, its JSON report;
 * `timeout` only guards against a hang.
 */
function iperfClient(
  lab: Lab,
  host: string,
  to: string,
  port: number,
  seconds: number,
  streams = 1,
) {
  return lab.exec(
    host,
    "timeout",
    String(seconds + 50),
    "iperf3",
    "-c",
    to,
    "-p",
    String(port),
    "-t",
    String(seconds),
    ...(streams > 1 ? ["-P", String(streams)] : []),
    "-J",
  );
}

/** Starts a one-shot iperf3 server on `port` in `host` and waits until it listens. */
async function iperfServer(lab: Lab, host: string, port: number): Promise<void> {
  lab.spawn(host, "iperf3", ["-s", "-1", "-p", String(port)]);
  assert.ok(
    await eventually(
      async () => (await lab.exec(host, "ss", "-Hlnt", `sport = :${port}`)).stdout !== "",
      HANG_GUARD_MS,
    ),
    `iperf3 does not listen on ${port}`,
  );
}

Deno.test({
  name:
    "qos: a rule's rate holds a TCP flow at most 10% over it, the other gets the rest; pings pass a rated bulk flood",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const { lab, dir, weft, b } = await qosMesh("10.95.0.0/24", "wq");
    try {
      await applyPolicy(lab, weft, dir, policy(BULK_MBIT));
      const explained = await weft(
        "a",
        "policy",
        "test",
        "--from",
        "a",
        "--to",
        "b",
        "--proto",
        "tcp",
        "--port",
        "5202",
      );
      assert.equal(explained.code, 0, explained.stderr);
      assert.match(explained.stdout, new RegExp(`rule "${RULE}".*qos: rate 20mbit burst `));

      for (const port of [5201, 5202]) await iperfServer(lab, "b", port);
      // Both at once.
      const [free, rated] = await Promise.all([
        iperfClient(lab, "a", b, 5201, SECONDS),
        iperfClient(lab, "a", b, 5202, SECONDS),
      ]);
      const end = (r: { code: number; stdout: string; stderr: string }) => {
        assert.equal(r.code, 0, r.stdout + r.stderr);
        return JSON.parse(r.stdout).end;
      };
      const mbit = (r: { code: number; stdout: string; stderr: string }) => ({
        received: end(r).sum_received.bits_per_second / 1e6,
        retransmits: end(r).sum_sent.retransmits as number,
      });
      const f = mbit(free);
      const q = mbit(rated);
      const m = await metricsOf(lab, "a");
      const rule = (result: string) =>
        metricValue(m, "weft_policy_rate_bytes_total", { rule: RULE, result });
      const [passed, delayed, dropped] = [rule("passed"), rule("delayed"), rule("dropped")];
      console.log(
        `  rated (5202): ${q.received.toFixed(2)} Mbit/s received, ${q.retransmits} retransmits; ` +
          `unrated (5201): ${f.received.toFixed(2)} Mbit/s, ${f.retransmits} retransmits; ` +
          `a's rule counters: passed ${passed} B, delayed ${delayed} B, dropped ${dropped} B`,
      );
      // The limit holds: never more than the rate (load can only lower a flow's rate, so this
      // bound does not move with the machine). How close TCP comes to the rate from below
      // depends on the CPU it gets; on a busy 2-core machine it is a figure (printed above, and
      // within 10% at moderate load: docs/performance.md), not an assertion.
      assert.ok(
        q.received <= RATE_MBIT * (1 + TOLERANCE),
        `the rated flow got ${q.received.toFixed(2)} Mbit/s, more than ${RATE_MBIT} + ${
          TOLERANCE * 100
        }%`,
      );
      // Neither flow is starved, measured against what the tunnel carried in this same run
      // (both flows at once, so on the same machine at the same load): the rated one is owed
      // half of it up to its rate, the unrated one the rest. On a starved machine both shares
      // shrink together. TCP through a rate with late timers (a loaded machine) falls well
      // under it (10 of 20 Mbit/s at load 17, the unrated flow at 110), so the rated flow must
      // get a quarter of its share: a rate taken 8x too low (bytes for bits) or a flow starved
      // by the rule still fails whenever the tunnel carries more than twice the rate. The
      // unrated flow must get half of its share (nothing holds it back).
      const total = q.received + f.received;
      const ratedShare = Math.min(RATE_MBIT, total / 2);
      const freeShare = total - ratedShare;
      const figures = `rated ${q.received.toFixed(2)}, unrated ${f.received.toFixed(2)} Mbit/s`;
      assert.ok(
        q.received >= ratedShare / 4,
        `the rated flow got under a quarter of its share (${ratedShare.toFixed(2)}): ${figures}`,
      );
      assert.ok(
        f.received >= freeShare / 2,
        `the unrated flow got under half of its share (${freeShare.toFixed(2)}): ${figures}`,
      );
      // What went at once and what waited for tokens; drops come only when the queue overflows,
      // which TCP mostly avoids (its losses would show as retransmits).
      assert.ok(passed > 0, "a counts the bytes sent at once under the rate");
      // The rate holds bytes back once the flow comes near it (a starved machine may carry
      // less: then nothing waits).
      const nearRate = q.received >= RATE_MBIT * 0.9;
      assert.ok(delayed > 0 || !nearRate, "a counts the bytes the rate held back");
      assert.match(
        m,
        new RegExp(`weft_policy_rate_bytes_total\\{rule="${RULE}",result="dropped"\\} `),
      );
      // Everything the rated flow carried went through the rule's bucket.
      const received = end(rated).sum_received.bytes;
      assert.ok(passed + delayed >= received, `${passed} + ${delayed} < ${received} bytes`);
      const st = JSON.parse((await weft("a", "status", "--json")).stdout);
      assert.ok(
        st.node.policy.rates?.[RULE]?.delayedPackets > 0 || !nearRate,
        JSON.stringify(st.node.policy),
      );

      // A ping under a bulk flood that a rate keeps below the tunnel's capacity: as measured
      // by the unrated flow in this run.
      const bulk = Math.max(1, Math.min(BULK_MBIT, Math.floor(f.received / 2)));
      if (bulk !== BULK_MBIT) await applyPolicy(lab, weft, dir, policy(bulk));
      const idle = await medianRtt(lab, "a", b, 60);
      await iperfServer(lab, "b", 5203);
      const flood = iperfClient(lab, "a", b, 5203, SECONDS, 4);
      // Once the flood runs at its rate (the rule's bucket is in debt).
      assert.ok(
        await eventually(
          async () => {
            const d = metricValue(await metricsOf(lab, "a"), "weft_policy_rate_bytes_total", {
              rule: "bulk-5203",
              result: "delayed",
            });
            return d > 0;
          },
          HANG_GUARD_MS,
          100,
        ),
        "the flood never met its rate",
      );
      const busy = await medianRtt(lab, "a", b, 60);
      const flooded = end(await flood).sum_received.bits_per_second / 1e6;
      console.log(
        `  ping a->b median RTT: idle ${idle} ms, under a ${flooded.toFixed(0)} Mbit/s bulk ` +
          `flood (rate ${bulk}mbit) ${busy} ms`,
      );
      // The RTT's ratio is a figure of a busy machine (1.0-1.8x measured, 4-13x without the
      // rate: docs/performance.md), printed above; what is asserted is that the pings pass the
      // flood held in weft's queue, every one answered (rtts checks 90%).
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

/** Pings interactive, port 5204 bulk: their underlay datagrams carry the classes' DSCPs. */
const CLASSED = `policies:
  - name: bulk-5204
    action: allow
    priority: 10
    proto: tcp
    ports: [5204]
    qos: { class: bulk }
  - name: pings
    action: allow
    priority: 20
    proto: icmp
    qos: { class: interactive }
  - name: everything
    action: allow
`;
/** The same rules without classes: every datagram unmarked. */
const UNCLASSED = CLASSED.replace(/\n {4}qos: \{ class: \w+ \}/g, "");
/** The slow uplink of member a: what a small site's link gives. */
const UPLINK = "50mbit";

Deno.test({
  name:
    "qos: on a full uplink, pings of an interactive rule leave before a bulk flood (DSCP on the underlay)",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const { lab, dir, weft, b } = await qosMesh("10.96.0.0/24", "wc");
    try {
      await applyPolicy(lab, weft, dir, CLASSED);
      // a's uplink: a token bucket with a long queue under it, Linux's default pfifo_fast,
      // which sends band 0 (low delay: the interactive DSCP) before band 1 (unmarked) and
      // band 2 (the bulk DSCP). The queue, not weft, is what is full.
      const tc = async (...args: string[]) => {
        const r = await lab.exec("a", "tc", ...args);
        assert.equal(r.code, 0, `tc ${args.join(" ")}: ${r.stderr}`);
      };
      await tc(
        "qdisc",
        "add",
        "dev",
        "eth0",
        "root",
        "handle",
        "1:",
        "tbf",
        "rate",
        UPLINK,
        "burst",
        "32kb",
        "latency",
        "400ms",
      );
      await tc("qdisc", "add", "dev", "eth0", "parent", "1:1", "handle", "10:", "pfifo_fast");
      // What leaves a, counted by DSCP (44 interactive, 10 bulk: lib/policy/qos.ts).
      for (const dscp of ["44", "10"]) {
        const r = await lab.exec(
          "a",
          "iptables",
          "-A",
          "OUTPUT",
          "-p",
          "udp",
          "-m",
          "dscp",
          "--dscp",
          dscp,
        );
        assert.equal(r.code, 0, r.stderr);
      }
      // Datagrams and bytes that left a with each DSCP.
      const counted = async () => {
        const out = (await lab.exec("a", "iptables", "-L", "OUTPUT", "-v", "-n", "-x")).stdout;
        const by = new Map<number, { packets: number; bytes: number }>();
        for (const m of out.matchAll(/^\s*(\d+)\s+(\d+)\s.*DSCP match 0x([0-9a-f]+)/gm)) {
          by.set(parseInt(m[3], 16), { packets: Number(m[1]), bytes: Number(m[2]) });
        }
        return by;
      };
      const backlog = async () => {
        const r = await lab.exec("a", "tc", "-s", "-j", "qdisc", "show", "dev", "eth0");
        const root = (JSON.parse(r.stdout) as { handle: string; backlog?: number }[])
          .find((q) => q.handle === "1:");
        return root?.backlog ?? 0;
      };
      const idle = await medianRtt(lab, "a", b, 40);
      // A flood of four TCP streams, pinged once the uplink's queue holds 100 KB of it.
      const underFlood = async () => {
        await iperfServer(lab, "b", 5204);
        const flood = iperfClient(lab, "a", b, 5204, 8, 4);
        assert.ok(
          await eventually(async () => (await backlog()) > 100_000, HANG_GUARD_MS, 50),
          "the uplink's queue never filled",
        );
        const rtt = await medianRtt(lab, "a", b, 40);
        const r = await flood;
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const sum = JSON.parse(r.stdout).end.sum_received;
        return { rtt, mbit: sum.bits_per_second / 1e6, bytes: sum.bytes as number };
      };
      const classed = await underFlood();
      const marks = await counted();
      const interactive = marks.get(44)?.packets ?? 0;
      assert.ok(interactive >= 40, `interactive datagrams counted: ${interactive}`);
      // Every byte the flood delivered left a inside a bulk-marked datagram (each one also
      // carries WireGuard's and the inner headers' overhead): a count against what the flood
      // carried in this run, so it holds at any rate a loaded machine gets.
      const bulkBytes = marks.get(10)?.bytes ?? 0;
      assert.ok(
        classed.bytes > 0 && bulkBytes >= classed.bytes,
        `bulk-marked bytes ${bulkBytes} < the flood's ${classed.bytes} bytes`,
      );
      await applyPolicy(lab, weft, dir, UNCLASSED);
      const plain = await underFlood();
      const after = await counted();
      assert.equal(
        after.get(44)?.packets,
        marks.get(44)?.packets,
        "unclassed pings go unmarked",
      );
      // Nor does the unclassed flood's traffic go marked as bulk (a handful of datagrams, the
      // classed flood's tail and retransmits, may still leave after the policy changed).
      const laterBulk = (after.get(10)?.bytes ?? 0) - bulkBytes;
      assert.ok(laterBulk < plain.bytes / 10, `${laterBulk} bulk-marked bytes without classes`);
      console.log(
        `  ping a->b median RTT on a ${UPLINK} uplink: idle ${idle} ms; under a bulk flood ` +
          `(${classed.mbit.toFixed(1)} Mbit/s) with classes ${classed.rtt} ms, without ` +
          `(${plain.mbit.toFixed(1)} Mbit/s) ${plain.rtt} ms`,
      );
      // Same run, same flood: the marked pings pass the queue that the unmarked ones wait in.
      assert.ok(
        classed.rtt < plain.rtt,
        `interactive ${classed.rtt} ms, unclassed ${plain.rtt} ms under the same flood`,
      );
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
