import assert from "node:assert/strict";
import { guardChain, LinuxVxlanSegments } from "./vxlan.ts";
import type { CommandResult } from "./host_commands.ts";
import type { SegmentPlan } from "../../lib/segments/segments.ts";

/** Records commands; answers from `replies` (by command-line prefix), else success. */
class FakeHost {
  calls: string[] = [];
  replies: [string, Partial<CommandResult>][] = [];
  run = (cmd: string, args: string[]): Promise<CommandResult> => {
    const line = [cmd, ...args].join(" ");
    this.calls.push(line);
    const hit = this.replies.find(([p]) => line.startsWith(p));
    return Promise.resolve({ code: 0, stdout: "", stderr: "", ...(hit?.[1] ?? {}) });
  };
}

const BLUE: SegmentPlan = {
  name: "blue",
  driver: "vxlan",
  vni: 100,
  mtu: 1370,
  local: "10.9.0.2",
  remotes: ["10.9.0.3"],
};

Deno.test("vxlan: a segment is a bridge, a VXLAN port on the overlay, flooding entries, a guard", async () => {
  const host = new FakeHost();
  // No jump yet: -C fails.
  host.replies.push(["iptables -w -C", { code: 1 }]);
  const d = new LinuxVxlanSegments({ iface: "weft0", run: host.run });
  await d.apply([BLUE]);
  assert.deepEqual(host.calls, [
    "iptables -w -N WEFT-SEG-weft0",
    "iptables -w -F WEFT-SEG-weft0",
    "iptables -w -A WEFT-SEG-weft0 -p udp --dport 4789 ! -i weft0 -j DROP",
    "iptables -w -C INPUT -j WEFT-SEG-weft0",
    "iptables -w -I INPUT -j WEFT-SEG-weft0",
    "ip link add dev br-blue type bridge",
    "ip link set dev br-blue alias weft weft0",
    "ip link add dev vx-blue type vxlan id 100 local 10.9.0.2 dev weft0 dstport 4789",
    "ip link set dev vx-blue alias weft weft0",
    "ip link set dev vx-blue mtu 1370 master br-blue",
    "ip link set dev br-blue mtu 1370 up",
    "ip link set dev vx-blue up",
    "bridge fdb append 00:00:00:00:00:00 dev vx-blue dst 10.9.0.3",
  ]);
  // A member leaves and another comes: its flooding and learned entries go.
  host.calls = [];
  host.replies = [[
    "bridge -j fdb show",
    {
      stdout: JSON.stringify([
        { mac: "00:00:00:00:00:00", dst: "10.9.0.3" },
        { mac: "02:00:00:00:00:01", dst: "10.9.0.3" },
        { mac: "02:00:00:00:00:02", dst: "10.9.0.9" },
      ]),
    },
  ]];
  await d.apply([{ ...BLUE, remotes: ["10.9.0.4"] }]);
  assert.deepEqual(host.calls, [
    "bridge fdb append 00:00:00:00:00:00 dev vx-blue dst 10.9.0.4",
    "bridge -j fdb show dev vx-blue",
    "bridge fdb del 00:00:00:00:00:00 dev vx-blue dst 10.9.0.3",
    "bridge fdb del 02:00:00:00:00:01 dev vx-blue dst 10.9.0.3",
  ]);
  // No segments: the devices and the guard go.
  host.calls = [];
  host.replies = [["iptables -w -D INPUT", { code: 1 }]];
  await d.apply([]);
  assert.deepEqual(host.calls, [
    "ip link del dev vx-blue",
    "ip link del dev br-blue",
    "iptables -w -D INPUT -j WEFT-SEG-weft0",
    "iptables -w -F WEFT-SEG-weft0",
    "iptables -w -X WEFT-SEG-weft0",
  ]);
  assert.equal(guardChain("weft0"), "WEFT-SEG-weft0");
});

Deno.test("vxlan: a kernel without VXLAN is named, and nothing is left behind", async () => {
  const host = new FakeHost();
  host.replies.push(["ip link add dev vx-", { code: 2, stderr: "Error: Unknown device type.\n" }]);
  const d = new LinuxVxlanSegments({ iface: "weft0", run: host.run });
  await assert.rejects(
    () => d.apply([BLUE]),
    /cannot make the VXLAN port vx-blue: .*load the vxlan module/,
  );
  assert.ok(host.calls.includes("ip link del dev br-blue"), "the bridge it made goes");
  assert.deepEqual(d.installed, []);
});

Deno.test("vxlan: a sweep removes the devices carrying this interface's alias", async () => {
  const host = new FakeHost();
  host.replies.push(["ip -j -d link show", {
    stdout: JSON.stringify([
      { ifname: "br-blue", ifalias: "weft weft0", linkinfo: { info_kind: "bridge" } },
      { ifname: "vx-blue", ifalias: "weft weft0", linkinfo: { info_kind: "vxlan" } },
      { ifname: "vx-other", ifalias: "weft weft1", linkinfo: { info_kind: "vxlan" } },
      { ifname: "eth0" },
    ]),
  }], ["iptables -w -D INPUT", { code: 1 }]);
  await new LinuxVxlanSegments({ iface: "weft0", run: host.run }).sweep();
  assert.deepEqual(host.calls.slice(0, 3), [
    "ip -j -d link show",
    "ip link del dev vx-blue",
    "ip link del dev br-blue",
  ]);
});

Deno.test("vxlan: a sweep on a host without iptables is no error", async () => {
  const run = (cmd: string, _args: string[]): Promise<CommandResult> =>
    cmd === "iptables"
      ? Promise.reject(new Deno.errors.NotFound("iptables"))
      : Promise.resolve({ code: 0, stdout: "[]", stderr: "" });
  await new LinuxVxlanSegments({ iface: "weft0", run }).sweep();
});
