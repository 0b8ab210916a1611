/**
 * Checks for the small text values an agent configuration holds: DNS names, Linux interface
 * names, Kubernetes-style labels and `HOST:PORT` pairs. Each `...Problem` function returns what
 * is wrong as a phrase, or undefined when the value is fine, so callers can add their own
 * location to the message.
 * @module
 */

import { parseAddressV6 } from "../net/ip.ts";
import { isIPv4, isIPv6 } from "./wgquick.ts";

const DNS_LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Whether `text` is one lowercase RFC 1123 DNS label: a-z, 0-9 and inner `-`, 1 to 63 long. */
export function isDnsLabel(text: string): boolean {
  return DNS_LABEL_RE.test(text);
}

/** What is wrong with `text` as a single DNS label (case is checked by the caller). */
export function dnsLabelProblem(text: string): string | undefined {
  if (text === "") return "is empty";
  if (text.length > 63) return `is ${text.length} characters long (at most 63)`;
  if (text.includes(".")) return "must be a single label, without dots";
  if (!/^[a-z0-9-]+$/.test(text)) return "may only hold letters, digits and '-'";
  if (text.startsWith("-") || text.endsWith("-")) return "must not start or end with '-'";
  return undefined;
}

/**
 * Turns a machine host name into a DNS label: the first dotted part, lowercased, with every run of
 * other characters replaced by one `-`, trimmed of `-` and cut to 63; `node` if nothing is left.
 */
export function sanitizeHostname(name: string): string {
  const first = name.trim().split(".")[0].toLowerCase();
  const label = first.replace(/[^a-z0-9]+/g, "-").slice(0, 63).replace(/^-+|-+$/g, "");
  return label === "" ? "node" : label;
}

/**
 * What is wrong with `text` as a DNS zone (lowercase labels separated by dots, an optional final
 * dot, at most 253 characters without it).
 */
export function dnsZoneProblem(text: string): string | undefined {
  const bare = text.endsWith(".") ? text.slice(0, -1) : text;
  if (bare === "") return "needs at least one label (the root zone is not allowed)";
  if (bare.length > 253) return `is ${bare.length} characters long (at most 253)`;
  for (const label of bare.split(".")) {
    if (label === "") return "has an empty label (two dots in a row)";
    const p = dnsLabelProblem(label);
    if (p !== undefined) return `label ${JSON.stringify(label)} ${p}`;
  }
  return undefined;
}

/**
 * What is wrong with `name` as a Linux network interface name. The kernel (dev_valid_name) takes
 * 1 to 15 bytes (IFNAMSIZ 16 with the NUL), not `.` or `..`, without `/`, `:` or whitespace; `%`
 * is refused too because the kernel treats it as a numbering template, and non-printable or
 * non-ASCII characters because they make names unreadable in `ip link`.
 */
export function interfaceNameProblem(name: string): string | undefined {
  if (name === "") return "is empty";
  if (name === "." || name === "..") return `cannot be ${JSON.stringify(name)}`;
  if (!/^[\x21-\x7e]+$/.test(name)) {
    return "may only hold printable ASCII characters without spaces";
  }
  const bad = /[/:%]/.exec(name);
  if (bad) return `must not contain ${JSON.stringify(bad[0])}`;
  if (name.length > 15) return `is ${name.length} characters long (Linux allows at most 15)`;
  return undefined;
}

const LABEL_NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/;

function labelNameProblem(text: string, what: string): string | undefined {
  if (text.length > 63) return `${what} is ${text.length} characters long (at most 63)`;
  if (!LABEL_NAME_RE.test(text)) {
    return `${what} must start and end with a letter or digit and hold only letters, digits, ` +
      "'-', '_' and '.'";
  }
  return undefined;
}

/**
 * What is wrong with `key` as a Kubernetes label key: an optional DNS subdomain prefix (lowercase,
 * at most 253 characters) and `/`, then a name of 1 to 63 letters, digits, `-`, `_` and `.` that
 * starts and ends with a letter or digit.
 */
export function labelKeyProblem(key: string): string | undefined {
  if (key === "") return "the key is empty";
  const slash = key.indexOf("/");
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    const p = prefix === "" ? "is empty" : dnsZoneProblem(prefix);
    if (p !== undefined || prefix.endsWith(".")) {
      return `the key prefix ${JSON.stringify(prefix)} ${p ?? "must not end with '.'"}`;
    }
    if (prefix.length > 253) return "the key prefix is longer than 253 characters";
    const name = key.slice(slash + 1);
    if (name === "") return "the key has an empty name after '/'";
    return labelNameProblem(name, "the key name");
  }
  return labelNameProblem(key, "the key");
}

