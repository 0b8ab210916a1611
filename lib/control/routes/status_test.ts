import assert from "node:assert/strict";
import { Hono } from "npm:hono@^4.13.19";
import {
  LARGE_STATUS_PEERS,
  LARGE_STATUS_REUSE_MS,
  LARGE_STATUS_STALE_MS,
  statusRoutes,
} from "./status.ts";
import { errorHandler, notFound } from "../middleware/errors.ts";
import { controlApp } from "../server.ts";
import { fakeAgent, PEER_KEY } from "../../../tests/fixtures/control.ts";
import { gauge, METRICS_CHUNK_BYTES, METRICS_CONTENT_TYPE } from "../../metrics/registry.ts";
import { gunzipSync } from "node:zlib";

const TOKEN = "s3cret-token-for-tests";

/** The routes alone, with the app's error answers. */
function routes(opts: Parameters<typeof statusRoutes>[1] = {}): Hono {
  const app = new Hono();
  app.onError(errorHandler());
  app.notFound(notFound);
  return app.route("/", statusRoutes(fakeAgent().agent, opts));
}

Deno.test("status routes: /status, /peers, /healthz and /metrics", async () => {
  const app = routes();
  const st = await (await app.request("/status")).json();
  assert.equal(st.node.name, "me");
  assert.equal(st.peers[0].publicKey, PEER_KEY);
  assert.deepEqual(await (await app.request("/peers")).json(), st.peers);
  const health = await app.request("/healthz");
  assert.equal(await health.text(), "ok\n");
  const metrics = await app.request("/metrics");
  assert.equal(metrics.headers.get("content-type"), METRICS_CONTENT_TYPE);
  assert.match(await metrics.text(), /^weft_build_info\{.*version="0\.0\.0-test".*\} 1$/m);
});

Deno.test("status routes: /metrics comes as a stream of chunks, never the page at once", async () => {
  const { agent } = fakeAgent();
  const g = gauge("t_peer_bytes", "Bytes.", ["peer"]);
  agent.metrics.register((out) => {
    for (let i = 0; i < 20_000; i++) out.sample(g, { peer: `peer-${i}` }, i);
  });
  const app = new Hono().route("/", statusRoutes(agent));
  const res = await app.request("/metrics");
  const reader = res.body!.getReader();
  const sizes: number[] = [];
  let text = "";
  const decoder = new TextDecoder();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    sizes.push(r.value.length);
    text += decoder.decode(r.value, { stream: true });
  }
  assert.ok(sizes.length > 1, `one body of ${sizes[0]} bytes`);
  assert.ok(sizes.every((n) => n <= METRICS_CHUNK_BYTES), String(sizes));
  assert.equal(text, agent.metrics.render());
  assert.match(text, /^t_peer_bytes\{peer="peer-19999"\} 19999$/m);
});

Deno.test("status routes: one peer by base64url or percent-encoded key; 404, 400", async () => {
  const app = routes();
  const url = PEER_KEY.replaceAll("+", "-").replaceAll("/", "_");
  assert.equal((await (await app.request(`/peers/${url}`)).json()).name, "peer");
  // Unpadded base64url, as most encoders write it (a key: 43 characters, then one "=").
  assert.equal(url.length, 44);
  assert.equal((await (await app.request(`/peers/${url.slice(0, -1)}`)).json()).name, "peer");
  const encoded = encodeURIComponent(PEER_KEY);
  assert.equal((await (await app.request(`/peers/${encoded}`)).json()).name, "peer");
  const none = await app.request("/peers/nope");
  assert.equal(none.status, 404);
  assert.deepEqual(await none.json(), { error: "no such peer" });
  const bad = await app.request("/peers/%ZZ");
  assert.equal(bad.status, 400);
  assert.deepEqual(await bad.json(), { error: "the peer key is not valid percent-encoding" });
});

Deno.test("status routes: a wrong method gets 405 with Allow", async () => {
  const app = routes();
  for (const [method, path] of [["DELETE", "/status"], ["POST", "/"], ["PUT", "/peers/x"]]) {
    const r = await app.request(path, { method });
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.equal(r.headers.get("allow"), "GET");
    assert.deepEqual(await r.json(), { error: `${method} is not allowed on ${path}` });
  }
  const ev = await app.request("/events", { method: "POST" });
  assert.equal(ev.status, 405);
  assert.equal(ev.headers.get("allow"), "GET");
  await ev.body?.cancel();
});

