import assert from "node:assert/strict";
import { DASHBOARD_HTML, dashboardRoutes, type DashboardStatus } from "./dashboard.ts";
import { HealthTracker } from "../health/health.ts";

/** Reads server-sent events from a response body, one frame at a time. */
class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #dec = new TextDecoder();
  #buf = "";

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }

  /**
   * The next frame (`event` and parsed `data`, or `retry`), null at the end of the stream.
   * `timeoutMs` only guards against a hang: generous, as a loaded machine can be slow.
   */
  async next(timeoutMs = 20_000): Promise<{ event: string; data: unknown } | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.#buf.indexOf("\n\n");
      if (end >= 0) {
        const frame = this.#buf.slice(0, end);
        this.#buf = this.#buf.slice(end + 2);
        let event = "message";
        let data = "";
        for (const line of frame.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
          else if (line.startsWith("retry: ")) {
            return { event: "retry", data: Number(line.slice(7)) };
          }
        }
        return { event, data: data ? JSON.parse(data) : null };
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no SSE frame in time");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const r = await Promise.race([
        this.#reader.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("no SSE frame in time")), left);
        }),
      ]).finally(() => clearTimeout(timer));
      if (r.done) return null;
      this.#buf += this.#dec.decode(r.value, { stream: true });
    }
  }

  /** The next frame of the given event type, skipping others (`timeoutMs`: a hang guard). */
  async nextOf(event: string, timeoutMs = 20_000): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = await this.next(Math.max(1, deadline - Date.now()));
      if (f === null) throw new Error(`stream ended before a ${event} event`);
      if (f.event === event) return f.data;
    }
  }

  /** Stops reading (the server sees the client go away). */
  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

function fakeStatus(): { doc: DashboardStatus; bump: () => void } {
  const doc: DashboardStatus = {
    node: { publicKey: "AAAA", name: "alpha", addresses: ["10.9.0.1/24"] },
    peers: [{
      publicKey: "BBBB",
      name: "bravo",
      address: "10.9.0.2",
      endpoint: "192.0.2.2:51820",
      health: "up",
      rttMs: 1.5,
      loss: 0,
      rxBytes: 0,
      txBytes: 0,
    }],
  };
  return { doc, bump: () => void (doc.peers[0].rxBytes += 100) };
}

/** A subscribe function with a visible listener count. */
function changeSource() {
  const listeners = new Set<(e: unknown) => void>();
  return {
    subscribe: (fn: (e: unknown) => void) => {
      listeners.add(fn);
      return () => void listeners.delete(fn);
    },
    emit: (e: unknown) => listeners.forEach((fn) => fn(e)),
    count: () => listeners.size,
  };
}

