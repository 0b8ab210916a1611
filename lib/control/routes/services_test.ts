/**
 * The service routes on in-process mesh agents (tests/fixtures/memory_mesh.ts): calls, publish,
 * subscribe streams and the service list through the control app; bad input answers with a
 * code and status, a hanging handler ends in a timeout, and a subscribe stream whose client goes
 * away (over a real HTTP connection) closes its subscription.
 */
import assert from "node:assert/strict";
import { Hono } from "npm:hono@^4.13.19";
import { controlApp, serveControl } from "../server.ts";
import { payloadJson, SERVICE_ERROR_STATUS } from "./services.ts";
import { servicesStatus as serviceViews } from "../../services/service_status.ts";
import { ControlClient } from "../client.ts";
import { LOCAL_ENV } from "../middleware/auth.ts";
import { ServiceError } from "../../services/errors.ts";
import type { MeshAgent } from "../../mesh/mesh_agent.ts";
import { TEST, until, withLab } from "../../../tests/fixtures/memory_mesh.ts";

const layer = {
  serviceLayer: { requestTimeoutMs: 1000, announceIntervalMs: 300, ackTimeoutMs: 200 },
};

/** The control app as its unix socket serves it (no token: the socket's owner is trusted). */
const appOf = (m: MeshAgent) => {
  const inner = controlApp(m.agent, { mesh: m, noDashboard: true });
  return new Hono().all("*", (c) => inner.fetch(c.req.raw, LOCAL_ENV));
};

const post = (app: Hono, path: string, body: unknown) =>
  app.request(path, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });

/** The NDJSON lines of a stream, read one at a time. */
function lines(res: Response) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  return {
    async next(): Promise<string | null> {
      for (;;) {
        const nl = buf.indexOf("\n");
        if (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          return line;
        }
        const r = await reader.read();
        if (r.done) return null;
        buf += r.value;
      }
    },
    cancel: () => reader.cancel(),
  };
}

Deno.test("service errors: each code has its status", () => {
  assert.deepEqual(SERVICE_ERROR_STATUS, {
    "no-instance": 404,
    "timeout": 504,
    "remote-error": 502,
    "too-large": 413,
    "rate-limited": 429,
    "bad-request": 400,
    "forbidden": 403,
  });
  assert.equal(payloadJson({ b: new Uint8Array([1, 2, 3]) }), '{"b":{"base64":"AQID"}}');
});

Deno.test("service list: instances joined with leaders, a leader ahead of the view listed", () => {
  const views = serviceViews([{
    name: "web",
    local: true,
    localHealthy: null,
    instances: [{
      service: "web",
      node: "a",
      publicKey: "k",
      address: "10.0.0.2",
      local: true,
      rpc: false,
      healthy: false,
      reason: "check-failing",
      spec: { name: "web", port: 80, protocol: "tcp" },
    }],
  }], [
    { name: "web", member: "a", publicKey: "k", address: "10.0.0.2", token: 7, expiresAt: 0 },
    { name: "api", member: "b", publicKey: "j", address: "10.0.0.3", token: 8, expiresAt: 0 },
  ]);
  assert.deepEqual(views, [
    {
      name: "api",
      local: false,
      instances: [],
      leader: { node: "b", address: "10.0.0.3", token: 8, expiresAt: "1970-01-01T00:00:00.000Z" },
    },
    {
      name: "web",
      local: true,
      localHealthy: null,
      instances: [{
        node: "a",
        address: "10.0.0.2",
        local: true,
        rpc: false,
        healthy: false,
        reason: "check-failing",
      }],
      leader: { node: "a", address: "10.0.0.2", token: 7, expiresAt: "1970-01-01T00:00:00.000Z" },
    },
  ]);
});

