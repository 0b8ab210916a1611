/**
 * wg-quick's keys beyond the tunnel itself (Table, FwMark, DNS, the hooks, SaveConfig): what
 * they turn into, the refusals that name a key that cannot be honoured, the hook and resolvconf
 * texts, and the configuration SaveConfig writes back.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../config/config_error.ts";
import { parseWgQuick, serializeWgQuick, type WgQuickConfig } from "../config/wgquick.ts";
import {
  agentOptionsFromWgQuick,
  checkWgQuickSupport,
  type WgQuickRunContext,
} from "./wgquick_agent.ts";
import { expandHook, HookError, runHooks } from "./hooks.ts";
import { resolvconfRecord, resolvconfText } from "./resolvconf.ts";
import { runningWgQuickConfig } from "./wgquick_up.ts";
import { findExecutable } from "./commands.ts";
import { nullLogger } from "../log/logger.ts";
import { makeMesh } from "../../tests/fixtures/mesh.ts";

const PRIV = "MKkR++LVIRXtd5MWQNDhJedeJZyKaaTOJI5vlB4Aw1k=";
const PUB_A = "g/fOVCA9+ybIBFiLD3jhI3Uwv+IM1ga4BqEADIPt3hY=";
const IFACE = `[Interface]\nPrivateKey = ${PRIV}\nAddress = 10.9.0.1/24\n`;
const PEER = `[Peer]\nPublicKey = ${PUB_A}\nAllowedIPs = 10.9.0.2/32\n`;

const everyTool = () => "/usr/bin/tool";
const noTool = () => null;

/** The ConfigError `checkWgQuickSupport` throws for `extra` in [Interface], or null. */
function refusal(extra: string, ctx: Partial<WgQuickRunContext>, peer = PEER): ConfigError | null {
  const cfg = parseWgQuick(IFACE + extra + peer);
  try {
    checkWgQuickSupport(cfg, { mode: "tun", underlay: "linux", findTool: everyTool, ...ctx });
    return null;
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e;
  }
}

Deno.test("wg-quick keys: Table, FwMark and the steps parse as wg-quick reads them", () => {
  const cfg = parseWgQuick(
    IFACE + "Table = 1234\nFwMark = 0xca6c\nDNS = 10.9.0.53, corp.example\n" +
      "PreUp = echo pre %i\nPostUp = echo one\nPostUp = echo two %i %i\nPreDown = true\n" +
      "PostDown = false\nSaveConfig = true\n" + PEER,
  );
  const it = cfg.interface;
  assert.equal(it.table, "1234");
  assert.equal(it.fwMark, 0xca6c);
  assert.deepEqual(it.dns, ["10.9.0.53"]);
  assert.deepEqual(it.dnsSearch, ["corp.example"]);
  assert.deepEqual(it.preUp, ["echo pre %i"]);
  assert.deepEqual(it.postUp, ["echo one", "echo two %i %i"]);
  assert.deepEqual(it.preDown, ["true"]);
  assert.deepEqual(it.postDown, ["false"]);
  assert.equal(it.saveConfig, true);
  for (const t of ["off", "auto", "main", "vpn_1"]) {
    assert.equal(parseWgQuick(IFACE + `Table = ${t}\n`).interface.table, t);
  }
  assert.throws(() => parseWgQuick(IFACE + "Table = 12 34\n"), /bad Table/);
  assert.throws(() => parseWgQuick(IFACE + "SaveConfig = yes\n"), /bad SaveConfig/);
});

Deno.test("wg-quick keys: Table and FwMark become agent options", async () => {
  const o = await agentOptionsFromWgQuick(parseWgQuick(IFACE + "Table = off\nFwMark = 7\n" + PEER));
  assert.equal(o.table, "off");
  assert.equal(o.fwMark, 7);
  const plain = await agentOptionsFromWgQuick(parseWgQuick(IFACE + PEER));
  assert.equal(plain.table, undefined);
  assert.equal(plain.fwMark, undefined);
});

