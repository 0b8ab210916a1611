import assert from "node:assert/strict";
import { ProxyConnector, ProxyError } from "./proxy_connect.ts";
import { TcpTransport } from "./tcp.ts";
import type { Endpoint } from "../lib/io/driver.ts";

/**
 * A fake proxy on loopback: reads one request head, hands it to `answer`, which writes what the
 * test wants (or nothing), then keeps the connection as `answer` leaves it.
 */
function fakeProxy(
  answer: (conn: Deno.TcpConn, head: string) => Promise<void>,
): { port: number; heads: string[]; close: () => Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const heads: string[] = [];
  const conns: Deno.TcpConn[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        const buf = new Uint8Array(4096);
        let text = "";
        while (!text.includes("\r\n\r\n")) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) return;
          text += new TextDecoder().decode(buf.subarray(0, n));
        }
        heads.push(text);
        await answer(conn, text).catch(() => {});
      })();
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    heads,
    close: async () => {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await loop;
    },
  };
}

const enc = new TextEncoder();
const write = async (conn: Deno.Conn, s: string | Uint8Array) => {
  const b = typeof s === "string" ? enc.encode(s) : s;
  for (let off = 0; off < b.length;) off += await conn.write(b.subarray(off));
};

async function failure(p: Promise<unknown>): Promise<ProxyError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ProxyError, String(e));
    return e;
  }
  throw new Error("the dial succeeded");
}

Deno.test("CONNECT 200: the request, credentials, and the stream handed back at its first byte", async () => {
  // The proxy answers, then at once sends the target's first bytes: none may be eaten.
  const proxy = fakeProxy(async (conn) => {
    await write(conn, "HTTP/1.1 200 Connection established\r\nProxy-Agent: fake\r\n\r\nHELLO");
    const buf = new Uint8Array(4);
    const n = await conn.read(buf);
    await write(conn, buf.subarray(0, n ?? 0));
  });
  const c = new ProxyConnector({
    host: "127.0.0.1",
    port: proxy.port,
    label: `http://127.0.0.1:${proxy.port}`,
    authorization: "Basic dTpw",
  });
  try {
    const conn = await c.dial({ hostname: "203.0.113.1", port: 51820 });
    assert.equal(
      proxy.heads[0],
      "CONNECT 203.0.113.1:51820 HTTP/1.1\r\nHost: 203.0.113.1:51820\r\n" +
        "Proxy-Authorization: Basic dTpw\r\n\r\n",
    );
    const got = new Uint8Array(5);
    let len = 0;
    while (len < 5) len += (await conn.read(got.subarray(len)))!;
    assert.equal(new TextDecoder().decode(got), "HELLO");
    await write(conn, "ping");
    const echo = new Uint8Array(4);
    len = 0;
    while (len < 4) len += (await conn.read(echo.subarray(len)))!;
    assert.equal(new TextDecoder().decode(echo), "ping");
    conn.close();
    assert.equal(c.stats.connects, 1);
    assert.ok(c.proxied("203.0.113.1", 51820));
    // IPv6 targets go in brackets.
    await c.dial({ hostname: "2001:db8::1", port: 443 }).then((x) => x.close());
    assert.match(
      proxy.heads[1],
      /^CONNECT \[2001:db8::1\]:443 HTTP\/1\.1\r\nHost: \[2001:db8::1\]:443\r\n/,
    );
  } finally {
    await proxy.close();
  }
});

Deno.test("CONNECT refused: 407 and 403 are typed errors naming proxy, target and status", async () => {
  let status = "407 Proxy Authentication Required";
  const proxy = fakeProxy(async (conn) => {
    await write(conn, `HTTP/1.0 ${status}\r\nContent-Length: 0\r\n\r\n`);
  });
  const label = `http://127.0.0.1:${proxy.port}`;
  const c = new ProxyConnector({ host: "127.0.0.1", port: proxy.port, label });
  try {
    let e = await failure(c.dial({ hostname: "203.0.113.1", port: 51820 }));
    assert.equal(e.reason, "auth");
    assert.equal(e.status, 407);
    assert.equal(
      e.message,
      `proxy ${label} refused CONNECT to 203.0.113.1:51820: 407 Proxy Authentication Required ` +
        "(it wants credentials: http://user:password@host:port)",
    );
    status = "403 Forbidden";
    e = await failure(c.dial({ hostname: "203.0.113.1", port: 51820 }));
    assert.equal(e.reason, "denied");
    assert.equal(e.message, `proxy ${label} refused CONNECT to 203.0.113.1:51820: 403 Forbidden`);
    // Credentials the proxy does not take: 407 again, or 401 from some (tinyproxy).
    status = "401 Unauthorized";
    const withAuth = new ProxyConnector({
      host: "127.0.0.1",
      port: proxy.port,
      label,
      authorization: "Basic d2VmdDpub3Bl",
    });
    e = await failure(withAuth.dial({ hostname: "203.0.113.1", port: 51820 }));
    assert.equal(e.reason, "auth");
    assert.equal(
      e.message,
      `proxy ${label} refused CONNECT to 203.0.113.1:51820: 401 Unauthorized ` +
        "(it did not take the credentials given)",
    );
    assert.equal(c.stats.failures.auth, 1);
    assert.equal(c.stats.failures.denied, 1);
    assert.equal(c.stats.connects, 0);
    assert.ok(!c.proxied("203.0.113.1", 51820));
  } finally {
    await proxy.close();
  }
});

