/**
 * Checks what nodes send the leader (in join requests and hellos) before it enters the
 * membership every node serves: labels and services from the wire are untrusted input.
 * @module
 */

import type { ServiceSpec } from "./member.ts";
import { labelsProblem } from "./labels.ts";

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function u16(v: unknown): boolean {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 65535;
}

/** Labels as string pairs with valid keys and values (the shared label check); null if not. */
export function validLabels(v: unknown): Record<string, string> | null {
  if (v === undefined) return {};
  if (labelsProblem(v) !== undefined) return null;
  return { ...(v as Record<string, string>) };
}

/** Services with DNS-label names, real ports and protocols; null when anything is off. */
export function validServices(v: unknown): ServiceSpec[] | null {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 64) return null;
  const out: ServiceSpec[] = [];
  for (const s of v) {
    if (typeof s !== "object" || s === null) return null;
    const o = s as Record<string, unknown>;
    if (typeof o.name !== "string" || !LABEL.test(o.name)) return null;
    if (!u16(o.port) || o.port === 0) return null;
    if (o.protocol !== "tcp" && o.protocol !== "udp") return null;
    if (o.weight !== undefined && !u16(o.weight)) return null;
    if (o.priority !== undefined && !u16(o.priority)) return null;
    const labels = validLabels(o.labels);
    if (labels === null) return null;
    out.push({
      name: o.name,
      port: o.port as number,
      protocol: o.protocol,
      ...(o.weight !== undefined ? { weight: o.weight as number } : {}),
      ...(o.priority !== undefined ? { priority: o.priority as number } : {}),
      ...(o.labels !== undefined ? { labels } : {}),
    });
  }
  return out;
}

/** Endpoints as `host:port` strings, at most 8; null when anything is off. */
export function validEndpoints(v: unknown): string[] | null {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 8) return null;
  for (const e of v) {
    if (typeof e !== "string" || e.length > 300 || !/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(e)) {
      return null;
    }
  }
  return v as string[];
}
