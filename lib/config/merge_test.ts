import assert from "node:assert/strict";
import { join } from "node:path";
import type { OptionOrigins } from "./agent_types.ts";
import { applyDefaults, applyFlags, readFileOptions, userSetFlags, type Values } from "./merge.ts";
import { KEYS } from "./options.ts";
import type { SystemInfo } from "./system.ts";

const SYS: SystemInfo = {
  uid: 1000,
  home: "/home/ada",
  xdgStateHome: undefined,
  hostname: "ada",
  cwd: "/srv/work",
};

async function fromFile(lines: string[]) {
  const dir = await Deno.makeTempDir({ prefix: "weft-merge-" });
  try {
    const file = join(dir, "weft.yaml");
    await Deno.writeTextFile(file, lines.join("\n") + "\n");
    const values: Values = {};
    const origin: Partial<OptionOrigins> = {};
    await readFileOptions(file, SYS, values, origin);
    return { values, origin, file, dir };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("merge: the file's values, with their lines; paths follow the file", async () => {
  const { values, origin, file, dir } = await fromFile(["mtu: 1400", "state-dir: s"]);
  assert.equal(values.mtu, 1400);
  assert.equal(values.stateDir, join(dir, "s"));
  assert.deepEqual(origin.mtu, { source: "file", file, line: 1 });
  assert.deepEqual(origin.stateDir, { source: "file", file, line: 2 });
  await assert.rejects(fromFile(["config: x.yaml"]), /only be given on the command line/);
  await assert.rejects(fromFile(["listen_port: 1"]), /did you mean "listen-port"/);
});

Deno.test("merge: flags replace the file's values whole; paths follow the cwd", async () => {
  const { values, origin } = await fromFile(["advertise: [a:1, b:2]", "mtu: 1400"]);
  applyFlags({ advertise: "c:3", stateDir: "s" }, SYS, values, origin);
  assert.deepEqual(values.advertise, ["c:3"]);
  assert.equal(values.mtu, 1400);
  assert.equal(values.stateDir, "/srv/work/s");
  assert.deepEqual(origin.advertise, { source: "flag", flag: "--advertise" });
});

Deno.test("merge: a run-mode flag replaces the file's leader and join", async () => {
  const { values, origin } = await fromFile(["leader: true"]);
  applyFlags({ join: "tok" }, SYS, values, origin);
  assert.equal(values.leader, undefined);
  assert.equal(origin.leader, undefined);
  assert.equal(values.join, "tok");
});

Deno.test("merge: unknown flag attributes are a caller bug", () => {
  assert.throws(
    () => applyFlags({ listen_port: 1 } as never, SYS, {}, {}),
    (e: unknown) => e instanceof TypeError && /did you mean "listenPort"/.test(e.message),
  );
});

Deno.test("merge: defaults fill what is left", () => {
  const values: Values = { mtu: 1400 };
  const origin: Partial<OptionOrigins> = { mtu: { source: "flag", flag: "--mtu" } };
  applyDefaults(SYS, values, origin);
  assert.equal(values.mtu, 1400);
  assert.equal(values.listenPort, 51820);
  assert.equal(values.stateDir, "/home/ada/.local/state/weft");
  for (const k of KEYS) assert.ok(origin[k] !== undefined, k);
  assert.deepEqual(origin.listenPort, { source: "default" });
});

Deno.test("merge: userSetFlags keeps options set by the user, not defaults or others", () => {
  const opts = { mtu: "1400", logLevel: "info", json: true };
  const sources: Record<string, string> = { mtu: "cli", logLevel: "default", json: "cli" };
  const flags = userSetFlags({
    opts: () => opts,
    getOptionValueSource: (k) => sources[k],
  });
  assert.deepEqual(flags, { mtu: "1400" });
});
