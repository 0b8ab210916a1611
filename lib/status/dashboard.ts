/**
 * The dashboard's routes: `GET /` serves the page, `GET /events` streams the status document as
 * server-sent events (one at once, one after every change, and one every interval) together with
 * the health transitions. The control app mounts them next to its `GET /status`.
 * @module
 */

import { Hono } from "npm:hono@^4.13.19";
import type { HealthState } from "../health/state.ts";
import { DASHBOARD_HTML } from "./dashboard_page.ts";
import type { ServiceStatus } from "./status.ts";

export { DASHBOARD_HTML } from "./dashboard_page.ts";

/** The part of the status document the page reads; extra fields are passed through. */
export interface DashboardStatus {
  /** This node. */
  node: {
    /** Base64 public key. */
    publicKey: string;
    /** Node name (shown as the title; the key prefix when absent). */
    name?: string;
    /** Overlay addresses with prefix lengths. */
    addresses?: string[];
    /** `leader` or `node`. */
    role?: string;
    /** weft's version. */
    version?: string;
    /** Seconds since the agent started. */
    uptimeSeconds?: number;
    /** The mesh's services with their instances and leaders (mesh agents): the Services panel. */
    services?: ServiceStatus[];
  };
  /** The links from this node. */
  peers: {
    /** Base64 public key. */
    publicKey: string;
    /** The peer's node name (the key prefix when absent). */
    name?: string;
    /** The peer's overlay address (the first allowed IP when absent). */
    address?: string;
    /** Underlay endpoint, null when unknown. */
    endpoint: string | null;
    /** Overlay prefixes routed to the peer. */
    allowedIps?: string[];
    /** Health (`unknown` when absent). */
    health?: HealthState;
    /** Why the peer has that health. */
    healthReason?: string;
    /** Median probe RTT over the health window, ms. */
    rttMs?: number | null;
    /** Probe loss, 0..1. */
    loss?: number | null;
    /** Underlay bytes received. */
    rxBytes: number;
    /** Underlay bytes sent. */
    txBytes: number;
    /** Seconds since the last handshake, null when none. */
    lastHandshakeAgeSeconds?: number | null;
    /**
     * The path (mesh peers): `direct`; `relay` (drawn dotted, "via <relay>"); or `none` (drawn
     * dashed, "no path").
     */
    path?: string;
    /** The relay's name when `path` is `relay`. */
    via?: string | null;
    /** The underlay protocol: `udp` (the default, not marked) or `tcp` (tagged "tcp"). */
    transport?: string | null;
    /** The candidate endpoints (mesh peers); the chosen one is named in the tooltip. */
    candidates?: { endpoint: string; kind: string; chosen: boolean }[];
  }[];
}

/** Change notifications: a subscribe function (returns its unsubscribe) or an async iterable. */
export type ChangeSource<T = unknown> = ((fn: (event: T) => void) => () => void) | AsyncIterable<T>;

/** Options of the dashboard routes. */
export interface DashboardOptions {
  /** A status event goes out at least this often, ms (default 2000). */
  intervalMs?: number;
  /** Changes within this many ms share one status event (default 100). */
  debounceMs?: number;
  /** Ends every event stream (abort it before shutting the server down, which waits for them). */
  signal?: AbortSignal;
  /** Most event streams open at once (default 64); more get 503, so that streams, which never
   * end on their own, cannot take every connection the server allows. */
  maxStreams?: number;
  /**
   * The JSON text of a status document when already made (a large one, shared by every stream),
   * so that each stream does not write it again; undefined: written here, for each stream.
   */
  statusJson?: (doc: DashboardStatus) => Uint8Array | undefined;
}

const enc = new TextEncoder();

