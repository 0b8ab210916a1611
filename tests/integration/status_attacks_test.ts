/**
 * Attacks on the status/control server, each as an attacker would send it: a DNS-rebound Host,
 * `?token=` on control routes, oversized and deeply nested bodies, bad percent-encoding, echoed
 * input, and a request head that never ends. A real agent and server on loopback.
 */
import assert from "node:assert/strict";
import { Agent } from "../../lib/agent/agent.ts";
import { type ControlServer, serveControl } from "../../lib/control/server.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";
import { nullLogger } from "../../lib/log/logger.ts";
import { HANG_GUARD_MS } from "../fixtures/netns.ts";

const TOKEN = "s3cret-token-for-tests";

async function withServer(
  fn: (s: ControlServer) => Promise<void>,
  opts: { listen?: string; allowRemote?: boolean; headerTimeoutMs?: number } = {},
): Promise<void> {
  const agent = await Agent.start({
    privateKey: generateKeyPair().privateKey,
    addresses: ["10.97.0.1/24"],
    listenPort: 0,
    logger: nullLogger,
  });
  const server = serveControl(agent, { listen: "127.0.0.1:0", token: TOKEN, ...opts });
  try {
    await fn(server);
  } finally {
    await server.close();
    await agent.close();
  }
}

/** Sends raw request bytes and reads the response head (and body up to `limit` bytes). */
async function raw(address: string, request: string, limit = 65536): Promise<{
  status: number;
  headers: string;
  body: string;
}> {
  const i = address.lastIndexOf(":");
  const conn = await Deno.connect({
    hostname: address.slice(0, i),
    port: Number(address.slice(i + 1)),
  });
  try {
    await conn.write(new TextEncoder().encode(request));
    let text = "";
    const buf = new Uint8Array(16384);
    const dec = new TextDecoder();
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n));
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0 && text.length - end - 4 >= limit) break;
      // A complete chunked or sized body ends the read too.
      if (end >= 0 && (/\r\n0\r\n\r\n$/.test(text) || /content-length: 0\r\n/i.test(text))) break;
    }
    const end = text.indexOf("\r\n\r\n");
    return {
      status: Number(text.slice(9, 12)),
      headers: text.slice(0, end).toLowerCase(),
      body: text.slice(end + 4),
    };
  } finally {
    conn.close();
  }
}

for (const allowRemote of [false, true]) {
  Deno.test({
    name: `status attack: a DNS-rebound Host reads nothing; loopback names do${
      allowRemote ? " (with --status-allow-remote on a loopback address)" : ""
    }`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => rebinding(allowRemote),
  });
}

