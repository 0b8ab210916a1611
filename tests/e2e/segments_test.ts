/**
 * Layer 2 segments over the mesh, through the real CLI in namespaces. Three members a, b, c;
 * segment blue (VNI 100) selects all three by label, red (VNI 200) a and b. "VMs" are namespaces
 * plugged into the members' bridges (`br-blue`, `br-red`), all in one IPv4 subnet. Blue VMs ping
 * each other across members (ARP through the mesh), red likewise, a blue VM cannot reach a red
 * one; 1,300-byte pings with DF pass; the underlay carries no VXLAN (only WireGuard); a VM
 * migrates (same MAC and address) from c to b and is reached again; crafted VXLAN for red from c
 * (not in red) and from the underlay reaches no bridge, while c's for blue does; c's blue label
 * withdrawn, c leaves blue and the others stop sending it blue's frames; a's dashboard (Chromium)
 * lists its segments and their members.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import { startMeshNode, waitUp, weftIn } from "../fixtures/mesh_lab.ts";
import { plugVm, unplugUnderlay, waitSegments } from "../fixtures/segment_lab.ts";
import { browserIn, hasChromium } from "../fixtures/chromium_ns.ts";
import { ping } from "../fixtures/wg_lab.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("ping", "iptables", "bridge"));

const POLICY = `segments:
  - name: blue
    vni: 100
    select: "blue=yes"
  - name: red
    vni: 200
    select: "red=yes"
`;
/** The overlay's MTU (1420) less VXLAN's 50 bytes. */
const SEG_MTU = 1370;

/** The VMs: name, member, segment, address in the one shared subnet. */
const VMS = [
  { vm: "vb1", on: "a", seg: "blue", ip: "198.18.0.1" },
  { vm: "vb2", on: "b", seg: "blue", ip: "198.18.0.2" },
  { vm: "vb3", on: "c", seg: "blue", ip: "198.18.0.3" },
  { vm: "vr1", on: "a", seg: "red", ip: "198.18.0.11" },
  { vm: "vr2", on: "b", seg: "red", ip: "198.18.0.12" },
];

