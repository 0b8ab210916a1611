/**
 * Plugins through the real CLI, on userspace agents on loopback (no network property is tested
 * here: a call crosses the mesh between two processes, through their tunnel): a node runs three
 * plugins named in its YAML file. The leader calls the service one offers (its handler sees the
 * caller, reads the file it was granted and is refused what it was not) and publishes to its
 * subscription; another's handler throws (an error answer), then throws where nothing catches it
 * (the plugin is stopped and its service withdrawn); the third loops forever (the call times
 * out and the plugin is stopped). The node keeps running and answering through all of it, and
 * `weft status` says what happened. A plugin named at start that cannot start stops the agent.
 */
import assert from "node:assert/strict";
import { freePort, HOST_AGENT_FLAGS, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { selfCommand } from "../../lib/demo/self.ts";
import type { PluginStatus } from "../../lib/status/status.ts";

const [CMD, ...PRE] = selfCommand();

/** A spawned weft process whose stderr is collected. */
function spawn(args: string[]) {
  const child = new Deno.Command(CMD, { args: [...PRE, ...args], stdout: "null", stderr: "piped" })
    .spawn();
  let log = "";
  const dec = new TextDecoder();
  const pump = child.stderr.pipeTo(
    new WritableStream({ write: (c) => void (log += dec.decode(c)) }),
  ).catch(() => {});
  return { child, log: () => log, pump };
}

const GREETER = `
let last = null;
export default async function ({ name, services }) {
  services.provide(name, {
    hello: async (p, ctx) => {
      const file = await Deno.readTextFile(new URL("./data.txt", import.meta.url));
      const refused = async (f) => {
        try {
          await f();
          return false;
        } catch (e) {
          return e.name === "NotCapable";
        }
      };
      return {
        hi: p.name,
        by: ctx.callerName,
        file: file.trim(),
        stateRefused: await refused(() => Deno.readDir(p.stateDir)[Symbol.asyncIterator]().next()),
        netRefused: await refused(() => fetch("http://" + p.status + "/status")),
        envRefused: await refused(async () => Deno.env.get("HOME")),
      };
    },
    last: () => last,
  });
  const sub = services.subscribe("news/>");
  (async () => {
    for await (const ev of sub) last = { topic: ev.topic, data: ev.data, from: ev.publisher };
  })();
  await sub.announced;
}
`;

const THROWER = `
export default ({ services }) => {
  services.provide("thrower", {
    fail: () => {
      throw new Error("handler said no");
    },
    crash: () => {
      setTimeout(() => {
        throw new Error("plugin bug");
      }, 50);
      return "later";
    },
  });
};
`;

const HANGER = `
export default ({ services }) => {
  services.provide("hanger", {
    spin: () => {
      for (;;) { /* never returns */ }
    },
  });
};
`;

Deno.test({
  name: "plugins: called from another node; one that throws or hangs is stopped, the agent runs",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-plugins-cli-" });
    await Deno.writeTextFile(`${dir}/greeter.ts`, GREETER);
    await Deno.writeTextFile(`${dir}/data.txt`, "granted\n");
    await Deno.writeTextFile(`${dir}/thrower.js`, THROWER);
    await Deno.writeTextFile(`${dir}/hanger.js`, HANGER);
    await Deno.writeTextFile(
      `${dir}/n1.yaml`,
      [
        "plugins:",
        "  - path: greeter.ts",
        "    permissions:",
        "      read: [data.txt]",
        "  - thrower.js",
        "  - hanger.js",
      ].join("\n") + "\n",
    );
    const lport = freePort();
    const lstatus = `127.0.0.1:${freePort("tcp")}`;
    const nstatus = `127.0.0.1:${freePort("tcp")}`;
    const common = ["--userspace", ...HOST_AGENT_FLAGS, "--dns-port", "0"];
    const leader = spawn([
      "--leader",
      ...common,
      "--cidr",
      "10.214.0.0/24",
      "--state-dir",
      `${dir}/leader`,
      "--listen-port",
      String(lport),
      "--advertise",
      `127.0.0.1:${lport}`,
      "--status-listen",
      lstatus,
      "--hostname",
      "boss",
    ]);
    const procs = [leader];
    const at = (status: string, state: string) => (...a: string[]) =>
      weft([...a, "--status-listen", status, "--state-dir", `${dir}/${state}`]);
    const onLeader = at(lstatus, "leader");
    const onNode = at(nstatus, "n1");
    const plugins = async (): Promise<Map<string, PluginStatus>> => {
      const r = await onNode("status", "--json");
      const list: PluginStatus[] = r.code === 0 ? JSON.parse(r.stdout).node.plugins ?? [] : [];
      return new Map(list.map((p) => [p.name, p]));
    };
    try {
      assert.ok(
        await eventually(async () => (await onLeader("token", "list")).code === 0, HANG_GUARD_MS),
        leader.log(),
      );
      const token = (await onLeader("token", "create")).stdout.trim();
      const node = spawn([
        "--join",
        token,
        "--config",
        `${dir}/n1.yaml`,
        ...common,
        "--state-dir",
        `${dir}/n1`,
        "--hostname",
        "n1",
        "--listen-port",
        String(freePort()),
        "--status-listen",
        nstatus,
      ]);
      procs.push(node);
      const logs = () => `${leader.log()}\n--- n1:\n${node.log()}`;

      // The leader learns of the three plugins' services, each an instance on n1.
      assert.ok(
        await eventually(async () => {
          const r = await onLeader("service", "list", "--json");
          if (r.code !== 0) return false;
          const names = JSON.parse(r.stdout)
            .filter((s: { instances: { node: string }[] }) => s.instances[0]?.node === "n1")
            .map((s: { name: string }) => s.name);
          return ["greeter", "hanger", "thrower"].every((n) => names.includes(n));
        }, HANG_GUARD_MS),
        logs(),
      );

      // A call from the other node: the handler sees the caller as the mesh names it, reads
      // what it was granted, and is refused the state directory, the network and the
      // environment.
      const hello = await onLeader(
        "call",
        "greeter/hello",
        JSON.stringify({ name: "ann", stateDir: `${dir}/n1`, status: nstatus }),
      );
      assert.equal(hello.code, 0, `${hello.stderr}\n${logs()}`);
      assert.deepEqual(JSON.parse(hello.stdout), {
        hi: "ann",
        by: "boss",
        file: "granted",
        stateRefused: true,
        netRefused: true,
        envRefused: true,
      });

      // Its subscription, made in the plugin, gets what the leader publishes.
      const pub = await onLeader("publish", "news/today", '"rain"');
      assert.equal(pub.code, 0, pub.stderr);
      assert.ok(
        await eventually(async () => {
          const r = await onLeader("call", "greeter/last");
          return r.code === 0 && JSON.parse(r.stdout)?.data === "rain";
        }, HANG_GUARD_MS),
        logs(),
      );
      assert.deepEqual(JSON.parse((await onLeader("call", "greeter/last")).stdout), {
        topic: "news/today",
        data: "rain",
        from: "boss",
      });

      // A handler that throws: an error answer, the plugin runs on.
      const fail = await onLeader("call", "thrower/fail", "--retries", "0");
      assert.equal(fail.code, 1);
      assert.match(fail.stderr, /remote-error.*handler said no/);
      assert.equal((await plugins()).get("thrower")?.state, "running");

      // An error nothing catches: the plugin is stopped, its service withdrawn, the agent runs.
      const crash = await onLeader("call", "thrower/crash");
      assert.equal(crash.code, 0, crash.stderr);
      assert.ok(
        await eventually(
          async () => (await plugins()).get("thrower")?.state === "failed",
          HANG_GUARD_MS,
        ),
        logs(),
      );
      const thrower = (await plugins()).get("thrower")!;
      assert.match(thrower.error ?? "", /uncaught: .*plugin bug/);
      assert.deepEqual(thrower.offers, []);
      assert.equal(thrower.failures, 1);
      assert.ok(
        await eventually(async () => {
          const r = await onLeader("call", "thrower/fail", "--retries", "0");
          return r.code === 1 && /no-instance/.test(r.stderr);
        }, HANG_GUARD_MS),
        "its service left the mesh",
      );
      assert.match(node.log(), /ERROR plugin failed plugin=thrower reason="uncaught: .*plugin bug/);

      // A handler that never returns: the call times out, the plugin is stopped (its thread
      // blocked, it does not answer pings), the agent's own work goes on meanwhile.
      const spin = await onLeader("call", "hanger/spin", "--timeout", "1000", "--retries", "0");
      assert.equal(spin.code, 1);
      assert.match(spin.stderr, /timeout/);
      assert.equal((await onLeader("call", "greeter/last")).code, 0, "n1 answers meanwhile");
      assert.ok(
        await eventually(
          async () => (await plugins()).get("hanger")?.state === "failed",
          HANG_GUARD_MS,
        ),
        logs(),
      );
      assert.match((await plugins()).get("hanger")?.error ?? "", /no answer to a ping/);

      // The node runs on, the good plugin with it, and `weft status` says what happened.
      const again = await onLeader("call", "greeter/hello", JSON.stringify({ name: "bo" }));
      assert.equal(again.code, 0, again.stderr);
      assert.equal(JSON.parse(again.stdout).hi, "bo");
      const table = await onNode("status");
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^plugins\s+greeter running, offers greeter, 1 subscription,/m);
      assert.match(table.stdout, /^\s+thrower FAILED: uncaught: .*plugin bug/m);
      assert.match(table.stdout, /^\s+hanger FAILED: no answer to a ping/m);
      const st = await Promise.race([
        node.child.status.then(() => "exited"),
        Promise.resolve("running"),
      ]);
      assert.equal(st, "running", logs());
    } finally {
      for (const p of procs.reverse()) {
        try {
          p.child.kill("SIGTERM");
        } catch { /* gone */ }
        await p.child.status;
        await p.pump;
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "plugins: a plugin named at start that cannot start stops the agent, saying why",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-plugins-start-" });
    try {
      await Deno.writeTextFile(
        `${dir}/broken.js`,
        'export default () => { throw new Error("no settings given"); };\n',
      );
      const cases: [string, RegExp][] = [
        [`${dir}/broken.js`, /plugin broken .* failed to start: no settings given/],
        [`${dir}/absent.ts`, /plugin absent .*: cannot read the module/],
      ];
      for (const [plugin, said] of cases) {
        const port = freePort();
        const r = await weft([
          "--leader",
          "--userspace",
          ...HOST_AGENT_FLAGS,
          "--dns-port",
          "0",
          "--state-dir",
          `${dir}/state`,
          "--listen-port",
          String(port),
          "--status-listen",
          `127.0.0.1:${freePort("tcp")}`,
          "--plugin",
          plugin,
        ]);
        assert.notEqual(r.code, 0, r.stderr);
        assert.match(r.stderr, said);
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
