import assert from "node:assert/strict";
import { type CallerLimitOptions, CallerLimits } from "./caller_limits.ts";
import { ServiceError } from "./errors.ts";
import { type CallContext, LocalServices, type ServiceActions, serviceOf } from "./local.ts";
import { ServiceServer, type ServiceServerOptions } from "./server.ts";
import { ServiceStats } from "./stats.ts";
import type { RequestMessage, ResponseMessage } from "./wire.ts";

/** A server with `actions` as service `svc`; answers are collected and can be waited for. */
function setup(
  actions: ServiceActions,
  opts: { limits?: CallerLimitOptions; server?: ServiceServerOptions; healthy?: boolean } = {},
) {
  const local = new LocalServices();
  local.add(serviceOf("svc", actions));
  const sent: { to: string; msg: ResponseMessage }[] = [];
  const waiters: (() => void)[] = [];
  const stats = new ServiceStats();
  const server = new ServiceServer({
    local,
    limits: new CallerLimits(opts.limits ?? {}),
    stats,
    self: "node1",
    nameOf: (a) => (a === "10.0.0.2" ? "caller" : null),
    healthy: () => opts.healthy ?? true,
    send: (to, msg) => {
      if (msg.ok && JSON.stringify(msg.result).length > 1000) {
        throw new ServiceError("too-large", "the message is 2000 bytes, over the limit of 1000");
      }
      sent.push({ to, msg });
      for (const w of waiters.splice(0)) w();
    },
  }, opts.server);
  const answers = async (n: number) => {
    while (sent.length < n) await new Promise<void>((r) => waiters.push(r));
    return sent.slice(0, n).map((s) => s.msg);
  };
  const req = (
    id: number,
    action: string,
    params: unknown = null,
    ttlMs = 5000,
  ): RequestMessage => ({
    kind: "request",
    id,
    service: "svc",
    action,
    params,
    ttlMs,
  });
  return { server, sent, answers, req, stats, local };
}

Deno.test("server: runs the action and answers, with the caller's name and the idempotent flag", async () => {
  let ctxSeen: CallContext | null = null;
  const t = setup({
    echo: {
      handler: (p, ctx) => {
        ctxSeen = ctx;
        return { echo: p };
      },
      idempotent: true,
    },
  });
  t.server.handle(t.req(1, "echo", "hi"), "10.0.0.2");
  const [a] = await t.answers(1);
  assert.deepEqual(a, {
    kind: "response",
    id: 1,
    ok: true,
    result: { echo: "hi" },
    idempotent: true,
  });
  assert.equal(t.sent[0].to, "10.0.0.2");
  assert.equal(ctxSeen!.callerName, "caller");
  assert.equal(ctxSeen!.callerAddress, "10.0.0.2");
  assert.equal(t.stats.snapshot().served[0].outcome, "ok");
});

Deno.test("server: unknown service and action, and a failing health check, are clear errors", async () => {
  const t = setup({ a: () => 1, b: () => 2 });
  t.server.handle({ ...t.req(1, "a"), service: "other" }, "10.0.0.2");
  t.server.handle(t.req(2, "zzz"), "10.0.0.2");
  const [x, y] = await t.answers(2);
  assert.ok(
    !x.ok && x.code === "no-instance" && /service other is not provided on node1/.test(x.message),
  );
  assert.ok(!y.ok && y.code === "bad-request" && /no action zzz \(it has a, b\)/.test(y.message));
  const sick = setup({ a: () => 1 }, { healthy: false });
  sick.server.handle(sick.req(1, "a"), "10.0.0.2");
  const [z] = await sick.answers(1);
  assert.ok(!z.ok && z.code === "no-instance" && /failing its health check/.test(z.message));
});

Deno.test("server: a handler's failure is a remote error with its message (and status)", async () => {
  const t = setup({
    boom: () => {
      throw new Error("no such user");
    },
    http: () => Promise.reject(new ServiceError("remote-error", "HTTP 503", { status: 503 })),
    date: () => new Date(0),
  });
  t.server.handle(t.req(1, "boom"), "10.0.0.2");
  t.server.handle(t.req(2, "http"), "10.0.0.2");
  t.server.handle(t.req(3, "date"), "10.0.0.2");
  const byId = new Map((await t.answers(3)).map((m) => [m.id, m]));
  const boom = byId.get(1)!;
  assert.ok(!boom.ok && boom.code === "remote-error" && boom.message === "no such user");
  const http = byId.get(2)!;
  assert.ok(!http.ok && http.code === "remote-error" && http.status === 503);
  const date = byId.get(3)!;
  assert.ok(
    !date.ok && /answer of svc\/date cannot be sent: the value is a Date/.test(date.message),
  );
});

Deno.test("server: an answer over the size limit becomes a too-large error", async () => {
  const t = setup({ big: () => "x".repeat(5000) });
  t.server.handle(t.req(1, "big"), "10.0.0.2");
  const [a] = await t.answers(1);
  assert.ok(!a.ok && a.code === "too-large" && /answer cannot be sent/.test(a.message));
});

