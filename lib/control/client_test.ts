/**
 * ControlClient against an in-process Hono app on 127.0.0.1:0 that records what it was asked:
 * paths, methods, bodies and the bearer token, and errors turned into AgentAnswerError. The
 * client against a real agent is in tests/integration (userspace_mesh_test.ts and others).
 */
import assert from "node:assert/strict";
import { Hono } from "npm:hono@^4.13.19";
import { AgentAnswerError, ControlClient } from "./client.ts";
import { encodeBase64 } from "../crypto/base64.ts";

interface Seen {
  method: string;
  path: string;
  auth: string | null;
  type: string | null;
  body: unknown;
}

async function withApp(
  build: (app: Hono, seen: Seen[]) => void,
  fn: (address: string, seen: Seen[]) => Promise<void>,
): Promise<void> {
  const seen: Seen[] = [];
  const app = new Hono();
  app.use("*", async (c, next) => {
    const text = await c.req.raw.clone().text();
    seen.push({
      method: c.req.method,
      path: new URL(c.req.url).pathname + new URL(c.req.url).search,
      auth: c.req.header("authorization") ?? null,
      type: c.req.header("content-type") ?? null,
      body: text ? JSON.parse(text) : null,
    });
    await next();
  });
  build(app, seen);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  try {
    await fn(`127.0.0.1:${server.addr.port}`, seen);
  } finally {
    await server.shutdown();
  }
}

Deno.test("client: each call's method, path and JSON body; the token as a bearer header", async () => {
  await withApp((app) => {
    app.get("/v1/nodes", (c) => c.json({ version: 3, network: "10.0.0.0/24", nodes: [] }));
    app.delete("/v1/nodes/:id", (c) => c.json({ removed: { name: c.req.param("id") } }));
    app.post("/v1/tokens", (c) => c.json({ id: "t1", token: "secret", expiresAt: "later" }));
    app.get("/v1/tokens", (c) => c.json({ tokens: [{ id: "t1" }] }));
    app.delete("/v1/tokens/:id", (c) => c.body(null, 204));
    app.post("/v1/policy", (c) => c.json({ version: 7, warnings: [] }));
    app.get("/v1/policy", (c) => c.json({ version: 7, text: "t", stats: {} }));
    app.post(
      "/v1/policy/test",
      (c) => c.json({ allowed: true, decidedBy: "default", summary: "" }),
    );
    app.get("/status", (c) => c.json({ node: { publicKey: "k" }, peers: [] }));
    app.post("/v1/ping", (c) => c.json({ address: "10.0.0.2", rtts: [1.5, null] }));
    app.post("/v1/send", (c) => c.json({ sent: true }));
  }, async (address, seen) => {
    const c = new ControlClient(address, "tok");
    // No Weft-View-Age-Ms: the view in force.
    assert.deepEqual(await c.nodes(), {
      version: 3,
      network: "10.0.0.0/24",
      nodes: [],
      viewAgeMs: 0,
    });
    assert.deepEqual(await c.removeNode("a b/c"), { name: "a b/c" });
    assert.deepEqual(await c.createToken({ ttl: "1h", uses: 2, labels: { r: "w" } }), {
      id: "t1",
      token: "secret",
      expiresAt: "later",
    });
    assert.deepEqual(await c.listTokens(), [{ id: "t1" }]);
    assert.equal(await c.revokeToken("t/1"), undefined);
    assert.deepEqual(await c.applyPolicy("policies: []"), { version: 7, warnings: [] });
    assert.equal((await c.policy()).version, 7);
    assert.equal((await c.testPolicy({ from: "a", to: "b", proto: "tcp", port: 1 })).allowed, true);
    assert.equal((await c.status()).node.publicKey, "k");
    assert.deepEqual((await c.ping("10.0.0.2", { count: 2 })).rtts, [1.5, null]);
    await c.send("10.0.0.2", 9, Uint8Array.of(1, 2, 255), 1234);
    assert.deepEqual(seen.map((s) => `${s.method} ${s.path}`), [
      "GET /v1/nodes",
      "DELETE /v1/nodes/a%20b%2Fc",
      "POST /v1/tokens",
      "GET /v1/tokens",
      "DELETE /v1/tokens/t%2F1",
      "POST /v1/policy",
      "GET /v1/policy",
      "POST /v1/policy/test",
      "GET /status",
      "POST /v1/ping",
      "POST /v1/send",
    ]);
    for (const s of seen) {
      assert.equal(s.auth, "Bearer tok", s.path);
      if (s.method === "POST") assert.equal(s.type, "application/json", s.path);
    }
    const posts = seen.filter((s) => s.method === "POST").map((s) => s.body);
    assert.deepEqual(posts, [
      { ttl: "1h", uses: 2, labels: { r: "w" } },
      { text: "policies: []" },
      { from: "a", to: "b", proto: "tcp", port: 1 },
      { address: "10.0.0.2", count: 2 },
      {
        address: "10.0.0.2",
        port: 9,
        base64: encodeBase64(Uint8Array.of(1, 2, 255)),
        fromPort: 1234,
      },
    ]);
  });
});

