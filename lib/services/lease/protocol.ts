/**
 * The service-leader leases on the wire, and their timing. Sent inside the WireGuard tunnels on
 * the mesh's control channel (JSON objects with a `t` field, as the other control messages):
 * WireGuard authenticates them and the source overlay address says which member sent them.
 *
 * - member → mesh leader (the arbiter): `{t: "lease-ask", s, n, tk?}` asks for the lease of
 *   service `s`, or renews lease `tk`; `n` numbers the ask, so the answer can be matched with the
 *   moment it was sent (the holder's lease runs from there). `{t: "lease-release", s, tk}` gives
 *   lease `tk` up.
 * - arbiter → member: `{t: "lease", s, h, tk, ttl, n?}`: the holder `h` (a member's public key)
 *   of lease `tk` of service `s`, which has `ttl` ms left as it is sent; `h` null says that lease
 *   ended. `n` is present only in the answer to that ask of the receiver.
 * - arbiter → every member, every few seconds: `{t: "leases", l}`, the live leases as
 *   `[service, holder, token, ms left]` rows, in datagram-sized parts (each part stands alone).
 *   With views scoped by policy, a member is sent only the rows (and notices) whose holder it
 *   may see: a holder it cannot reach is of no use to it, and its key is not its to learn.
 *
 * Values from the wire are checked strictly and copied into fresh objects.
 * @module
 */

import { parseKey } from "../../crypto/keys.ts";
import { serviceNameProblem } from "../../members/services.ts";

/** How long leases last and how often they are asked for; see {@link DEFAULT_LEASE_TIMING}. */
export interface LeaseTiming {
  /** How long a grant or renewal lasts at the arbiter, ms. */
  ttlMs: number;
  /** How often a holder renews, and a candidate asks, ms. */
  renewMs: number;
  /**
   * The largest difference in clock rate between two nodes that is tolerated, as a fraction
   * (0.01: one clock may run 1% faster than another). A holder counts its lease that much short.
   */
  maxDrift: number;
  /** How much earlier than its lease's end a holder steps down, ms (scheduling, delivery). */
  marginMs: number;
}

/**
 * 6 s leases renewed every 2 s: two lost renewals in a row are survived, and a holder that stops
 * (or is cut off) has its lease end at most 6 s after its last renewal; the arbiter then grants
 * it to a candidate that asked in the last few seconds, so failover comes within 10 s.
 */
export const DEFAULT_LEASE_TIMING: Readonly<LeaseTiming> = {
  ttlMs: 6000,
  renewMs: 2000,
  maxDrift: 0.01,
  marginMs: 500,
};

/** The timing with the defaults filled in; throws a RangeError on values that make no lease. */
export function leaseTiming(partial: Partial<LeaseTiming> = {}): LeaseTiming {
  const t = { ...DEFAULT_LEASE_TIMING, ...partial };
  if (!(t.ttlMs >= 100 && t.ttlMs <= MAX_LEASE_MS)) {
    throw new RangeError(`lease ttlMs must be 100 to ${MAX_LEASE_MS}, got ${t.ttlMs}`);
  }
  if (!(t.renewMs > 0 && t.renewMs < t.ttlMs)) {
    throw new RangeError(`lease renewMs must be above 0 and below ttlMs, got ${t.renewMs}`);
  }
  if (!(t.maxDrift >= 0 && t.maxDrift < 0.5)) {
    throw new RangeError(`lease maxDrift must be 0 to 0.5, got ${t.maxDrift}`);
  }
  if (!(t.marginMs >= 0 && t.marginMs < t.ttlMs * (1 - t.maxDrift))) {
    throw new RangeError(
      `lease marginMs must be 0 or more and leave some lease, got ${t.marginMs}`,
    );
  }
  return t;
}

/** The longest lease the wire carries, ms (an hour). */
export const MAX_LEASE_MS = 3_600_000;

/** A member asking for (or, with `tk`, renewing) the lease of service `s`. */
export type LeaseAsk = { t: "lease-ask"; s: string; n: number; tk?: number };
/** A holder giving lease `tk` of service `s` up. */
export type LeaseRelease = { t: "lease-release"; s: string; tk: number };
/** The arbiter on one lease: its holder (null: it ended), token and time left; `n`: the ask answered. */
export type LeaseNotice = {
  t: "lease";
  s: string;
  h: string | null;
  tk: number;
  ttl: number;
  n?: number;
};
/** One live lease in a table: service, holder's key, token, ms left. */
export type LeaseRow = [string, string, number, number];
/** Part of the arbiter's table of live leases. */
export type LeaseTable = { t: "leases"; l: LeaseRow[] };

