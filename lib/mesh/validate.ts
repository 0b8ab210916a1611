/**
 * Checks what nodes send the leader (in join requests and hellos) before it enters the
 * membership every node serves: labels and services from the wire are untrusted input.
 * @module
 */

import type { ServiceSpec } from "./types.ts";

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?$/;

function u16(v: unknown): boolean {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 65535;
}

/** Labels as string pairs with sane keys and values; null when anything is off. */
export function validLabels(v: unknown): Record<string, string> | null {
  if (v === undefined) return {};
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const out: Record<string, string> = {};
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > 64) return null;
  for (const [k, val] of entries) {
    if (!KEY.test(k) || typeof val !== "string" || val.length > 63) return null;
    out[k] = val;
  }
  return out;
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