Deno.test("dashboard: the page is self-contained and locked down by its CSP", async () => {
  const app = dashboardRoutes(() => fakeStatus().doc);
  const res = await app.request("/");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/html/);
  const csp = res.headers.get("content-security-policy")!;
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /connect-src 'self'/);
  const html = await res.text();
  assert.equal(html, DASHBOARD_HTML);
  assert.match(html, /^<!doctype html>/);
  // No asset from elsewhere: the only URL is the SVG namespace, which is a name, not a fetch.
  const urls = html.match(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"']*/gi) ?? [];
  assert.deepEqual([...new Set(urls)], ["http://www.w3.org/2000/svg"]);
  assert.doesNotMatch(html, /<(script|img|iframe)[^>]+src=/i);
  assert.doesNotMatch(html, /<link[^>]+rel="stylesheet"/i);
  assert.doesNotMatch(html, /@import|url\(/);
  // The inline script compiles (a stray escape in the TS template would break it silently).
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  assert.equal(scripts.length, 1);
  new Function(scripts[0]);
  assert.match(html, /new EventSource\("events" \+ AUTH\)/);
  assert.match(html, /fetch\("status"/);
});

Deno.test("dashboard: /events sends the status at once and pushes a fresh one after each change", async () => {
  const { doc } = fakeStatus();
  const src = changeSource();
  // An interval of an hour never fires during the test: every status after the first one is
  // the push that a change caused, not the periodic update.
  const hour = 3_600_000;
  const app = dashboardRoutes(() => doc, src.subscribe, { intervalMs: hour, debounceMs: 20 });
  const res = await app.request("/events");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
  const sse = new SseReader(res.body!);
  assert.deepEqual(await sse.next(), { event: "retry", data: hour });
  const first = await sse.next() as { event: string; data: DashboardStatus };
  assert.equal(first.event, "status");
  assert.equal(first.data.peers[0].name, "bravo");
  assert.equal(first.data.peers[0].health, "up");
  // A change: the event itself, then a fresh status that shows it.
  doc.peers[0].health = "down";
  src.emit({ peer: "BBBB", from: "up", to: "down" });
  assert.deepEqual(await sse.next(), {
    event: "health",
    data: { peer: "BBBB", from: "up", to: "down" },
  });
  const after = await sse.next() as { event: string; data: DashboardStatus };
  assert.equal(after.event, "status");
  assert.equal(after.data.peers[0].health, "down");
  // A burst of changes shares one status event.
  for (let i = 0; i < 5; i++) src.emit({ peer: "BBBB", n: i });
  for (let i = 0; i < 5; i++) assert.equal((await sse.next())!.event, "health");
  assert.equal((await sse.next())!.event, "status");
  assert.equal(src.count(), 1);
  await sse.cancel();
  assert.equal(src.count(), 0, "a client that leaves is unsubscribed");
});

Deno.test("dashboard: with no change, the interval keeps the counters moving", async () => {
  const { doc, bump } = fakeStatus();
  const src = changeSource();
  let reads = 0;
  const app = dashboardRoutes(() => (reads++, doc), src.subscribe, { intervalMs: 50 });
  const sse = new SseReader((await app.request("/events")).body!);
  assert.deepEqual(await sse.next(), { event: "retry", data: 50 });
  const first = await sse.next() as { event: string; data: DashboardStatus };
  assert.equal(first.event, "status");
  assert.equal(first.data.peers[0].rxBytes, 0);
  // Nothing announces this change: only the periodic update can carry it.
  bump();
  // Each read of the status makes one frame, in order. Frames of reads made before the bump may
  // still be on their way; the first read after it must show the new counters.
  const readBefore = reads;
  for (let frame = 2; frame <= readBefore + 1; frame++) {
    const f = await sse.next() as { event: string; data: DashboardStatus };
    assert.equal(f.event, "status", "no change was announced");
    assert.equal(f.data.peers[0].rxBytes, frame <= readBefore ? 0 : 100);
  }
  await sse.cancel();
  assert.equal(src.count(), 0);
});

Deno.test("dashboard: an async iterable source is read once and fanned out to every client", async () => {
  const clock = { t: 1_700_000_000_000 };
  const tracker = new HealthTracker({ now: () => clock.t });
  let opened = 0;
  let returned = false;
  const source: AsyncIterable<unknown> = {
    [Symbol.asyncIterator]() {
      opened++;
      const it = tracker.events();
      return {
        next: () => it.next(),
        return: () => {
          returned = true;
          return it.return!();
        },
      };
    },
  };
  const ac = new AbortController();
  const app = dashboardRoutes(() => fakeStatus().doc, source, {
    intervalMs: 10_000,
    signal: ac.signal,
  });
  const a = new SseReader((await app.request("/events")).body!);
  const b = new SseReader((await app.request("/events")).body!);
  await a.nextOf("status");
  await b.nextOf("status");
  tracker.recordProbe("BBBB", 3);
  for (const c of [a, b]) {
    const ev = await c.nextOf("health") as { peer: string; to: string };
    assert.equal(ev.peer, "BBBB");
    assert.equal(ev.to, "up");
  }
  assert.equal(opened, 1, "one iterator for every client");
  ac.abort();
  for (const c of [a, b]) {
    let f;
    while ((f = await c.next()) !== null) assert.equal(f.event, "status");
  }
  assert.ok(returned, "the abort let go of the source's iterator");
  tracker.close();
});

Deno.test("dashboard: a failing status source is reported on the stream, which goes on", async () => {
  let fail = true;
  const { doc } = fakeStatus();
  const app = dashboardRoutes(
    () => {
      if (fail) throw new Error("agent is closing");
      return Promise.resolve(doc);
    },
    undefined,
    { intervalMs: 50 },
  );
  const sse = new SseReader((await app.request("/events")).body!);
  assert.deepEqual(await sse.nextOf("problem"), { error: "agent is closing" });
  fail = false;
  assert.equal((await sse.nextOf("status") as DashboardStatus).node.name, "alpha");
  await sse.cancel();
});

Deno.test("dashboard: aborting the signal ends open streams so the server can shut down", async () => {
  const ac = new AbortController();
  const src = changeSource();
  const app = dashboardRoutes(() => fakeStatus().doc, src.subscribe, { signal: ac.signal });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const { port } = server.addr as Deno.NetAddr;
  const res = await fetch(`http://127.0.0.1:${port}/events`);
  const sse = new SseReader(res.body!);
  await sse.nextOf("status");
  assert.equal(src.count(), 1);
  ac.abort();
  assert.equal(await sse.next(), null, "the client sees the stream end");
  assert.equal(src.count(), 0);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const shut = await Promise.race([
    server.shutdown().then(() => "down"),
    new Promise((r) => (timer = setTimeout(() => r("stuck"), 3000))),
  ]);
  clearTimeout(timer);
  assert.equal(shut, "down");
  // After the abort, new streams end at once.
  const late = await app.request("/events");
  assert.equal(await new SseReader(late.body!).next(), null);
});

Deno.test("dashboard: a status text given is sent as it is to every stream, not written for each", async () => {
  const { doc } = fakeStatus();
  let written = 0;
  // Counts each JSON.stringify of the document (a large one: megabytes, tens of ms each).
  const counted = { ...doc, toJSON: () => (written++, doc) };
  const text = new TextEncoder().encode(JSON.stringify(doc));
  const signal = new AbortController();
  const app = dashboardRoutes(() => counted, undefined, {
    intervalMs: 3_600_000,
    signal: signal.signal,
    statusJson: (d) => d === counted ? text : undefined,
  });
  const readers: SseReader[] = [];
  for (let i = 0; i < 4; i++) {
    const sse = new SseReader((await app.request("/events")).body!);
    assert.deepEqual(await sse.nextOf("status"), doc);
    readers.push(sse);
  }
  assert.equal(written, 0, "the document is never written again");
  signal.abort();
  for (const sse of readers) assert.equal(await sse.next(), null);
});
