/**
 * A client in a thread of its own, for tests that hold the main thread: fetches a URL, posts the
 * answer, then wakes a main thread blocked in `Atomics.wait` on the shared flag.
 * @module
 */

/** What the test asks for. */
export interface FetchAsk {
  /** The URL to GET. */
  url: string;
  /** Request headers. */
  headers: Record<string, string>;
  /** Set to 1 (and notified) once the answer is read. */
  flag: SharedArrayBuffer;
}

const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<FetchAsk>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = async (ev) => {
  const { url, headers, flag } = ev.data;
  const done = new Int32Array(flag);
  try {
    const r = await fetch(url, { headers });
    const got = Object.fromEntries(r.headers);
    scope.postMessage({ status: r.status, headers: got, text: await r.text() });
  } catch (e) {
    scope.postMessage({ error: String(e) });
  }
  Atomics.store(done, 0, 1);
  Atomics.notify(done, 0);
};
