/**
 * The store's address as users write it, `etcd://HOST:PORT[,HOST:PORT...]`: parsed once at the
 * edge (flags, the YAML file) into {@link EtcdUrl}, the endpoints in the order they are tried.
 * @module
 */

import { formatHostPort, type HostPort, parseHostPort } from "../../lib/net/hostport.ts";
import { quote } from "../../lib/text/quote.ts";

/** The most endpoints one URL may name (etcd clusters have 3, 5 or 7 members). */
export const MAX_ENDPOINTS = 16;

/** A parsed `etcd://` URL. */
export interface EtcdUrl {
  /** The cluster's client endpoints, tried in this order; none repeated. */
  endpoints: HostPort[];
}

/**
 * Parses `etcd://HOST:PORT[,HOST:PORT...]` (IPv6 in brackets, host names allowed, no path,
 * no user). Throws an Error that says what is wrong.
 */
export function parseEtcdUrl(text: string): EtcdUrl {
  const bad = (why: string) => new Error(`bad store URL ${quote(text)}: ${why}`);
  const scheme = "etcd://";
  if (!text.toLowerCase().startsWith(scheme)) {
    throw bad("expected etcd://HOST:PORT[,HOST:PORT...]");
  }
  const rest = text.slice(scheme.length).replace(/\/$/, "");
  if (rest === "") throw bad("no endpoint: expected etcd://HOST:PORT[,HOST:PORT...]");
  if (/[/?#@\s]/.test(rest)) {
    throw bad("only HOST:PORT endpoints separated by commas (no path, query or user)");
  }
  const parts = rest.split(",");
  if (parts.length > MAX_ENDPOINTS) throw bad(`more than ${MAX_ENDPOINTS} endpoints`);
  const endpoints: HostPort[] = [];
  const seen = new Set<string>();
  for (const part of parts) {
    if (part === "") throw bad("an empty endpoint (two commas, or one at an end)");
    let hp: HostPort;
    try {
      hp = parseHostPort(part);
    } catch (e) {
      throw bad((e as Error).message);
    }
    const key = formatHostPort(hp);
    if (seen.has(key)) throw bad(`${key} is named twice`);
    seen.add(key);
    endpoints.push(hp);
  }
  return { endpoints };
}

/** Writes an {@link EtcdUrl} back as `etcd://HOST:PORT,...`. */
export function formatEtcdUrl(url: EtcdUrl): string {
  return `etcd://${url.endpoints.map(formatHostPort).join(",")}`;
}