Deno.test({
  ...TEST,
  name: "service routes: calls, errors by code, a hanging handler, publish, subscribe, list",
  fn: () =>
    withLab(async (lab) => {
      await lab.startLeader(layer);
      const n1 = await lab.start("n1", "192.0.2.11", {
        ...layer,
        serviceLayer: { ...layer.serviceLayer, callers: { maxConcurrent: 1 } },
      });
      const n2 = await lab.start("n2", "192.0.2.12", {
        ...layer,
        serviceLayer: { ...layer.serviceLayer, maxMessageBytes: 64 * 1024 },
      });
      const hung: AbortSignal[] = [];
      n1.services.provide("echo", {
        say: (p, ctx) => ({ got: p, by: ctx.callerName }),
        fail: () => {
          throw new Error("nope, said the handler");
        },
        // Never answers; ends only when the caller stops waiting.
        hang: (_p, ctx) =>
          new Promise((resolve) => {
            hung.push(ctx.signal);
            ctx.signal.addEventListener("abort", () => resolve(null));
          }),
      });
      await until(
        "n2 sees echo",
        () => n2.services.instances("echo").some((i) => i.rpc && i.healthy),
        20_000,
      );
      const app = appOf(n2);

      const ok = await post(app, "/v1/services/call", { path: "echo/say", params: { x: [1] } });
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { result: { got: { x: [1] }, by: "n2" } });
      // No params: null arrives.
      const bare = await post(app, "/v1/services/call", { path: "echo/say" });
      assert.deepEqual(await bare.json(), { result: { got: null, by: "n2" } });

      const expect = async (res: Response, status: number, code: string | null, msg: RegExp) => {
        const body = await res.json();
        assert.equal(res.status, status, JSON.stringify(body));
        assert.equal(body.code, code ?? undefined, JSON.stringify(body));
        assert.match(body.error, msg);
        return body;
      };
      await expect(
        await post(app, "/v1/services/call", { path: "nope/x" }),
        404,
        "no-instance",
        /no node provides nope/,
      );
      await expect(
        await post(app, "/v1/services/call", { path: "echo" }),
        400,
        "bad-request",
        /expected SERVICE\/ACTION/,
      );
      await expect(
        await post(app, "/v1/services/call", { path: "echo/unknown-action" }),
        400,
        "bad-request",
        /service echo has no action unknown-action \(it has say, fail, hang\)/,
      );
      const failed = await expect(
        await post(app, "/v1/services/call", { path: "echo/fail" }),
        502,
        "remote-error",
        /nope, said the handler/,
      );
      assert.equal(failed.instance, "n1");
      await expect(await post(app, "/v1/services/call", "{not json"), 400, null, /JSON object/);
      await expect(
        await post(app, "/v1/services/call", { path: "echo/say", timeoutMs: 0 }),
        400,
        null,
        /timeoutMs must be an integer/,
      );
      await expect(
        await post(app, "/v1/services/call", { path: "echo/say", idempotent: "yes" }),
        400,
        null,
        /idempotent must be true or false/,
      );
      // Over this node's message limit (64 KiB here): refused before it is sent.
      await expect(
        await post(app, "/v1/services/call", { path: "echo/say", params: "x".repeat(100_000) }),
        413,
        "too-large",
        /./,
      );
      // Over the HTTP body limit (1 MiB): refused before it is read.
      const huge = await post(app, "/v1/services/call", {
        path: "echo/say",
        params: "x".repeat(1_100_000),
      });
      assert.equal(huge.status, 413);
      await huge.body?.cancel();

      // A handler that never answers: a timeout, and the next call goes through at once.
      await expect(
        await post(app, "/v1/services/call", { path: "echo/hang", timeoutMs: 300, retries: 0 }),
        504,
        "timeout",
        /no answer from n1 within 300 ms/,
      );
      // The hanging handler was told to stop (n1 allows one call at a time per caller).
      await until("the handler is aborted", () => hung.length === 1 && hung[0].aborted);
      const after = await post(app, "/v1/services/call", { path: "echo/say", params: 2 });
      assert.equal(after.status, 200);
      // One at a time per caller: a second call while one runs is refused.
      const running = post(app, "/v1/services/call", {
        path: "echo/hang",
        timeoutMs: 2000,
        retries: 0,
      });
      await until("the second handler runs", () => hung.length === 2);
      await expect(
        await post(app, "/v1/services/call", { path: "echo/say", retries: 0 }),
        429,
        "rate-limited",
        /./,
      );
      assert.equal((await running).status, 504);

      // Publish and subscribe through the routes of two nodes.
      const sub = await appOf(n1).request("/v1/services/subscribe?pattern=news/*");
      assert.equal(sub.status, 200);
      assert.equal(sub.headers.get("content-type"), "application/x-ndjson");
      const events = lines(sub);
      assert.equal(await events.next(), "", "subscribed");
      await until(
        "n2 knows n1's subscription",
        () => n2.services.status().remoteSubscriptions.some((r) => r.entries.length > 0),
        20_000,
      );
      const pub = await post(app, "/v1/services/publish", { topic: "news/a", data: { v: 1 } });
      assert.deepEqual(await pub.json(), { local: 0, nodes: 1, acked: 1, unacked: [] });
      const ev = JSON.parse((await events.next())!);
      assert.deepEqual(
        { topic: ev.topic, data: ev.data, publisher: ev.publisher },
        { topic: "news/a", data: { v: 1 }, publisher: "n2" },
      );
      await expect(
        await post(app, "/v1/services/publish", { topic: "news/a", mode: "some" }),
        400,
        null,
        /mode must be one of all, one-per-service, local-only/,
      );
      await expect(
        await post(app, "/v1/services/publish", { topic: "news/*", data: 1 }),
        400,
        "bad-request",
        /./,
      );
      await expect(
        await post(app, "/v1/services/publish", { topic: "news/big", data: "x".repeat(100_000) }),
        413,
        "too-large",
        /over the limit/,
      );
      await events.cancel();
      await until("the subscription ended", () => n1.services.status().subscriptions.length === 0);

      const bad = await app.request("/v1/services/subscribe?pattern=a//b");
      assert.equal(bad.status, 400);
      assert.equal((await app.request("/v1/services/subscribe")).status, 400);
      assert.equal((await app.request("/v1/services/subscribe?pattern=a&queue=0")).status, 400);
      assert.equal(n2.services.status().subscriptions.length, 0, "refused: nothing subscribed");

      // A reader that falls behind: its queue (4 here, and the event or two in the pipe to the
      // connection) holds, the rest is dropped and said.
      const slow = await app.request("/v1/services/subscribe?pattern=tick&queue=4");
      const ticks = lines(slow);
      assert.equal(await ticks.next(), "");
      for (let i = 0; i < 10; i++) await n2.services.publish("tick", i, { mode: "local-only" });
      const got: number[] = [];
      let dropped = 0;
      while (got.length + dropped < 10) {
        const v = JSON.parse((await ticks.next())!);
        if (v.topic === undefined) dropped = v.dropped;
        else got.push(v.data);
      }
      assert.ok(got.length >= 4 && got.length <= 6, `delivered ${got}`);
      assert.deepEqual(got, [...got.keys()], "the oldest kept, in order");
      assert.equal(dropped, 10 - got.length);
      await ticks.cancel();

      // The list and the leader.
      await until(
        "n2 knows echo's leader",
        () => n2.services.serviceLeader("echo") !== null,
        20_000,
      );
      const list = await (await app.request("/v1/services")).json();
      const echo = list.services.find((s: { name: string }) => s.name === "echo");
      assert.deepEqual(echo.instances.map((i: { node: string }) => i.node), ["n1"]);
      assert.equal(echo.leader.node, "n1");
      const leader = await (await app.request("/v1/services/ECHO/leader")).json();
      assert.equal(leader.name, "echo");
      assert.equal(leader.leader.node, "n1");
      assert.equal(leader.leader.address, n1.self!.address);
      const none = await (await app.request("/v1/services/nope/leader")).json();
      assert.deepEqual(none, { name: "nope", leader: null });
      assert.equal((await app.request("/v1/services/-bad-/leader")).status, 400);
      assert.equal((await app.request("/v1/services/call")).status, 405);
    }),
});

