/**
 * The member scale bench at a tiny scale, as a user runs it (`deno run ... member_scale.ts
 * --json`, real processes on loopback): its JSON is whole and sane, and it leaves no process
 * and no directory behind, also when a step fails. Figures are never asserted: only that they
 * were measured.
 */
import assert from "node:assert/strict";
import type { MemberScaleResult } from "./member_scale.ts";

const SCRIPT = new URL("./member_scale.ts", import.meta.url).pathname;

/** Runs the bench with `args`, its temp directories under a fresh TMPDIR (checked after). */
async function bench(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string; tmp: string }> {
  const tmp = await Deno.makeTempDir({ prefix: "weft-member-scale-test-" });
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", SCRIPT, ...args],
    env: { TMPDIR: tmp },
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr), tmp };
}

/** Processes whose command line names `path` (the bench's state directories are under it). */
async function processesUnder(path: string): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = (await Deno.readTextFile(`/proc/${e.name}/cmdline`)).replaceAll("\0", " ");
      if (cmd.includes(path)) found.push(`${e.name}: ${cmd}`);
    } catch { /* ended meanwhile */ }
  }
  return found;
}

/** Asserts that the bench left nothing under `tmp`, and no process working there; removes it. */
async function assertCleaned(tmp: string): Promise<void> {
  try {
    assert.deepEqual(await processesUnder(tmp), [], "processes left running");
    const left = [];
    for await (const e of Deno.readDir(tmp)) left.push(e.name);
    assert.deepEqual(left, [], "directories left behind");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test({
  name: "member scale bench: 3 and 50 known members, 3 active: whole JSON, nothing left behind",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const r = await bench([
      "--known",
      "3,50",
      "--active",
      "3",
      "--window",
      "4",
      "--settle",
      "1",
      "--json",
    ]);
    await assertCleaned(r.tmp);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    const res = JSON.parse(lines[lines.length - 1]) as MemberScaleResult;
    assert.equal(res.windowSeconds, 4);
    assert.deepEqual(res.rows.map((x) => [x.known, x.active, x.synthetic]), [[3, 3, 0], [
      50,
      3,
      47,
    ]]);
    for (const row of res.rows) {
      for (const p of [row.member, row.leader]) {
        assert.ok(Number.isFinite(p.cpuSeconds) && p.cpuSeconds >= 0, JSON.stringify(p));
        assert.ok(p.rssMiB > 0 && p.hwmMiB >= p.rssMiB, JSON.stringify(p));
        assert.ok(p.slicePercent.min <= p.slicePercent.max, JSON.stringify(p));
      }
      // The active peers were active: they pinged the member during the window, and it answered.
      assert.ok(row.pings.sent > 0 && row.pings.answered > 0, JSON.stringify(row.pings));
    }
    const [a, b] = res.rows;
    assert.equal(res.rssDeltaMiB, Math.round((b.member.rssMiB - a.member.rssMiB) * 10) / 10);
    assert.ok(Number.isFinite(res.cpuRatio) && Number.isFinite(res.rssPerKnownKiB));
    assert.equal(typeof res.targets.rssUnder100MiB, "boolean");
    // The table for people came first.
    assert.match(r.stdout, /member CPU-s/);
  },
});

Deno.test({
  name: "member scale bench: a step that does not complete is a clear error, and cleaned up",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    // A guard no leader can start within: the first step fails as a hang would.
    const r = await bench(["--known", "3", "--active", "1", "--guard", "0.001", "--json"]);
    await assertCleaned(r.tmp);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /member_scale: the leader's start: not within 0.001 s \(the guard\)/);
  },
});
