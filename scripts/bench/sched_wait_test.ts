import assert from "node:assert/strict";
import { analyzeSched } from "./sched_wait.ts";

const sw = (
  cpu: number,
  t: number,
  prev: [string, number, number],
  state: string,
  next: [string, number],
) =>
  `${prev[0].padStart(16)} ${prev[1]}/${prev[2]} [00${cpu}] ${
    t.toFixed(6)
  }:     sched:sched_switch: prev_comm=${prev[0]} prev_pid=${
    prev[2]
  } prev_prio=120 prev_state=${state} ==> next_comm=${next[0]} next_pid=${next[1]} next_prio=120`;
const wk = (cpu: number, t: number, cur: [string, number, number], target: [string, number]) =>
  `${cur[0].padStart(16)} ${cur[1]}/${cur[2]} [00${cpu}] ${
    t.toFixed(6)
  }:     sched:sched_wakeup: comm=${target[0]} pid=${target[1]} prio=120 target_cpu=00${cpu}`;

Deno.test("sched wait: one ping's span, its agents' wait and run, and who held the CPU", async () => {
  // Agent a (pid 100, worker 101) and b (pid 200); ping is 300; another process 400 is busy.
  const ping: [string, number, number] = ["ping", 300, 300];
  const a: [string, number, number] = ["deno", 100, 100];
  const aw: [string, number, number] = ["V8 DefaultWorke", 100, 101];
  const b: [string, number, number] = ["deno", 200, 200];
  const other: [string, number, number] = ["cc1", 400, 400];
  const lines = [
    sw(0, 1.0, other, "R", ["ping", 300]), // ping runs and sends
    wk(0, 1.00005, ping, ["deno", 100]), // a woken by the TUN read
    sw(0, 1.0001, ping, "S", ["deno", 100]), // 0.05 ms wait
    wk(0, 1.0002, a, ["V8 DefaultWorke", 101]), // a posts a compile job
    sw(0, 1.00021, a, "R", ["V8 DefaultWorke", 101]), // and is preempted by it
    sw(0, 1.00121, aw, "S", ["deno", 100]), // 1 ms later a runs again
    wk(0, 1.0013, a, ["deno", 200]), // sends to b
    sw(0, 1.0014, a, "S", ["deno", 200]),
    wk(0, 1.0016, b, ["deno", 100]), // b replies
    sw(0, 1.0017, b, "S", ["deno", 100]),
    wk(0, 1.0018, a, ["ping", 300]), // a writes the reply: ping wakes
    sw(0, 1.0019, a, "S", ["ping", 300]),
    sw(0, 1.002, ping, "S", ["swapper/0", 0]),
    // ping's interval timer firing while a runs is not a reply.
    sw(0, 1.05, other, "S", ["deno", 100]),
    wk(0, 1.052, a, ["ping", 300]),
  ];
  // The agents' threads, as the bench lists them from /proc before they first show in events.
  const tids = new Map([[100, 100], [101, 100], [200, 200]]);
  const pings = await analyzeSched(lines, [{ name: "weft", pids: [100, 200] }], tids);
  assert.equal(pings.length, 1);
  const p = pings[0];
  assert.equal(p.tunnel, "weft");
  assert.ok(Math.abs(p.spanMs - 1.8) < 1e-6, String(p.spanMs));
  assert.ok(Math.abs(p.longestWaitMs - 1.0) < 1e-6, String(p.longestWaitMs));
  assert.equal(p.heldBy, "own V8 DefaultWorke");
  assert.equal(p.longestKind, "preempt");
  // a: 0.05 (woken) + 1.0 (preempted) + 0.1 (woken by b); its worker 0.01; b: 0.1.
  assert.ok(Math.abs(p.waitMs - 1.26) < 1e-6, String(p.waitMs));
  assert.equal(p.wakeups, 4);
  assert.deepEqual(p.threads, ["V8 DefaultWorke", "deno"]);
});