Deno.test({
  name: "segments: VMs on one segment reach each other across members, never another segment",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["lead", "a", "b", "c", ...VMS.map((v) => v.vm)]);
    const dir = await Deno.makeTempDir({ prefix: "weft-segments-" });
    const opts = { dir, cidr: "10.96.0.0/24", ifPrefix: "wg", extra: [] };
    const iface = (host: string) => `wg${host.slice(0, 2)}${lab.tag}`;
    try {
      // The VMs are on no underlay: their switch port goes.
      for (const v of VMS) await unplugUnderlay(lab, v.vm);

      const leader = startMeshNode(lab, opts, "lead", ["--leader"]);
      await waitUp(lab, "lead", dir, leader);
      await Deno.writeTextFile(`${dir}/policy.yaml`, POLICY);
      const applied = await weftIn(lab, "lead", dir, "policy", "apply", `${dir}/policy.yaml`);
      assert.equal(applied.code, 0, applied.stderr);
      const token = async (...labels: string[]) => {
        const args = labels.flatMap((l) => ["--label", l]);
        const r = await weftIn(lab, "lead", dir, "token", "create", "--uses", "1", ...args);
        assert.equal(r.code, 0, r.stderr);
        return r.stdout.trim();
      };
      const labels: Record<string, string[]> = {
        a: ["blue=yes", "red=yes"],
        b: ["blue=yes", "red=yes"],
        c: ["blue=yes"],
      };
      for (const host of ["a", "b", "c"]) {
        // Counted, not filtered: VXLAN leaving by the underlay, and by the overlay.
        for (const dev of ["eth0", iface(host)]) {
          await lab.run(
            host,
            "iptables",
            "-I",
            "OUTPUT",
            "-o",
            dev,
            "-p",
            "udp",
            "--dport",
            "4789",
          );
        }
        const run = startMeshNode(lab, opts, host, ["--join", await token(...labels[host])]);
        await waitUp(lab, host, dir, run);
      }
      // Each member's segments are up with every member in them.
      for (const host of ["a", "b", "c"]) {
        await waitSegments(lab, host, host === "c" ? ["blue:3"] : ["blue:3", "red:2"], SEG_MTU);
      }
      for (const v of VMS) await plugVm(lab, v, SEG_MTU);

      // Blue VMs reach each other across all three members; red across a and b.
      assert.ok(await eventually(() => ping(lab, "vb1", "198.18.0.2", 1, 2), HANG_GUARD_MS));
      assert.ok(await eventually(() => ping(lab, "vb1", "198.18.0.3", 1, 2), HANG_GUARD_MS));
      assert.ok(await eventually(() => ping(lab, "vb3", "198.18.0.2", 1, 2), HANG_GUARD_MS));
      assert.ok(await eventually(() => ping(lab, "vr1", "198.18.0.12", 1, 2), HANG_GUARD_MS));
      // Full-size frames with DF set: the segment's MTU fits the tunnel.
      const big = await lab.exec("vb1", "ping", "-c", "2", "-M", "do", "-s", "1300", "198.18.0.3");
      assert.equal(big.code, 0, big.stdout + big.stderr);
      // Same subnet, other segment: nothing.
      assert.equal(await ping(lab, "vb1", "198.18.0.12", 2, 1), false, "blue VM -> red VM");
      assert.equal(await ping(lab, "vr2", "198.18.0.3", 2, 1), false, "red VM -> blue VM");

      // VXLAN went through the overlay only: the underlay carried none.
      for (const host of ["a", "b", "c"]) {
        assert.equal(await vxlanOut(lab, host, "eth0"), 0, `${host}: VXLAN on the underlay`);
        assert.ok(await vxlanOut(lab, host, iface(host)) > 0, `${host}: no VXLAN in the overlay`);
      }

      // vb3 migrates from c to b: same MAC, same address; it speaks first (its ARP request is
      // flooded, as a hypervisor's gratuitous ARP is), and vb1 reaches it at b.
      const mac = await macOf(lab, "vb3");
      await lab.run("c", "ip", "link", "del", "pvb3");
      await plugVm(lab, { vm: "vb3", on: "b", seg: "blue", ip: "198.18.0.3" }, SEG_MTU, mac);
      const moved = Date.now();
      assert.ok(await eventually(() => ping(lab, "vb3", "198.18.0.1", 1, 1), HANG_GUARD_MS));
      assert.ok(await eventually(() => ping(lab, "vb1", "198.18.0.3", 1, 1), HANG_GUARD_MS));
      console.log(`vb1 reached vb3 at b ${Date.now() - moved} ms after the move`);

      // Crafted VXLAN to a's overlay address: from c for blue (c is in blue) reaches a's blue
      // bridge; from c for red (c is not in red) reaches nothing, and a counts it.
      const aAddr = await overlayAddr(lab, "a", iface("a"));
      await sendVxlan(lab, "c", aAddr, 100, "02:00:00:00:0b:01");
      assert.ok(
        await eventually(() => learned(lab, "a", "br-blue", "02:00:00:00:0b:01"), HANG_GUARD_MS),
        "c's own segment: the frame reaches a's bridge",
      );
      const before = await segmentDrops(lab, "a");
      await sendVxlan(lab, "c", aAddr, 200, "02:00:00:00:0e:01");
      assert.ok(
        await eventually(async () => await segmentDrops(lab, "a") > before, HANG_GUARD_MS),
        "a counts the crafted red frame",
      );
      assert.equal(await learned(lab, "a", "br-red", "02:00:00:00:0e:01"), false);
      assert.equal(await learned(lab, "a", "br-blue", "02:00:00:00:0e:01"), false);
      // From the underlay (the leader is in no segment): a's guard drops it before the kernel.
      await sendVxlan(lab, "lead", lab.host("a").ip, 100, "02:00:00:00:0e:02");
      await sendVxlan(lab, "lead", lab.host("a").ip, 100, "02:00:00:00:0e:02");
      assert.equal(await learned(lab, "a", "br-blue", "02:00:00:00:0e:02"), false);

      // c's blue label is withdrawn: c leaves blue (its bridge goes), and a and b stop sending
      // blue's frames to it, learned entries included.
      const cAddr = await overlayAddr(lab, "c", iface("c"));
      const revoked = await weftIn(lab, "lead", dir, "node", "set", "c", "--remove-label", "blue");
      assert.equal(revoked.code, 0, revoked.stderr);
      await waitSegments(lab, "c", [], SEG_MTU);
      assert.notEqual((await lab.exec("c", "ip", "link", "show", "br-blue")).code, 0);
      for (const host of ["a", "b"]) {
        await waitSegments(lab, host, ["blue:2", "red:2"], SEG_MTU);
        const fdb = await lab.run(host, "bridge", "fdb", "show", "dev", "vx-blue");
        assert.ok(!fdb.includes(`dst ${cAddr} `), `${host} still sends blue to c:\n${fdb}`);
      }
      assert.ok(await eventually(() => ping(lab, "vb1", "198.18.0.2", 1, 2), HANG_GUARD_MS));

      // a's dashboard shows its segments, their members and state.
      if (hasChromium()) {
        const browser = await browserIn(lab.host("a").ns);
        try {
          const page = await browser.context.newPage();
          const errors: string[] = [];
          page.on("pageerror", (e) => errors.push(e.message));
          await page.goto("http://127.0.0.1:51880/");
          await page.waitForSelector('#segments tr[data-segment="blue"][data-up="true"]', {
            timeout: HANG_GUARD_MS,
          });
          const rows = await page.$$eval("#segment-list tbody tr", (els) =>
            els.map((e) => [
              e.getAttribute("data-segment"),
              ...[...e.querySelectorAll(".inst")].map((i) => i.textContent),
            ]));
          assert.deepEqual(rows, [["blue", "a", "b"], ["red", "a", "b"]]);
          assert.deepEqual(errors, []);
        } finally {
          await browser.close();
        }
      }
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

async function macOf(lab: Lab, host: string): Promise<string> {
  const out = await lab.run(host, "cat", "/sys/class/net/eth0/address");
  return out.trim();
}

async function overlayAddr(lab: Lab, host: string, dev: string): Promise<string> {
  const out = await lab.run(host, "ip", "-4", "-o", "addr", "show", "dev", dev);
  return /inet (\S+)\//.exec(out)![1];
}

/** Packets to UDP 4789 that left `host` through `dev` (the counting rules set up above). */
async function vxlanOut(lab: Lab, host: string, dev: string): Promise<number> {
  const out = await lab.run(host, "iptables", "-L", "OUTPUT", "-v", "-x", "-n");
  for (const line of out.split("\n")) {
    const f = line.trim().split(/\s+/);
    // pkts bytes target prot opt in out source destination ...
    if (f.includes("dpt:4789") && f.includes(dev)) return Number(f[0]);
  }
  throw new Error(`no counting rule for ${dev} on ${host}:\n${out}`);
}

/** Whether `bridge` on `host` learned `mac` (a frame from it reached the bridge). */
async function learned(lab: Lab, host: string, bridge: string, mac: string): Promise<boolean> {
  const r = await lab.exec(host, "bridge", "fdb", "show", "br", bridge);
  return r.stdout.includes(mac);
}

/** VXLAN the policy dropped at `host` (the `(segment)` series of its /metrics). */
async function segmentDrops(lab: Lab, host: string): Promise<number> {
  const r = await lab.exec(host, "curl", "-sf", "http://127.0.0.1:51880/metrics");
  const m = /^weft_policy_drops_total\{rule="\(segment\)"\} (\d+)/m.exec(r.stdout);
  return m ? Number(m[1]) : 0;
}

/** Sends one VXLAN datagram from `host` to `to`:4789: an ARP request from `mac` in `vni`. */
async function sendVxlan(lab: Lab, host: string, to: string, vni: number, mac: string) {
  const code = `
const mac = ${JSON.stringify(mac)}.split(":").map((h) => parseInt(h, 16));
const p = new Uint8Array(8 + 14 + 28);
p.set([0x08, 0, 0, 0, ${vni >> 16}, ${(vni >> 8) & 255}, ${vni & 255}, 0]);
p.fill(0xff, 8, 14);
p.set(mac, 14);
p.set([0x08, 0x06], 20);
p.set([0, 1, 8, 0, 6, 4, 0, 1], 22);
p.set(mac, 30);
p.set([198, 18, 0, 99], 36);
p.set([198, 18, 0, 1], 46);
const s = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
await s.send(p, { transport: "udp", hostname: ${JSON.stringify(to)}, port: 4789 });
s.close();`;
  const r = await lab.exec(host, Deno.execPath(), "eval", "--unstable-net", code);
  assert.equal(r.code, 0, r.stderr);
}
