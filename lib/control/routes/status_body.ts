/**
 * A large `/status` document's body made across turns of the event loop: its JSON a slice of
 * peers at a time, and its gzip a slice of bytes at a time. A leader of 10,000 members has a
 * document of some 7 MB; its JSON held the loop for 40 to 150 ms and a gzip of it for 50 to 300
 * ms on a loaded machine, while the members' datagrams and the API waited. Compressed (some a
 * third of the size), the body goes out in one write where 7 MB needed the loop to wait for the
 * socket to drain several times.
 * @module
 */

import { createGzip, gzipSync } from "node:zlib";

/**
 * Milliseconds of work between two turns of the event loop, at most (a slice or so more): small
 * beside a busy leader's turns (its poller's rounds and the view parts it sends take tens of ms
 * each), large enough that a document of 10,000 peers and its gzip take some twenty turns.
 */
export const BODY_SLICE_MS = 16;

/** Bytes given to gzip at once. */
const GZIP_SLICE = 64 * 1024;

/** Peers stringified between two looks at the clock. */
const JSON_SLICE_PEERS = 64;

/** A turn of the event loop: its timers, its I/O. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** The JSON text of `peers` (as `JSON.stringify` writes it), `sliceMs` at a time. */
export async function peersJsonInSlices(
  peers: readonly unknown[],
  pause: () => Promise<void> = turn,
  sliceMs = BODY_SLICE_MS,
): Promise<string> {
  const parts: string[] = [];
  let until = performance.now() + sliceMs;
  for (let i = 0; i < peers.length; i++) {
    if (i % JSON_SLICE_PEERS === 0 && i > 0 && performance.now() >= until) {
      await pause();
      until = performance.now() + sliceMs;
    }
    parts.push(JSON.stringify(peers[i]));
  }
  return `[${parts.join(",")}]`;
}

/**
 * The UTF-8 JSON text of `{node, peers, mesh}` given the peers' own text (`mesh` left out when
 * null), and the peers' part of it (a view of the same bytes: `/peers` serves it as it is).
 */
export function statusBodyOf(
  node: unknown,
  peersJson: string,
  mesh: unknown,
): { body: Uint8Array<ArrayBuffer>; peers: Uint8Array<ArrayBuffer> } {
  const enc = new TextEncoder();
  const head = enc.encode(`{"node":${JSON.stringify(node)},"peers":`);
  const list = enc.encode(peersJson);
  const tail = enc.encode(
    mesh === null || mesh === undefined ? "}" : `,"mesh":${JSON.stringify(mesh)}}`,
  );
  const body = new Uint8Array(head.length + list.length + tail.length);
  body.set(head);
  body.set(list, head.length);
  body.set(tail, head.length + list.length);
  return { body, peers: body.subarray(head.length, head.length + list.length) };
}

/** `bytes` gzipped, `sliceMs` of compressing at a time with `pause` between. */
export async function gzipInSlices(
  bytes: Uint8Array,
  pause: () => Promise<void> = turn,
  sliceMs = BODY_SLICE_MS,
): Promise<Uint8Array<ArrayBuffer>> {
  // Level 1: the fastest; JSON of keys and addresses shrinks to a third or so even so.
  const gz = createGzip({ level: 1 });
  const out: Uint8Array[] = [];
  gz.on("data", (c: Uint8Array) => out.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    gz.on("end", resolve);
    gz.on("error", reject);
  });
  let until = performance.now() + sliceMs;
  for (let off = 0; off < bytes.length; off += GZIP_SLICE) {
    // The stream compresses a chunk when it is written; its callback says it is done.
    await new Promise<void>((resolve, reject) =>
      gz.write(bytes.subarray(off, off + GZIP_SLICE), (e) => e ? reject(e) : resolve())
    );
    if (performance.now() >= until) {
      await pause();
      until = performance.now() + sliceMs;
    }
  }
  gz.end();
  await ended;
  const all = new Uint8Array(out.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of out) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}

/**
 * `bytes` gzipped at once (level 1, as {@link gzipInSlices}): for a body a request waits for
 * anyway, where one write of the gzip beats several writes of the whole, each waiting for the
 * socket to drain on a busy loop.
 */
export function gzipAtOnce(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(gzipSync(bytes, { level: 1 }));
}

/** Whether an `Accept-Encoding` header takes gzip (listed, or `*`, and not with `q=0`). */
export function acceptsGzip(header: string | null): boolean {
  if (!header) return false;
  let star = false;
  for (const item of header.split(",")) {
    const [name, ...params] = item.split(";").map((x) => x.trim().toLowerCase());
    const q = params.find((p) => p.startsWith("q="));
    const zero = q !== undefined && Number(q.slice(2)) === 0;
    if (name === "gzip" || name === "x-gzip") return !zero;
    if (name === "*") star = !zero;
  }
  return star;
}
