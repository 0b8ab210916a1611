/**
 * Counters of the DNS server, a plain object for /metrics.
 * @module
 */

import { DnsType, typeName } from "./wire.ts";

/** What the DNS server counted since it started. */
export interface DnsStats {
  /** Messages received over UDP and TCP, valid or not. */
  received: number;
  /** Well-formed queries (one question, opcode QUERY). */
  queries: number;
  /** Queries by type mnemonic (`A`, `SRV`; `OTHER` for types without one). */
  byType: Record<string, number>;
  /** Responses sent, by rcode mnemonic (forwarded answers by their upstream rcode). */
  byRcode: Record<string, number>;
  /** Queries for names outside the zone handed to the forwarder (coalesced ones included). */
  forwarded: number;
  /** Forwarded queries no upstream answered (SERVFAIL to the client). */
  forwardFailed: number;
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
    byType: {},
    byRcode: {},
    forwarded: 0,
    forwardFailed: 0,
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

/** The `byType` key of a type: its mnemonic, or `OTHER` so that the map stays bounded. */
export function typeKey(type: number): string {
  return KNOWN_TYPES.has(type) ? typeName(type) : "OTHER";
}
