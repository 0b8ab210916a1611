/**
 * WgQuickUp: bringing a wg-quick file up and down. In userspace mode (no root): SaveConfig
 * writing the running configuration with mode 0600 on down, once however often down is called,
 * a failing SaveConfig still closing the agent, and start refusing what userspace cannot do
 * before running anything. With root, the hooks (which need an interface) in a network namespace
 * of the test's own, re-running this file there (`ip netns exec`) with WEFT_WGQUICK_UP_TEST_NS
 * set: down runs every step and reports the failures together, a failing PostUp takes the
 * interface down again without the down hooks. The namespace is always deleted.
 */
import assert from "node:assert/strict";
import { WgQuickUp } from "./wgquick_up.ts";
import { HookError } from "./hooks.ts";
import { ConfigError } from "../config/config_error.ts";
import { loadWgQuickFile, parseWgQuick } from "../config/wgquick.ts";
import { generateKeyPair } from "../crypto/keys.ts";
import { nullLogger } from "../log/logger.ts";
import {
  eventually,
  HANG_GUARD_MS,
  haveCommands,
  runInsideNamespace,
} from "../../tests/fixtures/netns.ts";
import { tempDirs } from "../../tests/fixtures/temp_dir.ts";

const INSIDE = Deno.env.get("WEFT_WGQUICK_UP_TEST_NS") !== undefined;
const CAN_RUN_TUN = Deno.build.os === "linux" && Deno.uid() === 0 && !INSIDE &&
  (await haveCommands("ip", "bash"));

const ME = generateKeyPair();
const PEER = generateKeyPair();

function confText(extra = "", address = "10.71.0.1/24"): string {
  return `[Interface]\nPrivateKey = ${ME.privateKey}\nAddress = ${address}\n${extra}` +
    `[Peer]\nPublicKey = ${PEER.publicKey}\nAllowedIPs = 10.71.0.2/32\n`;
}

const withDir = tempDirs("weft-wgquick-up-");

/** Starts `text` (written to `file`) in userspace mode on a free port. */
async function startUserspace(text: string, file: string): Promise<WgQuickUp> {
  await Deno.writeTextFile(file, text, { mode: 0o644 });
  await Deno.chmod(file, 0o644);
  return await WgQuickUp.start({
    config: await loadWgQuickFile(file),
    interfaceName: "wgu0",
    file,
    mode: "userspace",
    underlay: "deno",
    listenPort: 0,
    logger: nullLogger,
  });
}

/** True when the UDP port can be bound again (the agent's socket is closed). */
function portFree(port: number): boolean {
  try {
    Deno.listenDatagram({ port, hostname: "::", transport: "udp" }).close();
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) return false;
    throw e;
  }
}

Deno.test("wg-quick up: SaveConfig writes the running configuration on down, mode 0600, once", async () => {
  await withDir(async (dir) => {
    const file = `${dir}/wgu0.conf`;
    const up = await startUserspace(confText("SaveConfig = true\n"), file);
    const port = up.agent.status().node.listenPort;
    assert.ok(port > 0);
    // What `wg set` could do while it runs: a new peer.
    const other = generateKeyPair();
    up.agent.device.setPeer({ publicKey: other.publicKey, allowedIps: ["10.71.0.3/32"] });
    assert.equal(portFree(port), false, "the agent holds its port while up");

    const first = up.down();
    assert.equal(up.down(), first, "down again is the same take-down");
    await first;
    // The socket's close may finish a turn after down's promise on a loaded machine.
    assert.ok(
      await eventually(() => Promise.resolve(portFree(port)), HANG_GUARD_MS),
      "the agent is closed",
    );
    // Replacing a 0644 file: the private key inside makes it owner-only.
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    const saved = await loadWgQuickFile(file);
    assert.equal(saved.interface.privateKey, ME.privateKey);
    assert.equal(saved.interface.listenPort, port, "the port it really had");
    assert.deepEqual(saved.interface.addresses, ["10.71.0.1/24"]);
    assert.equal(saved.interface.saveConfig, true);
    assert.deepEqual(
      saved.peers.map((p) => [p.publicKey, p.allowedIPs]).sort(),
      [[PEER.publicKey, ["10.71.0.2/32"]], [other.publicKey, ["10.71.0.3/32"]]].sort(),
    );
    // A later down does not write again.
    await Deno.remove(file);
    await up.down();
    await assert.rejects(Deno.stat(file), Deno.errors.NotFound);
  });
});

Deno.test("wg-quick up: without SaveConfig the file is left as it was", async () => {
  await withDir(async (dir) => {
    const file = `${dir}/wgu0.conf`;
    const text = confText();
    const up = await startUserspace(text, file);
    await up.down();
    assert.equal(await Deno.readTextFile(file), text);
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o644);
  });
});

