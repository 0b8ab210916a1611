/**
 * Issue 16's proof: services across the mesh with real `weft` processes (TUN mode), each node in
 * its own namespace. A leader and three nodes; n1 and n2 offer `echo` through an HTTP backend (a
 * small Deno server in each namespace, `--service-http`); from n3, 20 calls are spread over both
 * instances. `weft publish` reaches each `weft subscribe` on every node exactly once (mode `all`)
 * and one subscriber of a service group per event (`one-per-service`). Then the node leading
 * `echo` is killed: calls made meanwhile keep succeeding, the node leaves n3's rotation (after
 * which calls that may not be retried all succeed: none goes to it), a new leader is named and
 * `leader.echo.<zone>` follows. All at the default settings (5 s health probes, 6 s leases): the
 * issue asks for each within 10 s of the stop. The times are printed as figures (the machine is
 * shared: tests wait for events, never for wall-clock bounds); every bound asserted is a hang
 * guard.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import { type LabProc, nodeList, startMeshNode, waitUp, weftIn } from "../fixtures/mesh_lab.ts";
import { selfCommand } from "../../lib/demo/self.ts";
import {
  callsFrom,
  CLIENT,
  denoIn,
  jsonLines,
  startEchoBackend,
  STATUS,
} from "../fixtures/services_lab.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("dig"));

// Default probe interval (5 s): the stopped node is judged down only after ~15 s, so the 10 s of
// the issue rest on the caller's own suspicion and on the leases.
const OPTS = { cidr: "10.91.0.0/24", ifPrefix: "ws" };
const [CMD, ...PRE] = selfCommand();

Deno.test({
  name: "services across the mesh: calls spread and survive a stop, pub/sub once, leader failover",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const hosts = ["lead", "n1", "n2", "n3"];
    const lab = await Lab.create(hosts);
    const dir = await Deno.makeTempDir({ prefix: "weft-svc-" });
    const running = new Map<string, LabProc>();
    const weft = (host: string, ...args: string[]) => weftIn(lab, host, dir, ...args);
    const deno = (host: string, ...args: string[]) => denoIn(lab, host, ...args);
    try {
      const leader = startMeshNode(lab, { ...OPTS, dir }, "lead", [
        "--leader",
        "--advertise",
        "192.0.2.1:51820",
      ]);
      running.set("lead", leader);
      await waitUp(lab, "lead", dir, leader);
      const token = (await weft("lead", "token", "create", "--uses", "3")).stdout.trim();
      for (const h of ["n1", "n2"]) await startEchoBackend(lab, h, 8080);
      for (const h of ["n1", "n2", "n3"]) {
        const offer = h === "n3" ? [] : [
          "--service",
          "echo:8080/tcp",
          "--service-http",
          "echo=http://127.0.0.1:8080",
          "--service-check",
          "echo=tcp://127.0.0.1:8080",
        ];
        const r = startMeshNode(lab, { ...OPTS, dir }, h, ["--join", token, ...offer]);
        running.set(h, r);
        await waitUp(lab, h, dir, r);
      }
      for (const h of hosts) {
        assert.ok(
          await eventually(async () => (await nodeList(lab, h, dir))?.length === 4, HANG_GUARD_MS),
          `${h} does not see 4 nodes`,
        );
      }
      const addr = Object.fromEntries(
        (await nodeList(lab, "lead", dir))!.map((m) => [m.name, m.address]),
      );

      // n3 sees both instances healthy, and a leader of echo.
      const seen = await eventually(async () => {
        const r = await weft("n3", "service", "list", "--json");
        if (r.code !== 0) return false;
        const echo = JSON.parse(r.stdout).find((s: { name: string }) => s.name === "echo");
        return echo?.instances.filter((i: { healthy: boolean }) => i.healthy).length === 2 &&
          echo.leader !== null;
      }, HANG_GUARD_MS);
      assert.ok(seen, (await weft("n3", "service", "list")).stdout);
      console.log((await weft("n3", "service", "list")).stdout.trim());

      // A call through the CLI, then 20 in one process through the control API.
      const one = await weft("n3", "call", "echo/x", '{"hello": "mesh"}');
      assert.equal(one.code, 0, one.stderr);
      const answer = JSON.parse(one.stdout);
      assert.ok(["n1", "n2"].includes(answer.node));
      assert.deepEqual([answer.action, answer.params], ["x", { hello: "mesh" }]);
      const twenty = await callsFrom(lab, "n3", `${dir}/n3`, 20, "echo/x");
      const by = twenty.by;
      for (const r of twenty.lines) assert.ok(typeof r.node === "string", JSON.stringify(r));
      console.log(`20 calls from n3: ${JSON.stringify(by)}`);
      assert.equal((by.n1 ?? 0) + (by.n2 ?? 0), 20);
      assert.ok(by.n1 > 0 && by.n2 > 0, "spread over both instances");

      // Subscribers: news/* on every node (mode all); jobs/* in group echo on n1, n2 and n3,
      // and one without a group on the leader.
      const sub = (host: string, pattern: string, extra: string[] = []) =>
        startWeft(lab, host, dir, ["subscribe", pattern, ...extra]);
      const news = hosts.map((h) => ({ host: h, p: sub(h, "news/*") }));
      const workers = ["n1", "n2", "n3"].map((h) => ({
        host: h,
        p: sub(h, "jobs/*", ["--group", "echo"]),
      }));
      const loose = sub("lead", "jobs/*");
      const all = [...news, ...workers, { host: "lead", p: loose }];
      for (const s of all) {
        assert.ok(
          await eventually(
            () => Promise.resolve(s.p.output().includes("subscribed to")),
            HANG_GUARD_MS,
          ),
          s.p.output(),
        );
      }
      const events = (s: { p: LabProc }) => jsonLines(s.p.output());
      const got = (s: { p: LabProc }, topic: string) =>
        events(s).filter((e) => e.topic === topic).length;
      // Until each subscriber heard a warm-up event, n3 may not know of it yet.
      const warm = await eventually(
        async () => {
          await weft("n3", "publish", "news/warm", "1");
          await weft("n3", "publish", "jobs/warm", "1", "--mode", "one-per-service");
          return news.every((s) => got(s, "news/warm") > 0) &&
            workers.every((s) => got(s, "jobs/warm") > 0);
        },
        HANG_GUARD_MS,
        0,
      );
      assert.ok(warm, all.map((s) => `${s.host}: ${s.p.output()}`).join("\n"));

      const pub = await weft("n3", "publish", "news/hello", "hi all", "--json");
      assert.equal(pub.code, 0, pub.stderr);
      assert.deepEqual(JSON.parse(pub.stdout), { local: 1, nodes: 3, acked: 3, unacked: [] });
      await weft("n3", "publish", "news/end", "1");
      for (const s of news) {
        assert.ok(
          await eventually(() => Promise.resolve(got(s, "news/end") === 1), HANG_GUARD_MS),
          s.p.output(),
        );
        const hello = events(s).filter((e) => e.topic === "news/hello");
        assert.equal(hello.length, 1, `${s.host} got news/hello once`);
        assert.equal(hello[0].data, "hi all");
        assert.equal(hello[0].publisher, "n3");
      }
      for (let i = 0; i < 6; i++) {
        const r = await weft("n3", "publish", `jobs/j${i}`, String(i), "--mode", "one-per-service");
        assert.equal(r.code, 0, r.stderr);
      }
      const jobs = (s: { p: LabProc }) =>
        events(s).filter((e) => /^jobs\/j\d$/.test(e.topic as string)).map((e) => e.data);
      // Until every job was printed by its subscribers (each `weft subscribe` prints what its
      // stream brings, in its own time): the loose one and, in all, the group's workers.
      assert.ok(
        await eventually(
          () =>
            Promise.resolve(
              jobs({ p: loose }).length === 6 && workers.flatMap((w) => jobs(w)).length >= 6,
            ),
          HANG_GUARD_MS,
        ),
        [loose, ...workers.map((w) => w.p)].map((p) => p.output()).join("\n"),
      );
      const spread = workers.map((w) => jobs(w));
      const flat = spread.flat().sort();
      console.log(`one-per-service, group echo: ${JSON.stringify(spread)}`);
      assert.deepEqual(flat, [0, 1, 2, 3, 4, 5], "each job to exactly one worker of the group");
      assert.deepEqual(jobs({ p: loose }).sort(), [0, 1, 2, 3, 4, 5], "ungrouped: every job");
      for (const s of all) await lab.stop(s.p.child);
      for (const s of all) {
        assert.equal((await s.p.child.status).code, 0, `${s.host} subscriber: ${s.p.output()}`);
      }

      // The leader of echo, as n3's CLI and DNS say it.
      const lead = await weft("n3", "service", "leader", "echo");
      assert.equal(lead.code, 0, lead.stderr);
      const [first, firstAddr] = lead.stdout.trim().split(" ");
      assert.ok(["n1", "n2"].includes(first), lead.stdout);
      assert.equal(firstAddr, addr[first]);
      const other = first === "n1" ? "n2" : "n1";
      const dig = async () =>
        (await lab.exec(
          "n3",
          "dig",
          "+short",
          "+tries=1",
          "+time=2",
          "@127.0.0.1",
          "-p",
          "15353",
          "leader.echo.overlay.local",
          "A",
        )).stdout.trim();
      assert.ok(await eventually(async () => (await dig()) === addr[first], HANG_GUARD_MS));

      // n3 watches echo (leader, healthy instances) and calls it all along; the leader's node
      // is killed.
      const watch = deno("n3", CLIENT, "watch", STATUS, `${dir}/n3`, "echo", "echo/x");
      assert.ok(
        await eventually(
          () => Promise.resolve(jsonLines(watch.output()).some((l) => l.call !== undefined)),
          HANG_GUARD_MS,
        ),
        watch.output(),
      );
      const killedAt = Date.now();
      running.get(first)!.child.kill("SIGKILL");
      await running.get(first)!.child.status;
      // DNS is watched from the stop on, beside the rest.
      const dnsFollows = eventually(async () => (await dig()) === addr[other], HANG_GUARD_MS, 100)
        .then((ok) => ({ ok, at: Date.now() }));
      const lines = () => jsonLines(watch.output()).filter((l) => (l.t as number) >= killedAt);
      const outLine = () =>
        lines().find((l) =>
          Array.isArray(l.healthy) && !l.healthy.includes(first) && l.healthy.includes(other)
        );
      assert.ok(
        await eventually(() => Promise.resolve(outLine() !== undefined), HANG_GUARD_MS, 100),
        watch.output(),
      );
      const outAt = outLine()!.t as number;
      const led = await eventually(
        () => Promise.resolve(lines().some((l) => l.leader === other)),
        HANG_GUARD_MS,
        100,
      );
      assert.ok(led, watch.output());
      const ledAt = lines().find((l) => l.leader === other)!.t as number;
      const dns = await dnsFollows;
      assert.ok(dns.ok, `leader.echo still ${await dig()}`);
      // Strict calls started after n3 took the node out: until a few have ended.
      const strictAfter = () =>
        lines().filter((l) => (l.t0 as number) >= outAt && ("strict" in l || "strictError" in l));
      assert.ok(
        await eventually(() => Promise.resolve(strictAfter().length >= 5), HANG_GUARD_MS, 100),
        watch.output(),
      );
      await lab.stop(watch.child);
      const during = lines().filter((l) => "call" in l || "error" in l);
      const looped = lines().filter((l) => "strict" in l || "strictError" in l);
      const strictFailed = looped.filter((l) => "strictError" in l).map((l) => l.t0 as number);
      const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
      console.log(
        `${first} killed (default probe interval and leases): out of n3's rotation after ` +
          `${s(outAt - killedAt)}, new leader ${other} after ${s(ledAt - killedAt)}, ` +
          `DNS followed after ${s(dns.at - killedAt)}; ${during.length} idempotent calls ` +
          `meanwhile, ${during.filter((l) => "error" in l).length} failed; ${looped.length} ` +
          `strict calls, ${strictFailed.length} failed` +
          (strictFailed.length
            ? ` (started ${strictFailed.map((t) => s(t - killedAt)).join(", ")} after the stop)`
            : ""),
      );
      assert.deepEqual(during.filter((l) => "error" in l), [], "calls kept succeeding");
      assert.ok(during.length > 0);
      // Calls started after the stop were answered by the other instance.
      const started = during.filter((l) => (l.t0 as number) >= killedAt);
      assert.ok(started.length > 0);
      assert.ok(started.every((l) => l.call === other), `answers came from ${other}`);
      // None goes to the stopped node once n3 took it out: calls that cannot be retried succeed.
      assert.deepEqual(
        strictAfter().filter((l) => l.strict !== other),
        [],
        `strict calls after ${first} left the rotation`,
      );
      // Out of the rotation: calls that may not be retried (no retries, not idempotent) all
      // succeed, so none goes to the stopped node.
      const strict = await callsFrom(lab, "n3", `${dir}/n3`, 10, "echo/x", {
        retries: 0,
        // A guard, not a bound: a call sent to the stopped node fails however long it waits.
        timeoutMs: HANG_GUARD_MS,
      });
      assert.deepEqual(
        strict.lines,
        Array.from({ length: 10 }, () => ({ node: other })),
        strict.stderr,
      );
      const after = await weft("n3", "service", "leader", "echo");
      assert.match(after.stdout, new RegExp(`^${other} ${addr[other].replaceAll(".", "\\.")}`));
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** A `weft` command that runs until stopped (`weft subscribe`) on a lab host. */
function startWeft(lab: Lab, host: string, dir: string, args: string[]): LabProc {
  return lab.spawn(host, CMD, [...PRE, ...args, "--state-dir", `${dir}/${host}`]);
}