Deno.test("status routes: the dashboard's page and event stream, or neither", async () => {
  const signal = new AbortController();
  const app = routes({ dashboardSignal: signal.signal });
  const page = await app.request("/");
  assert.match(page.headers.get("content-type") ?? "", /text\/html/);
  assert.match(await page.text(), /<html/);
  const ev = await app.request("/events");
  assert.match(ev.headers.get("content-type") ?? "", /text\/event-stream/);
  const reader = ev.body!.getReader();
  assert.match(new TextDecoder().decode((await reader.read()).value), /^retry: /);
  // Aborting the signal ends the stream (the server does so before it shuts down).
  signal.abort();
  for (;;) if ((await reader.read()).done) break;

  const without = routes({ dashboard: false });
  for (const path of ["/", "/events"]) {
    const r = await without.request(path);
    assert.equal(r.status, 404, path);
    await r.body?.cancel();
  }
  assert.equal((await without.request("/status")).status, 200);
});

Deno.test("status routes in the control app: token, ?token= and Host as the server guards them", async () => {
  const { agent } = fakeAgent();
  const signal = new AbortController();
  // A remote listener: every route needs the token.
  const remote = controlApp(agent, {
    token: TOKEN,
    tokenEverywhere: true,
    dashboardSignal: signal.signal,
  });
  for (const path of ["/status", "/peers", "/metrics", "/healthz", "/"]) {
    const r = await remote.request(path);
    assert.equal(r.status, 401, path);
    assert.deepEqual(await r.json(), { error: "missing or wrong bearer token" });
  }
  const wrong = await remote.request("/status", { headers: { authorization: `Bearer ${TOKEN}x` } });
  assert.equal(wrong.status, 401);
  await wrong.body?.cancel();
  const ok = await remote.request("/status", { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  // ?token= opens the dashboard's GETs, never another method or another route.
  assert.equal((await remote.request(`/status?token=${TOKEN}`)).status, 200);
  for (const [method, path] of [["POST", "/status"], ["DELETE", "/"], ["GET", "/metrics"]]) {
    const r = await remote.request(`${path}?token=${TOKEN}`, { method });
    assert.equal(r.status, 401, `${method} ${path}?token=`);
    await r.body?.cancel();
  }
  // A loopback listener: no token for status, but only loopback names.
  const local = controlApp(agent, {
    token: TOKEN,
    dashboardSignal: signal.signal,
    allowHost: (h) => h === "127.0.0.1" || h === "localhost",
  });
  const rebound = await local.request("/status", { headers: { host: "rebind.example:51880" } });
  assert.equal(rebound.status, 421);
  assert.doesNotMatch(await rebound.text(), /publicKey/);
  const mine = await local.request("/status", { headers: { host: "localhost:51880" } });
  assert.equal(mine.status, 200);
  assert.equal(mine.headers.get("referrer-policy"), "no-referrer");
  await mine.body?.cancel();
  signal.abort();
});

Deno.test("status routes: a large /status is built once a second, ahead of the request while polled; a small one every time", async () => {
  let builds = 0;
  let peers = 2;
  const agent = {
    ...fakeAgent().agent,
    status: () => {
      builds++;
      return {
        node: { name: `build${builds}` },
        peers: Array.from({ length: peers }, (_, i) => ({ publicKey: `k${i}` })),
      };
    },
  } as unknown as Parameters<typeof statusRoutes>[0];
  const app = new Hono().route("/", statusRoutes(agent));
  const get = async () => {
    const res = await app.request("/status");
    assert.equal(res.headers.get("content-type"), "application/json");
    return (await res.json()).node.name;
  };
  assert.equal(await get(), "build1");
  assert.equal(await get(), "build2");
  peers = LARGE_STATUS_PEERS + 1;
  assert.equal(await get(), "build3");
  assert.equal(await get(), "build3");
  await new Promise((r) => setTimeout(r, LARGE_STATUS_REUSE_MS + 50));
  // Older than a second: served all the same, and the next built in a later turn.
  assert.equal(await get(), "build3");
  assert.equal(await get(), "build3");
  // Built over a few turns (status_body.ts), once however often it is asked for meanwhile.
  let name = "build3";
  for (let i = 0; i < 100 && name === "build3"; i++) {
    await new Promise((r) => setTimeout(r, 0));
    name = await get();
  }
  assert.equal(name, "build4");
  assert.equal(builds, 4);
  // Past LARGE_STATUS_STALE_MS one is built while the request waits.
  await new Promise((r) => setTimeout(r, LARGE_STATUS_STALE_MS + 50));
  assert.equal(await get(), "build5");
  assert.equal(builds, 5);
});

Deno.test("status routes: a large /status goes gzipped to a client that accepts it, built a slice of peers at a time", async () => {
  let slices = 0;
  let builds = 0;
  const peers = Array.from(
    { length: LARGE_STATUS_PEERS + 1 },
    (_, i) => ({ publicKey: `key-${i}`, endpoint: `192.0.2.1:${i}`, health: "up" }),
  );
  const doc = () => ({ node: { name: `build${++builds}` }, peers });
  const agent = {
    ...fakeAgent().agent,
    status: doc,
    // The sliced build: each pause is a turn of the event loop the route hands it.
    statusInSlices: async (pause: () => Promise<void>) => {
      await pause();
      slices++;
      return doc();
    },
  } as unknown as Parameters<typeof statusRoutes>[0];
  const app = new Hono().route(
    "/",
    statusRoutes(agent, { mesh: () => ({ members: [] }) as never }),
  );
  const get = (encoding?: string) =>
    app.request("/status", { headers: encoding ? { "accept-encoding": encoding } : {} });
  const plain = await (await get()).text();
  assert.deepEqual(JSON.parse(plain).peers, peers);
  // The gzip is made in later turns: until then the plain body, then the gzip, the same text.
  let res = await get("gzip, br");
  for (let i = 0; i < 200 && res.headers.get("content-encoding") !== "gzip"; i++) {
    await res.body?.cancel();
    await new Promise((r) => setTimeout(r, 0));
    res = await get("gzip, br");
  }
  assert.equal(res.headers.get("content-encoding"), "gzip");
  assert.equal(res.headers.get("vary"), "accept-encoding");
  const zipped = new Uint8Array(await res.arrayBuffer());
  assert.ok(zipped.length < plain.length / 2, `${zipped.length} bytes gzipped of ${plain.length}`);
  assert.equal(new TextDecoder().decode(gunzipSync(zipped)), plain);
  // Not to a client that does not ask for it, or refuses it.
  for (const encoding of [undefined, "identity", "gzip;q=0", "br"]) {
    const r = await get(encoding);
    assert.equal(r.headers.get("content-encoding"), null, String(encoding));
    assert.equal(await r.text(), plain);
  }
  // Past a second the next is built with the agent's sliced build, in later turns.
  await new Promise((r) => setTimeout(r, LARGE_STATUS_REUSE_MS + 50));
  await (await get()).body?.cancel();
  let name = "build1";
  for (let i = 0; i < 200 && name === "build1"; i++) {
    await new Promise((r) => setTimeout(r, 0));
    name = JSON.parse(await (await get()).text()).node.name;
  }
  assert.equal(name, "build2");
  // `/peers` serves the peers' part of the same text, not building again.
  assert.deepEqual(await (await app.request("/peers")).json(), peers);
  assert.equal(slices, 1);
  assert.equal(builds, 2);
});

Deno.test("status routes: a large /peers goes gzipped to a client that accepts it, a small one plain", async () => {
  const peersOf = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ publicKey: `key-${i}`, endpoint: `192.0.2.1:${i}` }));
  const appOf = (peers: object[]) => {
    const agent = {
      ...fakeAgent().agent,
      status: () => ({ node: { name: "me" }, peers }),
    } as unknown as Parameters<typeof statusRoutes>[0];
    return new Hono().route("/", statusRoutes(agent));
  };
  const large = peersOf(LARGE_STATUS_PEERS + 1);
  const app = appOf(large);
  const get = (encoding?: string) =>
    app.request("/peers", { headers: encoding ? { "accept-encoding": encoding } : {} });
  const plain = await (await get()).text();
  assert.deepEqual(JSON.parse(plain), large);
  const res = await get("gzip, deflate, br");
  assert.equal(res.headers.get("content-encoding"), "gzip");
  assert.equal(res.headers.get("vary"), "accept-encoding");
  const zipped = new Uint8Array(await res.arrayBuffer());
  assert.ok(zipped.length < plain.length / 2, `${zipped.length} bytes gzipped of ${plain.length}`);
  assert.equal(new TextDecoder().decode(gunzipSync(zipped)), plain);
  // Compressed once for the document: the next client gets the same bytes.
  const again = new Uint8Array(await (await get("gzip")).arrayBuffer());
  assert.deepEqual(again, zipped);
  // Not to a client that does not ask for it, or refuses it.
  for (const encoding of [undefined, "identity", "gzip;q=0", "br"]) {
    const r = await get(encoding);
    assert.equal(r.headers.get("content-encoding"), null, String(encoding));
    assert.equal(await r.text(), plain);
  }
  // A small list is plain whatever the client takes (not worth the compressing).
  const small = await appOf(peersOf(3)).request("/peers", {
    headers: { "accept-encoding": "gzip" },
  });
  assert.equal(small.headers.get("content-encoding"), null);
  assert.deepEqual(await small.json(), peersOf(3));
});