Deno.test("client: nodes() gives the list's Weft-View-Age-Ms as viewAgeMs, 0 when it is not a count", async () => {
  let age: string | null = null;
  await withApp((app) => {
    app.get("/v1/nodes", (c) => {
      if (age !== null) c.header("Weft-View-Age-Ms", age);
      return c.json({ version: 7, network: "10.0.0.0/24", nodes: [] });
    });
  }, async (address) => {
    const c = new ControlClient(address, "t");
    const got: number[] = [];
    for (const a of ["420", "0", "1000", "-5", "1e3", "soon", null]) {
      age = a;
      got.push((await c.nodes()).viewAgeMs);
    }
    assert.deepEqual(got, [420, 0, 1000, 0, 0, 0, 0]);
  });
});

Deno.test("client: no token, no authorization header", async () => {
  await withApp((app) => {
    app.get("/status", (c) => c.json({ node: {}, peers: [] }));
  }, async (address, seen) => {
    await new ControlClient(address).status();
    await new ControlClient(address, "").status();
    assert.deepEqual(seen.map((s) => s.auth), [null, null]);
  });
});

Deno.test("client: an error status is an AgentAnswerError with the agent's reason", async () => {
  await withApp((app) => {
    app.get("/v1/nodes", (c) => c.json({ error: "not the leader" }, 409));
    app.get("/v1/tokens", (c) => c.text("plain failure", 500));
    app.get("/status", (c) => c.json({ other: 1 }, 401));
    app.post(
      "/v1/policy",
      (c) =>
        c.json({ error: "policy rejected: 2 problems", problems: ["line 1: a", "line 2: b"] }, 400),
    );
  }, async (address) => {
    const c = new ControlClient(address, "tok");
    const check = (status: number, detail: string) => (e: unknown) => {
      assert.ok(e instanceof AgentAnswerError, String(e));
      assert.equal(e.status, status);
      assert.equal(e.message, `agent answered ${status}: ${detail}`);
      return true;
    };
    await assert.rejects(c.nodes(), check(409, "not the leader"));
    await assert.rejects(c.listTokens(), check(500, "plain failure"));
    // JSON without an `error` field: the body as it came.
    await assert.rejects(c.status(), check(401, '{"other":1}'));
    await assert.rejects(c.removeNode("x"), check(404, "404 Not Found"));
    // A refusal with several problems lists them, one a line.
    await assert.rejects(
      c.applyPolicy("x"),
      check(400, "policy rejected: 2 problems:\n  line 1: a\n  line 2: b"),
    );
  });
});

Deno.test("client: an agent that is not there is named in the error", async () => {
  // A port that was just free: nothing listens on it.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  const c = new ControlClient(`127.0.0.1:${port}`);
  await assert.rejects(c.status(), (e: unknown) => {
    assert.ok(!(e instanceof AgentAnswerError));
    assert.match(
      String(e),
      new RegExp(`cannot reach the agent at http://127\\.0\\.0\\.1:${port}: `),
    );
    return true;
  });
});

