import assert from "node:assert/strict";
import { MAX_CALL_BODY_BYTES, serveControl } from "./server.ts";
import { fakeAgent, fakeMesh } from "../../tests/fixtures/control.ts";
import { aCheck, loneApiWorker } from "../../tests/fixtures/api_worker.ts";
import { ControlClient } from "./client.ts";
import type { MeshAgent } from "../mesh/mesh_agent.ts";
import { LARGE_STATUS_PEERS } from "./routes/status.ts";
import { LAGGING_NODES_OVER, PUBLISH_EVERY_MS } from "./api_front.ts";
import { VIEW_AGE_HEADER } from "./routes/view_age.ts";
import { gauge } from "../metrics/registry.ts";

const TOKEN = "s3cret-token-for-tests";
const AUTH = { authorization: `Bearer ${TOKEN}` };

/**
 * A leader whose view loses a member when it is removed (a new view object each version); `more`
 * members after `me` and `n1`.
 */
function leaderMesh(joined?: { add?: (name: string) => void }, more = 0) {
  const base = fakeMesh("leader").mesh;
  const others = Array.from({ length: more }, (_, i) => ({ name: `m${i}` }));
  let view = {
    version: 4,
    network: "10.9.0.0/24",
    members: [{ name: "me" }, { name: "n1" }, ...others],
  };
  const mesh = {
    ...base,
    view: () => view,
    removeNode: (id: string) => {
      view = {
        ...view,
        version: view.version + 1,
        members: view.members.filter((m) => m.name !== id),
      };
      return Promise.resolve({ name: id });
    },
  } as unknown as MeshAgent;
  if (joined) {
    joined.add = (name) =>
      view = { ...view, version: view.version + 1, members: [...view.members, { name }] };
  }
  return mesh;
}

/** The status line's code of a GET sent with this `Host` (fetch would not send another host). */
async function statusWithHost(
  address: string,
  path: string,
  host: string,
  auth = "",
): Promise<number> {
  const [hostname, port] = address.split(":");
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const head = `GET ${path} HTTP/1.1\r\nhost: ${host}\r\n${auth}connection: close\r\n\r\n`;
  await conn.write(new TextEncoder().encode(head));
  const text = await new Response(conn.readable).text();
  return Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
}

async function serve(joined?: { add?: (name: string) => void }, more = 0) {
  const fake = fakeAgent();
  // A status of more peers than LARGE_STATUS_PEERS: the document the cache keeps.
  const peers = Array.from(
    { length: LARGE_STATUS_PEERS + 1 },
    (_, i) => ({ name: `n${i}`, publicKey: `key-${i}`, endpoint: `192.0.2.1:${i}`, health: "up" }),
  );
  Object.assign(fake.agent, { listenerStats: {}, status: () => ({ node: { name: "me" }, peers }) });
  const server = serveControl(fake.agent, {
    listen: "127.0.0.1:0",
    token: TOKEN,
    mesh: leaderMesh(joined, more),
    apiWorker: true,
  });
  await server.ready;
  return server;
}

/** GETs `url` from a client thread while this thread is blocked; null if no answer came. */
function fetchWhileBlocked(url: string, headers: Record<string, string>) {
  const flag = new SharedArrayBuffer(4);
  const client = new Worker(new URL("./testing/fetch_worker.ts", import.meta.url), {
    type: "module",
  });
  const answer = new Promise<
    { status: number; headers: Record<string, string>; text: string }
  >((resolve, reject) => {
    client.onmessage = (e) => e.data.error ? reject(new Error(e.data.error)) : resolve(e.data);
  });
  client.postMessage({ url, headers, flag });
  // The main thread runs nothing until the client says it has its answer: no turn of the event
  // loop, no timer, no socket read. 20 s is a failure bound, not an expected time.
  const woke = Atomics.wait(new Int32Array(flag), 0, 0, 20_000);
  if (woke !== "ok") client.terminate();
  return { woke, answer, client };
}

