/**
 * The text forms of what a node does with the services it offers, beside the rules for the
 * services themselves (services.ts): an HTTP backend (`NAME=URL`, `--service-http`) and a
 * health check (`NAME=TARGET[,key=value...]`, `--service-check`). The configuration reads them
 * here; the service layer (lib/services) runs them.
 *
 * Check text: `NAME=TARGET[,interval=5s][,timeout=2s][,rise=2][,fall=3]` where TARGET is
 * `tcp://HOST:PORT` or an `http://` or `https://` URL (a 2xx or 3xx answer to a GET passes). The
 * URL may not contain a comma.
 * @module
 */

import { serviceNameProblem } from "./services.ts";
import { parseDuration } from "../text/duration.ts";
import { quote } from "../text/quote.ts";

/** A service backed by an HTTP server. */
export interface HttpBackendSpec {
  /** The service name. */
  name: string;
  /** The base URL (`http://127.0.0.1:8080`, or with a path prefix), no trailing slash. */
  url: string;
  /** The only actions callers may call (absent: any action name). */
  actions?: string[];
  /** The actions safe to run twice, which callers may retry elsewhere (`true`: all). */
  idempotent?: string[] | true;
}

/** Action names as the service layer takes them (1 to 64 of `A-Z a-z 0-9 _ . -`, not `.`/`..`). */
const ACTION_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Parses `NAME=URL[,actions=A|B...][,idempotent=A|B...]`
 * (`api=http://127.0.0.1:8080,actions=get|put,idempotent=get`): a service name, an http or
 * https URL without query, fragment, credentials or comma, optionally the only actions callers
 * may call (any other is refused before a request is made), and the actions safe to run twice
 * (`idempotent=*`: all), which callers then retry elsewhere after a timeout or failure. Throws
 * an Error naming the text and what is wrong.
 *
 * @example
 * ```ts run
 * import { parseServiceHttp } from "@weft/weft/services";
 * console.log(parseServiceHttp("api=http://127.0.0.1:8080"));
 * // prints: { name: "api", url: "http://127.0.0.1:8080" }
 * ```
 */
export function parseServiceHttp(text: string): HttpBackendSpec {
  const bad = (why: string) => new Error(`invalid HTTP service ${quote(text)}: ${why}`);
  const eq = text.indexOf("=");
  if (eq < 0) throw bad("expected NAME=URL, as in api=http://127.0.0.1:8080");
  const name = text.slice(0, eq).trim().toLowerCase();
  const p = serviceNameProblem(name);
  if (p !== undefined) throw bad(`the name ${p}`);
  const [raw, ...opts] = text.slice(eq + 1).split(",");
  const spec: HttpBackendSpec = { name, url: backendUrl(raw.trim(), bad) };
  for (const o of opts) {
    const at = o.indexOf("=");
    const key = o.slice(0, at < 0 ? o.length : at).trim();
    if ((key !== "actions" && key !== "idempotent") || at < 0) {
      throw bad(`unknown option ${quote(o.trim())} (actions=A|B, idempotent=A|B)`);
    }
    if (spec[key]) throw bad(`${key} is given twice`);
    const value = o.slice(at + 1).trim();
    if (key === "idempotent" && value === "*") {
      spec.idempotent = true;
      continue;
    }
    const list = value.split("|").map((a) => a.trim());
    for (const a of list) {
      if (!ACTION_NAME.test(a) || a === "." || a === "..") {
        throw bad(`bad action name ${quote(a)} (1 to 64 of A-Z a-z 0-9 _ . -)`);
      }
    }
    spec[key] = [...new Set(list)];
  }
  return spec;
}

/** `raw` as a backend base URL (http or https, no credentials, query or fragment), no final slash. */
export function backendUrl(raw: string, bad: (why: string) => Error): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw bad(`${quote(raw)} is not a URL (as in http://127.0.0.1:8080)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw bad(`the URL must be http or https, not ${u.protocol.slice(0, -1)}`);
  }
  if (u.username || u.password) throw bad("the URL must not hold credentials");
  if (u.search || u.hash || raw.includes("?") || raw.includes("#")) {
    throw bad("the URL must not have a query or fragment (actions are added to its path)");
  }
  return u.href.replace(/\/+$/, "");
}

/** What is checked. */
export type CheckTarget =
  | { kind: "tcp"; host: string; port: number }
  | { kind: "http"; url: string };

/** A service's health check. */
export interface ServiceCheckSpec {
  /** The target. */
  target: CheckTarget;
  /** How often, ms. Default 5000. */
  intervalMs?: number;
  /** How long one check may take, ms. Default 2000. */
  timeoutMs?: number;
  /** Successes in a row that make an unhealthy service healthy. Default 2. */
  rise?: number;
  /** Failures in a row that make a healthy service unhealthy. Default 3. */
  fall?: number;
}

/**
 * Parses `NAME=TARGET[,key=value...]`; throws an Error naming the text and what is wrong.
 *
 * @example
 * ```ts run
 * import { parseServiceCheck } from "@weft/weft/services";
 * const { service, check } = parseServiceCheck("api=http://127.0.0.1:8080/health,fall=2");
 * console.log(service, check.target, check.fall);
 * // prints: api { kind: "http", url: "http://127.0.0.1:8080/health" } 2
 * ```
 */
export function parseServiceCheck(text: string): { service: string; check: ServiceCheckSpec } {
  const bad = (why: string) => new Error(`invalid service check ${quote(text)}: ${why}`);
  const [head, ...opts] = text.split(",");
  const eq = head.indexOf("=");
  if (eq < 0) throw bad("expected NAME=TARGET, as in api=tcp://127.0.0.1:8080");
  const service = head.slice(0, eq).trim().toLowerCase();
  const p = serviceNameProblem(service);
  if (p !== undefined) throw bad(`the name ${p}`);
  const check: ServiceCheckSpec = { target: parseTarget(head.slice(eq + 1).trim(), bad) };
  for (const o of opts) {
    const [k, v] = keyValue(o);
    if (v === "") throw bad(`expected KEY=VALUE, got ${quote(o)}`);
    if (k === "interval" || k === "timeout") {
      let ms: number;
      try {
        ms = parseDuration(v);
      } catch (e) {
        throw bad((e as Error).message);
      }
      if (!(ms >= 100 && ms <= 3_600_000)) throw bad(`the ${k} must be 100ms to 1h`);
      if (k === "interval") check.intervalMs = ms;
      else check.timeoutMs = ms;
    } else if (k === "rise" || k === "fall") {
      if (!/^[0-9]{1,2}$/.test(v) || Number(v) < 1) throw bad(`${k} must be 1 to 99`);
      check[k] = Number(v);
    } else throw bad(`unknown option ${quote(k)} (interval, timeout, rise, fall)`);
  }
  return { service, check };
}

function parseTarget(raw: string, bad: (why: string) => Error): CheckTarget {
  if (raw.startsWith("tcp://")) {
    const m = /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[^:/\[\]]+):([0-9]{1,5})$/.exec(raw);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      throw bad(`${quote(raw)} is not tcp://HOST:PORT`);
    }
    return { kind: "tcp", host: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2]) };
  }
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw bad(`${quote(raw)} is neither tcp://HOST:PORT nor an http(s) URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw bad(`the target must be tcp://, http:// or https://, not ${u.protocol}//`);
  }
  return { kind: "http", url: u.href };
}

