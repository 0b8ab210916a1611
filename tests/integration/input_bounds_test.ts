/**
 * Hostile input to the `weft` command: a YAML alias bomb in `policy:`, an endless config file.
 * Each is a usage error (exit 2) that names the file (and line), found without expanding or
 * reading the whole thing.
 */
import assert from "node:assert/strict";
import { weft } from "../fixtures/procs.ts";
import { selfCommand } from "../../lib/demo/self.ts";

Deno.test("cli: an alias bomb in policy: exits 2 naming the file and the line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-bounds-" });
  try {
    const lines = ["leader: true", "userspace: true", "policy:", "  policies: []"];
    lines.push("  x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]");
    for (let i = 1; i <= 8; i++) {
      lines.push(`  x${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(", ")}]`);
    }
    const file = `${dir}/bomb.yaml`;
    await Deno.writeTextFile(file, lines.join("\n") + "\n");
    const r = await weft(["--config", file, "--state-dir", `${dir}/state`, "--dns-port", "0"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`${file}, line 13: policy: aliases expand`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: --config /dev/zero exits 2 naming the file", async () => {
  const r = await weft(["--config", "/dev/zero", "--leader"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /\/dev\/zero: the configuration file is larger than 1048576 bytes/);
});

Deno.test("cli: weft up and weft policy apply refuse endless files (exit 2, naming them)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-bounds-" });
  try {
    // `weft up` wants NAME.conf: a link to /dev/zero.
    await Deno.symlink("/dev/zero", `${dir}/wz0.conf`);
    const up = await weft(["up", `${dir}/wz0.conf`, "--userspace", "--no-status"]);
    assert.equal(up.code, 2, up.stderr);
    assert.match(up.stderr, /wz0\.conf: the file is larger than 1048576 bytes/);
    const apply = await weft(["policy", "apply", "/dev/zero", "--state-dir", dir]);
    assert.equal(apply.code, 2, apply.stderr);
    assert.match(apply.stderr, /\/dev\/zero: a policy file is at most 1048576 bytes/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: weft pubkey < /dev/zero exits 2 instead of reading forever", async () => {
  const quoted = selfCommand().map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  const out = await new Deno.Command("bash", {
    args: ["-c", `exec ${quoted} pubkey < /dev/zero`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 2, stderr);
  assert.match(stderr, /a private key is at most 4096 bytes; standard input holds more/);
});
