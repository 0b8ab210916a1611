/**
 * Raises the soft limit on open file descriptors to the hard limit, as the Go runtime does for
 * wireguard-go: the soft default (often 1,024) is meant for programs that use `select(2)`, and
 * an agent holding sockets for peers, DNS and status clients should not hit it first.
 * @module
 */

import { errno, libc } from "./libc.ts";

/** RLIMIT_NOFILE on Linux. */
const RLIMIT_NOFILE = 7;

/** The file descriptor limits before and after {@linkcode raiseFileLimit}. */
export interface FileLimit {
  /** The soft limit found. */
  before: bigint;
  /** The soft limit now (the hard limit when raising worked). */
  soft: bigint;
  /** The hard limit. */
  hard: bigint;
}

/** Raises the soft RLIMIT_NOFILE to the hard one (never the hard one itself); throws on error. */
export function raiseFileLimit(): FileLimit {
  const c = libc();
  const buf = new Uint8Array(16);
  const view = new DataView(buf.buffer);
  if (c.getrlimit(RLIMIT_NOFILE, buf) !== 0) throw new Error(`getrlimit: errno ${errno()}`);
  const before = view.getBigUint64(0, true);
  const hard = view.getBigUint64(8, true);
  if (before >= hard) return { before, soft: before, hard };
  view.setBigUint64(0, hard, true);
  if (c.setrlimit(RLIMIT_NOFILE, buf) !== 0) throw new Error(`setrlimit: errno ${errno()}`);
  return { before, soft: hard, hard };
}
