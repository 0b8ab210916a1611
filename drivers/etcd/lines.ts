/**
 * Reads a streamed gateway answer (a watch, a lease keepalive) as JSON objects, one a line,
 * never holding more than a bound: a line longer than `maxBytes` is an error, not a buffer that
 * grows.
 * @module
 */

import { malformed } from "./codec.ts";

/**
 * Yields each line of `body` parsed as JSON. Throws a `protocol` StoreError when a line is longer
 * than `maxBytes` or is not JSON; cancels the body when the caller stops early.
 */
export async function* jsonLines(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  signal?: AbortSignal,
): AsyncGenerator<unknown> {
  const reader = body.getReader();
  // An abort after the answer's headers does not always end a read under way: cancelling the
  // reader does, so a cancelled watch (and a closing store) never waits on a quiet stream.
  const cancel = () => void reader.cancel().catch(() => {});
  signal?.addEventListener("abort", cancel, { once: true });
  if (signal?.aborted) cancel();
  const dec = new TextDecoder();
  const parts: Uint8Array[] = [];
  let held = 0;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      let start = 0;
      for (let nl = value.indexOf(10); nl >= 0; nl = value.indexOf(10, start)) {
        const piece = value.subarray(start, nl);
        start = nl + 1;
        if (held + piece.length > maxBytes) {
          throw malformed(`a streamed line over ${maxBytes} bytes`);
        }
        parts.push(piece);
        const line = join(parts, held + piece.length);
        parts.length = 0;
        held = 0;
        const text = dec.decode(line).trim();
        if (text === "") continue;
        yield parseLine(text);
      }
      const rest = value.subarray(start);
      if (held + rest.length > maxBytes) throw malformed(`a streamed line over ${maxBytes} bytes`);
      if (rest.length) {
        parts.push(rest.slice());
        held += rest.length;
      }
    }
    const text = dec.decode(join(parts, held)).trim();
    if (text !== "") yield parseLine(text);
  } finally {
    signal?.removeEventListener("abort", cancel);
    reader.cancel().catch(() => {});
  }
}

function parseLine(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw malformed("a streamed line is not JSON");
  }
}

function join(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
