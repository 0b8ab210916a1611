/**
 * `weft install-service`, run as a user runs it: it writes the unit file, leaves the same one
 * alone, refuses to replace another without --force, prints it with --print, and (where
 * systemd-analyze is installed; the step is skipped otherwise) the units it writes pass
 * `systemd-analyze verify`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { weft } from "../fixtures/procs.ts";
import { systemdUnit } from "../../lib/config/mod.ts";

async function hasSystemdAnalyze(): Promise<boolean> {
  try {
    const out = await new Deno.Command("systemd-analyze", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** `systemd-analyze verify FILE`: its exit code and output. */
async function verify(path: string): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command("systemd-analyze", {
    args: ["verify", path],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

const analyze = await hasSystemdAnalyze();

Deno.test("weft install-service: writes the unit, refuses another without --force, verifies", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "weft-install-service-" });
  try {
    const path = join(dir, "weft.service");
    // An executable that exists, for ExecStart= (systemd-analyze verify checks it).
    const binary = Deno.execPath();

    const first = await weft(["install-service", "--path", path, "--binary", binary]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`^wrote ${path}$`, "m"));
    assert.match(first.stdout, /^ {2}systemctl daemon-reload && systemctl enable --now weft$/m);
    assert.doesNotMatch(first.stderr, /warning/);
    const written = await Deno.readTextFile(path);
    assert.equal(written, systemdUnit({ binary }));
    assert.match(
      written,
      new RegExp(
        `^ExecStart=${binary} --config /etc/weft/weft.yaml --state-dir /var/lib/weft$`,
        "m",
      ),
    );

    const same = await weft(["install-service", "--path", path, "--binary", binary]);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /already holds this unit/);

    const other = ["install-service", "--path", path, "--binary", binary, "--state-dir", "/srv/w"];
    const refused = await weft(other);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /exists and holds another unit: --force replaces it/);
    assert.doesNotMatch(refused.stderr, /at .*\.ts:\d+/, "no stack trace");
    assert.equal(await Deno.readTextFile(path), written, "left as it was");

    const forced = await weft([...other, "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(await Deno.readTextFile(path), /--state-dir \/srv\/w$/m);

    // --print writes nothing and prints what it would write.
    const printedPath = join(dir, "printed.service");
    const printed = await weft([
      "install-service",
      "--path",
      printedPath,
      "--binary",
      binary,
      "--print",
    ]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(printed.stdout, written);
    await assert.rejects(Deno.stat(printedPath), Deno.errors.NotFound);

    // A `deno install`ed weft is a script: the unit lets it read deno's cache in root's home.
    const script = join(dir, "weft-script");
    await Deno.writeTextFile(script, `#!/bin/sh\nexec ${binary} "$@"\n`, { mode: 0o755 });
    const scriptPath = join(dir, "weft-script.service");
    const config = join(dir, "weft.yaml");
    await Deno.writeTextFile(config, "leader: true\n");
    const scripted = await weft([
      "install-service",
      "--path",
      scriptPath,
      "--binary",
      script,
      "--config",
      config,
      "--state-dir",
      "/var/lib/weft-test",
    ]);
    assert.equal(scripted.code, 0, scripted.stderr);
    assert.doesNotMatch(scripted.stdout, /write .*weft\.yaml/, "the config file exists");
    const scriptUnit = await Deno.readTextFile(scriptPath);
    assert.match(scriptUnit, /^ProtectHome=read-only$/m);
    assert.match(scriptUnit, /^StateDirectory=weft-test$/m);

    // A binary that is not there is written, with a warning.
    const absentPath = join(dir, "absent.service");
    const absent = await weft([
      "install-service",
      "--path",
      absentPath,
      "--binary",
      join(dir, "nope"),
    ]);
    assert.equal(absent.code, 0, absent.stderr);
    assert.match(absent.stderr, /warning: .*nope is not an executable file yet/);

    const badName = await weft(["install-service", "--path", join(dir, "weft.conf"), "--print"]);
    assert.equal(badName.code, 2, badName.stderr);
    assert.match(badName.stderr, /name ends in \.service/);

    await t.step({
      name: "systemd-analyze verify passes",
      ignore: !analyze,
      fn: async () => {
        for (const unit of [path, scriptPath]) {
          const v = await verify(unit);
          assert.equal(v.code, 0, `${unit}:\n${v.output}`);
        }
        // And it would say so of a unit whose ExecStart= is missing.
        const v = await verify(absentPath);
        assert.notEqual(v.code, 0, v.output);
        assert.match(v.output, /nope/);
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