Deno.test("wg-quick keys: what tun mode with the tools accepts", () => {
  const all = "Table = 51820\nFwMark = 0x10\nDNS = 10.9.0.53\nPreUp = true\nPostUp = true\n" +
    "PreDown = true\nPostDown = true\nSaveConfig = true\n";
  assert.equal(refusal(all, { file: "/etc/wireguard/wg0.conf" }), null);
  // A default route is fine where wg-quick would not do policy routing either.
  const dflt = `[Peer]\nPublicKey = ${PUB_A}\nAllowedIPs = 0.0.0.0/0\n`;
  assert.equal(refusal("Table = off\n", {}, dflt), null);
  assert.equal(refusal("Table = 1234\n", {}, dflt), null);
  assert.equal(refusal("", { mode: "userspace" }, dflt), null);
});

Deno.test("wg-quick keys: refusals name the key and the reason, and the file", () => {
  const cases: [string, Partial<WgQuickRunContext>, RegExp][] = [
    ["Table = 1234\n", { mode: "userspace" }, /^Table = 1234: .*userspace mode/],
    ["DNS = 10.9.0.53\n", { mode: "userspace" }, /^DNS: .*userspace mode/],
    ["DNS = corp.example\n", { mode: "userspace" }, /^DNS: .*userspace mode/],
    ["PreUp = true\n", { mode: "userspace" }, /^PreUp: .*userspace mode/],
    ["PostUp = true\n", { mode: "userspace" }, /^PostUp: .*userspace mode/],
    ["PreDown = true\n", { mode: "userspace" }, /^PreDown: .*userspace mode/],
    ["PostDown = true\n", { mode: "userspace" }, /^PostDown: .*userspace mode/],
    ["FwMark = 1\n", { underlay: "deno" }, /^FwMark: .*linux underlay/],
    ["FwMark = 1\n", { mode: "userspace", underlay: "deno" }, /^FwMark: .*linux underlay/],
    ["DNS = 10.9.0.53\n", { findTool: noTool }, /^DNS: .*resolvconf, which is not installed/],
    ["PostUp = true\n", { findTool: noTool }, /^PostUp: hooks run with bash, which is not/],
    ["SaveConfig = true\n", {}, /^SaveConfig = true: there is no file/],
  ];
  for (const [extra, ctx, reason] of cases) {
    const e = refusal(extra, ctx);
    assert.ok(e !== null, `${extra.trim()} in ${JSON.stringify(ctx)} was accepted`);
    assert.match(e.reason, reason);
  }
  const named = refusal("DNS = 10.9.0.53\n", { mode: "userspace", file: "wg0.conf" });
  assert.match(named!.message, /^wg0\.conf: DNS: /);
  // A default route with Table = auto takes policy routing, which marks the linux socket.
  for (const route of ["0.0.0.0/0", "::/0"]) {
    const dflt = `[Peer]\nPublicKey = ${PUB_A}\nAllowedIPs = 10.9.0.2/32, ${route}\n`;
    for (const table of ["", "Table = auto\n"]) {
      assert.equal(refusal(table, {}, dflt), null);
      assert.match(
        refusal(table, { underlay: "deno" }, dflt)!.reason,
        /^Table = auto with AllowedIPs .*\/0: .*linux underlay/,
      );
    }
  }
  // Userspace mode takes what needs no kernel interface.
  assert.equal(
    refusal("Table = off\nFwMark = 3\nSaveConfig = true\n", {
      mode: "userspace",
      file: "wg0.conf",
    }),
    null,
  );
});

