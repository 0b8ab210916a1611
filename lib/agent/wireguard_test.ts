/**
 * `weft wireguard`'s parts: LOG_LEVEL as wireguard-go reads it, interface names, the wrapper
 * script, starting in the background (ready, a reported failure, an early exit, a child that
 * never reports), and, as root in a network namespace of its own (this file run again inside it
 * with WEFT_WIREGUARD_TEST_NS set), the interface itself: a TUN with no addresses and a UAPI
 * socket with no key, configured through the socket, ended by deleting the interface or closing.
 */
import assert from "node:assert/strict";
import {
  checkInterfaceName,
  READY_ENV,
  startInBackground,
  WireguardInterface,
  wireguardLogLevel,
  wireguardWrapper,
} from "./wireguard.ts";
import { selfCommand } from "./self.ts";
import { ConfigError } from "../config/config_error.ts";
import { isSocketLive } from "../uapi/server.ts";
import { keyToHex } from "../uapi/protocol.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../crypto/keys.ts";
import { haveCommands, must, runInsideNamespace } from "../../tests/fixtures/netns.ts";

const INSIDE = Deno.env.get("WEFT_WIREGUARD_TEST_NS") !== undefined;
const CAN_RUN = Deno.build.os === "linux" && Deno.uid() === 0 && !INSIDE &&
  (await haveCommands("ip"));

Deno.test("wireguardLogLevel: LOG_LEVEL as wireguard-go reads it", () => {
  const cases: [string | undefined, string][] = [
    ["verbose", "debug"],
    ["debug", "debug"],
    ["error", "error"],
    ["silent", "silent"],
    ["info", "info"],
    ["warn", "warn"],
    [" VERBOSE ", "debug"],
    [undefined, "error"],
    ["", "error"],
    ["loud", "error"],
  ];
  for (const [value, level] of cases) assert.equal(wireguardLogLevel(value), level, value);
});

Deno.test("checkInterfaceName: 1 to 15 characters a TUN and a UAPI socket both take", () => {
  for (const ok of ["wg0", "a", "x".repeat(15), "wg_0.a-b"]) {
    assert.equal(checkInterfaceName(ok), ok);
  }
  for (const bad of ["", "x".repeat(16), "wg 0", "wg/0", ".", "..", "wg+0", "tün"]) {
    assert.throws(() => checkInterfaceName(bad), ConfigError, JSON.stringify(bad));
  }
});

