import assert from "node:assert/strict";
import { createLogger } from "../../log/logger.ts";
import { ServiceError } from "../../services/errors.ts";
import type { CallContext, ServiceActions } from "../../services/local.ts";
import type { Subscription } from "../../services/subscription.ts";
import { MAX_IN_FLIGHT, PluginHost, type PluginServiceLayer, workerPermissions } from "./host.ts";

/** A service layer that records what plugins ask of it; requests wait until told. */
class FakeLayer {
  provided = new Map<string, ServiceActions>();
  closed: string[] = [];
  requests: { path: string; params: unknown; answer: (v: unknown) => void }[] = [];
  published: { topic: string; data: unknown }[] = [];
  refuse = new Set<string>();
  layer: PluginServiceLayer = {
    provide: (name, actions) => {
      if (this.refuse.has(name)) throw new Error(`service ${name} is already provided`);
      this.provided.set(name, actions);
      return {
        name,
        close: () => {
          this.provided.delete(name);
          this.closed.push(name);
        },
      };
    },
    request: (path, params) =>
      new Promise((answer) => this.requests.push({ path, params, answer })),
    publish: (topic, data) => {
      this.published.push({ topic, data });
      return Promise.resolve({ local: 0, nodes: 0, acked: 0, unacked: [] });
    },
    subscribe: (): Subscription => {
      throw new Error("no subscriptions here");
    },
  };
}