/** What members send the arbiter. */
export type LeaseRequest = LeaseAsk | LeaseRelease;
/** What the arbiter sends members. */
export type LeaseAnnouncement = LeaseNotice | LeaseTable;
/** Every lease message. */
export type LeaseMessage = LeaseRequest | LeaseAnnouncement;

/** The `t` values of lease messages. */
export const LEASE_MESSAGE_TYPES: readonly LeaseMessage["t"][] = [
  "lease-ask",
  "lease-release",
  "lease",
  "leases",
];

/** True when `t` names a lease message (for a channel dispatching on `t`). */
export function isLeaseMessageType(t: unknown): t is LeaseMessage["t"] {
  return (LEASE_MESSAGE_TYPES as readonly unknown[]).includes(t);
}

/** Most rows in one table part (a part is kept under one datagram anyway). */
export const MAX_TABLE_ROWS = 64;
/** The JSON size a table part is kept under, bytes. */
const TABLE_PART_BYTES = 1100;

const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const token = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;
const ttl = (v: unknown): v is number => count(v) && (v as number) <= MAX_LEASE_MS;
const service = (v: unknown): v is string =>
  typeof v === "string" && serviceNameProblem(v) === undefined;

/** True for a WireGuard public key as base64 text (32 bytes). */
export function isKeyText(v: unknown): v is string {
  if (typeof v !== "string" || v.length !== 44) return false;
  try {
    parseKey(v, "key");
    return true;
  } catch {
    return false;
  }
}

function row(v: unknown): LeaseRow | null {
  if (!Array.isArray(v) || v.length !== 4) return null;
  const [s, h, tk, left] = v;
  return service(s) && isKeyText(h) && token(tk) && ttl(left) ? [s, h, tk, left] : null;
}

/**
 * The lease message `o` is (a fresh object holding only the checked fields), or null when it is
 * not one or a field is out of range: a service that is not a service name, a token below 1, a
 * time left beyond an hour, a holder that is not a key, a table over {@link MAX_TABLE_ROWS} rows.
 */
export function parseLeaseMessage(o: unknown): LeaseMessage | null {
  if (typeof o !== "object" || o === null || Array.isArray(o)) return null;
  const m = o as Record<string, unknown>;
  switch (m.t) {
    case "lease-ask":
      if (!service(m.s) || !count(m.n) || (m.tk !== undefined && !token(m.tk))) return null;
      return { t: "lease-ask", s: m.s, n: m.n, ...(m.tk !== undefined ? { tk: m.tk } : {}) };
    case "lease-release":
      return service(m.s) && token(m.tk) ? { t: "lease-release", s: m.s, tk: m.tk } : null;
    case "lease":
      if (!service(m.s) || !(m.h === null || isKeyText(m.h)) || !token(m.tk) || !ttl(m.ttl)) {
        return null;
      }
      if (m.n !== undefined && !count(m.n)) return null;
      return {
        t: "lease",
        s: m.s,
        h: m.h,
        tk: m.tk,
        ttl: m.ttl,
        ...(m.n !== undefined ? { n: m.n } : {}),
      };
    case "leases": {
      if (!Array.isArray(m.l) || m.l.length > MAX_TABLE_ROWS) return null;
      const rows: LeaseRow[] = [];
      for (const r of m.l) {
        const checked = row(r);
        if (checked === null) return null;
        rows.push(checked);
      }
      return { t: "leases", l: rows };
    }
    default:
      return null;
  }
}

const utf8 = new TextEncoder();

/** A lease message's bytes on the control channel (JSON, as every control message): encoded once, sent to many. */
export function encodeLease(msg: LeaseMessage): Uint8Array {
  return utf8.encode(JSON.stringify(msg));
}

/** Splits table rows into parts that each fit one datagram; no rows, no parts. */
export function tableParts(rows: LeaseRow[]): LeaseTable[] {
  const parts: LeaseTable[] = [];
  let cur: LeaseRow[] = [];
  let size = 0;
  for (const r of rows) {
    const n = JSON.stringify(r).length + 1;
    if (cur.length > 0 && (size + n > TABLE_PART_BYTES || cur.length >= MAX_TABLE_ROWS)) {
      parts.push({ t: "leases", l: cur });
      cur = [];
      size = 0;
    }
    cur.push(r);
    size += n;
  }
  if (cur.length > 0) parts.push({ t: "leases", l: cur });
  return parts;
}