Deno.test("wireguardWrapper: runs the command with `wireguard` and the arguments it is given", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-wrapper-" });
  try {
    const file = `${dir}/weft-wireguard`;
    // A word that needs quoting, with a quote of its own.
    await Deno.writeTextFile(file, wireguardWrapper(["printf", "<%s> it's "]), { mode: 0o755 });
    const out = await new Deno.Command(file, { args: ["wq0", "a b"] }).output();
    assert.ok(out.success);
    assert.equal(
      new TextDecoder().decode(out.stdout),
      "<wireguard> it's <wq0> it's <a b> it's ",
    );
    assert.match(wireguardWrapper(selfCommand()), /^#!\/bin\/sh\n/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Whether a process is alive (signal 0). */
function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

Deno.test("startInBackground: resolves once the child reports ready, which outlives it", async () => {
  const pid = await startInBackground({
    command: [
      "sh",
      "-c",
      `[ "$${READY_ENV}" = 1 ] && [ "$EXTRA" = yes ] && echo ready; exec sleep 60`,
    ],
    env: { EXTRA: "yes" },
  });
  try {
    assert.ok(alive(pid), "still running after the parent let go");
  } finally {
    Deno.kill(pid, "SIGTERM");
  }
});

Deno.test("startInBackground: a reported failure, an exit before ready, a silent child", async () => {
  await assert.rejects(
    startInBackground({ command: ["sh", "-c", 'echo "error: the TUN is taken"; exit 1'] }),
    /^Error: the TUN is taken$/,
  );
  await assert.rejects(
    startInBackground({ command: ["sh", "-c", "echo starting >&2; exit 3"] }),
    /sh exited \(code 3\) before it was ready/,
  );
  await assert.rejects(
    startInBackground({ command: ["sh", "-c", "echo something else; exit 0"] }),
    /before it was ready: something else/,
  );
  // Never reports: stopped when the wait is over (a short wait here; 30 s by default).
  await assert.rejects(
    startInBackground({ command: ["sleep", "60"], readyTimeoutMs: 100 }),
    /did not report ready in time; stopped/,
  );
  await assert.rejects(startInBackground({ command: [] }), /no command/);
});

Deno.test("startInBackground with reportReady/reportFailure in the child", async () => {
  const mod = new URL("./wireguard.ts", import.meta.url).href;
  const child = (
    code: string,
  ) => [Deno.execPath(), "eval", `import * as w from "${mod}";\n${code}`];
  const pid = await startInBackground({
    command: child("w.reportReady(); await new Promise((r) => setTimeout(r, 60_000));"),
  });
  Deno.kill(pid, "SIGTERM");
  await assert.rejects(
    startInBackground({
      command: child('w.reportFailure("no\\nroot"); Deno.exit(1);'),
    }),
    /^Error: no root$/,
  );
});

Deno.test({
  name: "WireguardInterface in a network namespace of its own (runs the inside: tests there)",
  ignore: !CAN_RUN,
  fn: async () => {
    const { success, text } = await runInsideNamespace(
      new URL(import.meta.url).pathname,
      "WEFT_WIREGUARD_TEST_NS",
      "weft-wgif",
    );
    assert.ok(success, text);
    assert.match(text, /ok \| 2 passed \| 0 failed/, text);
  },
});

/** One UAPI request over the socket; the response. */
async function uapi(path: string, request: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    await conn.write(new TextEncoder().encode(request));
    let text = "";
    const buf = new Uint8Array(4096);
    while (!/errno=-?\d+\n\n$/.test(text)) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text;
  } finally {
    conn.close();
  }
}

async function linkJson(name: string): Promise<{ mtu: number; flags: string[] } | null> {
  const out = await new Deno.Command("ip", {
    args: ["-j", "link", "show", "dev", name],
    stdout: "piped",
    stderr: "null",
  }).output();
  return out.success ? JSON.parse(new TextDecoder().decode(out.stdout))[0] : null;
}

async function withInterface(
  fn: (wg: WireguardInterface, sock: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weft-wgif-" });
  const name = `wgi${crypto.randomUUID().slice(0, 8)}`;
  const wg = await WireguardInterface.start({ interfaceName: name, uapiDir: dir });
  try {
    await fn(wg, `${dir}/${name}.sock`);
  } finally {
    await wg.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "inside: a TUN with no address and a keyless UAPI; deleting the interface ends it",
  ignore: !INSIDE,
  fn: () =>
    withInterface(async (wg, sock) => {
      assert.ok(await isSocketLive(sock));
      const link = await linkJson(wg.name);
      assert.equal(link?.mtu, 1420);
      assert.equal(
        (await must("ip", "-4", "-j", "addr", "show", "dev", wg.name)).includes("local"),
        false,
      );
      const before = await uapi(sock, "get=1\n\n");
      assert.doesNotMatch(before, /private_key=/);
      assert.match(before, /^listen_port=\d+\n/);
      // wg setconf's request: a key, a port and a peer.
      const key = generatePrivateKey();
      const peer = publicKeyOf(generatePrivateKey());
      const port = 40000 + Math.floor(Math.random() * 20000);
      const set = `set=1\nprivate_key=${keyToHex(key)}\nlisten_port=${port}\nreplace_peers=true\n` +
        `public_key=${keyToHex(peer)}\nallowed_ip=10.7.0.2/32\n\n`;
      assert.equal(await uapi(sock, set), "errno=0\n\n");
      assert.equal(wg.agent.device.publicKey, encodeKey(publicKeyOf(key)));
      assert.equal(wg.agent.device.listenPort, port);
      assert.match(await uapi(sock, "get=1\n\n"), new RegExp(`listen_port=${port}\n`));
      await must("ip", "link", "delete", "dev", wg.name);
      assert.equal(await wg.ended, "deleted");
      await assert.rejects(Deno.lstat(sock), Deno.errors.NotFound);
    }),
});

Deno.test({
  name: "inside: close removes the interface and the socket",
  ignore: !INSIDE,
  fn: () =>
    withInterface(async (wg, sock) => {
      await wg.close();
      assert.equal(await wg.ended, "closed");
      assert.equal(await linkJson(wg.name), null);
      await assert.rejects(Deno.lstat(sock), Deno.errors.NotFound);
    }),
});
