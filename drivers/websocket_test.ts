import assert from "node:assert/strict";
import {
  WEBSOCKET_MAX_MESSAGE,
  WEBSOCKET_PATH,
  WEBSOCKET_PROTOCOL,
  WebSocketTransport,
  webSocketUrl,
} from "./websocket.ts";
import type { Endpoint } from "../lib/io/driver.ts";

/** A WebSocket server on loopback that records what it gets and hands out its sockets. */
function server() {
  const got: (Uint8Array | string)[] = [];
  const sockets: WebSocket[] = [];
  const asked: { path: string; protocols: string }[] = [];
  let arrived: (() => void) | null = null;
  let opened: (() => void) | null = null;
  const srv = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    asked.push({
      path: new URL(req.url).pathname,
      protocols: req.headers.get("sec-websocket-protocol") ?? "",
    });
    const { socket, response } = Deno.upgradeWebSocket(req, { protocol: WEBSOCKET_PROTOCOL });
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      sockets.push(socket);
      opened?.();
    };
    socket.onmessage = (e) => {
      got.push(typeof e.data === "string" ? e.data : new Uint8Array(e.data));
      arrived?.();
    };
    return response;
  });
  return {
    url: `ws://127.0.0.1:${srv.addr.port}`,
    port: srv.addr.port,
    got,
    sockets,
    asked,
    /** Resolves once `n` messages have arrived in all. */
    until(n: number): Promise<void> {
      return new Promise((r) => {
        const check = () => got.length >= n ? r() : void (arrived = check);
        check();
      });
    },
    /** Resolves once `n` sockets have opened in all. */
    opened(n: number): Promise<void> {
      return new Promise((r) => {
        const check = () => sockets.length >= n ? r() : void (opened = check);
        check();
      });
    },
    close: () => srv.shutdown(),
  };
}

/** A sink that records datagrams and resolves a wait per datagram. */
function sink() {
  const got: { data: Uint8Array; from: Endpoint }[] = [];
  let arrived: (() => void) | null = null;
  return {
    got,
    datagram(data: Uint8Array, from: Endpoint) {
      got.push({ data: data.slice(), from });
      arrived?.();
    },
    flush() {},
    until(n: number): Promise<void> {
      return new Promise((r) => {
        const check = () => got.length >= n ? r() : void (arrived = check);
        check();
      });
    },
  };
}

/**
 * The server closes its first socket; resolves once the transport has heard of it too (its close
 * event), so that the next send finds it closed.
 */
async function closeFromServer(
  srv: ReturnType<typeof server>,
  t: WebSocketTransport,
  code?: number,
  reason?: string,
): Promise<void> {
  const closed = new Promise<void>((r) => srv.sockets[0].onclose = () => r());
  srv.sockets[0].close(code, reason);
  await closed;
  while (t.connected) await new Promise((r) => setTimeout(r, 10));
}

Deno.test("webSocketUrl: ws and wss only; the weft path unless one is given", () => {
  assert.equal(webSocketUrl("ws://192.0.2.1:51820").href, `ws://192.0.2.1:51820${WEBSOCKET_PATH}`);
  assert.equal(webSocketUrl("wss://hub.example:443/custom").pathname, "/custom");
  assert.equal(webSocketUrl("ws://[2001:db8::1]:7").hostname, "[2001:db8::1]");
  assert.throws(() => webSocketUrl("http://192.0.2.1:80"), /not a WebSocket URL/);
  assert.throws(() => webSocketUrl("192.0.2.1:51820"), /not a WebSocket URL/);
});

Deno.test("websocket transport: one binary message per datagram each way, over weft.v1", async () => {
  const srv = server();
  const t = await WebSocketTransport.open({ url: srv.url });
  try {
    assert.deepEqual(srv.asked, [{ path: WEBSOCKET_PATH, protocols: WEBSOCKET_PROTOCOL }]);
    const s = sink();
    t.start(s);
    // Every endpoint text is the socket's one far end.
    const ep = t.endpoint("192.0.2.7:51820");
    assert.equal(ep, t.endpoint(`tcp://127.0.0.1:${srv.port}`));
    assert.equal(String(ep), `ws://127.0.0.1:${srv.port}`);
    assert.equal(ep.proto, "tcp");
    const buf = Uint8Array.of(1, 2, 3);
    t.send(buf, ep);
    buf.fill(9); // the caller reuses its buffer at once
    t.send(new Uint8Array(WEBSOCKET_MAX_MESSAGE).fill(7), ep);
    await srv.until(2);
    assert.deepEqual(srv.got[0], Uint8Array.of(1, 2, 3));
    assert.equal((srv.got[1] as Uint8Array).length, WEBSOCKET_MAX_MESSAGE);
    srv.sockets[0].send(Uint8Array.of(4, 5));
    srv.sockets[0].send(Uint8Array.of(6));
    await s.until(2);
    assert.deepEqual(s.got.map((g) => [...g.data]), [[4, 5], [6]]);
    assert.equal(s.got[0].from, t.remote);
    assert.equal(t.stats.sent, 2);
    assert.equal(t.stats.received, 2);
  } finally {
    await t.close();
    await srv.close();
  }
});

