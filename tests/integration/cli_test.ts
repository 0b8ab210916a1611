import assert from "node:assert/strict";
import { weft } from "../fixtures/procs.ts";
import { VERSION } from "../../lib/version.ts";
import { selfCommand } from "../../lib/demo/self.ts";

async function wgAvailable(): Promise<boolean> {
  try {
    return (await new Deno.Command("wg", { args: ["--version"], stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

Deno.test("genkey | pubkey agrees with wg pubkey; genpsk prints a key", async () => {
  const gen = await weft(["genkey"]);
  assert.equal(gen.code, 0);
  const priv = gen.stdout.trim();
  assert.match(priv, /^[A-Za-z0-9+/]{43}=$/);
  const pub = await weft(["pubkey"], priv + "\n");
  assert.equal(pub.code, 0, pub.stderr);
  if (await wgAvailable()) {
    const child = new Deno.Command("wg", { args: ["pubkey"], stdin: "piped", stdout: "piped" })
      .spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(priv + "\n"));
    await w.close();
    const out = await child.output();
    assert.equal(pub.stdout.trim(), new TextDecoder().decode(out.stdout).trim());
  }
  const psk = await weft(["genpsk"]);
  assert.match(psk.stdout.trim(), /^[A-Za-z0-9+/]{43}=$/);
  assert.notEqual(psk.stdout.trim(), priv);
});

Deno.test("bad usage and bad input exit 2 with a clear message", async () => {
  const bad = await weft(["pubkey"], "not-a-key\n");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid private key/);
  assert.doesNotMatch(bad.stderr, /at .*\.ts:\d+/, "no stack trace");
  const flag = await weft(["--bogus"]);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /unknown option/);
  const missing = await weft(["up", "/nonexistent/wg9.conf", "--userspace"]);
  assert.equal(missing.code, 2, missing.stderr);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/wg7.conf`, "[Interface]\nPrivateKey = nope\n");
    const malformed = await weft(["up", `${dir}/wg7.conf`, "--userspace"]);
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /line 2/);
    await Deno.writeTextFile(`${dir}/bad name!.conf`, "[Interface]\n");
    const name = await weft(["up", `${dir}/bad name!.conf`, "--userspace"]);
    assert.equal(name.code, 2);
    const port = await weft(["ping", "10.0.0.1", "-c", "0"]);
    assert.equal(port.code, 2);
    assert.match(port.stderr, /integer from 1 to 100/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--version and --help exit 0; an unreachable agent is a runtime failure (1)", async () => {
  const v = await weft(["--version"]);
  assert.equal(v.code, 0);
  // The version a user sees is the one the package is published under.
  const published = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  ).version;
  assert.match(published, /^\d+\.\d+\.\d+/);
  assert.equal(v.stdout.trim(), published);
  assert.equal(VERSION, published, "lib/version.ts matches deno.json");
  const h = await weft(["up", "--help"]);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--userspace/);
  // The root's help says what a --no-* flag does (turns the option off) and the defaults.
  const root = (await weft(["--help"])).stdout.replace(/\s+/g, " ");
  assert.match(root, /--no-accept-routes turn off \(on by default\): route the approved/);
  assert.match(root, /--listen-port <port> the UDP port for encrypted traffic \(default: 51820\)/);
  assert.match(root, /--dns-port <port> [^-]*\(default: 15353\)/);
  const st = await weft(["status", "--status-listen", "127.0.0.1:1"]);
  assert.equal(st.code, 1);
  assert.match(st.stderr, /cannot reach the agent/);
});

Deno.test("a mistyped command or option at the top level: refused with a suggestion (2)", async () => {
  for (const args of [["statsu"], ["statsu", "--json"], ["statsu", "a", "b"]]) {
    const r = await weft(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.stderr, /unknown command 'statsu'/, args.join(" "));
    assert.match(r.stderr, /Did you mean status\?/, args.join(" "));
    assert.doesNotMatch(r.stderr, /too many arguments/);
  }
  const opt = await weft(["--leaderr"]);
  assert.equal(opt.code, 2);
  assert.match(opt.stderr, /unknown option '--leaderr'/);
  assert.match(opt.stderr, /Did you mean --leader\?/);
  // One line points at the help; the whole help no longer buries the error.
  assert.match(opt.stderr, /\(weft --help lists what it takes\)/);
  assert.doesNotMatch(opt.stderr, /Options:|--listen-port/);
  assert.ok(opt.stderr.trim().split("\n").length <= 4, opt.stderr);
  // As a subcommand's typo is refused.
  const sub = await weft(["service", "lsit"]);
  assert.equal(sub.code, 2);
  assert.match(sub.stderr, /unknown command 'lsit'\n\(Did you mean list\?\)/);
  assert.match(sub.stderr, /\(weft service --help lists what it takes\)/);
  assert.doesNotMatch(sub.stderr, /Commands:/);
  // No word at all still reaches the agent's start, which wants a role.
  const dir = await Deno.makeTempDir();
  try {
    const none = await weft(["--state-dir", `${dir}/empty`]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /give --leader to start a mesh or --join <token>/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a TUN device refused for want of privileges points at --userspace",
  // As root, the privilege is taken away with setpriv (no CAP_NET_ADMIN, no DAC override).
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const [cmd, ...pre] = selfCommand();
      const drop = Deno.uid() === 0
        ? [
          "setpriv",
          "--bounding-set",
          "-net_admin,-dac_override",
          "--inh-caps",
          "-net_admin,-dac_override",
        ]
        : [];
      const args = [
        ...pre,
        ...["--leader", "--state-dir", `${dir}/s`, "--interface", `wn${dir.slice(-6)}`],
        ...["--listen-port", "1", "--status-listen", "127.0.0.1:0", "--dns-port", "0"],
      ];
      const out = await new Deno.Command(drop[0] ?? cmd, {
        args: drop.length ? [...drop.slice(1), cmd, ...args] : args,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.notEqual(out.code, 0, stderr);
      assert.match(stderr, /(EPERM|EACCES).*needs root or CAP_NET_ADMIN/, stderr);
      assert.match(stderr, /without root, run with --userspace/, stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