Deno.test("server: per-caller rate and handlers at once are limited", async () => {
  const gates: (() => void)[] = [];
  const t = setup(
    { slow: () => new Promise<string>((r) => gates.push(() => r("done"))), fast: () => 1 },
    { limits: { ratePerSecond: 0.001, burst: 3, maxConcurrent: 2 } },
  );
  t.server.handle(t.req(1, "slow"), "10.0.0.2");
  t.server.handle(t.req(2, "slow"), "10.0.0.2");
  t.server.handle(t.req(3, "fast"), "10.0.0.2");
  const [busy] = await t.answers(1);
  assert.ok(
    !busy.ok && busy.id === 3 && busy.code === "rate-limited" && /at once/.test(busy.message),
  );
  // Another caller is not held back by the first.
  t.server.handle(t.req(4, "fast"), "10.0.0.9");
  await t.answers(2);
  assert.ok(t.sent[1].msg.ok);
  for (const g of gates) g();
  await t.answers(4);
  // A refused call took no token: one of the 3 is left, then the bucket is empty.
  t.server.handle(t.req(5, "fast"), "10.0.0.2");
  assert.ok((await t.answers(5))[4].ok);
  t.server.handle(t.req(6, "fast"), "10.0.0.2");
  const last = (await t.answers(6))[5];
  assert.ok(!last.ok && last.code === "rate-limited" && /slow down/.test(last.message));
});

Deno.test("server: a retried request id does not run the action again", async () => {
  let runs = 0;
  let release = () => {};
  const t = setup({
    once: {
      handler: () => {
        runs++;
        return new Promise((r) => release = () => r(runs));
      },
      idempotent: true,
    },
  });
  t.server.handle(t.req(7, "once"), "10.0.0.2");
  // A retry while it runs waits with it.
  t.server.handle(t.req(7, "once"), "10.0.0.2");
  release();
  const [a] = await t.answers(1);
  assert.ok(a.ok && a.result === 1);
  // A retry after it answered gets the same answer from the cache.
  t.server.handle(t.req(7, "once"), "10.0.0.2");
  const [, b] = await t.answers(2);
  assert.deepEqual(b, a);
  assert.equal(runs, 1);
  // The same id from another caller is another request.
  t.server.handle(t.req(7, "once"), "10.0.0.3");
  release();
  const [, , c] = await t.answers(3);
  assert.ok(c.ok && c.result === 2);
});

Deno.test("server: the cache is bounded; the oldest answers are forgotten", async () => {
  let runs = 0;
  const t = setup({ count: () => ++runs }, { server: { cacheSize: 2 } });
  for (const id of [1, 2, 3]) {
    t.server.handle(t.req(id, "count"), "10.0.0.2");
    await t.answers(id);
  }
  assert.equal(t.server.cached, 2);
  t.server.handle(t.req(1, "count"), "10.0.0.2");
  const a = (await t.answers(4))[3];
  assert.ok(a.ok && a.result === 4, "id 1 was forgotten, so it ran again");
  t.server.handle(t.req(3, "count"), "10.0.0.2");
  const b = (await t.answers(5))[4];
  assert.ok(b.ok && b.result === 3, "id 3 is still remembered");
});

Deno.test("server: one caller's calls never push out another's answer (a retry runs nothing twice)", async () => {
  let runs = 0;
  const t = setup({ count: () => ++runs }, { server: { cacheSize: 4 } });
  // The victim's non-idempotent call is answered and remembered.
  t.server.handle(t.req(1, "count"), "10.0.0.2");
  await t.answers(1);
  // Another caller makes many calls.
  for (let id = 1; id <= 20; id++) {
    t.server.handle(t.req(id, "count"), "10.0.0.9");
    await t.answers(1 + id);
  }
  // The victim's retry gets its first answer again: the action did not run a second time.
  t.server.handle(t.req(1, "count"), "10.0.0.2");
  const again = (await t.answers(22))[21];
  assert.ok(again.ok && again.result === 1, JSON.stringify(again));
  assert.equal(runs, 21);
  assert.ok(t.server.cached <= 4 + 4, String(t.server.cached));
});

Deno.test("server: callers are bounded; the least recent one with nothing running goes", async () => {
  let runs = 0;
  const t = setup({ count: () => ++runs }, { server: { cacheSize: 2, maxCallers: 2 } });
  for (const [i, from] of ["10.0.0.2", "10.0.0.3", "10.0.0.4"].entries()) {
    t.server.handle(t.req(1, "count"), from);
    await t.answers(i + 1);
  }
  assert.equal(t.server.cached, 2);
  // 10.0.0.2, the least recent, was forgotten: its retry runs again; 10.0.0.4's does not.
  t.server.handle(t.req(1, "count"), "10.0.0.4");
  assert.ok((await t.answers(4))[3].ok);
  assert.equal(runs, 3);
  t.server.handle(t.req(1, "count"), "10.0.0.2");
  await t.answers(5);
  assert.equal(runs, 4);
});

Deno.test("server: the deadline aborts the handler's signal and no answer is sent", async () => {
  let aborted: unknown = null;
  const done = Promise.withResolvers<void>();
  const t = setup({
    hang: (_p, ctx) =>
      new Promise((_r, reject) => {
        ctx.signal.addEventListener("abort", () => {
          aborted = ctx.signal.reason;
          reject(ctx.signal.reason);
          setTimeout(done.resolve, 0);
        });
      }),
  });
  t.server.handle(t.req(1, "hang", null, 20), "10.0.0.2");
  await done.promise;
  assert.ok(aborted instanceof ServiceError && aborted.code === "timeout");
  assert.equal(t.sent.length, 0);
  assert.equal(t.stats.snapshot().served[0].outcome, "timeout");
});

Deno.test("server: calls made on this node run without the network's limits", async () => {
  const t = setup({ add: (p) => (p as number[]).reduce((a, b) => a + b, 0) });
  assert.deepEqual(await t.server.callLocal("svc", "add", [1, 2, 3], 1000), {
    ok: true,
    result: 6,
    idempotent: false,
  });
  const missing = await t.server.callLocal("svc", "nope", null, 1000);
  assert.ok(!missing.ok && missing.code === "bad-request");
});
