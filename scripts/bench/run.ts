/**
 * `deno task bench`: every benchmark in one run, each printing its own table. Benchmarks that
 * need root and network namespaces are skipped (with a note) where they cannot run.
 * @module
 */

import { runCryptoBench } from "./crypto.ts";
import { runHandshakeBench } from "./handshake.ts";

console.log("## crypto: ChaCha20-Poly1305 seal/open (in place) and X25519, per backend");
const crypto = await runCryptoBench();
console.table(crypto.filter((r) => r.kind === "aead").map(({ kind: _, ...r }) => r));
console.table(crypto.filter((r) => r.kind === "dh").map(({ kind: _, ...r }) => r));

console.log("## handshakes: complete Noise_IKpsk2 handshakes per second, per backend");
console.table(runHandshakeBench());
