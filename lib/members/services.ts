/**
 * The rules for services a member offers, in one place for every way one arrives: the
 * `--service name:port/proto` flag, the `services:` list of the file (whose field-by-field
 * checks use the same rules) and the join requests and hellos nodes send.
 * @module
 */

import { dnsLabelProblem } from "../net/names.ts";
import { quote } from "../text/quote.ts";
import { labelsProblem } from "./labels.ts";
import type { ServiceSpec } from "./member.ts";

/** The transport protocols a service may use. */
export const SERVICE_PROTOCOLS = ["tcp", "udp"] as const;

/** Most services one node may announce in a join request or a hello. */
export const MAX_SERVICES = 64;

/** What is wrong with `name` as a service name (one lowercase DNS label), or undefined. */
export function serviceNameProblem(name: string): string | undefined {
  return dnsLabelProblem(name);
}

/** The most service names one grant (a token, a member) lists. */
export const MAX_GRANTED_SERVICES = 64;

/**
 * What is wrong with `names` as the service names a token grants (each a valid service name,
 * none twice, at most {@link MAX_GRANTED_SERVICES}), or undefined.
 */
export function grantedServicesProblem(names: unknown): string | undefined {
  if (!Array.isArray(names)) return "services must be a list of service names";
  if (names.length > MAX_GRANTED_SERVICES) {
    return `at most ${MAX_GRANTED_SERVICES} services may be granted, not ${names.length}`;
  }
  const seen = new Set<string>();
  for (const n of names) {
    if (typeof n !== "string") return "services must be a list of service names";
    const p = serviceNameProblem(n);
    if (p !== undefined) return `service name ${JSON.stringify(n.slice(0, 64))} ${p}`;
    if (seen.has(n)) return `service ${JSON.stringify(n)} is given twice`;
    seen.add(n);
  }
  return undefined;
}

/** The key under which a service may be listed once: `name/protocol` (as its SRV record). */
export function serviceId(s: Pick<ServiceSpec, "name" | "protocol">): string {
  return `${s.name}/${s.protocol}`;
}

/**
 * Parses `name:port/protocol` (`web:8080/tcp`; the protocol defaults to tcp; name and protocol
 * in any case); throws an Error whose message names the text and what is wrong.
 */
export function parseServiceText(text: string): ServiceSpec {
  const m = /^([^:/]*):([^/]*)(?:\/(.*))?$/.exec(text.trim());
  const bad = (why: string) => new Error(`invalid service ${quote(text)}: ${why}`);
  if (!m) throw bad("expected NAME:PORT/PROTOCOL, as in web:8080/tcp");
  const name = m[1].toLowerCase();
  const p = serviceNameProblem(name);
  if (p !== undefined) throw bad(`the name ${p}`);
  if (!/^[0-9]{1,5}$/.test(m[2]) || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw bad(`bad port ${JSON.stringify(m[2])} (1 to 65535)`);
  }
  const protocol = (m[3] ?? "tcp").toLowerCase();
  if (protocol !== "tcp" && protocol !== "udp") {
    throw bad(`bad protocol ${JSON.stringify(m[3])} (tcp or udp)`);
  }
  return { name, port: Number(m[2]), protocol };
}

function u16(v: unknown): boolean {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 65535;
}

/**
 * What is wrong with `v` as a service in its stored form (a JSON object: lowercase name, port 1
 * to 65535, protocol tcp or udp, SRV weight and priority 0 to 65535, labels, and the service
 * layer's flags `rpc` and `healthy`, booleans), or undefined.
 */
export function serviceProblem(v: unknown): string | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "a service is an object";
  const o = v as Record<string, unknown>;
  if (typeof o.name !== "string") return "the name must be a string";
  const p = serviceNameProblem(o.name);
  if (p !== undefined) return `the name ${quote(o.name)} ${p}`;
  if (!u16(o.port) || o.port === 0) return "the port must be an integer from 1 to 65535";
  if (o.protocol !== "tcp" && o.protocol !== "udp") return "the protocol must be tcp or udp";
  // SRV weight and priority are 16-bit fields (RFC 2782).
  if (o.weight !== undefined && !u16(o.weight)) return "the weight must be 0 to 65535";
  if (o.priority !== undefined && !u16(o.priority)) return "the priority must be 0 to 65535";
  if (o.rpc !== undefined && typeof o.rpc !== "boolean") return "rpc must be true or false";
  if (o.healthy !== undefined && typeof o.healthy !== "boolean") {
    return "healthy must be true or false";
  }
  return o.labels === undefined ? undefined : labelsProblem(o.labels);
}

/**
 * What is wrong with `v` as a node's services: a list of at most {@link MAX_SERVICES}, each as
 * {@link serviceProblem} wants, none listed twice (same name and protocol); or undefined.
 */
export function servicesProblem(v: unknown): string | undefined {
  if (!Array.isArray(v)) return "services must be a list";
  if (v.length > MAX_SERVICES) return `there are ${v.length} services (at most ${MAX_SERVICES})`;
  const seen = new Set<string>();
  for (const [i, s] of v.entries()) {
    const p = serviceProblem(s);
    if (p !== undefined) return `service ${i}: ${p}`;
    const id = serviceId(s as ServiceSpec);
    if (seen.has(id)) return `service ${id} is listed twice`;
    seen.add(id);
  }
  return undefined;
}
