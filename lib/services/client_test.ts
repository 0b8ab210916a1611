import assert from "node:assert/strict";
import { ServiceClient, type ServiceClientOptions } from "./client.ts";
import { ServiceError } from "./errors.ts";
import type { ServiceInstance } from "./instances.ts";
import { ServiceStats } from "./stats.ts";
import type { Answer, RequestMessage } from "./wire.ts";

type Behaviour = (req: RequestMessage) => Answer | "drop";

function inst(
  node: string,
  address: string,
  extra: Partial<ServiceInstance> = {},
): ServiceInstance {
  return {
    service: "echo",
    node,
    publicKey: node,
    address,
    local: false,
    rpc: true,
    healthy: true,
    spec: { name: "echo", port: 1, protocol: "udp", rpc: true },
    ...extra,
  };
}

const ok = (result: unknown, idempotent = false): Answer => ({ ok: true, result, idempotent });

/** A client whose remote instances answer as `nodes` says, a macrotask later. */
function setup(
  nodes: Record<string, Behaviour>,
  opts: {
    instances?: ServiceInstance[];
    local?: Behaviour;
    client?: ServiceClientOptions;
    ping?: (to: string, id: number) => void;
    isMember?: (address: string) => boolean;
    now?: () => number;
  } = {},
) {
  const sent: { to: string; req: RequestMessage }[] = [];
  const stats = new ServiceStats();
  const instances = opts.instances ??
    Object.keys(nodes).map((a, i) => inst(`n${i + 1}`, a));
  const client: ServiceClient = new ServiceClient({
    send: (to, req) => {
      if (JSON.stringify(req.params ?? null).length > 1000) {
        throw new ServiceError("too-large", "the message is 2000 bytes, over the limit of 1000");
      }
      sent.push({ to, req });
      const answer = nodes[to]?.(req) ?? "drop";
      if (answer !== "drop") {
        setTimeout(() => client.handleResponse({ kind: "response", id: req.id, ...answer }, to), 0);
      }
    },
    localReady: () => opts.local !== undefined,
    callLocal: (service, action, params, ttlMs) => {
      const a = opts.local!({ kind: "request", id: 0, service, action, params, ttlMs });
      return Promise.resolve(a === "drop" ? ok(null) : a);
    },
    instances: () => instances,
    stats,
    ...(opts.ping ? { ping: opts.ping } : {}),
    ...(opts.isMember ? { isMember: opts.isMember } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  }, { timeoutMs: 30, ...opts.client });
  return { client, sent, stats, instances };
}

const echoFrom = (name: string): Behaviour => (req) => ok({ from: name, params: req.params });

async function rejects(p: Promise<unknown>, code: string, message?: RegExp): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ServiceError, String(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  throw new Error(`expected a ${code} error`);
}

Deno.test("client: a local instance is preferred", async () => {
  const t = setup({ "10.0.0.2": echoFrom("remote") }, {
    local: (req) => ok({ from: "local", p: req.params }),
  });
  assert.deepEqual(await t.client.request("echo/say", { x: 1 }), { from: "local", p: { x: 1 } });
  assert.equal(t.sent.length, 0);
});

Deno.test("client: calls go round the healthy remote instances in turn", async () => {
  const t = setup({ "10.0.0.2": echoFrom("a"), "10.0.0.3": echoFrom("b") });
  const seen: string[] = [];
  for (let i = 0; i < 10; i++) {
    seen.push(((await t.client.request("echo/say", i)) as { from: string }).from);
  }
  assert.equal(seen.filter((s) => s === "a").length, 5);
  assert.equal(seen.filter((s) => s === "b").length, 5);
  const ok = t.stats.snapshot().calls.find((c) => c.outcome === "ok");
  assert.equal(ok?.histogram.count, 10);
});

Deno.test("client: instances out of rotation, or not answering calls, are skipped", async () => {
  const t = setup(
    { "10.0.0.2": echoFrom("down"), "10.0.0.3": echoFrom("up"), "10.0.0.4": echoFrom("port") },
    {
      instances: [
        inst("down", "10.0.0.2", { healthy: false, reason: "node-down" }),
        inst("up", "10.0.0.3"),
        inst("port", "10.0.0.4", { rpc: false }),
      ],
    },
  );
  for (let i = 0; i < 4; i++) {
    assert.deepEqual(await t.client.request("echo/say"), { from: "up", params: null });
  }
  assert.ok(t.sent.every((s) => s.to === "10.0.0.3"));
});

Deno.test("client: a timeout names the caller's timeout, though the callee is told what is left", async () => {
  // A clock that moves on each read: time passes between the call and its send.
  let clock = 0;
  const t = setup({ "10.0.0.2": () => "drop" }, { now: () => (clock += 4) });
  await rejects(t.client.request("echo/say", 1), "timeout", /no answer from n1 within 30 ms$/);
  assert.equal(t.sent.length, 1);
  assert.ok(t.sent[0].req.ttlMs < 30, `the callee was told ${t.sent[0].req.ttlMs} ms`);
});

Deno.test("client: a timeout is retried elsewhere only for an idempotent action", async () => {
  const t = setup({ "10.0.0.2": () => "drop", "10.0.0.3": echoFrom("b") });
  // The rotation starts at the dead one for the first call.
  const e = await rejects(
    t.client.request("echo/say", 1),
    "timeout",
    /no answer from n1 within 30 ms/,
  );
  assert.equal(e.instance, "n1");
  assert.equal(t.sent.length, 1);
  // An idempotent call goes on to the other instance; n1 is suspect now and tried last anyway.
  t.sent.length = 0;
  assert.deepEqual(await t.client.request("echo/say", 2, { idempotent: true }), {
    from: "b",
    params: 2,
  });
  assert.deepEqual(t.sent.map((s) => s.to), ["10.0.0.3"]);
  assert.ok(t.client.isSuspect("10.0.0.2"));
  assert.deepEqual(t.client.suspects(), ["10.0.0.2"]);
});

Deno.test("client: a node that timed out gets no calls, however long, until it answers a ping", async () => {
  let now = 0;
  const pings: { to: string; id: number }[] = [];
  const t = setup({ "10.0.0.2": () => "drop", "10.0.0.3": echoFrom("b") }, {
    ping: (to, id) => pings.push({ to, id }),
    now: () => now,
  });
  await rejects(t.client.request("echo/say", 1, { idempotent: false }), "timeout");
  t.sent.length = 0;
  // Far past any fixed time (the old rule freed it after 10 s): still no call goes to it.
  for (let i = 0; i < 6; i++) {
    now += 5_000;
    t.client.tick();
    await t.client.request("echo/say", i);
  }
  assert.ok(t.sent.every((s) => s.to === "10.0.0.3"), "none went to the suspect");
  // It was pinged at every tick (each 5 s apart, over the 1 s interval), and nobody else was.
  assert.equal(pings.length, 6);
  assert.ok(pings.every((p) => p.to === "10.0.0.2"));
  // A pong for a ping it was not sent is a stray and changes nothing.
  t.client.handlePong(pings.at(-1)!.id + 1, "10.0.0.2");
  assert.equal(t.client.strays, 1);
  assert.ok(t.client.isSuspect("10.0.0.2"));
  // Its pong brings it back: calls go round both again.
  t.client.handlePong(pings[2].id, "10.0.0.2");
  assert.deepEqual(t.client.suspects(), []);
  t.sent.length = 0;
  for (let i = 0; i < 2; i++) await t.client.request("echo/say", i, { idempotent: true });
  assert.ok(t.sent.some((s) => s.to === "10.0.0.2"), "back in the rotation");
});

Deno.test("client: pings are at most one a second per suspect; suspects that left are dropped", async () => {
  let now = 0;
  const pings: string[] = [];
  const members = new Set(["10.0.0.2", "10.0.0.3", "10.0.0.4"]);
  const t = setup(
    { "10.0.0.2": () => "drop", "10.0.0.3": () => "drop", "10.0.0.4": echoFrom("c") },
    {
      ping: (to) => pings.push(to),
      isMember: (a) => members.has(a),
      now: () => now,
    },
  );
  // Both silent instances let the idempotent call time out before the third answers.
  await t.client.request("echo/say", 1, { idempotent: true });
  assert.deepEqual(t.client.suspects().sort(), ["10.0.0.2", "10.0.0.3"]);
  for (let i = 0; i < 11; i++) {
    now += 100;
    t.client.tick();
  }
  // 1.1 s in 100 ms ticks: the first ping of each at the first tick, the second 1 s later.
  assert.deepEqual(pings.sort(), ["10.0.0.2", "10.0.0.2", "10.0.0.3", "10.0.0.3"]);
  members.delete("10.0.0.3");
  t.client.tick();
  assert.deepEqual(t.client.suspects(), ["10.0.0.2"]);
});

Deno.test("client: a suspect is still tried when no other instance is left", async () => {
  let silent = true;
  const t = setup({
    "10.0.0.2": (req) => silent ? "drop" : ok({ from: "a", params: req.params }, true),
  });
  await rejects(t.client.request("echo/say", 1), "timeout");
  assert.deepEqual(t.client.suspects(), ["10.0.0.2"]);
  // The only instance: asked anyway, and its answer clears it.
  silent = false;
  assert.deepEqual(await t.client.request("echo/say", 2), { from: "a", params: 2 });
  assert.deepEqual(t.client.suspects(), []);
});

Deno.test("client: remote errors: retried when the instance says the action is idempotent", async () => {
  const fail = (idempotent: boolean): Behaviour => () => ({
    ok: false,
    code: "remote-error",
    message: "backend said 503",
    status: 503,
    idempotent,
  });
  const once = setup({ "10.0.0.2": fail(false), "10.0.0.3": echoFrom("b") });
  const e = await rejects(once.client.request("echo/say"), "remote-error", /backend said 503/);
  assert.equal(e.status, 503);
  assert.equal(e.service, "echo");
  assert.equal(e.action, "say");
  const twice = setup({ "10.0.0.2": fail(true), "10.0.0.3": echoFrom("b") });
  assert.deepEqual(await twice.client.request("echo/say"), { from: "b", params: null });
});

Deno.test("client: refusals that say the action did not run are retried on the next instance", async () => {
  const refuse = (code: "no-instance" | "rate-limited"): Behaviour => () => ({
    ok: false,
    code,
    message: code,
    idempotent: false,
  });
  for (const code of ["no-instance", "rate-limited"] as const) {
    const t = setup({ "10.0.0.2": refuse(code), "10.0.0.3": echoFrom("b") });
    assert.deepEqual(await t.client.request("echo/say"), { from: "b", params: null }, code);
  }
  // Every instance says it does not provide it: no loop, a no-instance error.
  const none = setup({ "10.0.0.2": refuse("no-instance") });
  await rejects(none.client.request("echo/say", null, { retries: 5 }), "no-instance");
  assert.equal(none.sent.length, 1);
});

Deno.test("client: a retry to the same instance carries the same id; a late answer is taken", async () => {
  let n = 0;
  let first: RequestMessage | null = null;
  const t = setup({
    "10.0.0.2": (req) => {
      n++;
      if (n === 1) {
        first = req;
        return "drop";
      }
      return ok("second", true);
    },
  });
  assert.equal(await t.client.request("echo/say", null, { idempotent: true }), "second");
  assert.equal(t.sent.length, 2);
  assert.equal(t.sent[0].req.id, t.sent[1].req.id);
  assert.equal(first!.id, t.sent[0].req.id);
  // A late answer from the first instance ends the call, though it was retried elsewhere.
  let release: () => void = () => {};
  const slow = setup({ "10.0.0.2": () => "drop", "10.0.0.3": () => "drop" });
  const p = slow.client.request("echo/say", null, { idempotent: true, retries: 1 });
  release = () => {
    const { req } = slow.sent[0];
    slow.client.handleResponse({
      kind: "response",
      id: req.id,
      ok: true,
      result: "late",
      idempotent: true,
    }, slow.sent[0].to);
  };
  while (slow.sent.length < 2) await new Promise((r) => setTimeout(r, 1));
  release();
  assert.equal(await p, "late");
  // Answers that match no call are strays.
  slow.client.handleResponse(
    { kind: "response", id: 1, ok: true, result: 1, idempotent: false },
    "10.9.9.9",
  );
  assert.equal(slow.client.strays, 1);
});

Deno.test("client: no instance, bad paths and params, too large: clear errors", async () => {
  const t = setup({});
  await rejects(t.client.request("echo/say"), "no-instance", /no node provides echo/);
  const sick = setup({}, {
    instances: [
      inst("a", "10.0.0.2", { healthy: false, reason: "node-down" }),
      inst("b", "10.0.0.3", { healthy: false, reason: "check-failing" }),
    ],
  });
  await rejects(
    sick.client.request("echo/say"),
    "no-instance",
    /a is down, b fails its health check/,
  );
  await rejects(t.client.request("echo"), "bad-request", /expected SERVICE\/ACTION/);
  await rejects(t.client.request("Echo/say"), "bad-request", /the service name/);
  await rejects(t.client.request("echo/a/b"), "bad-request", /bad action name/);
  await rejects(
    t.client.request("echo/say", { when: new Date() }),
    "bad-request",
    /\.when is a Date/,
  );
  await rejects(t.client.request("echo/say", null, { timeoutMs: 0 }), "bad-request", /timeoutMs/);
  const big = setup({ "10.0.0.2": echoFrom("a") });
  await rejects(
    big.client.request("echo/say", "x".repeat(2000)),
    "too-large",
    /over the limit of 1000/,
  );
  const outcomes = t.stats.snapshot().calls.map((c) => c.outcome).sort();
  assert.deepEqual(outcomes, ["bad-request", "bad-request", "no-instance"]);
});

Deno.test("client: a late failure of an earlier attempt does not end the attempt on another instance", async () => {
  // n1 answers its failure after the call moved on to n2 (n1 slow on a loaded box): the call
  // waits for n2's answer, and the failure still counts against n1.
  const t = setup({ "10.0.0.2": () => "drop", "10.0.0.3": () => "drop" }, {
    client: { timeoutMs: 200 },
  });
  const p = t.client.request("echo/say", null, { idempotent: true, retries: 1 })
    .catch((e: ServiceError) => `${e.code} from ${e.instance}: ${e.message}`);
  while (t.sent.length < 2) await new Promise((r) => setTimeout(r, 1));
  const [first, second] = t.sent;
  assert.deepEqual([first.to, second.to], ["10.0.0.2", "10.0.0.3"]);
  t.client.handleResponse({
    kind: "response",
    id: first.req.id,
    ok: false,
    code: "remote-error",
    message: "backend answered 500",
    idempotent: true,
  }, first.to);
  await new Promise((r) => setTimeout(r, 5));
  t.client.handleResponse(
    { kind: "response", id: second.req.id, ok: true, result: "b", idempotent: true },
    second.to,
  );
  assert.equal(await p, "b");
  assert.equal(t.sent.length, 2);
  assert.equal(t.client.strays, 0);
});

Deno.test("client: an action an instance said is idempotent is retried after a timeout", async () => {
  let dead = false;
  const t = setup({
    "10.0.0.2": () => (dead ? "drop" : ok("a", true)),
    "10.0.0.3": () => ok("b", true),
  });
  assert.equal(await t.client.request("echo/say"), "a");
  dead = true;
  // Without idempotent: true from the caller, the instance's word is enough.
  for (let i = 0; i < 3; i++) assert.equal(await t.client.request("echo/say"), "b");
});

Deno.test("client: a member that said bye gets no call, not even a first one to time out, until it answers a ping", async () => {
  const pings: { to: string; id: number }[] = [];
  const t = setup({ "10.0.0.2": () => "drop", "10.0.0.3": echoFrom("b") }, {
    ping: (to, id) => pings.push({ to, id }),
  });
  t.client.markGone("10.0.0.2");
  for (let i = 0; i < 4; i++) await t.client.request("echo/say", i, { idempotent: false });
  assert.ok(t.sent.every((s) => s.to === "10.0.0.3"), "none went to the node that left");
  t.client.tick();
  assert.equal(pings[0]?.to, "10.0.0.2");
  // Restarted, it answers: back in the rotation.
  t.client.handlePong(pings[0].id, "10.0.0.2");
  assert.equal(t.client.isSuspect("10.0.0.2"), false);
});

const fail = (idempotent = true): Behaviour => () => ({
  ok: false,
  code: "remote-error",
  message: "boom",
  idempotent,
});

Deno.test("client: an instance failing every call is ejected; idempotent calls all succeed", async () => {
  let t0 = 0;
  const t = setup({ "10.0.0.2": fail(), "10.0.0.3": echoFrom("good") }, { now: () => t0 });
  for (let i = 0; i < 20; i++) {
    assert.deepEqual(await t.client.request("echo/say", i), { from: "good", params: i });
  }
  // Five failures in a row (every other call went there first), then none.
  assert.equal(t.sent.filter((s) => s.to === "10.0.0.2").length, 5);
  assert.deepEqual(t.client.ejections().map((e) => [e.address, e.state, e.remainingMs]), [
    ["10.0.0.2", "ejected", 30_000],
  ]);
  assert.equal(t.client.isEjected("echo", "10.0.0.2"), true);
  const r = t.stats.snapshot().resilience!;
  assert.deepEqual([r.ejections, r.retries, r.budgetRefusals], [{ echo: 1 }, { echo: 5 }, {}]);
  // After the back-off one call probes it; it still fails: out again, for twice as long.
  t0 += 30_000;
  for (let i = 0; i < 4; i++) await t.client.request("echo/say", i);
  assert.equal(t.sent.filter((s) => s.to === "10.0.0.2").length, 6);
  assert.deepEqual(t.client.ejections().map((e) => [e.state, e.remainingMs, e.ejections]), [
    ["ejected", 60_000, 2],
  ]);
});

Deno.test("client: an idempotent call whose answer was lost is retried on that instance, not on the one that failed it", async () => {
  // n2's first answer is lost (a datagram dropped on a loaded box: the attempt times out); n1
  // fails every call, with the same answer from its cache when asked again. Whichever instance
  // the rotation tries first, the last retry must go back to n2, whose answer may still come,
  // not to n1, which already failed the call.
  for (const turn of [0, 1]) {
    let n2Asked = 0;
    const t = setup({
      "10.0.0.2": fail(),
      "10.0.0.3": (
        req,
      ) => (++n2Asked === 1 ? "drop" : ok({ from: "n2", params: req.params }, true)),
    });
    // The rotation's turn: the first call starts at n1, the second at n2.
    if (turn === 1) await t.client.request("echo/say", "warm-up", { retries: 0 }).catch(() => {});
    t.sent.length = 0;
    const got = await t.client.request("echo/say", turn)
      .catch((e: ServiceError) => `${e.code} from ${e.instance}`);
    const order = t.sent.map((s) => (s.to === "10.0.0.2" ? "n1" : "n2"));
    assert.deepEqual({ turn, got, order }, {
      turn,
      got: { from: "n2", params: turn },
      order: turn === 0 ? ["n1", "n2", "n2"] : ["n2", "n1", "n2"],
    });
    assert.equal(new Set(t.sent.map((s) => s.req.id)).size, 1, "every attempt has the call's id");
  }
});

Deno.test("client: an instance that failed a call is not asked again by it", async () => {
  // Both instances fail: each is asked once, and the second retry allowed is not spent on
  // hearing a failure again.
  const t = setup({ "10.0.0.2": fail(), "10.0.0.3": fail() });
  await rejects(t.client.request("echo/say", null, { retries: 2 }), "remote-error");
  assert.deepEqual(t.sent.map((s) => s.to), ["10.0.0.2", "10.0.0.3"]);
  assert.deepEqual(t.stats.snapshot().resilience!.retries, { echo: 1 });
  // Nor in a later round: n2's answers are lost twice, n1 and n3 fail; n2 is asked until it
  // answers, n1 and n3 once each.
  let n2Lost = 0;
  const rounds = setup({
    "10.0.0.2": fail(),
    "10.0.0.3": () => (++n2Lost <= 2 ? "drop" : ok("n2", true)),
    "10.0.0.4": fail(),
  });
  const got = await rounds.client.request("echo/say", null, { retries: 4 })
    .catch((e: ServiceError) => `${e.code} from ${e.instance}`);
  const names = { "10.0.0.2": "n1", "10.0.0.3": "n2", "10.0.0.4": "n3" } as Record<string, string>;
  assert.deepEqual({ got, order: rounds.sent.map((s) => names[s.to]) }, {
    got: "n2",
    order: ["n1", "n2", "n3", "n2", "n2"],
  });
  // A failure answered late, after the attempt timed out, counts too: n1 lets its attempt time
  // out and answers its failure while n2 is asked; n2's answer is lost as well; the last retry
  // goes to n2.
  let n2Asked = 0;
  let client: ServiceClient | null = null;
  const late = setup({
    "10.0.0.2": () => "drop",
    "10.0.0.3": (req) => {
      if (++n2Asked > 1) return ok("n2", true);
      setTimeout(() =>
        client!.handleResponse({
          kind: "response",
          id: req.id,
          ok: false,
          code: "remote-error",
          message: "backend answered 500",
          idempotent: true,
        }, "10.0.0.2"), 0);
      return "drop";
    },
  });
  client = late.client;
  assert.equal(await late.client.request("echo/say", null, { idempotent: true }), "n2");
  assert.deepEqual(late.sent.map((s) => s.to), ["10.0.0.2", "10.0.0.3", "10.0.0.3"]);
});

Deno.test("client: a local instance failing every call is ejected; calls go remote", async () => {
  let local = 0;
  const t = setup({ "10.0.0.2": echoFrom("remote") }, {
    local: (req) => {
      local++;
      return fail()(req);
    },
  });
  for (let i = 0; i < 8; i++) {
    assert.deepEqual(await t.client.request("echo/say", i), { from: "remote", params: i });
  }
  // Five local failures retried remotely, then the remote instance straight away.
  assert.equal(local, 5);
  assert.equal(t.sent.length, 8);
  assert.deepEqual(t.client.ejections().map((e) => e.address), [""]);
});

Deno.test("client: the call's deadline bounds its attempts, and each tells the time left", async () => {
  let t0 = 0;
  const t = setup({
    // Each attempt waits 30 ms (the clock moves as the timeout will), then times out.
    "10.0.0.2": () => {
      t0 += 30;
      return "drop";
    },
    "10.0.0.3": () => {
      t0 += 30;
      return "drop";
    },
  }, { now: () => t0 });
  await rejects(
    t.client.request("echo/say", null, { idempotent: true, timeoutMs: 30, deadlineMs: 45 }),
    "timeout",
  );
  // Two attempts of the three allowed: the second with the 15 ms left, then no time was left.
  assert.deepEqual(t.sent.map((s) => s.req.ttlMs), [30, 15]);
  await rejects(t.client.request("echo/say", null, { deadlineMs: 0 }), "bad-request", /deadline/);
});

Deno.test("client: retries past the budget are refused and counted", async () => {
  // Three instances: a retry never goes back to one that failed the call.
  const t = setup({ "10.0.0.2": fail(), "10.0.0.3": fail(), "10.0.0.4": fail() }, {
    client: { retryBudget: { ratio: 0, minPerWindow: 2 }, outliers: { consecutive: 100 } },
  });
  await rejects(t.client.request("echo/say"), "remote-error");
  assert.equal(t.sent.length, 3, "the first call: two retries");
  await rejects(t.client.request("echo/say"), "remote-error");
  assert.equal(t.sent.length, 4, "the second: none, the budget is spent");
  const r = t.stats.snapshot().resilience!;
  assert.deepEqual([r.retries, r.budgetRefusals], [{ echo: 2 }, { echo: 1 }]);
});

Deno.test("client: calls go to the remote instance with the fewest calls waiting", async () => {
  const held: RequestMessage[] = [];
  const t = setup({
    "10.0.0.2": (req) => {
      held.push(req);
      return "drop";
    },
    "10.0.0.3": echoFrom("b"),
  }, { client: { timeoutMs: 5000 } });
  const first = t.client.request("echo/say", 1);
  // Sent once the in-flight window lets it go (inflight.ts): a turn later.
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(t.sent.map((s) => s.to), ["10.0.0.2"]);
  // Round-robin would send the third call to the first instance again: it still holds one.
  for (let i = 2; i <= 4; i++) {
    assert.deepEqual(await t.client.request("echo/say", i), { from: "b", params: i });
  }
  assert.deepEqual(t.sent.map((s) => s.to), ["10.0.0.2", "10.0.0.3", "10.0.0.3", "10.0.0.3"]);
  t.client.handleResponse({ kind: "response", id: held[0].id, ...ok("a") }, "10.0.0.2");
  assert.equal(await first, "a");
});

Deno.test("client: a slow instance slows its callers: requests past the in-flight window wait, unsent", async () => {
  const held: (() => void)[] = [];
  const box: { client?: ServiceClient } = {};
  const t = setup({
    "10.0.0.1": (req) => {
      // Answers only when the test says: a slow callee.
      held.push(() =>
        box.client!.handleResponse({ kind: "response", id: req.id, ...ok(req.params) }, "10.0.0.1")
      );
      return "drop";
    },
  }, { client: { timeoutMs: 10_000, inflight: { maxBytes: 400 } } });
  const client = box.client = t.client;
  const p = "p".repeat(150);
  const calls = [1, 2, 3, 4].map((i) => client.request("echo/x", `${i}${p}`));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(t.sent.length, 2, "two requests of ~180 bytes fill the 400-byte window");
  assert.equal(client.inflight.waiting("10.0.0.1"), 2);
  held.shift()!();
  assert.equal((await calls[0] as string)[0], "1");
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(t.sent.length, 3, "one ended, one more went");
  while (held.length > 0) {
    held.shift()!();
    await new Promise((r) => setTimeout(r, 0));
  }
  assert.deepEqual((await Promise.all(calls)).map((r) => (r as string)[0]), ["1", "2", "3", "4"]);
  assert.equal(client.inflight.inFlight("10.0.0.1"), 0);
});