Deno.test({
  ...TEST,
  name: "service routes over HTTP: the client's errors, and a stream whose client leaves ends",
  fn: () =>
    withLab(async (lab) => {
      await lab.startLeader(layer);
      const n1 = await lab.start("n1", "192.0.2.11", layer);
      n1.services.provide("echo", { say: (p) => p });
      const server = serveControl(n1.agent, { listen: "127.0.0.1:0", mesh: n1, token: "tok" });
      try {
        const client = new ControlClient(server.address, "tok");
        assert.deepEqual(await client.call("echo/say", { a: 1 }), { a: 1 });
        await assert.rejects(
          client.call("nope/x"),
          (e) => e instanceof ServiceError && e.code === "no-instance",
        );
        await assert.rejects(
          client.call("echo/say", "x".repeat(33 << 20)),
          (e) => e instanceof ServiceError && e.code === "too-large",
        );

        // A client that leaves: the agent closes the subscription.
        const stop = new AbortController();
        let ready!: () => void;
        const subscribed = new Promise<void>((r) => ready = r);
        const seen: unknown[] = [];
        const reading = (async () => {
          for await (
            const ev of client.subscribe("a/>", { signal: stop.signal, onReady: ready })
          ) {
            seen.push(ev.data);
          }
        })().catch((e) => e);
        await subscribed;
        assert.equal(n1.services.status().subscriptions.length, 1);
        const r = await client.publish("a/b/c", "hi", "local-only");
        assert.equal(r.local, 1);
        await until("the event arrived", () => seen.length === 1);
        assert.deepEqual(seen, ["hi"]);
        stop.abort();
        assert.equal((await reading as Error).name, "AbortError");
        await until(
          "the subscription closed",
          () => n1.services.status().subscriptions.length === 0,
        );

        // A stream still open when the server shuts down ends, and so does the subscription.
        const open = client.subscribe("z", { onReady: ready });
        const first = open.next();
        await until("subscribed again", () => n1.services.status().subscriptions.length === 1);
        await server.close();
        await first.catch(() => {});
        await until(
          "closed with the server",
          () => n1.services.status().subscriptions.length === 0,
        );
      } finally {
        await server.close();
      }
    }),
});