Deno.test("websocket transport: bad sizes and text messages are counted drops", async () => {
  const srv = server();
  const t = await WebSocketTransport.open({ url: srv.url });
  try {
    const s = sink();
    t.start(s);
    t.send(new Uint8Array(0), t.remote);
    t.send(new Uint8Array(WEBSOCKET_MAX_MESSAGE + 1), t.remote);
    assert.equal(t.stats.drops["bad-size"], 2);
    assert.equal(t.stats.sent, 0);
    srv.sockets[0].send("not binary");
    srv.sockets[0].send(Uint8Array.of(1));
    await s.until(1);
    assert.equal(t.stats.drops["bad-message"], 1);
    assert.deepEqual(s.got.map((g) => [...g.data]), [[1]]);
  } finally {
    await t.close();
    await srv.close();
  }
});

Deno.test("websocket transport: a closed socket is opened again at the next send", async () => {
  const srv = server();
  const closes: string[] = [];
  const t = await WebSocketTransport.open({
    url: srv.url,
    redialDelayMs: 0,
    onClose: (why) => closes.push(why),
  });
  try {
    t.start(sink());
    await closeFromServer(srv, t, 1001, "going away");
    // Sent while the new socket opens: they wait for it, in order.
    t.send(Uint8Array.of(1), t.remote);
    t.send(Uint8Array.of(2), t.remote);
    await srv.until(2);
    assert.deepEqual(srv.got.map((g) => [...(g as Uint8Array)]), [[1], [2]]);
    assert.equal(srv.sockets.length, 2);
    assert.equal(t.stats.opened, 2);
    assert.match(closes[0], /^closed 1001/);
  } finally {
    await t.close();
    await srv.close();
  }
});

Deno.test("websocket transport: what waits for the socket is bounded; after close, nothing is sent", async () => {
  const srv = server();
  const t = await WebSocketTransport.open({ url: srv.url, redialDelayMs: 0, maxDialQueue: 2 });
  try {
    t.start(sink());
    await closeFromServer(srv, t);
    for (let i = 0; i < 5; i++) t.send(Uint8Array.of(i), t.remote);
    assert.equal(t.stats.drops["queue-full"], 3);
    await srv.until(2);
    assert.deepEqual(srv.got.map((g) => [...(g as Uint8Array)]), [[0], [1]]);
    await t.close();
    await t.close();
    t.send(Uint8Array.of(9), t.remote);
    assert.equal(t.stats.drops.closed, 1);
    assert.equal(t.stats.drops["not-connected"], 0);
  } finally {
    await t.close();
    await srv.close();
  }
});

Deno.test("websocket transport: what waits for the socket when the transport closes is counted as closed", async () => {
  const srv = server();
  const t = await WebSocketTransport.open({ url: srv.url, redialDelayMs: 0 });
  try {
    t.start(sink());
    await closeFromServer(srv, t);
    // Sent while the new socket opens: they wait for it, then the transport closes.
    for (let i = 0; i < 3; i++) t.send(Uint8Array.of(i), t.remote);
    await t.close();
    const { drops } = t.stats;
    assert.equal(drops.closed, 3, `drops ${JSON.stringify(drops)}`);
    assert.equal(Object.values(drops).reduce((n, d) => n + d, 0), 3, "counted once");
    assert.equal(t.stats.sent, 0);
  } finally {
    await t.close();
    await srv.close();
  }
});

Deno.test("websocket transport: a socket that cannot open is a clear error", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  await assert.rejects(
    WebSocketTransport.open({ url: `ws://127.0.0.1:${port}` }),
    new RegExp(`could not open the WebSocket ws://127\\.0\\.0\\.1:${port}/weft/ws.*listening`),
  );
  // A server that is no weft WebSocket (404 to the upgrade).
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(null, { status: 404 }),
  );
  try {
    await assert.rejects(
      WebSocketTransport.open({ url: `ws://127.0.0.1:${http.addr.port}` }),
      /could not open the WebSocket/,
    );
  } finally {
    await http.shutdown();
  }
});
