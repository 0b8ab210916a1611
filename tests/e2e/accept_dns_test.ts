/**
 * `--accept-dns` through the real CLI in namespaces: a member points its resolver at weft, and
 * glibc (`getent`, `ping`) resolves the mesh's names, full and short, and every other name
 * through the resolver the namespace had (dnsmasq from Debian on another host, the only one that
 * knows `outside.example`). The namespace's resolv.conf is `/etc/netns/<ns>/resolv.conf`, which
 * `ip netns exec` mounts over `/etc/resolv.conf`: the machine's own resolver is never touched.
 * After SIGTERM the file is byte for byte what it was; after SIGKILL it is put back by the next
 * start (with `--accept-dns` again, and without).
 */
import assert from "node:assert/strict";
import {
  canBuildLabs,
  eventually,
  HANG_GUARD_MS,
  haveCommands,
  Lab,
  stopChild,
} from "../fixtures/netns.ts";
import {
  meshInterface,
  metricsOf,
  metricValue,
  removeUapiSockets,
  startMeshNode,
  waitUp,
  weftIn,
} from "../fixtures/mesh_lab.ts";
import { ping } from "../fixtures/wg_lab.ts";

const ignore = !(await canBuildLabs()) ||
  !(await haveCommands("dnsmasq", "getent", "ping", "curl"));

const ORIGINAL = "# the lab's resolver\nnameserver 192.0.2.3\nsearch lab.example\n" +
  "options edns0 timeout:2\n";
const OUTSIDE = "outside.example";
const OUTSIDE_ADDR = "203.0.113.77";

