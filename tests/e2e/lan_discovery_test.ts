/**
 * `--no-lan-discovery` through the real CLI, on two namespaces joined by a bridge (a LAN,
 * 192.0.2.0/24, with a multicast route): the agents send no LAN announcement (counted by an
 * iptables rule on OUTPUT to the group, not by weft itself) and publish no interface address as
 * a candidate. The same mesh without the flag is the control: there both show up.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import { type PeerView, peerView, startMeshNode, waitUp, weftIn } from "../fixtures/mesh_lab.ts";
import { LAN_GROUP, LAN_PORT } from "../../lib/nat/announce.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("iptables"));

/** Announcements a host sent so far: the packets its OUTPUT rule to the group counted. */
async function announcements(lab: Lab, host: string): Promise<number> {
  const out = await lab.run(host, "iptables", "-w", "-L", "OUTPUT", "-v", "-x", "-n");
  const row = out.split("\n").find((l) => l.includes(LAN_GROUP));
  if (row === undefined) throw new Error(`no OUTPUT rule for ${LAN_GROUP} on ${host}:\n${out}`);
  return Number(row.trim().split(/\s+/)[0]);
}

/** Kinds of the candidates `host` shows for `peer` (`weft status --json`). */
function kinds(p: PeerView | null): string[] {
  return (p?.candidates ?? []).map((c) => c.kind);
}

/**
 * A leader on `lead` and a node on `node` (userspace, `flags` on both), until the node has a
 * direct path to the leader; returns the two processes' stop.
 */
async function mesh(lab: Lab, dir: string, flags: string[]) {
  const o = { dir, cidr: "10.231.0.0/24", ifPrefix: "ld", extra: ["--userspace", ...flags] };
  const lead = startMeshNode(lab, o, "lead", [
    "--leader",
    "--advertise",
    `${lab.host("lead").ip}:51820`,
  ]);
  await waitUp(lab, "lead", dir, lead);
  const token = (await weftIn(lab, "lead", dir, "token", "create")).stdout.trim();
  const node = startMeshNode(lab, o, "node", ["--join", token]);
  await waitUp(lab, "node", dir, node);
  const direct = await eventually(
    async () => (await peerView(lab, "node", "lead"))?.path === "direct",
    HANG_GUARD_MS,
  );
  assert.ok(direct, `node has a direct path to lead:\n${node.output()}\n${lead.output()}`);
  return {
    lead,
    node,
    stop: async () => {
      await lab.stop(node.child);
      await lab.stop(lead.child);
    },
  };
}

Deno.test({
  name: "--no-lan-discovery: no multicast leaves the host and no LAN candidate is published",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["lead", "node"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-lan-" });
    try {
      for (const h of ["lead", "node"]) {
        // Multicast goes out of eth0 (the lab has no default route), where OUTPUT counts it.
        await lab.run(h, "ip", "route", "add", "224.0.0.0/4", "dev", "eth0");
        await lab.run(
          h,
          "iptables",
          "-w",
          "-A",
          "OUTPUT",
          "-d",
          LAN_GROUP,
          "-p",
          "udp",
          "--dport",
          String(LAN_PORT),
        );
      }

      // Off: the mesh works (a direct path over the advertised and observed endpoints), with no
      // announcement sent and no interface address among the candidates on either side.
      const off = await mesh(lab, `${dir}/off`, ["--no-lan-discovery"]);
      try {
        const toLead = await peerView(lab, "node", "lead");
        const toNode = await peerView(lab, "lead", "node");
        console.log(
          `off: node sees lead ${JSON.stringify(kinds(toLead))}, ` +
            `lead sees node ${JSON.stringify(kinds(toNode))}`,
        );
        for (const k of [...kinds(toLead), ...kinds(toNode)]) assert.doesNotMatch(k, /^lan/);
        const members = JSON.parse(
          (await weftIn(lab, "lead", `${dir}/off`, "node", "list", "--json")).stdout,
        ).nodes as { name: string; lan?: string[] }[];
        assert.equal(members.length, 2);
        for (const m of members) assert.equal(m.lan, undefined, `${m.name} publishes no LAN`);
        assert.equal(await announcements(lab, "lead"), 0, "lead sent no announcement");
        assert.equal(await announcements(lab, "node"), 0, "node sent no announcement");
      } finally {
        await off.stop();
      }

      // On (the control): both announce, and each shows the other's interface address.
      const on = await mesh(lab, `${dir}/on`, []);
      try {
        const seen = await eventually(
          async () =>
            (await announcements(lab, "lead")) > 0 && (await announcements(lab, "node")) > 0 &&
            kinds(await peerView(lab, "node", "lead")).some((k) => k.startsWith("lan")) &&
            kinds(await peerView(lab, "lead", "node")).some((k) => k.startsWith("lan")),
          HANG_GUARD_MS,
        );
        console.log(
          `on: lead sent ${await announcements(lab, "lead")}, node ${await announcements(
            lab,
            "node",
          )}; node sees lead ${JSON.stringify(kinds(await peerView(lab, "node", "lead")))}`,
        );
        assert.ok(seen, "with LAN discovery on, announcements go out and LAN candidates show");
      } finally {
        await on.stop();
      }
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