Deno.test("a garbage head, an oversized head, a slow head, a hang-up: each its reason", async () => {
  let mode = "garbage";
  const proxy = fakeProxy(async (conn) => {
    if (mode === "garbage") await write(conn, "SSH-2.0-OpenSSH_9.2\r\n\r\n");
    else if (mode === "binary") await write(conn, new Uint8Array([0x48, 0, 1, 2, 3]));
    else if (mode === "large") {
      await write(conn, "HTTP/1.1 200 OK\r\n");
      // Headers without end: the cap stops the read, not memory.
      for (let i = 0; i < 100; i++) await write(conn, `X-Filler-${i}: ${"a".repeat(100)}\r\n`);
    } else if (mode === "slow") await write(conn, "HTTP/1.1 200 OK\r\n"); // and never the rest
    else if (mode === "hangup") {
      await write(conn, "HTTP/1.1 20");
      conn.close();
    }
  });
  const label = `http://127.0.0.1:${proxy.port}`;
  const c = new ProxyConnector({
    host: "127.0.0.1",
    port: proxy.port,
    label,
    maxHeadBytes: 1024,
    headTimeoutMs: 200,
  });
  const to = { hostname: "198.51.100.9", port: 443 };
  try {
    let e = await failure(c.dial(to));
    assert.equal(e.reason, "bad-response");
    assert.match(e.message, /did not answer CONNECT to 198\.51\.100\.9:443 with HTTP/);
    mode = "binary";
    assert.equal((await failure(c.dial(to))).reason, "bad-response");
    mode = "large";
    e = await failure(c.dial(to));
    assert.equal(e.reason, "head-too-large");
    assert.match(e.message, /a head over 1024 bytes/);
    mode = "slow";
    e = await failure(c.dial(to));
    assert.equal(e.reason, "timeout");
    assert.equal(e.message, `proxy ${label} did not answer CONNECT to 198.51.100.9:443 in time`);
    mode = "hangup";
    e = await failure(c.dial(to));
    assert.equal(e.reason, "closed");
    assert.deepEqual(c.stats.failures, {
      unreachable: 0,
      auth: 0,
      denied: 0,
      "bad-response": 2,
      "head-too-large": 1,
      timeout: 1,
      closed: 1,
    });
  } finally {
    await proxy.close();
  }
});

Deno.test("an unreachable proxy says so; NO_PROXY targets are dialled directly", async () => {
  // A port nothing listens on: take one, free it.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dead = l.addr.port;
  l.close();
  const target = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const c = new ProxyConnector({
    host: "127.0.0.1",
    port: dead,
    label: `http://127.0.0.1:${dead}`,
    bypass: (h) => h === "127.0.0.1",
  });
  try {
    const e = await failure(c.dial({ hostname: "203.0.113.1", port: 51820 }));
    assert.equal(e.reason, "unreachable");
    assert.match(
      e.message,
      new RegExp(
        `^proxy http://127\\.0\\.0\\.1:${dead} is unreachable \\(.*\\), so 203\\.0\\.113\\.1:51820`,
      ),
    );
    const accepted = target.accept();
    const conn = await c.dial({ hostname: "127.0.0.1", port: target.addr.port });
    (await accepted).close();
    conn.close();
    assert.equal(c.stats.bypassed, 1);
    assert.ok(!c.proxied("127.0.0.1", target.addr.port));
  } finally {
    target.close();
  }
});

Deno.test("the TCP transport carries frames through the proxy's tunnel, and says a refusal", async () => {
  // A proxy that splices to the one target it is asked for (a TCP transport listening).
  const server = await TcpTransport.open({ port: 0, hostname: "127.0.0.1", sweepIntervalMs: 0 });
  const got: string[] = [];
  let arrived!: () => void;
  const done = new Promise<void>((r) => arrived = r);
  server.start({
    datagram: (d: Uint8Array) => {
      got.push(new TextDecoder().decode(d));
      arrived();
    },
    flush: () => {},
  });
  let refuse = false;
  const proxy = fakeProxy(async (conn, head) => {
    if (refuse) return await write(conn, "HTTP/1.1 403 Forbidden\r\n\r\n");
    const m = /^CONNECT 127\.0\.0\.1:(\d+) /.exec(head)!;
    const up = await Deno.connect({ hostname: "127.0.0.1", port: Number(m[1]) });
    await write(conn, "HTTP/1.1 200 OK\r\n\r\n");
    await Promise.all([conn.readable.pipeTo(up.writable), up.readable.pipeTo(conn.writable)]);
  });
  const connector = new ProxyConnector({
    host: "127.0.0.1",
    port: proxy.port,
    label: `http://127.0.0.1:${proxy.port}`,
  });
  const dials: [string, unknown][] = [];
  const client = await TcpTransport.open({
    port: 0,
    listen: false,
    sweepIntervalMs: 0,
    redialDelayMs: 0,
    dial: (o) => connector.dial(o),
    onDial: (_to: Endpoint, outcome, error) => dials.push([outcome, error]),
  });
  client.start({ datagram: () => {}, flush: () => {} });
  try {
    client.send(new TextEncoder().encode("through"), client.endpoint(`127.0.0.1:${server.port}`));
    await done;
    assert.deepEqual(got, ["through"]);
    assert.equal(dials[0][0], "connected");
    refuse = true;
    let said!: () => void;
    const refused = new Promise<void>((r) => said = r);
    const seen = dials.length;
    const watch = setInterval(() => dials.length > seen && said(), 10);
    client.send(new TextEncoder().encode("x"), client.endpoint("127.0.0.1:9"));
    await refused;
    clearInterval(watch);
    const [outcome, error] = dials[seen];
    assert.equal(outcome, "failed");
    assert.ok(error instanceof ProxyError && error.reason === "denied", String(error));
    assert.equal(client.stats.dialFailures, 1);
  } finally {
    await client.close();
    await server.close();
    await proxy.close();
  }
});
