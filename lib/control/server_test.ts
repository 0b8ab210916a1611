import assert from "node:assert/strict";
import { controlApp, serveControl } from "./server.ts";
import { ControlClient } from "./client.ts";
import { LOCAL_ENV } from "./middleware/auth.ts";
import { fakeAgent, fakeMesh } from "../../tests/fixtures/control.ts";
import { LARGE_STATUS_PEERS } from "./routes/status.ts";

const TOKEN = "s3cret-token-for-tests";
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** The app as serveControl builds it for a loopback listener with a token. */
function loopbackApp() {
  return controlApp(fakeAgent().agent, {
    token: TOKEN,
    mesh: fakeMesh("leader").mesh,
    noDashboard: true,
    allowHost: (h) => h === "127.0.0.1" || h === "localhost",
  });
}

Deno.test("control app: the guards in order: Host, then token, then method and route", async () => {
  const app = loopbackApp();
  const at = async (path: string, init: RequestInit = {}) => {
    const r = await app.request(path, init);
    await r.body?.cancel();
    return r.status;
  };
  // A rebound name is refused before anything else, with or without the token.
  assert.equal(await at("/v1/nodes", { headers: { host: "evil.example", ...AUTH } }), 421);
  assert.equal(await at("/nowhere", { headers: { host: "evil.example" } }), 421);
  // Under /v1 the token comes before the route: unknown paths and wrong methods are 401 too.
  assert.equal(await at("/v1/nowhere"), 401);
  assert.equal(await at("/v1/ping"), 401);
  assert.equal(await at("/v1/nowhere", { headers: AUTH }), 404);
  assert.equal(await at("/v1/ping", { headers: AUTH }), 405);
  // Outside /v1 on loopback no token is asked.
  assert.equal(await at("/status"), 200);
  // The mesh leader's status has the mesh view; a node's has none.
  const doc = await (await app.request("/status")).json();
  assert.deepEqual(doc.mesh.links.map((l: { a: string; b: string }) => `${l.a}|${l.b}`), ["me|n1"]);
  const nodeDoc = await (await controlApp(fakeAgent().agent, { mesh: fakeMesh("node").mesh })
    .request("/status")).json();
  assert.equal(nodeDoc.mesh, undefined);
  assert.deepEqual(Object.keys(nodeDoc), ["node", "peers"]);
  assert.equal(await at("/status", { method: "DELETE" }), 405);
  assert.equal(await at("/nowhere"), 404);
});

Deno.test("control app: a remote listener asks the token everywhere, 404s included", async () => {
  const app = controlApp(fakeAgent().agent, { token: TOKEN, tokenEverywhere: true });
  for (const path of ["/nowhere", "/status", "/healthz", "/v1/ping"]) {
    const r = await app.request(path);
    assert.equal(r.status, 401, path);
    assert.deepEqual(await r.json(), { error: "missing or wrong bearer token" });
  }
  assert.equal((await app.request("/nowhere", { headers: AUTH })).status, 404);
  assert.equal((await app.request(`/status?token=${TOKEN}`)).status, 200);
  const post = await app.request(`/status?token=${TOKEN}`, { method: "POST" });
  assert.equal(post.status, 401, "?token= is refused on POST");
  await post.body?.cancel();
  const del = await app.request(`/?token=${TOKEN}`, { method: "DELETE" });
  assert.equal(del.status, 401, "and on DELETE");
  await del.body?.cancel();
});

Deno.test("control app: no token configured: /v1 answers over the local socket only", async () => {
  const fake = fakeAgent();
  const app = controlApp(fake.agent, { noDashboard: true });
  const send = {
    method: "POST",
    body: JSON.stringify({ address: "10.9.0.2", port: 7, text: "x" }),
    headers: { "content-type": "application/json" },
  };
  // A page, or any local user, reaching the TCP port: refused, nothing sent.
  const tcp = await app.request("/v1/send", send);
  assert.deepEqual([tcp.status, await tcp.json()], [401, {
    error: "missing or wrong bearer token",
  }]);
  assert.equal(fake.sent.length, 0);
  const local = await app.request("/v1/send", send, LOCAL_ENV);
  assert.equal(local.status, 200);
  assert.equal(fake.sent.length, 1);
  const nodes = await app.request("/v1/nodes", {}, LOCAL_ENV);
  assert.deepEqual([nodes.status, await nodes.json()], [404, {
    error: "this agent is not part of a managed mesh",
  }]);
});