/** Polls `fn` until true (an event, not a time bound: the guard is only against a hang). */
async function until(what: string, fn: () => boolean | Promise<boolean>): Promise<void> {
  const guard = Date.now() + 30_000;
  while (!(await fn())) {
    if (Date.now() > guard) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function withPlugin(
  code: string,
  fn: (host: PluginHost, layer: FakeLayer) => Promise<void>,
  opts: {
    start?: boolean;
    pingTimeoutMs?: number;
    messages?: { perSecond: number; burst: number };
  } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weft-plugin-host-" });
  const path = `${dir}/p.js`;
  await Deno.writeTextFile(path, code);
  await Deno.writeTextFile(`${dir}/beside.js`, "export const x = 1;\n");
  const layer = new FakeLayer();
  const host = new PluginHost({ path, permissions: {} }, {
    services: layer.layer,
    logger: createLogger({ sink: () => {} }),
    // Generous, for a busy machine: only the cases that wait for a missed ping shorten it.
    timing: { startMs: 60_000, pingIntervalMs: 50, pingTimeoutMs: opts.pingTimeoutMs ?? 60_000 },
    messages: opts.messages,
  });
  try {
    if (opts.start !== false) await host.start();
    await fn(host, layer);
  } finally {
    host.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function ctx(abort = new AbortController()): CallContext {
  return {
    service: "echo",
    action: "say",
    callerAddress: "10.0.0.2",
    callerName: "app",
    signal: abort.signal,
    deadline: performance.now() + 5000,
  };
}

function call(layer: FakeLayer, service: string, action: string, params: unknown, c: CallContext) {
  const spec = layer.provided.get(service)?.[action];
  assert.ok(spec && typeof spec === "object", `${service}/${action} provided`);
  return spec.handler(params, c);
}

Deno.test("plugin host: services provided, calls answered with the caller, requests made", async () => {
  await withPlugin(
    `export default async ({ name, services }) => {
      services.provide("echo", {
        say: (p, ctx) => ({ p, caller: ctx.callerName, left: ctx.deadline > performance.now() }),
        get: { handler: () => 1, idempotent: true },
        boom: () => { throw new Error("said no"); },
      });
      services.request("other/x", { from: name }, { timeoutMs: 100 }).then((v) =>
        services.publish("done/" + name, v));
    };`,
    async (host, layer) => {
      assert.equal(host.status().state, "running");
      assert.deepEqual(host.status().offers, ["echo"]);
      assert.deepEqual(await call(layer, "echo", "say", { n: 1 }, ctx()), {
        p: { n: 1 },
        caller: "app",
        left: true,
      });
      const get = layer.provided.get("echo")!.get;
      assert.ok(typeof get === "object" && get.idempotent === true, "idempotent as declared");
      await assert.rejects(Promise.resolve(call(layer, "echo", "boom", null, ctx())), /said no/);
      await until("the request", () => layer.requests.length === 1);
      assert.deepEqual(layer.requests[0].params, { from: "p" });
      layer.requests[0].answer("answered");
      await until("the publish", () => layer.published.length === 1);
      assert.deepEqual(layer.published[0], { topic: "done/p", data: "answered" });
      // A handler's error is an answer: the plugin runs on.
      assert.equal(host.status().state, "running");
      assert.equal(host.status().calls, 2);
      assert.equal(host.status().callErrors, 1);
    },
  );
});

Deno.test("plugin host: a call past its deadline fails as a timeout and the plugin hears of it", async () => {
  await withPlugin(
    `let cancelled = 0;
    export default ({ services }) => {
      services.provide("slow", {
        wait: (_p, ctx) => new Promise((r) => ctx.signal.addEventListener("abort", () => {
          cancelled++;
          r(null);
        })),
        cancelled: () => cancelled,
      });
    };`,
    async (host, layer) => {
      const abort = new AbortController();
      const waiting = call(layer, "slow", "wait", null, ctx(abort));
      abort.abort();
      await assert.rejects(
        Promise.resolve(waiting),
        (e) => e instanceof ServiceError && e.code === "timeout",
      );
      await until(
        "the plugin saw the cancel",
        async () => await call(layer, "slow", "cancelled", null, ctx()) === 1,
      );
      assert.equal(host.status().state, "running");
    },
  );
});

Deno.test("plugin host: at most MAX_IN_FLIGHT requests at once, the rest refused", async () => {
  await withPlugin(
    `let refused = 0;
    export default ({ services }) => {
      services.provide("count", { refused: () => refused });
      for (let i = 0; i < ${MAX_IN_FLIGHT + 44}; i++) {
        services.request("other/x").catch((e) => { if (e.code === "rate-limited") refused++; });
      }
    };`,
    async (host, layer) => {
      await until(
        "the refusals",
        async () => await call(layer, "count", "refused", null, ctx()) === 44,
      );
      assert.equal(layer.requests.length, MAX_IN_FLIGHT);
      assert.equal(host.status().state, "running");
    },
  );
});

Deno.test("plugin host: an uncaught error stops the plugin and withdraws its services", async () => {
  await withPlugin(
    `export default ({ services }) => {
      services.provide("crashy", { go: () => { setTimeout(() => { throw new Error("bug"); }); return 1; } });
    };`,
    async (host, layer) => {
      assert.equal(await call(layer, "crashy", "go", null, ctx()), 1);
      await until("failed", () => host.status().state === "failed");
      assert.match(host.status().error ?? "", /uncaught: .*bug/);
      assert.deepEqual(layer.closed, ["crashy"]);
      assert.deepEqual(host.status().offers, []);
      assert.equal(host.status().failures, 1);
    },
  );
});

Deno.test("plugin host: flooding, a bad message, or exiting stops the plugin", async (t) => {
  // Only the cases that wait for a missed ping shorten its timeout (1 s). The flood's budget is
  // small (200, then 100 a second): a host slowed by a busy machine takes its 50,000 messages
  // far slower than the default 10,000 a second, and would never see them as a flood.
  const cases: [string, string, RegExp, number][] = [
    [
      "flooding",
      `for (let i = 0; i < 50000; i++) self.postMessage({ t: "pong", n: 0 });`,
      /more than 100 messages a second \(flooding\)/,
      60_000,
    ],
    ["a bad message", `self.postMessage({ t: "take-over" });`, /an unknown message/, 60_000],
    ["a bad provide", `self.postMessage({ t: "provide", id: -1 });`, /a bad provide/, 60_000],
    ["self.close", `setTimeout(() => self.close(), 20);`, /no answer to a ping/, 1_000],
    ["Deno.exit", `setTimeout(() => Deno.exit(3), 20);`, /no answer to a ping/, 1_000],
  ];
  for (const [name, code, said, pingTimeoutMs] of cases) {
    await t.step(name, async () => {
      await withPlugin(
        `export default ({ services }) => {
          services.provide("svc", { go: () => { ${code} return 1; } });
        };`,
        async (host, layer) => {
          // The call may fail: the plugin can be stopped before its answer arrives.
          await Promise.resolve(call(layer, "svc", "go", null, ctx())).catch(() => {});
          await until("failed", () => host.status().state === "failed");
          assert.match(host.status().error ?? "", said);
          assert.deepEqual(layer.closed, ["svc"], "its service withdrawn");
        },
        { pingTimeoutMs, messages: { perSecond: 100, burst: 200 } },
      );
    });
  }
});

Deno.test("plugin host: a plugin that cannot start says why", async (t) => {
  const cases: [string, string, RegExp, (l: FakeLayer) => void][] = [
    [
      "a throwing export",
      `export default () => { throw new Error("no config"); };`,
      /no config/,
      () => {},
    ],
    ["no default export", `export const x = 1;`, /default export is not a function/, () => {}],
    ["a syntax error", `export default (`, /failed to start/, () => {}],
    [
      "a refused provide",
      `export default ({ services }) => { services.provide("taken", { a: () => 1 }); };`,
      /taken is already provided/,
      (l) => l.refuse.add("taken"),
    ],
    [
      "an import it may not read",
      // A file beside it, which it was not granted.
      `import "./beside.js"; export default () => {};`,
      /Requires read access to .*beside\.js/,
      () => {},
    ],
  ];
  for (const [name, code, said, prepare] of cases) {
    await t.step(name, async () => {
      await withPlugin(code, async (host, layer) => {
        prepare(layer);
        await assert.rejects(host.start(), said);
        assert.equal(host.status().state, "failed");
      }, { start: false });
    });
  }
});

Deno.test("plugin host: closed while its start waits, the start ends", async () => {
  await withPlugin(
    `export default ({ services }) => {
      services.provide("x", { a: () => 1 });
      return new Promise(() => {});
    };`,
    async (host, layer) => {
      const starting = host.start();
      await until("the plugin runs", () => layer.provided.has("x"));
      host.close();
      await assert.rejects(starting, /stopped/);
      assert.equal(host.status().state, "stopped");
      assert.deepEqual(layer.closed, ["x"]);
    },
    { start: false },
  );
});

Deno.test("plugin host: the worker gets only what is granted, and its own module", () => {
  const p = workerPermissions({ path: "/p/a.ts", permissions: { net: ["x:1"], read: ["/d"] } });
  assert.deepEqual(p, {
    read: ["/p/a.ts", "/d"],
    write: false,
    net: ["x:1"],
    env: false,
    sys: false,
    import: false,
    run: false,
    ffi: false,
  });
  assert.equal(workerPermissions({ path: "/p/a.ts", permissions: { read: true } }).read, true);
});
