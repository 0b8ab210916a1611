/**
 * Issue 49's HTTP proxies, through the real CLI in TUN mode. In the NAT lab a member on a site
 * whose router lets out nothing but TCP to an HTTP proxy (Debian's tinyproxy, on the internet)
 * joins with `HTTPS_PROXY` set and no other flag, and pings the leader and a member on the
 * internet (through the leader's relay, over its TCP connection through the proxy); the proxy's
 * log holds its CONNECTs and the member's status says its TCP paths are proxied. A member on a
 * site without UDP whose `NO_PROXY` names the leader goes straight there (its `HTTPS_PROXY` leads
 * nowhere). With credentials (tinyproxy's BasicAuth): a wrong password fails the join saying the
 * proxy refused the credentials (tinyproxy answers 401), the right one (percent-encoded in the URL) joins, and the password shows in
 * neither its log nor its status. With the proxy stopped, the join fails saying the proxy is unreachable.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands } from "../fixtures/netns.ts";
import { LEADER, LEADER_IP, NatMesh, WG_PORT } from "../fixtures/nat_mesh.ts";
import { startTinyproxy } from "../fixtures/tinyproxy.ts";
import {
  type LabProc,
  metricsOf,
  metricValue,
  peerView,
  startMeshNode,
  waitUp,
  weftIn,
} from "../fixtures/mesh_lab.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("iptables", "tinyproxy", "curl"));
const CIDR = "10.94.0.0/24";
const IF_PREFIX = "hp";
/** The proxy host: the second internet host. */
const PROXY_IP = "203.0.113.2";
const PROXY_PORT = 8888;
const PROXY = `http://${PROXY_IP}:${PROXY_PORT}`;
// tinyproxy's BasicAuth takes letters and digits; the URL percent-encodes one of them.
const PASSWORD = "s3cr3tw0rd";
const ENCODED = "s%33cr3tw0rd";

/** Runs tinyproxy on the proxy host (with BasicAuth when `auth`) and waits until it listens. */
function startProxy(m: NatMesh, dir: string, auth: boolean): Promise<LabProc> {
  return startTinyproxy(m, {
    host: "prox",
    ip: PROXY_IP,
    port: PROXY_PORT,
    dir,
    ...(auth ? { password: PASSWORD } : {}),
  });
}

/**
 * Starts a joining node with `env`; keeps it in the mesh's processes. `extra` flags: a join that
 * must fail keeps the default join timeout (15 s), under the guard its caller waits with.
 */
function startJoin(
  m: NatMesh,
  host: string,
  token: string,
  env: Record<string, string>,
  extra: string[] = [],
): LabProc {
  const p = startMeshNode(m.lab, { dir: m.dir, cidr: CIDR, ifPrefix: IF_PREFIX }, host, [
    "--join",
    token,
    ...extra,
  ], env);
  m.procs.set(host, p);
  return p;
}

/** Waits until the node on `host` says it joined (or exits); its log then. */
async function joined(m: NatMesh, host: string): Promise<string> {
  const p = m.procs.get(host)!;
  let exited = false;
  p.child.status.then(() => exited = true);
  await eventually(
    () => Promise.resolve(exited || /INFO joined address=/.test(p.output())),
    HANG_GUARD_MS,
    50,
  );
  const out = p.output();
  assert.match(out, /INFO joined address=/, out);
  return out;
}

/** Runs a join that must fail; its exit code and output. */
async function failedJoin(
  m: NatMesh,
  host: string,
  token: string,
  env: Record<string, string>,
): Promise<string> {
  const p = startJoin(m, host, token, env, ["--join-timeout", "15s"]);
  const guard = setTimeout(() => m.lab.stop(p.child), HANG_GUARD_MS);
  const status = await p.child.status;
  clearTimeout(guard);
  const out = p.output();
  assert.equal(status.code, 1, out);
  return out;
}