Deno.test("wg-quick up: a SaveConfig that cannot write fails down, but the agent is closed", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/gone`);
    const file = `${dir}/gone/wgu0.conf`;
    const up = await startUserspace(confText("SaveConfig = true\n"), file);
    const port = up.agent.status().node.listenPort;
    await Deno.remove(`${dir}/gone`, { recursive: true });
    await assert.rejects(up.down(), (e: Error) => /No such file|not found/i.test(e.message));
    assert.ok(
      await eventually(() => Promise.resolve(portFree(port)), HANG_GUARD_MS),
      "the interface removal ran after the failed save",
    );
    // The same rejection for a second call: it is one take-down.
    await assert.rejects(up.down());
  });
});

Deno.test("wg-quick up: start refuses what userspace cannot do before running any hook", async () => {
  await withDir(async (dir) => {
    const file = `${dir}/wgu0.conf`;
    const marker = `${dir}/preup-ran`;
    await Deno.writeTextFile(file, confText(`PreUp = touch ${marker}\n`));
    await assert.rejects(
      WgQuickUp.start({
        config: await loadWgQuickFile(file),
        interfaceName: "wgu0",
        file,
        mode: "userspace",
        underlay: "deno",
        listenPort: 0,
        logger: nullLogger,
      }),
      (e: unknown) => e instanceof ConfigError && /PreUp/.test(e.message),
    );
    await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
  });
});

// ---- tun mode, with hooks: root, in a network namespace ----

async function linkExists(name: string): Promise<boolean> {
  return (await new Deno.Command("ip", {
    args: ["link", "show", "dev", name],
    stdout: "null",
    stderr: "null",
  }).output()).success;
}

Deno.test({
  name: "wg-quick up with hooks in a network namespace of its own (runs the inside: tests there)",
  ignore: !CAN_RUN_TUN || Deno.uid() !== 0,
  fn: async () => {
    const { success, text } = await runInsideNamespace(
      new URL(import.meta.url).pathname,
      "WEFT_WGQUICK_UP_TEST_NS",
      "weft-wgqup",
    );
    assert.ok(success, text);
    assert.match(text, /ok \| 3 passed \| 0 failed/, text);
  },
});

/** Starts a tun-mode interface named `name` from `text`, without a UAPI socket. */
function startTun(text: string, name: string, file?: string): Promise<WgQuickUp> {
  return WgQuickUp.start({
    config: parseWgQuick(text),
    interfaceName: name,
    file,
    mode: "tun",
    underlay: "linux",
    uapi: false,
    listenPort: 0,
    logger: nullLogger,
  });
}

function uniqueName(): string {
  return `wq${crypto.randomUUID().slice(0, 8)}`;
}

Deno.test({
  name: "inside: the hooks run in wg-quick's order around the interface",
  ignore: !INSIDE,
  fn: async () => {
    await withDir(async (dir) => {
      const log = `${dir}/log`;
      const name = uniqueName();
      // Each hook records whether the interface exists when it runs.
      const at = (stage: string) =>
        `${stage} = ip link show %i >/dev/null 2>&1 && echo "${stage} %i up" >> ${log} || ` +
        `echo "${stage} %i absent" >> ${log}\n`;
      const up = await startTun(
        confText(at("PreUp") + at("PostUp") + at("PreDown") + at("PostDown")),
        name,
      );
      assert.ok(await linkExists(name));
      await up.down();
      assert.equal(await linkExists(name), false);
      assert.equal(
        await Deno.readTextFile(log),
        `PreUp ${name} absent\nPostUp ${name} up\nPreDown ${name} up\nPostDown ${name} absent\n`,
      );
    });
  },
});

Deno.test({
  name: "inside: down runs every step when some fail, and reports the failures together",
  ignore: !INSIDE,
  fn: async () => {
    await withDir(async (dir) => {
      const log = `${dir}/log`;
      const name = uniqueName();
      await Deno.mkdir(`${dir}/gone`);
      const file = `${dir}/gone/${name}.conf`;
      const up = await startTun(
        confText(
          `SaveConfig = true\nPreDown = echo predown >> ${log}; exit 3\n` +
            `PostDown = echo postdown %i >> ${log}\nPostDown = exit 4\n`,
        ),
        name,
        file,
      );
      await Deno.remove(`${dir}/gone`, { recursive: true });
      const err = await up.down().then(() => null, (e: Error) => e);
      assert.ok(err instanceof Error);
      const parts = err.message.split("; ");
      assert.equal(parts.length, 3, err.message);
      assert.equal(parts[0], "PreDown hook 1 of 1 failed (exit 3)");
      assert.match(parts[1], /No such file|not found/i, "SaveConfig");
      assert.equal(parts[2], "PostDown hook 2 of 2 failed (exit 4)");
      // After the failing PreDown and SaveConfig, the interface still went, and PostDown ran.
      assert.equal(await linkExists(name), false);
      assert.equal(await Deno.readTextFile(log), `predown\npostdown ${name}\n`);
    });
  },
});

Deno.test({
  name: "inside: a failing PostUp takes the interface down again, without the down hooks",
  ignore: !INSIDE,
  fn: async () => {
    await withDir(async (dir) => {
      const log = `${dir}/log`;
      const name = uniqueName();
      await assert.rejects(
        startTun(
          confText(
            `PostUp = echo postup >> ${log}\nPostUp = exit 5\n` +
              `PreDown = echo predown >> ${log}\nPostDown = echo postdown >> ${log}\n`,
          ),
          name,
        ),
        (e: unknown) =>
          e instanceof HookError && e.message === "PostUp hook 2 of 2 failed (exit 5)",
      );
      assert.equal(await linkExists(name), false);
      assert.equal(await Deno.readTextFile(log), "postup\n");
      // A failing PreUp: no interface was ever made.
      await assert.rejects(startTun(confText("PreUp = false\n"), name), HookError);
      assert.equal(await linkExists(name), false);
    });
  },
});