Deno.test({
  name: "accept-dns: glibc resolves mesh names and others through weft; the file comes back",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["lead", "n1", "up"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-acceptdns-" });
    const etc = `/etc/netns/${lab.host("n1").ns}`;
    const resolvConf = `${etc}/resolv.conf`;
    const opts = { dir, cidr: "10.95.0.0/24", ifPrefix: "wa", extra: [] };
    const iface = meshInterface(lab, opts, "n1");
    let dnsmasq: Deno.ChildProcess | undefined;
    try {
      await Deno.mkdir(etc, { recursive: true });
      await Deno.writeTextFile(resolvConf, ORIGINAL);
      // The upstream: knows only outside.example (and refuses to look further), and answers
      // for the host's search domain lab.example (no such name there), as a host's own does: its
      // domains are searched before the zone, and glibc stops searching at a refusal.
      dnsmasq = lab.spawn("up", "dnsmasq", [
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--listen-address=192.0.2.3",
        "--user=root",
        "--pid-file=",
        "--local=/lab.example/",
        `--address=/${OUTSIDE}/${OUTSIDE_ADDR}`,
        "--log-queries",
        "--log-facility=-",
      ]).child;

      const leader = startMeshNode(lab, opts, "lead", ["--leader"]);
      await waitUp(lab, "lead", dir, leader);
      const tok = await weftIn(lab, "lead", dir, "token", "create", "--uses", "1");
      assert.equal(tok.code, 0, tok.stderr);
      const token = tok.stdout.trim();

      let n1 = startMeshNode(lab, opts, "n1", ["--join", token, "--accept-dns"]);
      await waitUp(lab, "n1", dir, n1);
      const n1Addr = await overlayAddress(lab, iface);
      const leadAddr = await resolvedBy(lab, "lead.overlay.local");
      assert.ok(leadAddr?.startsWith("10.95.0."), `lead.overlay.local -> ${leadAddr}`);

      // The file now sends everything to weft on n1's overlay address, the zone searched last.
      const written = await Deno.readTextFile(resolvConf);
      assert.match(written, new RegExp(`^nameserver ${n1Addr.replaceAll(".", "\\.")}$`, "m"));
      assert.match(written, /^search lab\.example overlay\.local$/m);
      assert.match(written, /^options edns0 timeout:2$/m);
      assert.doesNotMatch(written, /192\.0\.2\.3/);

      // Full names, short names (the search domain), other names (forwarded), and ping by name.
      assert.equal(await resolvedBy(lab, "lead"), leadAddr, "short name");
      assert.equal(await resolvedBy(lab, "n1"), n1Addr, "its own name");
      assert.equal(await resolvedBy(lab, OUTSIDE), OUTSIDE_ADDR, "forwarded to dnsmasq");
      assert.ok(await eventually(() => ping(lab, "n1", "lead", 1, 2), HANG_GUARD_MS), "ping lead");

      // What weft says about it.
      const status = await weftIn(lab, "n1", dir, "status");
      assert.match(status.stdout, /system dns file: the host asks 10\.95\.0\.\d+:53/);
      assert.match(status.stdout, /other names go to 192\.0\.2\.3/);
      const metrics = await metricsOf(lab, "n1");
      assert.ok(metricValue(metrics, "weft_dns_forwarded_total", { result: "answered" }) >= 1);

      // A clean stop puts the file back byte for byte.
      await stopChild(n1.child, HANG_GUARD_MS);
      assert.equal(await Deno.readTextFile(resolvConf), ORIGINAL, "after SIGTERM");
      assert.equal(await exists(`${dir}/n1/system-dns.json`), false);

      // A crash leaves the file pointed at weft; the next start puts it back, points it again,
      // and the clean stop after it restores the original.
      n1 = startMeshNode(lab, opts, "n1", ["--accept-dns"]);
      await waitUp(lab, "n1", dir, n1);
      assert.notEqual(await Deno.readTextFile(resolvConf), ORIGINAL);
      n1.child.kill("SIGKILL");
      await n1.child.status;
      assert.notEqual(await Deno.readTextFile(resolvConf), ORIGINAL, "a crash puts nothing back");
      n1 = startMeshNode(lab, opts, "n1", ["--accept-dns"]);
      await waitUp(lab, "n1", dir, n1);
      assert.match(n1.output(), /put back the host resolver a previous run left/);
      assert.equal(await resolvedBy(lab, OUTSIDE), OUTSIDE_ADDR, "upstream from the original");
      assert.equal(await resolvedBy(lab, "lead"), leadAddr);
      await stopChild(n1.child, HANG_GUARD_MS);
      assert.equal(await Deno.readTextFile(resolvConf), ORIGINAL, "after a crash, restart, stop");

      // A crash and a start without --accept-dns: put back at the start.
      n1 = startMeshNode(lab, opts, "n1", ["--accept-dns"]);
      await waitUp(lab, "n1", dir, n1);
      n1.child.kill("SIGKILL");
      await n1.child.status;
      n1 = startMeshNode(lab, opts, "n1", []);
      await waitUp(lab, "n1", dir, n1);
      assert.equal(await Deno.readTextFile(resolvConf), ORIGINAL, "put back by a plain start");
      await stopChild(n1.child, HANG_GUARD_MS);
      await stopChild(leader.child, HANG_GUARD_MS);
    } finally {
      if (dnsmasq) await stopChild(dnsmasq, 2000).catch(() => {});
      await lab.destroy();
      await removeUapiSockets(lab, opts, ["lead", "n1"]);
      await Deno.remove(etc, { recursive: true }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const VAULT_HOST_ADDR = "198.51.100.80";

Deno.test({
  name:
    "accept-dns: a member named like a host in the host's search domain does not capture its short name",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // The leader is the member named `vault`; the host's own search domain lab.example has a
    // `vault` too (dnsmasq on `up`, authoritative for lab.example: other names there NXDOMAIN).
    const lab = await Lab.create(["vault", "n1", "up"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-acceptdns-vault-" });
    const etc = `/etc/netns/${lab.host("n1").ns}`;
    const resolvConf = `${etc}/resolv.conf`;
    const opts = { dir, cidr: "10.96.0.0/24", ifPrefix: "wv", extra: [] };
    const iface = meshInterface(lab, opts, "n1");
    let dnsmasq: Deno.ChildProcess | undefined;
    try {
      await Deno.mkdir(etc, { recursive: true });
      await Deno.writeTextFile(resolvConf, ORIGINAL);
      dnsmasq = lab.spawn("up", "dnsmasq", [
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--listen-address=192.0.2.3",
        "--user=root",
        "--pid-file=",
        "--local=/lab.example/",
        `--address=/vault.lab.example/${VAULT_HOST_ADDR}`,
        "--log-queries",
        "--log-facility=-",
      ]).child;
      // The host's own resolver answers its `vault` before weft is there.
      assert.ok(
        await eventually(
          async () => (await resolvedBy(lab, "vault")) === VAULT_HOST_ADDR,
          HANG_GUARD_MS,
        ),
        "dnsmasq answers vault.lab.example",
      );

      const leader = startMeshNode(lab, opts, "vault", ["--leader"]);
      await waitUp(lab, "vault", dir, leader);
      const tok = await weftIn(lab, "vault", dir, "token", "create", "--uses", "1");
      assert.equal(tok.code, 0, tok.stderr);
      const n1 = startMeshNode(lab, opts, "n1", ["--join", tok.stdout.trim(), "--accept-dns"]);
      await waitUp(lab, "n1", dir, n1);
      const n1Addr = await overlayAddress(lab, iface);
      const member = await resolvedBy(lab, "vault.overlay.local");
      assert.ok(member?.startsWith("10.96.0."), `vault.overlay.local -> ${member}`);

      // The short name is the host's vault (its search domain first), the full mesh name the
      // member, and a short name only the mesh has still resolves (the zone searched after).
      assert.equal(await resolvedBy(lab, "vault"), VAULT_HOST_ADDR, "the host's vault");
      assert.equal(await resolvedBy(lab, "vault.lab.example"), VAULT_HOST_ADDR);
      assert.equal(await resolvedBy(lab, "n1"), n1Addr, "a mesh-only short name");

      await stopChild(n1.child, HANG_GUARD_MS);
      assert.equal(await Deno.readTextFile(resolvConf), ORIGINAL, "after SIGTERM");
      await stopChild(leader.child, HANG_GUARD_MS);
    } finally {
      if (dnsmasq) await stopChild(dnsmasq, 2000).catch(() => {});
      await lab.destroy();
      await removeUapiSockets(lab, opts, ["vault", "n1"]);
      await Deno.remove(etc, { recursive: true }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** The address glibc gives `name` on n1 (`getent hosts`), null when it resolves nothing. */
async function resolvedBy(lab: Lab, name: string): Promise<string | null> {
  const r = await lab.exec("n1", "getent", "hosts", name);
  if (r.code !== 0) return null;
  return r.stdout.trim().split(/\s+/)[0] ?? null;
}

/** The IPv4 address of n1's overlay interface. */
async function overlayAddress(lab: Lab, iface: string): Promise<string> {
  const r = await lab.exec("n1", "ip", "-4", "-o", "addr", "show", "dev", iface);
  const m = /inet (\S+)\//.exec(r.stdout);
  assert.ok(m, r.stdout);
  return m[1];
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
