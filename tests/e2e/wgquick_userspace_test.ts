/**
 * weft as wg-quick's userspace WireGuard: `WG_QUICK_USERSPACE_IMPLEMENTATION=scripts/weft-wireguard
 * wg-quick up <dir>/<iface>.conf` in one namespace (no kernel module: wg-quick falls back to the
 * wrapper, which runs this checkout's `weft wireguard`), against Debian's wireguard-go configured
 * with `wg` in another. wg-quick returns 0 with the PostUp hook run, pings go through, `wg`
 * shows the handshake and changes the keepalive, `wg-quick save` writes the peer back, and
 * `wg-quick down` ends the weft process and removes its socket. Then SIGTERM to the background
 * process, and a start that fails. Every bound asserted is a hang guard.
 */
import assert from "node:assert/strict";
import {
  canBuildLabs,
  eventually,
  HANG_GUARD_MS,
  haveCommands,
  Lab,
  sh,
} from "../fixtures/netns.ts";
import { reaches, startWireguardGo, wgDump } from "../fixtures/wg_lab.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";
import { DEFAULT_UAPI_DIR, isSocketLive } from "../../lib/uapi/server.ts";

const ignore = !(await canBuildLabs()) ||
  !(await haveCommands("wireguard-go", "wg", "wg-quick", "ping"));

const WRAPPER = new URL("../../scripts/weft-wireguard", import.meta.url).pathname;
/** The wrapper finds `deno` on PATH: the one running these tests first. */
const PATH = `${Deno.execPath().replace(/\/[^/]*$/, "")}:${Deno.env.get("PATH") ?? ""}`;

/** The environment wg-quick runs with: the wrapper named, weft's log kept (to a file). */
function wgQuickEnv(): string[] {
  return [`WG_QUICK_USERSPACE_IMPLEMENTATION=${WRAPPER}`, `PATH=${PATH}`, "LOG_LEVEL=verbose"];
}

/**
 * Runs `wg-quick <verb> <file>` in a host's namespace; its stderr (and so the background weft's
 * log, which inherits it) goes to `log`, so no pipe is held open by the weft process.
 */
async function wgQuick(lab: Lab, host: string, verb: string, file: string, log: string) {
  return await lab.exec(
    host,
    "env",
    ...wgQuickEnv(),
    "sh",
    "-c",
    'exec wg-quick "$0" "$1" 2>>"$2"',
    verb,
    file,
    log,
  );
}

/** The pid of the `weft wireguard` process serving `iface` (its command line says so). */
async function weftPid(iface: string): Promise<number | null> {
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const args = (await Deno.readTextFile(`/proc/${e.name}/cmdline`)).split("\0");
      const at = args.indexOf("wireguard");
      if (at >= 0 && args.slice(at).includes("--foreground") && args.at(-2) === iface) {
        return Number(e.name);
      }
    } catch { /* gone meanwhile */ }
  }
  return null;
}

