import assert from "node:assert/strict";
import { ServiceError } from "./errors.ts";
import { httpBackendService } from "./http_backend.ts";
import type { CallContext } from "./local.ts";

/** A real HTTP server on loopback with the routes the tests need; `hang` never answers. */
function backend() {
  const hung: (() => void)[] = [];
  const callers: { address: string | null; name: string | null; deadline: string | null }[] = [];
  const seen: { path: string; type: string | null; body: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const entry = { path, type: req.headers.get("content-type"), body: "" };
    seen.push(entry);
    callers.push({
      address: req.headers.get("weft-caller-address"),
      name: req.headers.get("weft-caller-name"),
      deadline: req.headers.get("weft-deadline-ms"),
    });
    entry.body = await req.text();
    switch (path) {
      case "/v1/echo":
        return Response.json({ echo: JSON.parse(entry.body) });
      case "/v1/fail":
        return new Response("backend overloaded", { status: 503 });
      case "/v1/hang":
        await new Promise<void>((r) => hung.push(r));
        return new Response("late");
      case "/v1/big":
        return new Response(JSON.stringify("x".repeat(5000)));
      case "/v1/stream": {
        // No content-length: the limit applies while reading.
        const chunk = new TextEncoder().encode("y".repeat(1000));
        let n = 0;
        return new Response(
          new ReadableStream({
            pull(c) {
              if (n++ < 10) c.enqueue(chunk);
              else c.close();
            },
          }),
        );
      }
      case "/v1/text":
        return new Response("hello, not json");
      case "/v1/empty":
        return new Response(null, { status: 204 });
    }
    return new Response("no such route", { status: 404 });
  });
  const url = `http://127.0.0.1:${server.addr.port}/v1`;
  return {
    url,
    seen,
    callers,
    close: async () => {
      for (const r of hung) r();
      await server.shutdown();
    },
  };
}

function ctx(signal = new AbortController().signal): CallContext {
  return {
    service: "api",
    action: "x",
    callerAddress: null,
    callerName: null,
    signal,
    deadline: performance.now() + 5000,
  };
}

async function fails(p: unknown, code: string, why: RegExp): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ServiceError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, why);
    return e;
  }
  throw new Error(`expected ${code}`);
}

Deno.test("http backend: action x is POST <base>/x with JSON params; the JSON answer comes back", async () => {
  const b = backend();
  try {
    const svc = httpBackendService({ name: "api", url: b.url + "/" }, { idempotent: ["echo"] });
    assert.equal(svc.actionNames(), null);
    const echo = svc.action("echo")!;
    assert.equal(echo.idempotent, true);
    assert.equal(svc.action("fail")!.idempotent, false);
    // Marked in the spec (`--service-http api=URL,idempotent=get`) as well.
    const marked = httpBackendService({ name: "api", url: b.url, idempotent: ["get"] });
    assert.deepEqual([marked.action("get")!.idempotent, marked.action("put")!.idempotent], [
      true,
      false,
    ]);
    assert.equal(svc.action("../x"), undefined);
    assert.deepEqual(await echo.handler({ a: [1, "two"] }, ctx()), { echo: { a: [1, "two"] } });
    assert.deepEqual(b.seen[0], {
      path: "/v1/echo",
      type: "application/json",
      body: '{"a":[1,"two"]}',
    });
    assert.equal(await svc.action("empty")!.handler(null, ctx()), null);
    // The time the caller still waits goes along, so the backend can stop past it.
    const left = Number(b.callers[0].deadline);
    assert.ok(Number.isInteger(left) && left > 0 && left <= 5000, String(left));
  } finally {
    await b.close();
  }
});

Deno.test("http backend: a status outside 2xx is a remote error with the status", async () => {
  const b = backend();
  try {
    const svc = httpBackendService({ name: "api", url: b.url });
    const e = await fails(
      svc.action("fail")!.handler(null, ctx()),
      "remote-error",
      /answered 503: backend overloaded/,
    );
    assert.equal(e.status, 503);
    await fails(svc.action("nope")!.handler(null, ctx()), "remote-error", /answered 404/);
    await fails(svc.action("text")!.handler(null, ctx()), "remote-error", /not JSON/);
  } finally {
    await b.close();
  }
});

Deno.test("http backend: a backend that hangs is a timeout, at the caller's deadline or its own", async () => {
  const b = backend();
  try {
    const svc = httpBackendService({ name: "api", url: b.url }, { timeoutMs: 50 });
    await fails(svc.action("hang")!.handler(null, ctx()), "timeout", /did not answer within 50 ms/);
    const caller = new AbortController();
    const slow = httpBackendService({ name: "api", url: b.url });
    const p = slow.action("hang")!.handler(null, ctx(caller.signal));
    while (!b.seen.some((s, i) => i > 0 && s.path === "/v1/hang")) {
      await new Promise((r) => setTimeout(r, 5));
    }
    caller.abort();
    await fails(p, "timeout", /before the caller's deadline/);
  } finally {
    await b.close();
  }
});

Deno.test("http backend: answers over the size limit are refused, declared or streamed", async () => {
  const b = backend();
  try {
    const svc = httpBackendService({ name: "api", url: b.url }, { maxResponseBytes: 4000 });
    await fails(svc.action("big")!.handler(null, ctx()), "too-large", /5002 bytes, over 4000/);
    await fails(svc.action("stream")!.handler(null, ctx()), "too-large", /over 4000 bytes/);
  } finally {
    await b.close();
  }
});

Deno.test("http backend: a refused connection is no-instance; bytes cannot become JSON", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  const svc = httpBackendService({ name: "api", url: `http://127.0.0.1:${port}` });
  await fails(svc.action("x")!.handler(null, ctx()), "no-instance", /refused the connection/);
  await fails(
    svc.action("x")!.handler({ b: new Uint8Array(2) }, ctx()),
    "bad-request",
    /byte arrays/,
  );
});

Deno.test("http backend: only the actions listed are callable; the caller is named to the backend", async () => {
  const b = backend();
  try {
    const svc = httpBackendService({ name: "api", url: b.url, actions: ["echo"] });
    assert.deepEqual(svc.actionNames(), ["echo"]);
    // "shutdown" is under the base URL too, but not an action of this service: no request.
    assert.equal(svc.action("shutdown"), undefined);
    assert.equal(svc.action("fail"), undefined);
    const from: CallContext = { ...ctx(), callerAddress: "10.200.0.7", callerName: "n7" };
    assert.deepEqual(await svc.action("echo")!.handler(1, from), { echo: 1 });
    assert.deepEqual(b.seen.map((s) => s.path), ["/v1/echo"]);
    assert.deepEqual(b.callers.map((c) => [c.address, c.name]), [["10.200.0.7", "n7"]]);
    // A call made on this node names nobody.
    await svc.action("echo")!.handler(2, ctx());
    assert.deepEqual([b.callers[1].address, b.callers[1].name], [null, null]);
  } finally {
    await b.close();
  }
});
