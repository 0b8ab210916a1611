/**
 * Joins under a flood, in namespaces (root): a leader, an attacker flooding its port with
 * join_flood.ts (junk, MAC-less requests, replays of a valid request) and joiners that join
 * one after the other through the CLI while it runs. Reports the flood rate, the time each
 * join took, the leader's RSS before, during (peak) and 10 s after the flood, and the log lines
 * and bytes the leader wrote during the flood. `--main` runs another checkout's main.ts as
 * leader and joiners (to compare with an older version).
 *
 *   deno run -A scripts/bench/join_flood_bench.ts [--seconds 30] [--joins 3] [--main path]
 * @module
 */

import { Lab } from "../../tests/fixtures/netns.ts";

function arg(name: string, dflt: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : dflt;
}

const seconds = Number(arg("seconds", "30"));
const joins = Number(arg("joins", "3"));
const main = arg("main", new URL("../../main.ts", import.meta.url).pathname);
const flooder = new URL("./join_flood.ts", import.meta.url).pathname;
const WEFT = [Deno.execPath(), "run", "-A", "--unstable-net", main];

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const hosts = ["lead", "atk", ...Array.from({ length: joins + 1 }, (_, i) => `n${i}`)];
const lab = await Lab.create(hosts);
const dir = await Deno.makeTempDir({ prefix: "weft-floodbench-" });
const node = (host: string, args: string[]) =>
  lab.spawn(host, WEFT[0], [
    ...WEFT.slice(1),
    ...args,
    "--userspace",
    "--state-dir",
    `${dir}/${host}`,
    "--hostname",
    host,
    "--cidr",
    "10.94.0.0/24",
  ]);
const ctl = async (...args: string[]) =>
  (await lab.exec("lead", WEFT[0], ...WEFT.slice(1), ...args, "--state-dir", `${dir}/lead`))
    .stdout.trim();
try {
  const leader = node("lead", ["--leader", "--advertise", "192.0.2.1:51820"]);
  for (let i = 0; i < 300 && !(await ctl("node", "list")); i++) await sleep(100);
  await sleep(1000);
  const rssBefore = rssMb(leader.child.pid);
  /** Joins `host` with `token`; the ms until it says it joined, or "failed". */
  const join = async (host: string, token: string): Promise<number | string> => {
    const t0 = performance.now();
    const j = node(host, ["--join", token, "--log-level", "debug"]);
    let exited = false;
    j.child.status.then(() => exited = true);
    while (!exited && !/joined/.test(j.output()) && performance.now() - t0 < 60_000) {
      await sleep(20);
    }
    const ms = /joined/.test(j.output()) ? Math.round(performance.now() - t0) : "failed";
    const exchange = /join answered.*/.exec(j.output());
    if (exchange) console.error(host, ms, exchange[0]);
    await lab.stop(j.child);
    return ms;
  };
  // A join with no flood, for comparison.
  const quiet = await join("n0", await ctl("token", "create", "--uses", "1"));
  const floodToken = await ctl("token", "create");
  const tokens: string[] = [];
  for (let i = 0; i < joins; i++) tokens.push(await ctl("token", "create", "--uses", "1"));
  const linesBefore = leader.output().split("\n").length;
  const bytesBefore = leader.output().length;
  const flood = lab.spawn("atk", Deno.execPath(), [
    "run",
    "-A",
    flooder,
    "--to",
    "192.0.2.1:51820",
    "--seconds",
    String(seconds),
    "--token",
    floodToken,
  ]);
  const floodStart = performance.now();
  let peak = 0;
  const sampler = setInterval(() => peak = Math.max(peak, rssMb(leader.child.pid)), 250);
  await sleep(2000);
  const times: (number | string)[] = [];
  for (let i = 0; i < joins; i++) times.push(await join(`n${i + 1}`, tokens[i]));
  await flood.child.status;
  clearInterval(sampler);
  const floodSeconds = (performance.now() - floodStart) / 1000;
  const lines = leader.output().split("\n").length - linesBefore;
  const bytes = leader.output().length - bytesBefore;
  await sleep(10_000);
  const rssAfter = rssMb(leader.child.pid);
  console.log(JSON.stringify(
    {
      main,
      flood: JSON.parse(flood.output().trim().split("\n").at(-1) ?? "{}"),
      floodSeconds: Math.round(floodSeconds),
      joinMs: times,
      leaderRssMb: { before: rssBefore, peakDuringFlood: peak, tenSecondsAfter: rssAfter },
      leaderLogDuringFlood: { lines, bytes },
      quietJoinMs: quiet,
    },
    null,
    1,
  ));
} finally {
  await lab.destroy();
  await Deno.remove(dir, { recursive: true });
}