async function running(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z /.test(stat); // a zombie has exited
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Stops what a failed test left: the weft process (by its pid) and its socket. */
async function cleanUp(iface: string): Promise<void> {
  const pid = await weftPid(iface);
  if (pid !== null) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  await Deno.remove(`${DEFAULT_UAPI_DIR}/${iface}.sock`).catch(() => {});
}

async function readLog(log: string): Promise<string> {
  return await Deno.readTextFile(log).catch(() => "(no log)");
}

Deno.test({
  name: "wg-quick up/save/down with weft as the userspace implementation, against wireguard-go",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["a", "b"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-wgq-userspace-" });
    const iface = `wqa${lab.tag}`;
    const log = `${dir}/wg-quick.log`;
    try {
      const ka = generateKeyPair();
      const kb = generateKeyPair();
      await startWireguardGo(lab, dir, {
        host: "b",
        iface: `wqb${lab.tag}`,
        privateKey: kb.privateKey,
        address: "10.79.0.2/24",
        port: 51820,
        peers: [{
          publicKey: ka.publicKey,
          endpoint: "192.0.2.1:51820",
          allowedIps: ["10.79.0.1/32"],
        }],
      });
      const file = `${dir}/${iface}.conf`;
      const mark = `${dir}/postup-${iface}`;
      await Deno.writeTextFile(
        file,
        [
          "[Interface]",
          `PrivateKey = ${ka.privateKey}`,
          "Address = 10.79.0.1/24",
          "ListenPort = 51820",
          `PostUp = touch ${dir}/postup-%i`,
          "SaveConfig = true",
          "",
          "[Peer]",
          `PublicKey = ${kb.publicKey}`,
          "Endpoint = 192.0.2.2:51820",
          "AllowedIPs = 10.79.0.2/32",
          "",
        ].join("\n"),
        { mode: 0o600 },
      );

      const up = await wgQuick(lab, "a", "up", file, log);
      assert.equal(up.code, 0, `wg-quick up: ${up.stdout}\n${await readLog(log)}`);
      assert.ok(await exists(mark), "the PostUp hook ran");
      const pid = await weftPid(iface);
      assert.ok(pid !== null, `the weft process\n${await readLog(log)}`);
      assert.ok(await isSocketLive(`${DEFAULT_UAPI_DIR}/${iface}.sock`));

      assert.ok(await reaches(lab, "a", "10.79.0.2"), `a -> b\n${await readLog(log)}`);
      assert.ok(await reaches(lab, "b", "10.79.0.1"), "b -> a");
      const [peer] = await wgDump(lab, "a", iface);
      assert.equal(peer.publicKey, kb.publicKey);
      assert.ok(peer.latestHandshake > 0, "wg show lists the handshake");
      assert.match(
        (await lab.run("a", "wg", "show", iface)).replace(/\s+/g, " "),
        /latest handshake: /,
      );
      assert.equal((await lab.run("a", "wg", "show", iface, "listen-port")).trim(), "51820");

      await lab.run("a", "wg", "set", iface, "peer", kb.publicKey, "persistent-keepalive", "7");
      assert.equal(
        (await lab.run("a", "wg", "show", iface, "persistent-keepalive")).trim(),
        `${kb.publicKey}\t7`,
      );

      const save = await wgQuick(lab, "a", "save", file, log);
      assert.equal(save.code, 0, `wg-quick save: ${await readLog(log)}`);
      const saved = await Deno.readTextFile(file);
      assert.match(saved, new RegExp(`PublicKey = ${kb.publicKey.replaceAll("+", "\\+")}`));
      assert.match(saved, /PersistentKeepalive = 7/);
      assert.match(saved, /SaveConfig = true/);
      assert.match(saved, /ListenPort = 51820/);
      assert.match(saved, /PostUp = touch /);

      const down = await wgQuick(lab, "a", "down", file, log);
      assert.equal(down.code, 0, `wg-quick down: ${await readLog(log)}`);
      assert.ok(
        await eventually(async () => !(await running(pid!)), HANG_GUARD_MS, 100),
        `the weft process ended\n${await readLog(log)}`,
      );
      assert.ok(
        await eventually(
          async () => !(await exists(`${DEFAULT_UAPI_DIR}/${iface}.sock`)),
          HANG_GUARD_MS,
          100,
        ),
        "its socket is removed",
      );
      assert.notEqual((await lab.exec("a", "ip", "link", "show", "dev", iface)).code, 0);
    } finally {
      await cleanUp(iface);
      await lab.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "weft wireguard in the background: SIGTERM removes the socket and the interface",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["a"]);
    const iface = `wqt${lab.tag}`;
    try {
      // As wg-quick calls it: the wrapper with the interface, returning once it is up.
      const r = await lab.exec("a", "env", `PATH=${PATH}`, WRAPPER, iface);
      assert.equal(r.code, 0, r.stderr);
      const pid = await weftPid(iface);
      assert.ok(pid !== null);
      const sock = `${DEFAULT_UAPI_DIR}/${iface}.sock`;
      assert.ok(await isSocketLive(sock), "the socket exists when the command returns");
      assert.equal((await lab.exec("a", "ip", "link", "show", "dev", iface)).code, 0);
      assert.doesNotMatch(await lab.run("a", "wg", "show", iface), /private key/, "no key yet");
      Deno.kill(pid!, "SIGTERM");
      assert.ok(await eventually(async () => !(await running(pid!)), HANG_GUARD_MS, 100));
      assert.equal(await exists(sock), false, "socket removed");
      assert.notEqual((await lab.exec("a", "ip", "link", "show", "dev", iface)).code, 0);
    } finally {
      await cleanUp(iface);
      await lab.destroy();
    }
  },
});

Deno.test({
  name: "weft wireguard: a start that fails in the background exits 1 with the child's error",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["a"]);
    const iface = `wqf${lab.tag}`;
    const sock = `${DEFAULT_UAPI_DIR}/${iface}.sock`;
    // Another process serves the interface's socket already.
    await Deno.mkdir(DEFAULT_UAPI_DIR, { recursive: true });
    const holder = Deno.listen({ transport: "unix", path: sock });
    try {
      const r = await lab.exec("a", "env", `PATH=${PATH}`, WRAPPER, iface);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /already served by another process/);
      assert.equal(await weftPid(iface), null, "no process left behind");
      assert.notEqual((await lab.exec("a", "ip", "link", "show", "dev", iface)).code, 0);
      assert.equal((await sh("ls", sock)).code, 0, "the other process's socket is left alone");
    } finally {
      holder.close();
      await Deno.remove(sock).catch(() => {});
      await cleanUp(iface);
      await lab.destroy();
    }
  },
});
