/**
 * serveHttp1 on real loopback sockets, one accepted connection per test, talked to byte by byte
 * as a client (or an attacker) would. status_attacks_test.ts drives the same layer through
 * serveControl; here: framing, keep-alive, pipelining, limits and deadlines themselves.
 */
import assert from "node:assert/strict";
import { BodyTooLargeError, type Http1Options, serveHttp1 } from "./http1.ts";
import { type ListenerStats, newListenerStats, Slot } from "../net/conn_guard.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

type Handler = (req: Request) => Response | Promise<Response>;

interface Served {
  client: Deno.TcpConn;
  stats: ListenerStats;
  /** Settles when serveHttp1 returns (then the slot is closed, as the guard would). */
  done: Promise<void>;
}

/** Listens on 127.0.0.1:0, connects, and serves the accepted connection with `handler`. */
async function serve(
  handler: Handler,
  opts: Partial<Http1Options> = {},
  body: (s: Served) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const conn = await listener.accept();
  listener.close();
  const stats = newListenerStats();
  const slot = new Slot(conn, stats);
  const done = serveHttp1(slot, handler, { origin: "127.0.0.1:1", ...opts })
    .finally(() => slot.close());
  try {
    await body({ client, stats, done });
  } finally {
    try {
      client.close();
    } catch { /* closed by the test */ }
    await done;
  }
}

/** Reads until the server closes the connection; everything it sent. */
async function readAll(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return text;
    text += dec.decode(buf.subarray(0, n));
  }
}

/** A parsed response: status, lower-cased headers, and the body (chunked framing undone). */
interface Res {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Reads responses off a connection, one at a time, keeping what follows for the next one. */
class Responses {
  #buf = "";
  #eof = false;
  constructor(readonly conn: Deno.Conn) {}

  async #more(): Promise<void> {
    const b = new Uint8Array(65536);
    const n = await this.conn.read(b).catch(() => null);
    if (n === null) {
      this.#eof = true;
      throw new Error(`connection closed; unparsed: ${JSON.stringify(this.#buf)}`);
    }
    this.#buf += dec.decode(b.subarray(0, n));
  }

