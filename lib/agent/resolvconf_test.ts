/**
 * InterfaceDns against a fake `resolvconf`: what it is called with and fed, `unset` acting once,
 * failures reported with resolvconf's own words, and resolvconf missing. $PATH has to point at
 * the fake, so the outer test re-runs this file in a child Deno with WEFT_RESOLVCONF_TEST_DIR
 * set (the "inside:" tests), never changing $PATH under the other files of a parallel run.
 * (The record's text and name are in wgquick_agent_test.ts.)
 */
import assert from "node:assert/strict";
import { InterfaceDns, resolvconfRecord } from "./resolvconf.ts";

const DIR = Deno.env.get("WEFT_RESOLVCONF_TEST_DIR");
const CHILD = DIR !== undefined;

/** The fake: logs its arguments and (for -a) its input, then exits as the control files say. */
const FAKE = `#!/bin/sh
PATH=/usr/bin:/bin
dir="$(dirname "$0")/.."
printf 'args:' >> "$dir/log"
for a in "$@"; do printf ' %s' "$a" >> "$dir/log"; done
printf '\\n' >> "$dir/log"
if [ -f "$dir/no-read" ]; then exit 5; fi
if [ "$1" = "-a" ]; then sed 's/^/stdin: /' >> "$dir/log"; fi
if [ -f "$dir/fail" ]; then cat "$dir/fail" >&2; exit 3; fi
exit 0
`;

Deno.test({
  name: "resolvconf: a fake resolvconf on $PATH (runs the inside: tests in a child process)",
  ignore: CHILD,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-resolvconf-" });
    try {
      await Deno.mkdir(`${dir}/bin`);
      await Deno.mkdir(`${dir}/empty`);
      await Deno.writeTextFile(`${dir}/bin/resolvconf`, FAKE, { mode: 0o755 });
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["test", "-A", "--filter", "inside:", new URL(import.meta.url).pathname],
        env: { WEFT_RESOLVCONF_TEST_DIR: dir, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.ok(out.success, text);
      assert.match(text, /ok \| 4 passed/, text);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---- inside the child: only these tests run in this process, so $PATH may change ----

/** The record name resolvconf is told about, as the module computes it on this machine. */
async function record(iface: string): Promise<string> {
  const order = await Deno.readTextFile("/etc/resolvconf/interface-order").catch(() => null);
  return resolvconfRecord(iface, order);
}

/** Runs `fn` with $PATH at the fake and an empty log and control files. */
async function withFake(fn: (log: () => Promise<string[]>) => Promise<void>): Promise<void> {
  Deno.env.set("PATH", `${DIR}/bin`);
  for (const f of ["log", "fail", "no-read"]) await Deno.remove(`${DIR}/${f}`).catch(() => {});
  await fn(async () => {
    const text = await Deno.readTextFile(`${DIR}/log`).catch(() => "");
    return text.split("\n").filter((l) => l !== "");
  });
}

Deno.test({
  name: "inside: set hands the record over with -a -m 0 -x; unset takes it back once, with -d -f",
  ignore: !CHILD,
  fn: () =>
    withFake(async (log) => {
      const rec = await record("wgr0");
      const dns = await InterfaceDns.set("wgr0", ["10.9.0.53", "fd00::53"], ["corp.example"]);
      assert.deepEqual(await log(), [
        `args: -a ${rec} -m 0 -x`,
        "stdin: nameserver 10.9.0.53",
        "stdin: nameserver fd00::53",
        "stdin: search corp.example",
      ]);
      await dns.unset();
      await dns.unset();
      const lines = await log();
      assert.deepEqual(lines.slice(4), [`args: -d ${rec} -f`], "the second unset did nothing");
    }),
});

Deno.test({
  name: "inside: a failing resolvconf rejects with its stderr, or its exit status when silent",
  ignore: !CHILD,
  fn: () =>
    withFake(async (log) => {
      const rec = await record("wgr1");
      await Deno.writeTextFile(
        `${DIR}/fail`,
        "  resolvconf: signature mismatch: /etc/resolv.conf\n",
      );
      await assert.rejects(
        InterfaceDns.set("wgr1", ["10.9.0.53"], []),
        (e: Error) =>
          e.message ===
            `DNS: resolvconf -a ${rec} -m 0 -x failed: resolvconf: signature mismatch: /etc/resolv.conf`,
      );
      await Deno.writeTextFile(`${DIR}/fail`, "");
      await assert.rejects(
        InterfaceDns.set("wgr1", ["10.9.0.53"], []),
        (e: Error) => e.message === `DNS: resolvconf -a ${rec} -m 0 -x failed: exit 3`,
      );
      // It exits without reading what it is given: the status is what is reported.
      await Deno.remove(`${DIR}/fail`);
      await Deno.writeTextFile(`${DIR}/no-read`, "");
      await assert.rejects(InterfaceDns.set("wgr1", ["10.9.0.53"], []), /failed: exit 5$/);
      assert.equal((await log()).filter((l) => l.startsWith("args:")).length, 3);
    }),
});

Deno.test({
  name: "inside: a failing unset rejects, and is not tried again",
  ignore: !CHILD,
  fn: () =>
    withFake(async (log) => {
      const rec = await record("wgr2");
      const dns = await InterfaceDns.set("wgr2", ["10.9.0.53"], []);
      await Deno.writeTextFile(`${DIR}/fail`, "no such record");
      await assert.rejects(
        dns.unset(),
        new RegExp(`^Error: DNS: resolvconf -d ${rec} -f failed: no such record$`),
      );
      await dns.unset();
      assert.deepEqual((await log()).filter((l) => l.startsWith("args:")), [
        `args: -a ${rec} -m 0 -x`,
        `args: -d ${rec} -f`,
      ]);
    }),
});

Deno.test({
  name: "inside: without resolvconf on $PATH, set says so and runs nothing",
  ignore: !CHILD,
  fn: async () => {
    Deno.env.set("PATH", `${DIR}/empty`);
    await Deno.remove(`${DIR}/log`).catch(() => {});
    await assert.rejects(
      InterfaceDns.set("wgr3", ["10.9.0.53"], []),
      (e: Error) => e.message === "DNS: resolvconf is not installed",
    );
    await assert.rejects(Deno.stat(`${DIR}/log`), Deno.errors.NotFound);
  },
});