Deno.test("api worker: the node list and a large status are answered while the main thread is blocked", async () => {
  const server = await serve();
  try {
    // The first reads are forwarded and ask for the bodies; flush waits until the worker holds them.
    for (const path of ["/v1/nodes", "/status"]) {
      const first = await fetch(`http://${server.address}${path}`, { headers: AUTH });
      assert.equal(first.status, 200);
      await first.body?.cancel();
    }
    await server.flush?.();
    const nodes = fetchWhileBlocked(`http://${server.address}/v1/nodes`, AUTH);
    assert.equal(nodes.woke, "ok", "the node list did not come while the main thread was blocked");
    const got = await nodes.answer;
    nodes.client.terminate();
    assert.equal(got.status, 200);
    assert.deepEqual(JSON.parse(got.text).nodes.map((n: { name: string }) => n.name), ["me", "n1"]);
    const status = fetchWhileBlocked(`http://${server.address}/status`, {});
    assert.equal(status.woke, "ok", "the status did not come while the main thread was blocked");
    const doc = JSON.parse((await status.answer).text);
    status.client.terminate();
    assert.equal(doc.peers.length, LARGE_STATUS_PEERS + 1);
    assert.equal(doc.node.name, "me");
  } finally {
    await server.close();
  }
});

for (const more of [0, LAGGING_NODES_OVER]) {
  Deno.test(`api worker: a read after a forwarded write sees the write (${more + 2} members)`, async () => {
    const server = await serve(undefined, more);
    try {
      const names = async () => {
        const r = await fetch(`http://${server.address}/v1/nodes`, { headers: AUTH });
        assert.equal(r.status, 200);
        return (await r.json()).nodes.map((n: { name: string }) => n.name).slice(0, 2);
      };
      assert.deepEqual(await names(), ["me", "n1"]);
      await server.flush?.();
      const del = await fetch(`http://${server.address}/v1/nodes/n1`, {
        method: "DELETE",
        headers: AUTH,
      });
      assert.deepEqual([del.status, await del.json()], [200, { removed: { name: "n1" } }]);
      // Served by the worker (the body is there), and already the view after the delete: a large
      // list served behind the view in force is never one older than a write answered.
      assert.deepEqual(await names(), more === 0 ? ["me"] : ["me", "m0"]);
    } finally {
      await server.close();
    }
  });
}

Deno.test("api worker: the hot routes refuse what the control app refuses", async () => {
  const server = await serve();
  try {
    const at = async (path: string, headers: Record<string, string>) => {
      const r = await fetch(`http://${server.address}${path}`, { headers });
      return [r.status, await r.json()];
    };
    assert.equal((await at("/v1/nodes", AUTH))[0], 200);
    await server.flush?.();
    assert.deepEqual(await at("/v1/nodes", {}), [401, { error: "missing or wrong bearer token" }]);
    assert.deepEqual(await at("/v1/nodes", { authorization: "Bearer wrong" }), [
      401,
      { error: "missing or wrong bearer token" },
    ]);
    const auth = `authorization: Bearer ${TOKEN}\r\n`;
    assert.equal(await statusWithHost(server.address, "/v1/nodes", "evil.example", auth), 421);
    assert.equal(await statusWithHost(server.address, "/status", "evil.example"), 421);
    assert.equal(await statusWithHost(server.address, "/v1/nodes", "localhost", auth), 200);
    // Forwarded routes keep the app's answers.
    assert.deepEqual(await at("/v1/tokens", {}), [401, { error: "missing or wrong bearer token" }]);
    assert.equal((await at("/v1/tokens", AUTH))[0], 200);
  } finally {
    await server.close();
  }
});

Deno.test("api worker: a forwarded body over the limit is the app's 413", async () => {
  const server = await serve();
  try {
    // Chunked, so the limit is met while reading, in the worker, not from a Content-Length.
    const big = new Uint8Array(MAX_CALL_BODY_BYTES + 1).fill(120);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < big.length; i += 65536) c.enqueue(big.subarray(i, i + 65536));
        c.close();
      },
    });
    const r = await fetch(`http://${server.address}/v1/ping`, {
      method: "POST",
      body,
      headers: { ...AUTH, "content-type": "application/json" },
    });
    assert.deepEqual([r.status, await r.json()], [413, {
      error: `request body over ${MAX_CALL_BODY_BYTES} bytes`,
    }]);
  } finally {
    await server.close();
  }
});