function sseFrame(event: string, data: unknown): Uint8Array {
  // JSON.stringify escapes line feeds, so the payload is always one `data:` line.
  return enc.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

// The same frame around JSON text already written (JSON has no raw line feeds either).
function sseFrameOf(event: string, json: Uint8Array): Uint8Array {
  const head = enc.encode(`event: ${event}\ndata: `);
  const frame = new Uint8Array(head.length + json.length + 2);
  frame.set(head);
  frame.set(json, head.length);
  frame.set([10, 10], head.length + json.length);
  return frame;
}

// Fans one change source out to every open stream; an async iterable is read once, here.
function fanOut<T>(
  source: ChangeSource<T> | undefined,
  signal: AbortSignal | undefined,
): (fn: (e: T) => void) => () => void {
  if (source === undefined) return () => () => {};
  if (typeof source === "function") return source;
  const listeners = new Set<(e: T) => void>();
  const it = source[Symbol.asyncIterator]();
  signal?.addEventListener("abort", () => void it.return?.(), { once: true });
  (async () => {
    try {
      for (;;) {
        const r = await it.next();
        if (r.done || signal?.aborted) break;
        for (const fn of [...listeners]) fn(r.value);
      }
    } catch {
      // A failing source only ends the change events; the interval updates go on.
    }
  })();
  return (fn) => {
    listeners.add(fn);
    return () => {
      listeners.delete(fn);
    };
  };
}

/** The dashboard page and its event stream, as a Hono app to mount into the control app. */
export function dashboardRoutes(
  getStatus: () => DashboardStatus | Promise<DashboardStatus>,
  events?: ChangeSource,
  opts: DashboardOptions = {},
): Hono {
  const intervalMs = opts.intervalMs ?? 2000;
  const debounceMs = opts.debounceMs ?? 100;
  const signal = opts.signal;
  const subscribe = fanOut(events, signal);
  const maxStreams = opts.maxStreams ?? 64;
  let streams = 0;
  // The last status event made of a text given, for every stream that reads the same one (a
  // large agent's, kept a second: megabytes written once, not once per stream). A document
  // alone is written for each stream: its getter may hand out one object it changes in place.
  let last: { json: Uint8Array; frame: Uint8Array } | null = null;
  const statusFrame = (doc: DashboardStatus): Uint8Array => {
    const json = opts.statusJson?.(doc);
    if (json === undefined) return sseFrame("status", doc);
    if (last?.json !== json) last = { json, frame: sseFrameOf("status", json) };
    return last.frame;
  };
  const app = new Hono();

  app.get("/", (c) =>
    c.body(DASHBOARD_HTML, 200, {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      // The page needs nothing from anywhere else; say so, so nothing else can be pulled in.
      "content-security-policy": "default-src 'none'; script-src 'unsafe-inline'; " +
        "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; " +
        "form-action 'none'; frame-ancestors 'none'",
      "x-content-type-options": "nosniff",
    }));

  app.get("/events", (c) => {
    if (streams >= maxStreams) {
      return c.json({ error: `more than ${maxStreams} event streams open` }, 503, {
        "retry-after": "10",
      });
    }
    streams++;
    let stop = () => {};
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        let closed = false;
        let busy = false;
        let again = false;
        let debounce: ReturnType<typeof setTimeout> | undefined;
        const send = (frame: Uint8Array) => {
          // A reader far behind skips frames rather than growing the queue without end.
          if (closed || (controller.desiredSize ?? 0) < -32) return;
          controller.enqueue(frame);
        };
        // One status read at a time; a change during a read asks for one more afterwards.
        const sendStatus = async () => {
          if (busy) {
            again = true;
            return;
          }
          busy = true;
          try {
            do {
              again = false;
              let doc: DashboardStatus;
              try {
                doc = await getStatus();
              } catch (e) {
                send(sseFrame("problem", { error: e instanceof Error ? e.message : String(e) }));
                continue;
              }
              send(statusFrame(doc));
            } while (again && !closed);
          } finally {
            busy = false;
          }
        };
        const timer = setInterval(sendStatus, intervalMs);
        const unsubscribe = subscribe((ev) => {
          send(sseFrame("health", ev));
          if (debounce === undefined) {
            debounce = setTimeout(() => {
              debounce = undefined;
              void sendStatus();
            }, debounceMs);
          }
        });
        stop = () => {
          if (closed) return;
          closed = true;
          streams--;
          clearInterval(timer);
          if (debounce !== undefined) clearTimeout(debounce);
          unsubscribe();
          signal?.removeEventListener("abort", end);
        };
        const end = () => {
          const was = closed;
          stop();
          if (!was) controller.close();
        };
        if (signal?.aborted) {
          end();
          return;
        }
        signal?.addEventListener("abort", end, { once: true });
        controller.enqueue(enc.encode(`retry: ${intervalMs}\n\n`));
        void sendStatus();
      },
      cancel() {
        stop();
      },
    });
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-accel-buffering": "no",
      },
    });
  });

  return app;
}
