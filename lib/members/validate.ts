/**
 * Checks what nodes send the leader (in join requests and hellos) before it enters the
 * membership every node serves: labels, services and endpoints from the wire are untrusted
 * input, and each is held to the rule its flag is held to on the command line (`--label`,
 * `--service`, `--advertise`), so a node cannot announce what no node could be configured with.
 * @module
 */

import type { ServiceSpec } from "./member.ts";
import { labelsProblem } from "./labels.ts";
import { servicesProblem } from "./services.ts";
import { formatHostPort, parseHostPort } from "../net/hostport.ts";

/** Labels as string pairs with valid keys and values (the shared label check); null if not. */
export function validLabels(v: unknown): Record<string, string> | null {
  if (v === undefined) return {};
  if (labelsProblem(v) !== undefined) return null;
  return { ...(v as Record<string, string>) };
}

/** Services as `--service` and `services:` take them, none twice; null when anything is off. */
export function validServices(v: unknown): ServiceSpec[] | null {
  if (v === undefined) return [];
  if (servicesProblem(v) !== undefined) return null;
  // A copy of the known fields only: whatever else a node sent does not enter the membership.
  return (v as ServiceSpec[]).map((s) => ({
    name: s.name,
    port: s.port,
    protocol: s.protocol,
    ...(s.weight !== undefined ? { weight: s.weight } : {}),
    ...(s.priority !== undefined ? { priority: s.priority } : {}),
    ...(s.labels !== undefined ? { labels: { ...s.labels } } : {}),
    ...(s.rpc !== undefined ? { rpc: s.rpc } : {}),
    ...(s.healthy !== undefined ? { healthy: s.healthy } : {}),
  }));
}

// Most endpoints one node may announce.
const MAX_ENDPOINTS = 8;

// Longer than any valid endpoint (a 253-character name, brackets, a port): refused unparsed.
const MAX_ENDPOINT_CHARS = 300;

/**
 * Endpoints as `--advertise` takes them (`IPv4:PORT`, `[IPv6]:PORT` or `NAME:PORT`, port 1 to
 * 65535, none twice), at most 8, in their canonical spelling; null when
 * anything is off.
 */
export function validEndpoints(v: unknown): string[] | null {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > MAX_ENDPOINTS) return null;
  const out: string[] = [];
  for (const e of v) {
    if (typeof e !== "string" || e.length > MAX_ENDPOINT_CHARS) return null;
    let canonical: string;
    try {
      canonical = formatHostPort(parseHostPort(e));
    } catch {
      return null;
    }
    if (out.includes(canonical)) return null;
    out.push(canonical);
  }
  return out;
}

/**
 * A member's `relay` flag from the wire: `true` stays, `false` or absent is no flag (undefined);
 * null when it is not a boolean.
 */
export function validRelay(v: unknown): true | undefined | null {
  if (v === undefined || v === false) return undefined;
  return v === true ? true : null;
}

/** A member's `tcpPort` from the wire: a port 1 to 65535, or absent (undefined); null if not. */
export function validTcpPort(v: unknown): number | undefined | null {
  if (v === undefined) return undefined;
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535 ? v as number : null;
}