Deno.test("api worker: the socket is 0600 and local; a rotated token is the worker's at once", async () => {
  const dir = await Deno.makeTempDir();
  const socket = `${dir}/weft.sock`;
  const fake = fakeAgent();
  Object.assign(fake.agent, { listenerStats: {} });
  const NEW = "the-new-token";
  const server = serveControl(fake.agent, {
    listen: "127.0.0.1:0",
    token: TOKEN,
    socket,
    mesh: leaderMesh(),
    rotateToken: () => Promise.resolve(NEW),
    apiWorker: true,
  });
  try {
    await server.ready;
    assert.equal((await Deno.stat(socket)).mode! & 0o777, 0o600);
    const local = ControlClient.overSocket(socket);
    try {
      // Over the socket: no token, and the leader's node list.
      assert.equal((await local.status()).node.name, "me");
      await local.rotateControlToken();
    } finally {
      local.close();
    }
    const first = await fetch(`http://${server.address}/v1/nodes`, {
      headers: { authorization: `Bearer ${NEW}` },
    });
    assert.equal(first.status, 200);
    await first.body?.cancel();
    await server.flush?.();
    // From the worker's body now: the old token refused, the new one taken.
    const old = await fetch(`http://${server.address}/v1/nodes`, { headers: AUTH });
    assert.deepEqual([old.status, await old.json()], [401, {
      error: "missing or wrong bearer token",
    }]);
    const now = await fetch(`http://${server.address}/v1/nodes`, {
      headers: { authorization: `Bearer ${NEW}` },
    });
    assert.equal(now.status, 200);
    assert.equal((await now.json()).nodes.length, 2);
  } finally {
    await server.close();
  }
  await assert.rejects(Deno.lstat(socket), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("api worker: a view changed by a member (not through the API) is in the next answer", async () => {
  const joined: { add?: (name: string) => void } = {};
  const server = await serve(joined);
  try {
    const names = async () => {
      const r = await fetch(`http://${server.address}/v1/nodes`, { headers: AUTH });
      return (await r.json()).nodes.map((n: { name: string }) => n.name);
    };
    assert.deepEqual(await names(), ["me", "n1"]);
    await server.flush?.();
    joined.add!("n2");
    // The next check of the view (what flush runs) takes the old list back.
    await server.flush?.();
    assert.deepEqual(await names(), ["me", "n1", "n2"]);
  } finally {
    await server.close();
  }
});

Deno.test("api worker: a port taken before the worker binds it fails the start with the main thread's message", async () => {
  const fake = fakeAgent();
  Object.assign(fake.agent, { listenerStats: {} });
  // The port checked free by bindControl and taken in between: its listener is not let go.
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const address = `127.0.0.1:${taken.addr.port}`;
  try {
    const server = serveControl(fake.agent, {
      bound: { listener: taken, remote: false, listenHost: "127.0.0.1", address, close: () => {} },
      mesh: leaderMesh(),
      apiWorker: true,
    });
    await assert.rejects(
      server.ready,
      new RegExp(`^Error: the status server cannot listen on ${address}: Address already in use`),
    );
    await server.close();
  } finally {
    taken.close();
  }
});

Deno.test("api worker: a control socket it cannot take fails the start as on the main thread, and a file there stays", async () => {
  const dir = await Deno.makeTempDir();
  const fake = fakeAgent();
  Object.assign(fake.agent, { listenerStats: {} });
  const path = `${dir}/weft.sock`;
  await Deno.writeTextFile(path, "x");
  const opts = { listen: "127.0.0.1:0", socket: path, mesh: leaderMesh() };
  let mainThread = "";
  try {
    serveControl(fake.agent, opts);
  } catch (e) {
    mainThread = String(e);
  }
  assert.match(mainThread, /not a socket; not touching it/);
  const server = serveControl(fake.agent, { ...opts, apiWorker: true });
  await assert.rejects(server.ready, (e) => String(e) === mainThread);
  await server.close();
  assert.equal(await Deno.readTextFile(path), "x");
  await Deno.remove(dir, { recursive: true });
});

/** A view of `n` members (a new object each call). */
const viewOf = (version: number, n: number) => ({
  version,
  members: Array.from({ length: n }, (_, i) => ({ name: `m${i}` })),
});
type View = ReturnType<typeof viewOf>;

/**
 * The API worker alone, its app answering `GET /v1/nodes` with the view in force (age 0), the
 * node list allowed `maxAgeMs` behind it.
 */
async function frontOf(holder: { view: View }, maxAgeMs: number) {
  const { front, port } = await loneApiWorker({
    view: () => holder.view,
    members: (v) => v.members.length,
    token: TOKEN,
    maxAgeMs,
  });
  return { front, url: `http://127.0.0.1:${port}/v1/nodes` };
}

Deno.test("api worker: a large node list behind the view in force is served by the worker, its age said", async () => {
  const holder = { view: viewOf(1, LAGGING_NODES_OVER + 1) };
  const { front, url } = await frontOf(holder, 60_000);
  try {
    const first = await fetch(url, { headers: AUTH });
    assert.equal((await first.json()).version, 1);
    await front.flush();
    // Members join: during churn the view changes at every batch, the leader's loop is busy. The
    // first check after a change makes the list again (it was asked for), then not until the
    // next request asks.
    holder.view = viewOf(2, LAGGING_NODES_OVER + 2);
    await aCheck();
    holder.view = viewOf(3, LAGGING_NODES_OVER + 3);
    await aCheck();
    const got = fetchWhileBlocked(url, AUTH);
    assert.equal(got.woke, "ok", "the node list did not come while the main thread was blocked");
    const answer = await got.answer;
    got.client.terminate();
    assert.equal(answer.status, 200);
    // Version 2's list, behind the view in force by at least the wait since the change.
    assert.equal(JSON.parse(answer.text).version, 2);
    const age = Number(answer.headers[VIEW_AGE_HEADER]);
    assert.ok(age >= PUBLISH_EVERY_MS && age <= 60_000, `age ${age}`);
  } finally {
    await front.close();
  }
});

Deno.test("api worker: a large node list older than its bound goes to the app, a small one behind the view at once", async () => {
  for (const n of [LAGGING_NODES_OVER + 1, 2]) {
    const holder = { view: viewOf(1, n) };
    // Past this bound well before the check below has run; the default is a second.
    const { front, url } = await frontOf(holder, PUBLISH_EVERY_MS / 2);
    try {
      const first = await fetch(url, { headers: AUTH });
      assert.equal((await first.json()).version, 1);
      await front.flush();
      holder.view = viewOf(2, n + 1);
      await aCheck();
      // From the app, or from a list the check made of the view in force: never version 1.
      const next = await fetch(url, { headers: AUTH });
      assert.equal((await next.json()).version, 2);
    } finally {
      await front.close();
    }
  }
});

Deno.test("api worker: a /metrics page of many chunks, moved to the worker rather than copied, arrives whole", async () => {
  const fake = fakeAgent();
  const many = gauge("t_many", "Many samples.", ["i"]);
  fake.agent.metrics.register((out) => {
    for (let i = 0; i < 20_000; i++) out.sample(many, { i: String(i) }, i);
  });
  Object.assign(fake.agent, { listenerStats: {} });
  const server = serveControl(fake.agent, {
    listen: "127.0.0.1:0",
    token: TOKEN,
    mesh: leaderMesh(),
    apiWorker: true,
  });
  await server.ready;
  try {
    const want = fake.agent.metrics.render();
    assert.ok(want.length > 4 * 65_536, `a page of ${want.length} bytes`);
    const res = await fetch(`http://${server.address}/metrics`, { headers: AUTH });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), want);
  } finally {
    await server.close();
  }
});