Deno.test("control app: a POST that is not JSON is 415 and reaches no route", async () => {
  const fake = fakeAgent();
  const app = controlApp(fake.agent, { token: TOKEN, noDashboard: true });
  const body = JSON.stringify({ address: "10.9.0.2", port: 7, text: "x" });
  for (
    const type of [
      undefined,
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/jsonx",
    ]
  ) {
    const headers: Record<string, string> = { ...AUTH };
    if (type) headers["content-type"] = type;
    for (const env of [undefined, LOCAL_ENV]) {
      const r = await app.request("/v1/send", { method: "POST", body, headers }, env);
      assert.equal(r.status, 415, `${type} ${env ? "over the socket" : "over TCP"}`);
      await r.body?.cancel();
    }
  }
  assert.equal(fake.sent.length, 0);
  const ok = await app.request("/v1/send", {
    method: "POST",
    body,
    headers: { ...AUTH, "content-type": "Application/JSON; charset=utf-8" },
  });
  assert.equal(ok.status, 200);
  assert.equal(fake.sent.length, 1);
});

Deno.test("control app: the token rotates over the local socket only", async () => {
  let token = TOKEN;
  let rotations = 0;
  const app = controlApp(fakeAgent().agent, {
    token: () => token,
    rotateToken: () => {
      rotations++;
      token = "the-next-token";
      return Promise.resolve();
    },
    noDashboard: true,
  });
  const init = {
    method: "POST",
    body: "{}",
    headers: { ...AUTH, "content-type": "application/json" },
  };
  const tcp = await app.request("/v1/control/rotate-token", init);
  assert.equal(tcp.status, 403, "a token holder over TCP cannot rotate it");
  await tcp.body?.cancel();
  assert.equal(rotations, 0);
  const local = await app.request("/v1/control/rotate-token", init, LOCAL_ENV);
  assert.deepEqual([local.status, await local.json()], [200, { rotated: true }]);
  const old = await app.request("/v1/nodes", { headers: AUTH });
  assert.equal(old.status, 401, "the old token is refused at once");
  await old.body?.cancel();
});

Deno.test("control app: every answer says Referrer-Policy: no-referrer", async () => {
  const app = loopbackApp();
  for (
    const [path, init] of [
      ["/status", {}],
      ["/nowhere", {}],
      ["/status", { method: "PUT" }],
      ["/v1/nodes", {}],
      ["/v1/nodes", { headers: AUTH }],
      ["/status", { headers: { host: "evil.example" } }],
      ["/v1/recv?port=7", { headers: AUTH }],
      ["/v1/ping", { method: "POST", headers: AUTH, body: "[".repeat(100) }],
    ] as const
  ) {
    const r = await app.request(path, init as RequestInit);
    assert.equal(r.headers.get("referrer-policy"), "no-referrer", `${path} ${r.status}`);
    await r.body?.cancel();
  }
});

Deno.test("control app: bodies over the limit are 413 after the token, before the route", async () => {
  const app = loopbackApp();
  const big = "x".repeat((1 << 20) + 1);
  const noToken = await app.request("/v1/ping", { method: "POST", body: big });
  assert.equal(noToken.status, 401);
  await noToken.body?.cancel();
  const r = await app.request("/v1/ping", { method: "POST", body: big, headers: AUTH });
  assert.equal(r.status, 413);
  assert.deepEqual(await r.json(), { error: "request body over 1048576 bytes" });
});

Deno.test("control app: a node or token that does not exist is 404, a leader's refusal 409", async () => {
  const app = loopbackApp();
  const r = await app.request("/v1/nodes/missing", { method: "DELETE", headers: AUTH });
  assert.deepEqual([r.status, await r.json()], [404, { error: "no node missing" }]);
  const t = await app.request("/v1/tokens/bad", { method: "DELETE", headers: AUTH });
  assert.deepEqual([t.status, await t.json()], [404, { error: "no token bad" }]);
  const self = await app.request("/v1/nodes/lead", { method: "DELETE", headers: AUTH });
  assert.deepEqual([self.status, await self.json()], [409, {
    error: "the leader cannot remove itself",
  }]);
});