  async #until(s: string): Promise<number> {
    let i: number;
    while ((i = this.#buf.indexOf(s)) < 0) await this.#more();
    return i;
  }

  async #take(n: number): Promise<string> {
    while (this.#buf.length < n) await this.#more();
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }

  /** The next response. */
  async next(): Promise<Res> {
    const end = await this.#until("\r\n\r\n");
    const head = await this.#take(end + 4);
    const [statusLine, ...lines] = head.slice(0, -4).split("\r\n");
    const headers = new Map<string, string>();
    for (const l of lines) {
      const c = l.indexOf(":");
      headers.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim());
    }
    const status = Number(statusLine.split(" ")[1]);
    let body = "";
    if (headers.get("transfer-encoding") === "chunked") {
      for (;;) {
        const size = parseInt(await this.#take((await this.#until("\r\n")) + 2), 16);
        if (size === 0) {
          await this.#take(2);
          break;
        }
        body += (await this.#take(size + 2)).slice(0, -2);
      }
    } else {
      body = await this.#take(Number(headers.get("content-length") ?? 0));
    }
    return { status, headers: new Map([...headers, [":line", statusLine]]), body };
  }

  /** True when the server closed with nothing more to read. */
  async closed(): Promise<boolean> {
    if (this.#buf.length > 0) return false;
    if (this.#eof) return true;
    try {
      await this.#more();
      return false;
    } catch {
      return true;
    }
  }
}

const send = (conn: Deno.Conn, text: string) => conn.write(enc.encode(text));

/** A handler echoing method, path, query, a header and the body. */
const echo: Handler = async (req) => {
  const u = new URL(req.url);
  const body = req.body ? await req.text() : "";
  return Response.json({
    method: req.method,
    url: req.url,
    path: u.pathname + u.search,
    x: req.headers.get("x-test"),
    body,
  });
};

Deno.test("http1: a request reaches the handler as a fetch Request; the answer goes out chunked", async () => {
  await serve(echo, { origin: "example.test:8080" }, async ({ client }) => {
    await send(
      client,
      "POST /a/b?c=d HTTP/1.1\r\nHost: x\r\nX-Test:  spaced  \r\nContent-Length: 5\r\n\r\nhello",
    );
    const r = await new Responses(client).next();
    assert.equal(r.status, 200);
    assert.equal(r.headers.get(":line"), "HTTP/1.1 200 OK");
    assert.equal(r.headers.get("transfer-encoding"), "chunked");
    assert.equal(r.headers.get("content-type"), "application/json");
    assert.deepEqual(JSON.parse(r.body), {
      method: "POST",
      url: "http://example.test:8080/a/b?c=d",
      path: "/a/b?c=d",
      x: "spaced",
      body: "hello",
    });
  });
});

Deno.test("http1: keep-alive by default in HTTP/1.1; pipelined requests answered in order", async () => {
  await serve(echo, {}, async ({ client, done }) => {
    const res = new Responses(client);
    // Three requests in one write, the last with a body and Connection: close.
    await send(
      client,
      "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" +
        "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n" +
        "PUT /3 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    );
    const a = await res.next();
    const b = await res.next();
    const c = await res.next();
    assert.deepEqual([a, b, c].map((r) => JSON.parse(r.body).path), ["/1", "/2", "/3"]);
    assert.equal(JSON.parse(c.body).body, "abc");
    assert.equal(a.headers.get("connection"), undefined);
    assert.equal(c.headers.get("connection"), "close");
    assert.ok(await res.closed());
    await done;
  });
  // A request split into many small writes is still one request.
  await serve(echo, {}, async ({ client }) => {
    const res = new Responses(client);
    const req = "GET /split HTTP/1.1\r\nHost: x\r\nX-Test: 1\r\n\r\n";
    for (const ch of req) await send(client, ch);
    assert.equal(JSON.parse((await res.next()).body).path, "/split");
    // And the connection takes another request after it.
    await send(client, "GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(JSON.parse((await res.next()).body).path, "/again");
  });
});

Deno.test("http1: HTTP/1.0 closes after one answer unless it asks for keep-alive", async () => {
  await serve(echo, {}, async ({ client }) => {
    const res = new Responses(client);
    await send(client, "GET /old HTTP/1.0\r\n\r\n");
    const r = await res.next();
    assert.equal(r.headers.get("connection"), "close");
    assert.ok(await res.closed());
  });
  await serve(echo, {}, async ({ client }) => {
    const res = new Responses(client);
    await send(client, "GET /1 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert.equal((await res.next()).headers.get("connection"), undefined);
    await send(client, "GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert.equal(JSON.parse((await res.next()).body).path, "/2");
  });
});

Deno.test("http1: a chunked request body is decoded, extensions and trailers skipped", async () => {
  await serve(echo, {}, async ({ client }) => {
    const res = new Responses(client);
    await send(
      client,
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n" +
        "GET /next HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.equal(JSON.parse((await res.next()).body).body, "hello 0123456789");
    assert.equal(JSON.parse((await res.next()).body).path, "/next");
  });
});

Deno.test("http1: an absolute-form target is taken with absoluteForm (the unix socket) only", async () => {
  const handler = (req: Request) =>
    new Response(new URL(req.url).pathname + new URL(req.url).search);
  await serve(handler, { absoluteForm: true }, async ({ client }) => {
    const res = new Responses(client);
    await send(client, "GET http://localhost/v1/nodes?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const r = await res.next();
    assert.deepEqual([r.status, r.body], [200, "/v1/nodes?x=1"]);
  });
});

Deno.test("http1: malformed heads are 400 with a JSON error, and the connection ends", async () => {
  const bad = [
    "get / HTTP/1.1\r\n\r\n",
    "GET / HTTP/2.0\r\n\r\n",
    "GET http://x/ HTTP/1.1\r\n\r\n",
    "GET ftp://x/ HTTP/1.1\r\n\r\n",
    "GET http://x HTTP/1.1\r\n\r\n",
    "GET  / HTTP/1.1\r\n\r\n",
    "GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
    "GET / HTTP/1.1\r\n: empty name\r\n\r\n",
    "GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
    "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
    "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
  ];
  for (const head of bad) {
    let called = false;
    await serve(() => (called = true, new Response("no")), {}, async ({ client }) => {
      await send(client, head);
      const text = await readAll(client);
      assert.match(text, /^HTTP\/1\.1 400 Bad Request\r\n/, JSON.stringify(head));
      assert.match(text, /\r\nconnection: close\r\n/);
      assert.match(text, /\r\n\r\n\{"error":"[^"]+"\}$/);
    });
    assert.equal(called, false, `${JSON.stringify(head)} reached the handler`);
  }
  // A bad chunk size fails the body stream the handler reads.
  let failure: unknown = null;
  await serve(
    async (req) => {
      try {
        await req.text();
      } catch (e) {
        failure = e;
      }
      return new Response("x");
    },
    {},
    async ({ client }) => {
      await send(client, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
      const r = await new Responses(client).next();
      assert.equal(r.headers.get("connection"), "close", "the unread body ends the connection");
      // The server drains what the client still sends until the client goes.
      client.close();
    },
  );
  assert.ok(failure !== null, "the handler saw the body fail");
});

Deno.test("http1: a head over maxHeadBytes is 431 and closes", async () => {
  await serve(echo, { maxHeadBytes: 8192 }, async ({ client }) => {
    await send(client, `GET / HTTP/1.1\r\nX-Pad: ${"a".repeat(10_000)}\r\n\r\n`);
    const text = await readAll(client);
    assert.match(text, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    assert.match(text, /request head too large/);
  });
  // The default is 16 KiB.
  await serve(echo, {}, async ({ client }) => {
    await send(client, `GET / HTTP/1.1\r\nX-Pad: ${"a".repeat(17_000)}\r\n\r\n`);
    assert.match(await readAll(client), /^HTTP\/1\.1 431 /);
  });
  // Under the limit is fine.
  await serve(echo, { maxHeadBytes: 8192 }, async ({ client }) => {
    const head = `GET / HTTP/1.1\r\nX-Test: ${"a".repeat(6000)}\r\n\r\n`;
    await send(client, head);
    const r = await new Responses(client).next();
    assert.equal(JSON.parse(r.body).x.length, 6000);
  });
});

// A whole head that arrives in one read is held to the limit too, however small the limit.
Deno.test({
  name: "http1: a head over a small maxHeadBytes (under 4096) is 431",
  fn: async () => {
    await serve(echo, { maxHeadBytes: 1024 }, async ({ client }) => {
      await send(client, `GET / HTTP/1.1\r\nX-Pad: ${"a".repeat(2000)}\r\n\r\n`);
      assert.match(await readAll(client), /^HTTP\/1\.1 431 /);
    });
  },
});

Deno.test("http1: a Content-Length over maxBodyBytes is 413 before the handler runs", async () => {
  let called = false;
  await serve(
    () => (called = true, new Response("")),
    { maxBodyBytes: 100 },
    async ({ client }) => {
      await send(client, "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n" + "x".repeat(101));
      const r = await new Responses(client).next();
      assert.equal(r.headers.get(":line"), "HTTP/1.1 413 Payload Too Large");
      assert.equal(r.headers.get("connection"), "close");
      assert.deepEqual(JSON.parse(r.body), { error: "request body over 100 bytes" });
      // The unread body is drained, not reset: more of it still goes through until we leave.
      await send(client, "y".repeat(100_000));
      client.close();
    },
  );
  assert.equal(called, false);
});

Deno.test("http1: a chunked body past maxBodyBytes fails the stream with BodyTooLargeError", async () => {
  let failure: unknown = null;
  await serve(
    async (req) => {
      try {
        await req.arrayBuffer();
      } catch (e) {
        failure = e;
      }
      return new Response("seen", { status: 413 });
    },
    { maxBodyBytes: 10 },
    async ({ client }) => {
      await send(
        client,
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n",
      );
      const r = await new Responses(client).next();
      assert.equal(r.status, 413);
      // The body was not read to its end: the connection is not reused.
      assert.equal(r.headers.get("connection"), "close");
    },
  );
  assert.ok(failure instanceof BodyTooLargeError, String(failure));
  assert.match((failure as Error).message, /over 10 bytes/);
});

Deno.test("http1: Expect: 100-continue gets an interim answer before the body is sent", async () => {
  await serve(echo, {}, async ({ client }) => {
    await send(
      client,
      "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    );
    const buf = new Uint8Array(100);
    const n = await client.read(buf);
    assert.equal(dec.decode(buf.subarray(0, n!)), "HTTP/1.1 100 Continue\r\n\r\n");
    await send(client, "body");
    const r = await new Responses(client).next();
    assert.equal(JSON.parse(r.body).body, "body");
  });
});

Deno.test("http1: HEAD, 204 and 304 carry no body; a handler's own framing headers are replaced", async () => {
  const handler: Handler = (req) => {
    const p = new URL(req.url).pathname;
    if (p === "/204") return new Response(null, { status: 204 });
    if (p === "/304") return new Response(null, { status: 304 });
    return new Response("full body", {
      headers: { "content-length": "9", connection: "keep-alive", "x-evil": "a" },
    });
  };
  await serve(handler, {}, async ({ client }) => {
    const res = new Responses(client);
    await send(
      client,
      "HEAD /h HTTP/1.1\r\n\r\nGET /204 HTTP/1.1\r\n\r\nGET /304 HTTP/1.1\r\n\r\n",
    );
    for (const status of [200, 204, 304]) {
      const r = await res.next();
      assert.equal(r.status, status);
      assert.equal(r.headers.get("content-length"), "0");
      assert.equal(r.headers.get("transfer-encoding"), undefined);
      assert.equal(r.body, "");
    }
    await send(client, "GET /full HTTP/1.1\r\n\r\n");
    const full = await res.next();
    assert.equal(full.body, "full body");
    assert.equal(full.headers.get("transfer-encoding"), "chunked");
    assert.equal(full.headers.get("content-length"), undefined);
    assert.equal(full.headers.get("x-evil"), "a");
  });
});

Deno.test("http1: the status line has the standard reason; a throwing handler is a 500", async () => {
  const handler: Handler = (req) => {
    const p = new URL(req.url).pathname;
    if (p === "/throw") throw new Error("secret detail");
    return new Response("x", { status: 418, statusText: "Echoed Input" });
  };
  await serve(handler, {}, async ({ client }) => {
    const res = new Responses(client);
    await send(client, "GET /teapot HTTP/1.1\r\n\r\nGET /throw HTTP/1.1\r\n\r\n");
    assert.equal((await res.next()).headers.get(":line"), "HTTP/1.1 418 I'm a Teapot");
    const err = await res.next();
    assert.equal(err.status, 500);
    assert.deepEqual(JSON.parse(err.body), { error: "internal error" });
  });
});

Deno.test("http1: a streamed response goes out as it is produced", async () => {
  let push!: (s: string) => void;
  let end!: () => void;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      push = (s) => c.enqueue(enc.encode(s));
      end = () => c.close();
    },
  });
  await serve(() => new Response(stream), {}, async ({ client }) => {
    await send(client, "GET /events HTTP/1.1\r\n\r\n");
    let text = "";
    const buf = new Uint8Array(4096);
    const readUntil = async (s: string) => {
      while (!text.includes(s)) text += dec.decode(buf.subarray(0, (await client.read(buf))!));
    };
    push("first");
    await readUntil("5\r\nfirst\r\n");
    push("second!");
    await readUntil("7\r\nsecond!\r\n");
    end();
    await readUntil("0\r\n\r\n");
  });
});

Deno.test("http1: a client gone mid-response aborts the request's signal", async () => {
  let aborted!: () => void;
  const sawAbort = new Promise<void>((r) => (aborted = r));
  let started!: () => void;
  const streaming = new Promise<void>((r) => (started = r));
  const handler: Handler = (req) => {
    req.signal.addEventListener("abort", () => aborted());
    return new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(enc.encode("hello"));
          started();
        },
      }),
    );
  };
  await serve(handler, {}, async ({ client, done }) => {
    await send(client, "GET / HTTP/1.1\r\n\r\n");
    await streaming;
    await client.read(new Uint8Array(1024));
    client.close();
    await sawAbort;
    await done;
  });
});

Deno.test("http1: a head that does not arrive in time closes the connection, counted", async () => {
  // Nothing at all, then a head that never ends.
  for (const partial of ["", "GET / HTTP/1.1\r\nHost: x\r\n"]) {
    await serve(echo, { headerTimeoutMs: 50 }, async ({ client, stats, done }) => {
      if (partial) await send(client, partial);
      assert.equal(await readAll(client), "", "closed without an answer");
      await done;
      assert.equal(stats.timedOut, 1);
    });
  }
});

Deno.test("http1: an idle keep-alive connection is closed by the head deadline", async () => {
  await serve(echo, { headerTimeoutMs: 100 }, async ({ client, stats, done }) => {
    const res = new Responses(client);
    await send(client, "GET /1 HTTP/1.1\r\n\r\n");
    assert.equal(JSON.parse((await res.next()).body).path, "/1");
    // Nothing more is sent: the deadline for the next head closes it.
    assert.ok(await res.closed());
    await done;
    assert.equal(stats.timedOut, 1);
  });
});

Deno.test("http1: a body that stops arriving is cut off by the body deadline", async () => {
  let failure: unknown = null;
  await serve(
    async (req) => {
      try {
        await req.text();
      } catch (e) {
        failure = e;
      }
      return new Response("late");
    },
    { bodyTimeoutMs: 50 },
    async ({ client, stats, done }) => {
      await send(client, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
      await readAll(client);
      await done;
      assert.equal(stats.timedOut, 1);
    },
  );
  assert.ok(failure !== null, "the handler's read failed");
});

Deno.test("http1: a slot closed from outside (evicted) ends serving", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const conn = await listener.accept();
  listener.close();
  const slot = new Slot(conn, newListenerStats());
  assert.equal(slot.waiting, true);
  const done = serveHttp1(slot, echo, { origin: "x" });
  slot.close();
  await done;
  assert.equal(await readAll(client), "");
  client.close();
});