Deno.test("client: recv yields datagrams from NDJSON lines split anywhere; an empty line is ready", async () => {
  const lines = [
    "",
    JSON.stringify({ address: "10.0.0.2", port: 5, base64: encodeBase64(Uint8Array.of(1, 2)) }),
    JSON.stringify({ address: "fd00::3", port: 6, base64: encodeBase64(new Uint8Array(0)) }),
    JSON.stringify({ address: "10.0.0.4", port: 7, base64: "!!not base64" }),
  ].join("\n") + "\n";
  await withApp((app) => {
    app.get("/v1/recv", () => {
      const bytes = new TextEncoder().encode(lines);
      // Three bytes at a time, so lines arrive in pieces.
      let off = 0;
      return new Response(
        new ReadableStream({
          pull(c) {
            if (off >= bytes.length) return c.close();
            c.enqueue(bytes.subarray(off, off += 3));
          },
        }),
      );
    });
  }, async (address, seen) => {
    let ready = 0;
    const got = [];
    for await (
      const d of new ControlClient(address, "t").recv(4000, { count: 3, onReady: () => ready++ })
    ) {
      assert.equal(ready, 1, "ready before the first datagram");
      got.push(d);
    }
    assert.deepEqual(got, [
      { address: "10.0.0.2", port: 5, data: Uint8Array.of(1, 2) },
      { address: "fd00::3", port: 6, data: new Uint8Array(0) },
      { address: "10.0.0.4", port: 7, data: new Uint8Array(0) },
    ]);
    assert.equal(seen[0].path, "/v1/recv?port=4000&count=3");
    assert.equal(seen[0].auth, "Bearer t");
  });
});

/** An open-ended /v1/recv stream with one datagram; `cancelled` settles when it is cancelled. */
function openStream(): { app: (app: Hono) => void; cancelled: Promise<void> } {
  let cancelled!: () => void;
  const done = new Promise<void>((r) => (cancelled = r));
  return {
    cancelled: done,
    app: (app) =>
      app.get("/v1/recv", () =>
        new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(new TextEncoder().encode(
                "\n" + JSON.stringify({ address: "10.0.0.2", port: 1, base64: "AA==" }) + "\n",
              ));
            },
            cancel() {
              cancelled();
            },
          }),
        )),
  };
}

Deno.test("client: recv ends when its signal aborts, and the stream is released", async () => {
  const s = openStream();
  await withApp(s.app, async (address, seen) => {
    const ac = new AbortController();
    const it = new ControlClient(address).recv(9, { signal: ac.signal });
    const first = await it.next();
    assert.deepEqual(first.value, { address: "10.0.0.2", port: 1, data: Uint8Array.of(0) });
    const next = it.next();
    ac.abort();
    await assert.rejects(next, (e: unknown) => (e as Error).name === "AbortError");
    await s.cancelled;
    assert.equal(seen[0].path, "/v1/recv?port=9");
  });
});

// Leaving a recv loop early (break, or return() on the iterator) cancels the HTTP response.
Deno.test({
  name: "client: recv left early cancels the response stream",
  fn: async () => {
    const s = openStream();
    await withApp(s.app, async (address) => {
      const it = new ControlClient(address).recv(9);
      await it.next();
      await it.return(undefined);
      await s.cancelled;
    });
  },
});

Deno.test("client: a stream the agent breaks off mid-way is an error saying so", async () => {
  // A raw server: the answer's headers and one chunk of a chunked body, then the socket closes.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(4096));
    await conn.write(
      new TextEncoder().encode(
        "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n" +
          "transfer-encoding: chunked\r\n\r\n1\r\n\n\r\n",
      ),
    );
    conn.close();
  })();
  try {
    const client = new ControlClient(`127.0.0.1:${listener.addr.port}`, "t0k3n");
    let ready = 0;
    await assert.rejects(
      async () => {
        for await (const _ of client.subscribe("news/*", { onReady: () => ready++ })) {
          // no events come
        }
      },
      /the agent's stream broke off \(the agent stopped or restarted\?\)/,
    );
    assert.equal(ready, 1);
  } finally {
    await served;
    listener.close();
  }
});