Deno.test("hooks: %i is the interface name; commands run in order, the first failure stops", async () => {
  assert.equal(
    expandHook("iptables -A FORWARD -i %i; echo %i%i", "wg0"),
    "iptables -A FORWARD -i wg0; echo wg0wg0",
  );
  assert.equal(expandHook("echo 100%", "wg0"), "echo 100%");
  if (findExecutable("bash") === null) return;
  const dir = await Deno.makeTempDir({ prefix: "weft-hooks-" });
  try {
    const log = `${dir}/log`;
    await runHooks(
      "PostUp",
      [`echo "1 %i" >> ${log}`, `echo "2 $BASH_VERSION" >> ${log}`],
      "wgx",
      nullLogger,
    );
    const lines = (await Deno.readTextFile(log)).trim().split("\n");
    assert.equal(lines[0], "1 wgx");
    assert.match(lines[1], /^2 \d/, "run by bash");
    await assert.rejects(
      runHooks("PreUp", [`echo a >> ${log}`, "exit 3", `echo never >> ${log}`], "wgx", nullLogger),
      (e: unknown) =>
        e instanceof HookError && e.stage === "PreUp" &&
        /hook 2 of 3 failed \(exit 3\)/.test(e.message),
    );
    assert.doesNotMatch(await Deno.readTextFile(log), /never/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolvconf: the record text and name, as wg-quick hands them over", () => {
  assert.equal(
    resolvconfText(["10.9.0.53", "fd00::53"], ["corp.example", "example.net"]),
    "nameserver 10.9.0.53\nnameserver fd00::53\nsearch corp.example example.net\n",
  );
  assert.equal(resolvconfText(["10.9.0.53"], []), "nameserver 10.9.0.53\n");
  assert.equal(resolvconfRecord("wg0", null), "wg0");
  assert.equal(resolvconfRecord("wg0", "# order\nlo.inet*\nlo.dnsmasq\ntun*\ntap*\n"), "tun.wg0");
  assert.equal(resolvconfRecord("wg0", "lo\neth*\n"), "eth.wg0");
  assert.equal(resolvconfRecord("wg0", "lo\n"), "wg0");
});

Deno.test("SaveConfig: the running device's peers and port, the file's interface settings", () => {
  const { nodes } = makeMesh(2);
  const [a, b] = nodes;
  const original: WgQuickConfig = parseWgQuick(
    `[Interface]\nPrivateKey = ${a.privateKey}\nAddress = 10.0.0.1/24\nMTU = 1380\n` +
      "DNS = 10.0.0.53, corp.example\nTable = 1234\nPostUp = echo %i\nSaveConfig = true\n",
  );
  // The peer as `wg set` may leave it: more allowed IPs, a keepalive, a preshared key.
  const psk = "58dlGsMyjhiT+v1zj/SKww4wuiZG7eC374DbGvv7Vf0=";
  a.device.setPeer({
    publicKey: b.publicKey,
    presharedKey: psk,
    endpoint: "192.0.2.2:51820",
    allowedIps: ["10.0.0.2/32", "10.7.0.0/16"],
    persistentKeepalive: 25,
  });
  const saved = runningWgQuickConfig(original, a.device, 0x10);
  const it = saved.interface;
  assert.equal(it.privateKey, a.privateKey);
  assert.equal(it.listenPort, a.device.listenPort);
  assert.equal(it.fwMark, 0x10);
  assert.deepEqual(it.addresses, ["10.0.0.1/24"]);
  assert.equal(it.mtu, 1380);
  assert.deepEqual([it.dns, it.dnsSearch, it.table], [["10.0.0.53"], ["corp.example"], "1234"]);
  assert.deepEqual(it.postUp, ["echo %i"]);
  assert.equal(it.saveConfig, true);
  const peers = saved.peers.filter((p) => p.publicKey === b.publicKey);
  assert.equal(peers.length, 1);
  assert.deepEqual(peers[0], {
    publicKey: b.publicKey,
    presharedKey: psk,
    endpoint: { host: "192.0.2.2", port: 51820 },
    allowedIPs: ["10.0.0.2/32", "10.7.0.0/16"],
    persistentKeepalive: 25,
  });
  // What is written reads back the same.
  assert.deepEqual(parseWgQuick(serializeWgQuick(saved)), saved);
  // No mark: no FwMark line, even when the file had one.
  assert.equal(runningWgQuickConfig(original, a.device).interface.fwMark, undefined);
});