Deno.test("serveControl: a remote address needs allowRemote and a token; bad addresses are named", () => {
  const { agent } = fakeAgent();
  assert.throws(
    () => serveControl(agent, { listen: "0.0.0.0:0", token: TOKEN }),
    /not loopback: pass --status-allow-remote/,
  );
  assert.throws(
    () => serveControl(agent, { listen: "0.0.0.0:0", allowRemote: true }),
    /needs a token/,
  );
  assert.throws(() => serveControl(agent, { listen: "localhost" }), /bad listen address/);
  assert.throws(() => serveControl(agent, { listen: "127.0.0.1:70000" }), /bad listen address/);
});

Deno.test("serveControl: the unix socket is 0600, serves /v1 without a token, goes at close", async () => {
  const dir = await Deno.makeTempDir();
  const fake = fakeAgent();
  Object.assign(fake.agent, { listenerStats: {} });
  const socket = `${dir}/weft.sock`;
  // A stale socket (an agent killed outright) is replaced; a file that is not a socket is not.
  Deno.listen({ transport: "unix", path: socket }).close();
  await Deno.writeTextFile(`${dir}/not-a-socket`, "x");
  assert.throws(
    () => serveControl(fake.agent, { listen: "127.0.0.1:0", socket: `${dir}/not-a-socket` }),
    /not a socket/,
  );
  const server = serveControl(fake.agent, { listen: "127.0.0.1:0", token: TOKEN, socket });
  try {
    assert.equal((await Deno.stat(socket)).mode! & 0o777, 0o600);
    const local = ControlClient.overSocket(socket);
    try {
      assert.equal((await local.ping("10.9.0.2", { count: 1 })).rtts.length, 1);
      await local.send("10.9.0.2", 7, new TextEncoder().encode("hi"));
      assert.equal(fake.sent.length, 1);
      assert.equal((await local.status()).node.name, "me");
    } finally {
      local.close();
    }
    await assert.rejects(new ControlClient(server.address).ping("10.9.0.2"), /401/);
  } finally {
    await server.close();
  }
  await assert.rejects(Deno.lstat(socket), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("serveControl: a leader's large /status reaches `weft status`'s client gzipped, decoded", async () => {
  const fake = fakeAgent();
  const peers = Array.from(
    { length: LARGE_STATUS_PEERS + 1 },
    (_, i) => ({ name: `n${i}`, publicKey: `key-${i}`, endpoint: `192.0.2.1:${i}`, health: "up" }),
  );
  Object.assign(fake.agent, { listenerStats: {}, status: () => ({ node: { name: "me" }, peers }) });
  const server = serveControl(fake.agent, { listen: "127.0.0.1:0", token: TOKEN });
  // A TCP relay between the client and the server that counts the bytes of the answers.
  const relay = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let down = 0;
  const conns: Deno.Conn[] = [];
  const relaying = (async () => {
    for await (const conn of relay) {
      const up = await Deno.connect({
        hostname: "127.0.0.1",
        port: Number(server.address.split(":")[1]),
      });
      conns.push(conn, up);
      conn.readable.pipeTo(up.writable).catch(() => {});
      up.readable.pipeThrough(
        new TransformStream({
          transform: (chunk, c) => {
            down += chunk.length;
            c.enqueue(chunk);
          },
        }),
      ).pipeTo(conn.writable).catch(() => {});
    }
  })();
  const client = new ControlClient(`127.0.0.1:${relay.addr.port}`, TOKEN);
  try {
    const plain = JSON.stringify({ node: { name: "me" }, peers }).length;
    // The first answer is built as asked (plain); its gzip is made in later turns.
    let bytes = Infinity;
    for (let i = 0; i < 100 && bytes > plain / 2; i++) {
      const before = down;
      const doc = await client.status();
      assert.deepEqual(doc.peers, peers);
      bytes = down - before;
    }
    assert.ok(bytes < plain / 2, `an answer of ${bytes} bytes for ${plain} bytes of JSON`);
  } finally {
    client.close();
    relay.close();
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed by the other side */ }
    }
    await relaying.catch(() => {});
    await server.close();
  }
});