/** What is wrong with `value` as a Kubernetes label value: empty, or like a key's name part. */
export function labelValueProblem(value: string): string | undefined {
  return value === "" ? undefined : labelNameProblem(value, "the value");
}

/** What is wrong with `key=value` as a label, or undefined. */
export function labelPairProblem(key: string, value: string): string | undefined {
  return labelKeyProblem(key) ?? labelValueProblem(value);
}

/** Most labels one node, token or service may carry. */
export const MAX_LABELS = 64;

/**
 * What is wrong with `labels` as a label mapping (an object of string values, at most
 * {@link MAX_LABELS}, each pair as `labelPairProblem` wants); the one check for labels from
 * flags, files, the control API and the wire.
 */
export function labelsProblem(labels: unknown): string | undefined {
  if (typeof labels !== "object" || labels === null || Array.isArray(labels)) {
    return "labels must be an object of strings";
  }
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) {
    return `there are ${entries.length} labels (at most ${MAX_LABELS})`;
  }
  for (const [k, v] of entries) {
    if (typeof v !== "string") return `label ${quote(k)} must be a string`;
    const p = labelPairProblem(k, v);
    if (p !== undefined) return `invalid label ${quote(`${k}=${v}`)}: ${p}`;
  }
  return undefined;
}

/** Most characters of a value an error message repeats. */
const QUOTE_CHARS = 64;

/**
 * `text` quoted for an error message, cut to its first 64 characters (with the full length
 * said) so that a huge value is never echoed whole.
 */
export function quote(text: string, max = QUOTE_CHARS): string {
  if (text.length <= max) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, max))}... (${text.length} characters)`;
}

/** `text` for an error message, unquoted, cut as {@link quote} cuts it. */
export function clip(text: string, max = QUOTE_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length} characters)`;
}

/** A `HOST:PORT` pair. */
export interface HostPort {
  /** An IPv4 address, an IPv6 address (no brackets) or a DNS host name, lowercased. */
  host: string;
  /** The port number. */
  port: number;
}

/**
 * Parses `HOST:PORT` where HOST is an IPv4 address, `[IPv6]` or a DNS name and PORT an integer
 * from `minPort` to 65535. Throws an Error whose message says what is wrong.
 */
export function parseHostPort(text: string, minPort = 1): HostPort {
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") {
      throw new Error(`${quote(text)} is not [IPV6]:PORT`);
    }
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!isIPv6(host)) throw new Error(`${quote(host)} is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) throw new Error(`${quote(text)} has no port: expected HOST:PORT`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(":")) {
      throw new Error(`IPv6 addresses need brackets, as in [${host}]:${portText}`);
    }
    if (!isIPv4(host) && !isDnsName(host)) {
      throw new Error(`${quote(host)} is not an IP address or a host name`);
    }
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < minPort || Number(portText) > 65535) {
    throw new Error(`bad port ${JSON.stringify(portText)} (${minPort} to 65535)`);
  }
  return { host: host.toLowerCase(), port: Number(portText) };
}

/** Writes a `HostPort` back as text, with brackets around an IPv6 address. */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

function isDnsName(host: string): boolean {
  // All-digit dotted names are mistyped IPv4 addresses, not names.
  return !/^[0-9.]+$/.test(host) && dnsZoneProblem(host.toLowerCase()) === undefined;
}

/** Whether `host` only reaches this machine: 127.0.0.0/8, ::1 or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost" || h === "localhost.") return true;
  if (isIPv4(h)) return h.startsWith("127.");
  const bytes = parseAddressV6(h);
  return bytes !== null && bytes.every((b, i) => b === (i === 15 ? 1 : 0));
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The known name `word` was most likely meant to be, or undefined: matches after folding case,
 * `_` to `-` and camelCase to kebab-case, then the closest name within a few edits.
 */
export function didYouMean(word: string, known: readonly string[]): string | undefined {
  const folded = word.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase().replace(/[_ ]/g, "-");
  for (const k of known) {
    if (k === folded || k === `${folded}s` || `${k}s` === folded) return k;
  }
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(3, Math.floor(folded.length / 3)));
  for (const k of known) {
    const d = editDistance(folded, k);
    if (d <= bestDistance && (best === undefined || d < bestDistance)) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}