Deno.test("status routes: a large /status built while a gzip client waits goes to it gzipped at once", async () => {
  let builds = 0;
  const peers = Array.from(
    { length: LARGE_STATUS_PEERS + 1 },
    (_, i) => ({ publicKey: `key-${i}`, endpoint: `192.0.2.1:${i}`, health: "up" }),
  );
  const agent = {
    ...fakeAgent().agent,
    status: () => ({ node: { name: `build${++builds}` }, peers }),
  } as unknown as Parameters<typeof statusRoutes>[0];
  const app = new Hono().route("/", statusRoutes(agent));
  const get = (encoding?: string) =>
    app.request("/status", { headers: encoding ? { "accept-encoding": encoding } : {} });
  // The first request has it built while it waits: gzipped for it, not the whole text plain
  // (several writes of megabytes, each waiting for the socket, on a busy leader).
  const res = await get("gzip, br");
  assert.equal(res.headers.get("content-encoding"), "gzip", "the first answer is gzipped");
  assert.equal(res.headers.get("vary"), "accept-encoding");
  const text = new TextDecoder().decode(gunzipSync(new Uint8Array(await res.arrayBuffer())));
  assert.equal(JSON.parse(text).node.name, "build1");
  // The same document, plain, to a client that does not take gzip; no second build.
  const plain = await get();
  assert.equal(plain.headers.get("content-encoding"), null);
  assert.equal(await plain.text(), text);
  assert.equal(builds, 1);
  // Past LARGE_STATUS_STALE_MS with no build under way: built while the request waits, gzipped.
  await new Promise((r) => setTimeout(r, LARGE_STATUS_STALE_MS + 50));
  const again = await get("gzip");
  assert.equal(again.headers.get("content-encoding"), "gzip");
  const next = JSON.parse(
    new TextDecoder().decode(gunzipSync(new Uint8Array(await again.arrayBuffer()))),
  );
  assert.equal(next.node.name, "build2");
  assert.equal(builds, 2);
});