/** What each caller may ask of this node's services (`--service-caller-limit`). */
export interface CallerLimitSpec {
  /** Calls a second in the long run. */
  ratePerSecond: number;
  /** Calls allowed at once after a quiet spell. */
  burst: number;
  /** Calls running at once for one caller. */
  maxConcurrent: number;
}

/** The limits per caller when none are set: 200 calls a second, bursts of 400, 32 at once. */
export const DEFAULT_CALLER_LIMIT: Readonly<CallerLimitSpec> = {
  ratePerSecond: 200,
  burst: 400,
  maxConcurrent: 32,
};

/** The bounds of each figure of a caller limit. */
export const CALLER_LIMIT_BOUNDS = {
  rate: [1, 1_000_000],
  burst: [1, 10_000_000],
  concurrent: [1, 4096],
} as const;

/**
 * A caller limit from its figures (`rate`, and `burst` defaulting to twice the rate and
 * `concurrent` to 32); throws an Error naming the figure out of bounds.
 */
export function callerLimit(
  rate: number,
  burst?: number,
  concurrent?: number,
): CallerLimitSpec {
  const check = (k: keyof typeof CALLER_LIMIT_BOUNDS, v: number) => {
    const [lo, hi] = CALLER_LIMIT_BOUNDS[k];
    if (!(Number.isInteger(v) && v >= lo && v <= hi)) {
      throw new Error(`${k} must be an integer from ${lo} to ${hi}, got ${v}`);
    }
    return v;
  };
  return {
    ratePerSecond: check("rate", rate),
    burst: check("burst", burst ?? Math.min(2 * rate, CALLER_LIMIT_BOUNDS.burst[1])),
    maxConcurrent: check("concurrent", concurrent ?? DEFAULT_CALLER_LIMIT.maxConcurrent),
  };
}

/**
 * Parses `RATE[,burst=N][,concurrent=N]` (calls a second per caller; bursts, default twice the
 * rate; calls at once, default 32); throws an Error naming the text and what is wrong.
 *
 * @example
 * ```ts run
 * import { parseCallerLimit } from "@weft/weft/services";
 * console.log(parseCallerLimit("1000,concurrent=64"));
 * // prints: { ratePerSecond: 1000, burst: 2000, maxConcurrent: 64 }
 * ```
 */
export function parseCallerLimit(text: string): CallerLimitSpec {
  const bad = (why: string) => new Error(`invalid caller limit ${quote(text)}: ${why}`);
  const [head, ...opts] = text.split(",").map((x) => x.trim());
  const int = (v: string, what: string) => {
    if (!/^[0-9]+$/.test(v)) throw bad(`${what} must be a whole number, got ${quote(v)}`);
    if (v.length > 9) throw bad(`${what} is too large: ${quote(v)}`);
    return Number(v);
  };
  if (head === "") throw bad("expected RATE[,burst=N][,concurrent=N], as in 500,burst=1000");
  const rate = int(head, "the rate (calls a second)");
  const named: { burst?: number; concurrent?: number } = {};
  for (const o of opts) {
    const [k, v] = keyValue(o);
    if (v === "") throw bad(`expected KEY=VALUE, got ${quote(o)}`);
    if (k !== "burst" && k !== "concurrent") {
      throw bad(`unknown option ${quote(k)} (burst, concurrent)`);
    }
    if (named[k] !== undefined) throw bad(`${k} is given twice`);
    named[k] = int(v, k);
  }
  try {
    return callerLimit(rate, named.burst, named.concurrent);
  } catch (e) {
    throw bad((e as Error).message);
  }
}

/**
 * An option's key and value, split at the first "=" and trimmed (the value "" when there is
 * none): what follows is the value, checked whole, so `interval=1s=2` is refused, not read as 1s.
 */
function keyValue(option: string): [string, string] {
  const eq = option.indexOf("=");
  return eq < 0 ? [option.trim(), ""] : [option.slice(0, eq).trim(), option.slice(eq + 1).trim()];
}
