/**
 * raiseFileLimit: a process whose soft limit on open files is below the hard one ends up at the
 * hard one. Runs in a child, which first lowers its own soft limit (Deno raises it at start).
 */
import assert from "node:assert/strict";

const CHILD = `
import { libc } from "${new URL("./libc.ts", import.meta.url).href}";
import { raiseFileLimit } from "${new URL("./rlimit.ts", import.meta.url).href}";
const buf = new Uint8Array(16);
const view = new DataView(buf.buffer);
libc().getrlimit(7, buf);
view.setBigUint64(0, 256n, true);
if (libc().setrlimit(7, buf) !== 0) throw new Error("cannot lower");
const l = raiseFileLimit();
const now = (await Deno.readTextFile("/proc/self/limits")).split("\\n")
  .find((x) => x.startsWith("Max open files"));
console.log(JSON.stringify({ before: String(l.before), soft: String(l.soft), hard: String(l.hard), now }));
`;

Deno.test({
  name: "raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", CHILD],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const r = JSON.parse(text);
    assert.equal(r.before, "256");
    assert.equal(r.soft, r.hard);
    const [, soft, hard] = /Max open files\s+(\d+)\s+(\d+)/.exec(r.now)!;
    assert.equal(soft, hard);
    assert.equal(soft, r.hard);
  },
});