Deno.test({
  name: "a member that can reach only an HTTP proxy joins with HTTPS_PROXY and reaches the mesh",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const m = await NatMesh.create({
      internet: [LEADER, "prox", "m2"],
      sites: {
        a: { nat: "masquerade", hosts: ["p1", "p2", "p3"] },
        b: { nat: "masquerade", hosts: ["n1"] },
      },
    }, { ifPrefix: IF_PREFIX, cidr: CIDR });
    // The proxy runs as nobody: its log goes into a folder it may write.
    const pdir = await Deno.makeTempDir({ prefix: "weft-proxy-" });
    await Deno.chmod(pdir, 0o777);
    const plog = join(pdir, "tinyproxy.log");
    try {
      // Site a lets out TCP to the proxy and nothing else; site b no UDP.
      const ipt = (...a: string[]) => m.lab.run("a", "iptables", ...a);
      await ipt("-I", "FORWARD", "1", "-i", "lan", "-j", "DROP");
      await ipt(
        ...["-I", "FORWARD", "1", "-i", "lan", "-d", PROXY_IP, "-p", "tcp"],
        ...["--dport", String(PROXY_PORT), "-j", "ACCEPT"],
      );
      await m.lab.blockUdp("b", true);
      let proxy = await startProxy(m, pdir, false);
      await m.join(["m2"]);

      // The member behind the proxy: the ordinary token, HTTPS_PROXY, no other flag.
      startJoin(m, "p1", await m.token(1), { HTTPS_PROXY: PROXY });
      const log = await joined(m, "p1");
      assert.match(log, new RegExp(`INFO joined over tcp leader=tcp://${LEADER_IP}:${WG_PORT}`));
      await m.settle(["p1"]);
      assert.notEqual(await m.firstReply("p1", LEADER), null, m.log("p1"));
      assert.notEqual(await m.firstReply("p1", "m2"), null, m.log("p1"));
      assert.ok(await m.pings("p1", "m2", 3) >= 1, "pings from p1 to m2 through the relay");
      const connects = (await Deno.readTextFile(plog)).match(
        new RegExp(`CONNECT ${LEADER_IP}:${WG_PORT} HTTP/1\\.1`, "g"),
      ) ?? [];
      // The join's dial and the agent's: two at least.
      assert.ok(connects.length >= 2, await Deno.readTextFile(plog));
      // Its status: the leader over TCP through the proxy, m2 relayed over that connection.
      const lead = await peerView(m.lab, "p1", LEADER);
      assert.equal(lead?.transport, "tcp", JSON.stringify(lead));
      const leadRaw = lead as unknown as Record<string, unknown>;
      assert.equal(leadRaw.proxied, true, JSON.stringify(lead));
      assert.equal(leadRaw.proxy, PROXY);
      const m2 = await peerView(m.lab, "p1", "m2") as unknown as Record<string, unknown>;
      assert.deepEqual([m2.path, m2.via, m2.transport, m2.proxied], ["relay", LEADER, "tcp", true]);
      // weft ping says it too.
      const ping = await weftIn(m.lab, "p1", m.dir, "ping", "m2", "-c", "1", "--timeout", "5000");
      assert.match(
        ping.stdout,
        new RegExp(`pong from m2 \\(.*\\) via relay ${LEADER} over tcp through ${PROXY} in `),
        ping.stdout + ping.stderr,
      );
      const metrics = await metricsOf(m.lab, "p1");
      assert.ok(metricValue(metrics, "weft_proxy_connects_total") >= 1, metrics);
      assert.equal(metricValue(metrics, "weft_proxy_failures_total"), 0, metrics);

      // NO_PROXY: the leader is reached directly (over TCP: no UDP on site b); the proxy named
      // leads nowhere, so a dial through it would fail.
      const before = connects.length;
      startJoin(m, "n1", await m.token(1), {
        https_proxy: `http://${PROXY_IP}:9`,
        no_proxy: "example.com, 203.0.113.0/24",
      });
      assert.match(await joined(m, "n1"), /INFO joined over tcp/);
      await m.settle(["n1"]);
      assert.notEqual(await m.firstReply("n1", LEADER), null, m.log("n1"));
      const n1Lead = await peerView(m.lab, "n1", LEADER) as unknown as Record<string, unknown>;
      assert.equal(n1Lead.transport, "tcp");
      assert.equal(n1Lead.proxied, undefined, JSON.stringify(n1Lead));
      const after = (await Deno.readTextFile(plog)).match(/CONNECT 203\.0\.113\.1/g) ?? [];
      assert.equal(after.length, before, "n1 did not go through the proxy");

      // Credentials: the proxy wants them now.
      await m.lab.stop(proxy.child);
      proxy = await startProxy(m, pdir, true);
      // tinyproxy answers wrong credentials with 401 (407 is for none at all).
      const wrong = await failedJoin(m, "p2", await m.token(1), {
        HTTPS_PROXY: `http://weft:nope@${PROXY_IP}:${PROXY_PORT}`,
      });
      assert.match(
        wrong,
        new RegExp(
          `could not be dialled through the proxy: proxy ${PROXY} refused CONNECT to ` +
            `${LEADER_IP}:${WG_PORT}: 401 Unauthorized \\(it did not take the ` +
            "credentials given\\)",
        ),
        wrong,
      );
      assert.ok(!wrong.includes("nope"), wrong);
      startJoin(m, "p2", await m.token(1), {
        HTTPS_PROXY: `http://weft:${ENCODED}@${PROXY_IP}:${PROXY_PORT}`,
      });
      await joined(m, "p2");
      await waitUp(m.lab, "p2", m.dir, m.procs.get("p2")!);
      assert.notEqual(await m.firstReply("p2", LEADER), null, m.log("p2"));
      const p2Lead = await peerView(m.lab, "p2", LEADER) as unknown as Record<string, unknown>;
      assert.equal(p2Lead.proxy, PROXY, JSON.stringify(p2Lead));
      for (const text of [m.log("p2"), JSON.stringify(p2Lead)]) {
        assert.ok(
          !text.includes("w0rd") && !text.includes(ENCODED) && !text.includes(PASSWORD),
          text,
        );
      }

      // The proxy gone: the join says so, and does not wait out its time.
      await m.lab.stop(proxy.child);
      const gone = await failedJoin(m, "p3", await m.token(1), { HTTPS_PROXY: PROXY });
      assert.match(
        gone,
        new RegExp(
          `no answer from the leader: no reply from ${LEADER_IP}:${WG_PORT} over udp, and ` +
            `tcp://${LEADER_IP}:${WG_PORT} could not be dialled through the proxy: proxy ` +
            `${PROXY} is unreachable \\(.*\\), so ${LEADER_IP}:${WG_PORT} cannot be dialled ` +
            "through it \\(3 times\\)",
        ),
        gone,
      );
      // p1, running, lost its tunnel with the proxy: its redials fail, said in its log (within a
      // budget) and counted.
      const said = await eventually(
        () =>
          Promise.resolve(
            /WARN tcp dial through the proxy failed reason=unreachable/.test(m.log("p1")),
          ),
        HANG_GUARD_MS,
      );
      assert.ok(said, m.log("p1"));
      const failed = await metricsOf(m.lab, "p1");
      assert.ok(
        metricValue(failed, "weft_proxy_failures_total", { reason: "unreachable" }) >= 1,
        failed,
      );
    } finally {
      await m.close();
      await Deno.remove(pdir, { recursive: true }).catch(() => {});
    }
  },
});
