import assert from "node:assert/strict";
import { TcpTransport } from "./tcp.ts";
import { wsLoopHost, wsReadLoop } from "./tcp_ws.ts";
import { ScriptConn, wsFrames } from "./testing/script_conn.ts";
import { assertSameViews, SameViewSink, viewPayloads } from "./testing/view_sink.ts";
import { Stream } from "./tcp_stream.ts";
import { EndpointTable } from "./shared/endpoint.ts";
import { newTcpStats, newWsStats } from "./shared/stats.ts";
import { CollectSink } from "./testing/collect_sink.ts";
import { makeCerts } from "./testing/certs.ts";
import {
  headEnd,
  MaskSource,
  parseWsFrame,
  upgradeRequest,
  writeWsFrame,
  WS_OP,
  WS_PATH,
  type WsFrame,
  wsHeaderSize,
  wsKey,
} from "./ws_frame.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Polls `cond` until it holds, or fails after `ms`. */
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A raw WebSocket client on a connection: the handshake, masked frames out, frames in. */
class RawClient {
  readonly conn: Deno.Conn;
  #buf = new Uint8Array(1 << 17);
  #filled = 0;
  readonly #masks = new MaskSource();

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  static async open(port: number, request?: Uint8Array): Promise<{ c: RawClient; head: string }> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const c = new RawClient(conn);
    await conn.write(request ?? upgradeRequest(`127.0.0.1:${port}`, wsKey()));
    return { c, head: await c.head() };
  }

  /** The answer's head as text ("" when the server closed first). */
  async head(): Promise<string> {
    for (;;) {
      const end = headEnd(this.#buf, this.#filled);
      if (end >= 0) {
        const text = dec.decode(this.#buf.subarray(0, end));
        this.#buf.copyWithin(0, end, this.#filled);
        this.#filled -= end;
        return text;
      }
      const n = await this.conn.read(this.#buf.subarray(this.#filled)).catch(() => null);
      if (n === null) return "";
      this.#filled += n;
    }
  }

  send(opcode: number, payload: Uint8Array, masked = true): Promise<number> {
    const out = new Uint8Array(wsHeaderSize(payload.length, masked) + payload.length);
    writeWsFrame(out, 0, opcode, payload, masked ? this.#masks.pool : null, this.#masks.take());
    return this.conn.write(out);
  }

  /** The next frame (opcode, payload), or null once the server closed the connection. */
  async frame(): Promise<{ opcode: number; payload: Uint8Array } | null> {
    const f: WsFrame = { opcode: 0, start: 0, end: 0 };
    for (;;) {
      const got = parseWsFrame(this.#buf, 0, this.#filled, 65535, false, f);
      if (got === "frame") {
        const out = { opcode: f.opcode, payload: this.#buf.slice(f.start, f.end) };
        this.#buf.copyWithin(0, f.end, this.#filled);
        this.#filled -= f.end;
        return out;
      }
      assert.equal(got, "need", "the server's frames parse");
      const n = await this.conn.read(this.#buf.subarray(this.#filled)).catch(() => null);
      if (n === null) return null;
      this.#filled += n;
    }
  }

  /** Whether the server closed the connection (frames it sent before are skipped). */
  async closed(): Promise<boolean> {
    while ((await this.frame()) !== null) { /* skip */ }
    return true;
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

Deno.test("TcpTransport: a WebSocket member dials ws:// on the TCP port; frames both ways", async () => {
  const server = await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
  const client = await TcpTransport.open({ port: 0, listen: false });
  try {
    const ss = new CollectSink();
    const cs = new CollectSink();
    server.start(ss);
    client.start(cs);
    const to = client.endpoint(`ws://127.0.0.1:${server.port}`);
    assert.equal(to.proto, "ws");
    assert.equal(String(to), `ws://127.0.0.1:${server.port}`);
    const sizes = [1, 125, 126, 1400, 65535];
    for (const n of sizes) client.send(new Uint8Array(n).fill(n & 0xff), to);
    client.flush();
    await ss.wait(sizes.length);
    assert.deepEqual(ss.got.map((g) => g.data.length), sizes);
    assert.ok(ss.got.every((g, i) => g.data.every((b) => b === (sizes[i] & 0xff))));
    const from = ss.got[0].from;
    assert.equal(from.proto, "ws", "the server sees a ws endpoint");
    // The answer goes back on the same connection, unmasked.
    server.send(new Uint8Array([9, 8, 7]), from);
    server.flush();
    await cs.wait(1);
    assert.deepEqual([...cs.got[0].data], [9, 8, 7]);
    assert.equal(String(cs.got[0].from), String(to));
    assert.equal(server.connections, 1);
    assert.equal(server.stats.websocket.upgrades, 1);
    assert.equal(server.stats.websocket.connections, 1);
    assert.equal(client.stats.websocket.dials, 1);
    assert.equal(client.stats.websocket.connections, 1);
    assert.equal(server.stats.datagramsIn, sizes.length);
    assert.equal(client.stats.datagramsOut, sizes.length);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("TcpTransport: length-prefixed TCP and WebSocket on one port at once", async () => {
  const server = await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
  const tcp = await TcpTransport.open({ port: 0, listen: false });
  const ws = await TcpTransport.open({ port: 0, listen: false });
  try {
    const ss = new CollectSink();
    server.start(ss);
    tcp.start(new CollectSink());
    ws.start(new CollectSink());
    // 'G' first as a length's high byte: 0x47 0x00 is a 18,176-byte frame, not a request.
    const big = new Uint8Array(0x4700).fill(0x54);
    tcp.send(big, tcp.endpoint(`tcp://127.0.0.1:${server.port}`));
    ws.send(new Uint8Array([2]), ws.endpoint(`ws://127.0.0.1:${server.port}`));
    tcp.flush();
    ws.flush();
    await ss.wait(2);
    const byProto = new Map(ss.got.map((g) => [g.from.proto, g.data.length]));
    assert.deepEqual(byProto, new Map([["tcp", 0x4700], ["ws", 1]]));
    assert.equal(server.stats.websocket.upgrades, 1);
    assert.equal(server.stats.websocket.connections, 1);
    assert.equal(server.connections, 2);
  } finally {
    await Promise.all([tcp.close(), ws.close(), server.close()]);
  }
});

Deno.test("TcpTransport: Deno's own WebSocket (a browser's API) joins and is answered", async () => {
  const server = await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
  try {
    const ss = new CollectSink();
    server.start(ss);
    const sock = new WebSocket(`ws://127.0.0.1:${server.port}${WS_PATH}`, "weft.v1");
    sock.binaryType = "arraybuffer";
    const got: Uint8Array[] = [];
    const opened = new Promise((resolve, reject) => {
      sock.onopen = resolve;
      sock.onerror = reject;
    });
    sock.onmessage = (e) => got.push(new Uint8Array(e.data));
    await opened;
    assert.equal(sock.protocol, "weft.v1");
    sock.send(new Uint8Array([1, 2, 3]));
    await ss.wait(1);
    server.send(new Uint8Array([4, 5]), ss.got[0].from);
    server.flush();
    await until(() => got.length === 1, "the server's message");
    assert.deepEqual([...got[0]], [4, 5]);
    const closed = new Promise<CloseEvent>((resolve) => sock.onclose = resolve);
    sock.close(1000, "bye");
    const ev = await closed;
    // The server echoed the close: a clean close, not an abnormal one (1006).
    assert.equal(ev.code, 1000);
    assert.equal(ev.wasClean, true);
    await until(() => server.stats.websocket.connections === 0, "the connection to go");
    assert.equal(server.stats.websocket.closes, 1);
  } finally {
    await server.close();
  }
});

Deno.test("TcpTransport: dials a WebSocket server of Deno.serve (another implementation)", async () => {
  const got: Uint8Array[] = [];
  const ac = new AbortController();
  const { promise: listening, resolve: onListen } = Promise.withResolvers<Deno.NetAddr>();
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen },
    (req) => {
      if (new URL(req.url).pathname !== WS_PATH) return new Response(null, { status: 404 });
      const { socket, response } = Deno.upgradeWebSocket(req, { protocol: "weft.v1" });
      socket.binaryType = "arraybuffer";
      socket.onmessage = (e) => {
        got.push(new Uint8Array(e.data));
        socket.send(new Uint8Array([42, ...new Uint8Array(e.data)]));
      };
      return response;
    },
  );
  const client = await TcpTransport.open({ port: 0, listen: false });
  try {
    const { port } = await listening;
    const cs = new CollectSink();
    client.start(cs);
    client.send(new Uint8Array([7, 7]), client.endpoint(`ws://127.0.0.1:${port}`));
    client.flush();
    await cs.wait(1);
    assert.deepEqual([...got[0]], [7, 7]);
    assert.deepEqual([...cs.got[0].data], [42, 7, 7]);
  } finally {
    await client.close();
    ac.abort();
    await http.finished;
  }
});

Deno.test("TcpTransport: bad upgrade requests are answered 404 or 400, closed and counted", async () => {
  const server = await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
  try {
    server.start(new CollectSink());
    const port = server.port;
    const key = wsKey();
    const path = dec.decode(upgradeRequest("x", key)).replace(WS_PATH, "/other");
    const a = await RawClient.open(port, enc.encode(path));
    assert.match(a.head, /^HTTP\/1\.1 404 /);
    assert.ok(await a.c.closed());
    a.c.close();
    const noProto = dec.decode(upgradeRequest("x", key)).replace(
      /Sec-WebSocket-Protocol.*\r\n/,
      "",
    );
    const b = await RawClient.open(port, enc.encode(noProto));
    assert.match(b.head, /^HTTP\/1\.1 400 /);
    assert.ok(await b.c.closed());
    b.c.close();
    // A head that never ends: closed past 8 KiB, never held whole.
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    await c.write(enc.encode("GET /weft/ws HTTP/1.1\r\n" + "X: y\r\n".repeat(2000)))
      .catch(() => 0);
    const rc = new RawClient(c);
    assert.equal(await rc.head(), "");
    rc.close();
    await until(() => server.stats.websocket.refused === 3, "three refusals");
    assert.equal(server.stats.websocket.upgrades, 0);
    await until(() => server.connections === 0, "no connection left");
  } finally {
    await server.close();
  }
});

Deno.test("TcpTransport: pings are answered; malformed frames close that connection only", async () => {
  const server = await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
  try {
    const ss = new CollectSink();
    server.start(ss);
    const port = server.port;
    const { c: good, head } = await RawClient.open(port);
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, /Sec-WebSocket-Protocol: weft\.v1/i);
    await good.send(WS_OP.ping, new Uint8Array([1, 2]));
    const pong = await good.frame();
    assert.deepEqual(pong, { opcode: WS_OP.pong, payload: new Uint8Array([1, 2]) });
    // What breaks the protocol: each on a connection of its own.
    const bad: [string, (c: RawClient) => Promise<unknown>][] = [
      ["text", (c) => c.send(WS_OP.text, enc.encode("hi"))],
      ["unmasked", (c) => c.send(WS_OP.binary, new Uint8Array([1]), false)],
      ["fragment", (c) => c.conn.write(new Uint8Array([0x02, 0x81, 0, 0, 0, 0, 1]))],
      ["oversized", (c) => c.conn.write(new Uint8Array([0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0]))],
      ["reserved bits", (c) => c.conn.write(new Uint8Array([0xf2, 0x80, 0, 0, 0, 0]))],
      ["ping flood", async (c) => {
        for (let i = 0; i < 20; i++) await c.send(WS_OP.ping, new Uint8Array([i]));
      }],
    ];
    for (const [what, act] of bad) {
      const { c } = await RawClient.open(port);
      await act(c).catch(() => {});
      assert.ok(await c.closed(), what);
      c.close();
    }
    await until(() => server.stats.websocket.badFrames === bad.length, "bad frames counted");
    // The good connection still carries frames.
    await good.send(WS_OP.binary, new Uint8Array([5]));
    await ss.wait(1);
    assert.deepEqual([...ss.got[0].data], [5]);
    server.send(new Uint8Array([6]), ss.got[0].from);
    server.flush();
    assert.deepEqual(await good.frame(), { opcode: WS_OP.binary, payload: new Uint8Array([6]) });
    assert.equal(server.stats.websocket.connections, 1);
    good.close();
  } finally {
    await server.close();
  }
});

Deno.test("TcpTransport: a WebSocket dial refused by the server fails, counted and told", async () => {
  // A plain HTTP server that answers 404 to everything.
  const ac = new AbortController();
  const { promise: listening, resolve: onListen } = Promise.withResolvers<Deno.NetAddr>();
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen },
    () => new Response("no", { status: 404 }),
  );
  const outcomes: string[] = [];
  const client = await TcpTransport.open({
    port: 0,
    listen: false,
    onDial: (_to, o) => outcomes.push(o),
    onError: () => {},
  });
  try {
    const { port } = await listening;
    client.start(new CollectSink());
    client.send(new Uint8Array([1]), client.endpoint(`ws://127.0.0.1:${port}`));
    client.flush();
    await until(() => outcomes.length === 1, "the dial's end");
    assert.deepEqual(outcomes, ["failed"]);
    assert.equal(client.stats.websocket.dialFailures, 1);
    assert.equal(client.stats.drops["dial-failed"], 1);
    assert.equal(client.connections, 0);
  } finally {
    await client.close();
    ac.abort();
    await http.finished;
  }
});

Deno.test("TcpTransport: wss with a certificate; a client checks it against the CA given", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-wss-" });
  try {
    const { ca, cert, key } = await makeCerts(dir);
    const errors: unknown[] = [];
    const server = await TcpTransport.open({
      port: 0,
      hostname: "127.0.0.1",
      tls: { port: 0, cert, key },
      onError: (e) => errors.push(e),
    });
    const trusting = await TcpTransport.open({ port: 0, listen: false, caCerts: [ca] });
    const outcomes: string[] = [];
    const doubting = await TcpTransport.open({
      port: 0,
      listen: false,
      onDial: (_to, o) => outcomes.push(o),
      onError: () => {},
    });
    try {
      assert.ok(server.tlsPort > 0 && server.tlsPort !== server.port);
      const ss = new CollectSink();
      const ts = new CollectSink();
      server.start(ss);
      trusting.start(ts);
      doubting.start(new CollectSink());
      const to = trusting.endpoint(`wss://127.0.0.1:${server.tlsPort}`);
      assert.equal(String(to), `wss://127.0.0.1:${server.tlsPort}`);
      trusting.send(new Uint8Array([1, 2, 3]), to);
      trusting.flush();
      await ss.wait(1);
      assert.equal(ss.got[0].from.proto, "wss");
      server.send(new Uint8Array([4]), ss.got[0].from);
      server.flush();
      await ts.wait(1);
      assert.deepEqual([...ts.got[0].data], [4]);
      // Without the CA the certificate is not trusted: the dial fails, nothing is sent.
      doubting.send(new Uint8Array([1]), doubting.endpoint(`wss://127.0.0.1:${server.tlsPort}`));
      doubting.flush();
      await until(() => outcomes.length === 1, "the untrusting dial's end");
      assert.deepEqual(outcomes, ["failed"]);
      assert.equal(ss.got.length, 1);
      // On the server it is a refusal, counted, not an error reported.
      await until(() => server.stats.websocket.refused === 1, "the refusal counted");
      assert.deepEqual(errors, []);
      // The plain port still serves ws and length-prefixed TCP.
      trusting.send(new Uint8Array([5]), trusting.endpoint(`ws://127.0.0.1:${server.port}`));
      trusting.flush();
      await ss.wait(2);
      assert.equal(ss.got[1].from.proto, "ws");
    } finally {
      await Promise.all([trusting.close(), doubting.close(), server.close()]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A loop host with fresh counters, frames up to 65,535 bytes, no clock and no control. */
function testLoopHost() {
  return wsLoopHost({
    stats: { ...newTcpStats(), websocket: newWsStats() },
    maxFrame: 65535,
    now: () => 0,
    onError: (err) => assert.fail(String(err)),
    isHangup: () => false,
    masks: new MaskSource(),
    control: () => {},
  });
}

Deno.test("wsLoopHost: a close frame is written at once, masked on a dialled WebSocket, never over a write", async () => {
  const written: Uint8Array[] = [];
  const conn = {
    write: (b: Uint8Array) => {
      written.push(b.slice());
      return Promise.resolve(b.length);
    },
  } as unknown as Deno.Conn;
  const host = testLoopHost();
  const dialled = new Stream(new EndpointTable(16, "ws").parse("ws://127.0.0.1:1"), false, 0);
  const served = new Stream(new EndpointTable(16, "ws").parse("ws://127.0.0.1:2"), true, 0);
  const f: WsFrame = { opcode: 0, start: 0, end: 0 };
  await host.sayClose(dialled, conn, Uint8Array.of(0x03, 0xe8));
  assert.equal(parseWsFrame(written[0], 0, written[0].length, 125, true, f), "frame");
  assert.equal(f.opcode, WS_OP.close);
  assert.deepEqual([...written[0].subarray(f.start, f.end)], [0x03, 0xe8]);
  await host.sayClose(served, conn, Uint8Array.of(0x03, 0xe8));
  assert.equal(parseWsFrame(written[1], 0, written[1].length, 125, false, f), "frame");
  assert.deepEqual([...written[1].subarray(f.start, f.end)], [0x03, 0xe8]);
  served.writing = true;
  await host.sayClose(served, conn, Uint8Array.of(0x03, 0xe8));
  assert.equal(written.length, 2, "no close frame in the middle of a write");
  assert.equal(served.writing, true);
});

Deno.test("wsReadLoop: messages of one length reach the sink in one view object, wherever they lay in a read", async () => {
  const host = testLoopHost();
  const stream = wsFrames(...viewPayloads());
  const sink = new SameViewSink();
  // A dialled WebSocket reads the server's unmasked frames; the first bytes came with the answer.
  const dialled = new Stream(new EndpointTable(16, "ws").parse("ws://127.0.0.1:1"), false, 0);
  const conn = new ScriptConn([
    stream.subarray(100, 1700),
    stream.subarray(1700, 3200),
    stream.subarray(3200),
  ]);
  await wsReadLoop(dialled, conn.asConn(), sink, stream.subarray(0, 100), host, 16384);
  assertSameViews(sink, 3, "messages");
});

Deno.test("wsReadLoop: a peer's WebSocket that fills the read area is read in bulk after", async () => {
  const host = testLoopHost();
  const stream = wsFrames(...Array.from({ length: 80 }, (_, i) => new Uint8Array(1452).fill(i)));
  let got = 0;
  const sink = { datagram: () => got++, flush: () => {} };
  const dialled = new Stream(new EndpointTable(16, "ws").parse("ws://127.0.0.1:1"), false, 0);
  const conn = new ScriptConn([stream]);
  const room: number[] = [];
  const read = conn.read.bind(conn);
  conn.read = (buf: Uint8Array) => {
    room.push(buf.length);
    return read(buf);
  };
  await wsReadLoop(dialled, conn.asConn(), sink, new Uint8Array(0), host, 16384);
  assert.equal(got, 80);
  // A 16 KiB area throughout would take eight reads for this; in bulk, the second takes the rest.
  assert.equal(room[0], 16384);
  assert.ok(room[1] > 100_000, `the second read had room for ${room[1]} bytes`);
  assert.equal(room.length, 3, "two reads and the end of the stream");
});
