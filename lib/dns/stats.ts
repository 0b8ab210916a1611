/**
 * Counters of the DNS server, a plain object for /metrics.
 * @module
 */

import { DnsType, rcodeName, typeName } from "./wire.ts";

/** What the DNS server counted since it started. */
export interface DnsStats {
  /** Messages received over UDP and TCP, valid or not. */
  received: number;
  /** Well-formed queries (one question, opcode QUERY). */
  queries: number;
  /**
   * Responses sent, one count each, keyed `"<TYPE>|<RCODE>"` (see {@linkcode answerKey}): the
   * question's type and the response code (forwarded answers by their upstream rcode). The
   * counts add up to the responses sent, so a sum over them counts every answered query once.
   */
  byTypeRcode: Record<string, number>;
  /** Queries for names outside the zone handed to the forwarder (coalesced ones included). */
  forwarded: number;
  /** Forwarded queries no upstream answered (SERVFAIL to the client). */
  forwardFailed: number;
  /**
   * Queries for names outside the zone that would have been forwarded, REFUSED because they came
   * from a querier this server does not forward for (not this host, forwarding for members off).
   */
  forwardRefused: number;
  /** Messages that did not decode (answered FORMERR when the header was readable). */
  malformed: number;
  /** Messages given no answer at all (no header, responses, our own forwarded queries). */
  dropped: number;
  /** UDP responses cut to the client's size with TC set. */
  truncated: number;
  /** Queries that came back from our own forwarder and were dropped. */
  loops: number;
  /** TCP connections accepted. */
  tcpConnections: number;
  /** TCP connections refused because too many were open. */
  tcpRejected: number;
  /** TCP connections open now. */
  tcpOpen: number;
}

/** Zeroed counters. */
export function newDnsStats(): DnsStats {
  return {
    received: 0,
    queries: 0,
    byTypeRcode: {},
    forwarded: 0,
    forwardFailed: 0,
    forwardRefused: 0,
    malformed: 0,
    dropped: 0,
    truncated: 0,
    loops: 0,
    tcpConnections: 0,
    tcpRejected: 0,
    tcpOpen: 0,
  };
}

const KNOWN_TYPES = new Set(Object.values(DnsType));

/** The type part of a key: its mnemonic, or `OTHER` so that the map stays bounded. */
export function typeKey(type: number): string {
  return KNOWN_TYPES.has(type) ? typeName(type) : "OTHER";
}

/**
 * The `byTypeRcode` key of a response: `A|NOERROR`, `OTHER|REFUSED`, or `NONE|FORMERR` when the
 * message had no single question to take a type from (unreadable, or several questions).
 * Rcodes are 4 bits (plus BADVERS), so the keys stay bounded.
 */
export function answerKey(type: number | null, rcode: number): string {
  return `${type === null ? "NONE" : typeKey(type)}|${rcodeName(rcode)}`;
}

/** Counts one response in `stats.byTypeRcode`. */
export function countAnswer(stats: DnsStats, type: number | null, rcode: number): void {
  const key = answerKey(type, rcode);
  stats.byTypeRcode[key] = (stats.byTypeRcode[key] ?? 0) + 1;
}