function rebinding(allowRemote: boolean): Promise<void> {
  return withServer(async (s) => {
    const port = s.address.split(":")[1];
    for (const path of ["/status", "/peers", "/metrics", "/events", "/"]) {
      const r = await raw(
        s.address,
        `GET ${path} HTTP/1.1\r\nHost: rebind.attacker.example:${port}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(r.status, 421, `${path}: ${r.headers}`);
      assert.doesNotMatch(r.body, /publicKey|weft_/);
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "127.0.0.1"]) {
      const r = await raw(
        s.address,
        `GET /status HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(r.status, 200, host);
      assert.match(r.headers, /\r\nreferrer-policy: no-referrer/);
    }
  }, { allowRemote });
}

Deno.test({
  name: "status attack: ?token= opens only the dashboard's GETs, never POST or DELETE",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withServer(async (s) => {
      const body = JSON.stringify({ address: "10.97.0.9", timeoutMs: 1 });
      const q = `?token=${TOKEN}`;
      for (
        const [method, path] of [
          ["POST", "/v1/ping"],
          ["POST", "/v1/tokens"],
          ["DELETE", "/v1/tokens/abc"],
          ["GET", "/v1/nodes"],
        ]
      ) {
        const r = await fetch(`http://${s.address}${path}${q}`, {
          method,
          body: method === "POST" ? body : undefined,
        });
        assert.equal(r.status, 401, `${method} ${path}?token=`);
        await r.body?.cancel();
      }
      // The header still works, and a wrong one does not.
      const ok = await fetch(`http://${s.address}/v1/ping`, {
        method: "POST",
        body,
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.notEqual(ok.status, 401);
      await ok.body?.cancel();
      const wrong = await fetch(`http://${s.address}/v1/nodes`, {
        headers: { authorization: `Bearer ${TOKEN}x` },
      });
      assert.equal(wrong.status, 401);
      await wrong.body?.cancel();
    }),
});

Deno.test({
  name: "status attack: a remote listener serves the dashboard's GETs with ?token= only",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withServer(async (s) => {
      const base = `http://127.0.0.1:${s.address.split(":").pop()}`;
      const noToken = await fetch(`${base}/status`);
      assert.equal(noToken.status, 401);
      await noToken.body?.cancel();
      const st = await fetch(`${base}/status?token=${TOKEN}`);
      assert.equal(st.status, 200);
      assert.ok((await st.json()).node.publicKey);
      const ev = await fetch(`${base}/events?token=${TOKEN}`);
      assert.equal(ev.status, 200);
      await ev.body?.cancel();
      const post = await fetch(`${base}/v1/ping?token=${TOKEN}`, { method: "POST", body: "{}" });
      assert.equal(post.status, 401);
      await post.body?.cancel();
    }, { listen: "0.0.0.0:0", allowRemote: true }),
});

Deno.test({
  name: "status attack: oversized and deeply nested bodies are refused before they are parsed",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withServer(async (s) => {
      const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
      // 2 MB of a valid object, sized and streamed (chunked).
      const big = JSON.stringify({ address: "10.97.0.9", pad: "x".repeat(2 << 20) });
      const sized = await fetch(`http://${s.address}/v1/ping`, {
        method: "POST",
        body: big,
        headers: auth,
      });
      assert.equal(sized.status, 413);
      await sized.body?.cancel();
      const bytes = new TextEncoder().encode(big);
      const streamed = await fetch(`http://${s.address}/v1/ping`, {
        method: "POST",
        headers: auth,
        body: new ReadableStream({
          start(c) {
            for (let i = 0; i < bytes.length; i += 65536) c.enqueue(bytes.subarray(i, i + 65536));
            c.close();
          },
        }),
      });
      assert.equal(streamed.status, 413);
      await streamed.body?.cancel();
      // A 100 MB Content-Length is answered at once, without waiting for (or reading) the body.
      const head = await raw(
        s.address,
        "POST /v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN +
          "\r\nContent-Length: 104857600\r\n\r\n{",
      );
      assert.equal(head.status, 413);
      // Nesting under the size limit: refused by depth, not parsed.
      const deep = await fetch(`http://${s.address}/v1/ping`, {
        method: "POST",
        body: "[".repeat(500_000),
        headers: auth,
      });
      assert.equal(deep.status, 400);
      assert.match((await deep.json()).error, /nested deeper/);
      // The server serves on.
      assert.equal(await (await fetch(`http://${s.address}/healthz`)).text(), "ok\n");
    }),
});

Deno.test({
  name: "status attack: bad percent-encoding is a 400, and echoed input is cut short",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withServer(async (s) => {
      const bad = await fetch(`http://${s.address}/peers/%ZZ`);
      assert.equal(bad.status, 400);
      await bad.body?.cancel();
      const long = await fetch(`http://${s.address}/nothing/${"A".repeat(10_000)}`);
      assert.equal(long.status, 404);
      const { error } = await long.json();
      assert.ok(error.length <= 201, `error of ${error.length} characters`);
      const ttl = await fetch(`http://${s.address}/v1/tokens`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ ttl: "9".repeat(5000) + "x" }),
      });
      assert.ok((await ttl.text()).length < 400);
    }),
});

Deno.test({
  name: "status attack: a request head that never ends is cut off by the server",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withServer(async (s) => {
      const i = s.address.lastIndexOf(":");
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: Number(s.address.slice(i + 1)),
      });
      try {
        await conn.write(new TextEncoder().encode("GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
        let timer: ReturnType<typeof setTimeout> | undefined;
        const guard = new Promise<"hang">((r) => (timer = setTimeout(() =>
          r("hang"), HANG_GUARD_MS))
        );
        const got = await Promise.race([conn.read(new Uint8Array(64)).catch(() => null), guard]);
        clearTimeout(timer);
        assert.equal(got, null, "the server closed the connection");
        assert.equal(await (await fetch(`http://${s.address}/healthz`)).text(), "ok\n");
      } finally {
        conn.close();
      }
    }, { headerTimeoutMs: 300 }),
});

Deno.test({
  name: "status attack: event streams held open are capped, and the server serves on",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withServer(async (s) => {
      const i = s.address.lastIndexOf(":");
      const port = Number(s.address.slice(i + 1));
      const held: Deno.Conn[] = [];
      const open = async () => {
        const c = await Deno.connect({ hostname: "127.0.0.1", port });
        held.push(c);
        await c.write(
          new TextEncoder().encode("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        );
        const buf = new Uint8Array(512);
        const n = await c.read(buf);
        return n === null ? 0 : Number(new TextDecoder().decode(buf.subarray(9, 12)));
      };
      try {
        // Each stream is a connection the server cannot take back; past the cap: 503.
        for (let k = 0; k < 64; k++) assert.equal(await open(), 200, `stream ${k}`);
        assert.equal(await open(), 503);
        assert.equal(await (await fetch(`http://${s.address}/healthz`)).text(), "ok\n");
        held.shift()!.close();
        // A closed stream frees its place (once the server has seen it go).
        let status = 0;
        const give = Date.now() + HANG_GUARD_MS;
        while ((status = await open()) !== 200 && Date.now() < give) {
          held.pop()!.close();
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal(status, 200);
      } finally {
        for (const c of held) c.close();
      }
    }),
});
