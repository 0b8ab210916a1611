/**
 * The browser build's `node:zlib`, for lib/mesh/sync/packed.ts alone (the leader's packed views
 * and deltas): raw DEFLATE both ways through `fflate`, a page having no node:zlib. The inflate
 * keeps node's `maxOutputLength` bound: the input is fed in small pieces so a body that inflates
 * past the bound is refused before much more than the bound is held (a zip bomb from a leader
 * costs at most the bound and one piece's output).
 * @module
 */

import { deflateSync, Inflate } from "npm:fflate@^0.8.3";

/** Input fed to the inflater per step: at most ~1 MiB of output comes of one (DEFLATE's ratio). */
const PIECE = 1024;

/** Compresses `data` as raw DEFLATE (no zlib or gzip header), as node's `deflateRawSync`. */
export function deflateRawSync(data: Uint8Array): Uint8Array {
  return deflateSync(data);
}

/**
 * Inflates raw DEFLATE as node's `inflateRawSync`; throws a RangeError once the output passes
 * `maxOutputLength`, and an Error for a stream that is not DEFLATE or ends early.
 */
export function inflateRawSync(
  data: Uint8Array,
  opts?: { maxOutputLength?: number },
): Uint8Array {
  const max = opts?.maxOutputLength ?? Number.MAX_SAFE_INTEGER;
  const parts: Uint8Array[] = [];
  let total = 0;
  let ended = false;
  const inflater = new Inflate((chunk, final) => {
    total += chunk.length;
    if (total > max) throw new RangeError(`inflated past ${max} bytes`);
    parts.push(chunk.slice());
    if (final) ended = true;
  });
  for (let at = 0; at < data.length; at += PIECE) {
    const end = Math.min(at + PIECE, data.length);
    inflater.push(data.subarray(at, end), end === data.length);
  }
  if (data.length === 0) inflater.push(data, true);
  if (!ended) throw new Error("the DEFLATE stream ends early");
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