/** The data of the first `status` event on a dashboard stream. */
async function firstStatusEvent(body: ReadableStream<Uint8Array>): Promise<unknown> {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const m = /(?:^|\n)event: status\ndata: (.*)\n\n/.exec(buf);
    if (m) {
      await reader.cancel();
      return JSON.parse(m[1]);
    }
    const r = await reader.read();
    if (r.done) throw new Error("the stream ended before a status event");
    buf += dec.decode(r.value, { stream: true });
  }
}

Deno.test("status routes: dashboard streams and /peers of a large agent share one build", async () => {
  let builds = 0;
  const peers = Array.from(
    { length: LARGE_STATUS_PEERS + 1 },
    (_, i) => ({ publicKey: `key-${i}`, endpoint: null, rxBytes: i, txBytes: 0 }),
  );
  const agent = {
    ...fakeAgent().agent,
    status: () => ({ node: { publicKey: "me", name: `build${++builds}` }, peers }),
  } as unknown as Parameters<typeof statusRoutes>[0];
  const signal = new AbortController();
  const mesh = { members: [] } as never;
  const app = new Hono().route(
    "/",
    statusRoutes(agent, { dashboardSignal: signal.signal, mesh: () => mesh }),
  );
  const expected = { node: { publicKey: "me", name: "build1" }, peers, mesh };
  // Five dashboards and five scripts, one after the other (each would have built it on main).
  for (let i = 0; i < 5; i++) {
    const res = await app.request("/events");
    assert.deepEqual(await firstStatusEvent(res.body!), expected, `dashboard ${i}`);
    const list = await app.request("/peers");
    assert.equal(list.headers.get("content-type"), "application/json");
    assert.deepEqual(await list.json(), peers, `/peers ${i}`);
  }
  assert.equal(builds, 1);
  assert.deepEqual(await (await app.request("/status")).json(), expected);
  assert.equal(builds, 1);
  signal.abort();
});

Deno.test("status routes: /peers/:key looks the one peer up, not building every peer's record", async () => {
  let builds = 0;
  const { agent: fake } = fakeAgent();
  const agent = {
    ...fake,
    status: () => (builds++, fake.status()),
  } as unknown as Parameters<typeof statusRoutes>[0];
  const app = new Hono().route("/", statusRoutes(agent, { dashboard: false }));
  const url = PEER_KEY.replaceAll("+", "-").replaceAll("/", "_");
  const one = await app.request(`/peers/${url}`);
  assert.equal(one.status, 200);
  assert.deepEqual(await one.json(), fake.status().peers[0]);
  assert.equal(builds, 0);
});
