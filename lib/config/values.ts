/**
 * Parsers for option values of weft's own kinds: overlay networks, endpoints, DNS labels,
 * directories, labels and services (with their HTTP backends and health checks), from the file or
 * a flag, and the `--label`, `--service`, `--service-http`, `--service-check` and
 * `--service-caller-limit` argument parsers. Each checks with the one rule its kind has in lib/net or lib/members.
 * @module
 */

import { join, resolve } from "node:path";
import { ConfigError } from "./config_error.ts";
import { describe, fail, type Input } from "./input.ts";
import {
  duration,
  integer,
  listOf,
  oneOf,
  type Parser,
  string,
  text,
  unknownKey,
} from "./combinators.ts";
import { clip, quote } from "../text/quote.ts";
import { dnsLabelProblem } from "../net/names.ts";
import { formatHostPort, parseHostPort } from "../net/hostport.ts";
import { Cidr } from "../net/cidr.ts";
import { MAX_ROUTES, parseRoute } from "../routes/prefixes.ts";
import { type DnsRoute, parseDnsRoute } from "../net/dns_route.ts";
import { formatAddress, parseAddress } from "../net/ip.ts";
import { type LabelPair, labelPairProblem, MAX_LABELS, parseLabelText } from "../members/labels.ts";
import {
  parseServiceText,
  SERVICE_PROTOCOLS,
  serviceId,
  serviceNameProblem,
} from "../members/services.ts";
import type { ServiceSpec } from "../members/member.ts";
import {
  callerLimit,
  type CallerLimitSpec,
  type HttpBackendSpec,
  parseCallerLimit,
  parseServiceCheck,
  parseServiceHttp,
  type ServiceCheckSpec,
} from "../members/service_backends.ts";
import type { ConfiguredService, ServiceCheckEntry } from "./agent_types.ts";

/**
 * An overlay network of `family`: `address/bits` with bits from `minBits` to `maxBits` and no
 * host bits; stored canonical (`10.200.0.0/16`).
 */
export function cidr(family: 4 | 6, minBits: number, maxBits: number): Parser<string> {
  return text((s) => {
    if (!s.includes("/")) throw new Error(`${quote(s)} has no prefix length, as in /16`);
    const c = Cidr.parse(s);
    if (c.family !== family) throw new Error(`${quote(s)} is not an IPv${family} prefix`);
    if (c.bits < minBits || c.bits > maxBits) {
      throw new Error(`prefix length /${c.bits} is outside /${minBits} to /${maxBits}`);
    }
    if (c.hasHostBits) {
      throw new Error(`${quote(s)} has host bits set; did you mean ${c}?`);
    }
    return c.toString();
  });
}

/**
 * `--advertise-routes` values: subnet routes (lib/routes/prefixes.ts), canonical, sorted, none
 * twice, at most 64.
 */
export const routeList: Parser<string[]> = (input, ctx) => {
  const list = listOf(text((s) => parseRoute(s.trim())))(input, ctx);
  list.forEach((r, i) => {
    if (list.indexOf(r) !== i) {
      fail(input.kind === "seq" ? input.items[i] : input, `${r} is listed twice`);
    }
  });
  if (list.length > MAX_ROUTES) fail(input, `at most ${MAX_ROUTES} routes, not ${list.length}`);
  return list.sort();
};

/** `--dns-route` values: split DNS routes (lib/net/dns_route.ts), no domain twice. */
export const dnsRouteList: Parser<DnsRoute[]> = (input, ctx) => {
  const list = listOf(text((s) => parseDnsRoute(s)))(input, ctx);
  list.forEach((r, i) => {
    if (list.findIndex((x) => x.domain === r.domain) !== i) {
      fail(input.kind === "seq" ? input.items[i] : input, `${r.domain} is routed twice`);
    }
  });
  return list;
};

/** `HOST:PORT` with a port from `minPort`, stored canonical (lowercase, IPv6 in brackets). */
export function hostPort(minPort: number): Parser<string> {
  return text((s) => formatHostPort(parseHostPort(s.trim(), { minPort })));
}

/** One DNS label, in any case and with spaces around; stored lowercase. */
export function dnsLabel(s: string): string {
  const v = s.trim().toLowerCase();
  const p = dnsLabelProblem(v);
  if (p !== undefined) throw new Error(`${quote(s)} ${p}`);
  return v;
}

/** A directory: `~/` expanded, relative paths against the file's directory or the cwd. */
export const directory: Parser<string> = text((s, input, ctx) => {
  if (s.trim() === "") throw new Error("the path is empty");
  if (s.includes("\0")) throw new Error("the path contains a NUL character");
  let p = s;
  if (p === "~" || p.startsWith("~/")) {
    const home = ctx.sys.home;
    if (home === undefined || home === "") return fail(input, "~ needs $HOME, which is not set");
    p = join(home, p.slice(1));
  }
  return resolve(ctx.baseDir, p);
});

/** A mapping of labels (at most 64, Kubernetes syntax); YAML numbers and booleans as text. */
export const labelMap: Parser<Record<string, string>> = (input) => {
  if (input.kind !== "map") {
    return fail(input, `expected a mapping of label keys to values, got ${describe(input)}`);
  }
  if (input.entries.length > MAX_LABELS) {
    return fail(input, `${input.entries.length} labels (at most ${MAX_LABELS})`);
  }
  const out: Record<string, string> = {};
  for (const e of input.entries) {
    const v = e.value;
    if (v.kind !== "scalar" || v.value === null || v.value === undefined) {
      return fail(v, `expected a label value, got ${describe(v)}`);
    }
    // `tier: 1` is a number to YAML but plainly meant as the label text "1".
    const value = typeof v.value === "string"
      ? v.value
      : typeof v.value === "number" || typeof v.value === "boolean"
      ? v.text ?? String(v.value)
      : fail(v, `expected a label value, got ${describe(v)}`);
    const p = labelPairProblem(e.key, value);
    if (p !== undefined) {
      throw new ConfigError(
        `${input.path}: invalid label ${clip(`${e.key}=${value}`)}: ${p}`,
        e.where,
      );
    }
    out[e.key] = value;
  }
  return out;
};

const SERVICE_KEYS = [
  "name",
  "port",
  "protocol",
  "weight",
  "priority",
  "labels",
  "http",
  "check",
] as const;
const CHECK_KEYS = ["target", "interval", "timeout", "rise", "fall"] as const;

/** A service name: the rule of lib/members/services.ts, in any case; stored lowercase. */
function serviceName(s: string): string {
  const v = s.trim().toLowerCase();
  const p = serviceNameProblem(v);
  if (p !== undefined) throw new Error(`${quote(s)} ${p}`);
  return v;
}

/**
 * A service's health check in its entry: the text a flag takes without the name
 * (`tcp://127.0.0.1:8080,interval=2s`), or a mapping of target, interval, timeout, rise, fall.
 */
function serviceCheck(name: string): Parser<ServiceCheckSpec> {
  return (input, ctx) => {
    if (input.kind !== "map") {
      return text((s) => parseServiceCheck(`${name}=${s}`).check)(input, ctx);
    }
    const fields = new Map<string, Input>();
    for (const e of input.entries) {
      if (!(CHECK_KEYS as readonly string[]).includes(e.key)) {
        throw new ConfigError(unknownKey(input.path, e.key, CHECK_KEYS), e.where);
      }
      fields.set(e.key, e.value);
    }
    const target = fields.get("target");
    if (target === undefined) {
      return fail(input, "a check needs a target (tcp://HOST:PORT or a URL)");
    }
    const check = text((s) => {
      if (s.includes(",")) throw new Error(`${quote(s)}: a target has no commas`);
      return parseServiceCheck(`${name}=${s}`).check;
    })(target, ctx);
    // The bounds of the text form (health_check.ts).
    const interval = fields.get("interval");
    const timeout = fields.get("timeout");
    const rise = fields.get("rise");
    const fall = fields.get("fall");
    if (interval !== undefined) check.intervalMs = duration(100, 3_600_000)(interval, ctx);
    if (timeout !== undefined) check.timeoutMs = duration(100, 3_600_000)(timeout, ctx);
    if (rise !== undefined) check.rise = integer(1, 99)(rise, ctx);
    if (fall !== undefined) check.fall = integer(1, 99)(fall, ctx);
    return check;
  };
}

/**
 * One service as a mapping: name, port, protocol (default tcp), and optional SRV weight and
 * priority and labels, an HTTP backend (`http:`, a base URL) and a health check (`check:`); each
 * field checked as lib/members/services.ts (or lib/services, for `http` and `check`) checks it,
 * at its line.
 */
export const service: Parser<ConfiguredService> = (input, ctx) => {
  if (input.kind !== "map") {
    return fail(input, `expected a mapping with name, port and protocol, got ${describe(input)}`);
  }
  const fields = new Map<string, Input>();
  for (const e of input.entries) {
    if (!(SERVICE_KEYS as readonly string[]).includes(e.key)) {
      throw new ConfigError(unknownKey(input.path, e.key, SERVICE_KEYS), e.where);
    }
    fields.set(e.key, e.value);
  }
  const name = fields.get("name");
  const port = fields.get("port");
  if (name === undefined) return fail(input, "a service needs a name");
  if (port === undefined) return fail(input, "a service needs a port");
  const spec: ConfiguredService = {
    name: text(serviceName)(name, ctx),
    port: integer(1, 65535)(port, ctx),
    protocol: fields.has("protocol")
      ? oneOf(SERVICE_PROTOCOLS)(fields.get("protocol")!, ctx)
      : "tcp",
  };
  const weight = fields.get("weight");
  const priority = fields.get("priority");
  const labels = fields.get("labels");
  const http = fields.get("http");
  const check = fields.get("check");
  // SRV weight and priority are 16-bit fields (RFC 2782).
  if (weight !== undefined) spec.weight = integer(0, 65535)(weight, ctx);
  if (priority !== undefined) spec.priority = integer(0, 65535)(priority, ctx);
  if (labels !== undefined) spec.labels = labelMap(labels, ctx);
  if (http !== undefined) {
    const b = text((s) => parseServiceHttp(`${spec.name}=${s}`))(http, ctx);
    spec.http = b.url;
    if (b.actions) spec.httpActions = b.actions;
  }
  if (check !== undefined) spec.check = serviceCheck(spec.name)(check, ctx);
  return spec;
};

/**
 * A list of services, none listed twice (same name and protocol), and no service with two HTTP
 * backends or two checks (one name listed for tcp and udp carries each once).
 */
export const serviceList: Parser<ConfiguredService[]> = (input, ctx) => {
  const list = listOf(service)(input, ctx);
  const seen = new Set<string>();
  const http = new Set<string>();
  const checked = new Set<string>();
  list.forEach((s, i) => {
    const item = input.kind === "seq" ? input.items[i] : input;
    const id = serviceId(s);
    if (seen.has(id)) fail(item, `service ${id} is listed twice`);
    seen.add(id);
    if (s.http !== undefined) {
      if (http.has(s.name)) fail(item, `service ${s.name} has an HTTP backend already`);
      http.add(s.name);
    }
    if (s.check !== undefined) {
      if (checked.has(s.name)) fail(item, `service ${s.name} has a check already`);
      checked.add(s.name);
    }
  });
  return list;
};

/** A list of flag texts (one flag given once is one text), each through `parse`. */
function flagTexts<T>(
  parse: (text: string) => T,
  nameOf: (v: T) => string,
): Parser<T[]> {
  return (input) => {
    const items = input.kind === "seq" ? input.items : [input];
    const seen = new Set<string>();
    return items.map((item) => {
      const s = string(item);
      let v: T;
      try {
        v = parse(s.trim());
      } catch (e) {
        throw new ConfigError(`${input.path}: ${(e as Error).message}`, item.where);
      }
      const name = nameOf(v);
      if (seen.has(name)) {
        throw new ConfigError(`${input.path}: service ${name} is given twice`, item.where);
      }
      seen.add(name);
      return v;
    });
  };
}

/** `--service-http NAME=URL` values (lib/members/service_backends.ts), one per service. */
export const serviceHttpList: Parser<HttpBackendSpec[]> = flagTexts(
  parseServiceHttp,
  (v) => v.name,
);

/** `--service-check NAME=TARGET[,key=value...]` values (lib/members/service_backends.ts), one per service. */
export const serviceCheckList: Parser<ServiceCheckEntry[]> = flagTexts(
  parseServiceCheck,
  (v) => v.service,
);

const CALLER_LIMIT_KEYS = ["rate", "burst", "concurrent"] as const;

/**
 * `--service-caller-limit` / `service-caller-limit:`: the text `RATE[,burst=N][,concurrent=N]`,
 * a YAML number (the rate), or a mapping of rate, burst and concurrent (parseCallerLimit's
 * bounds and defaults, lib/members/service_backends.ts).
 */
export const callerLimitSetting: Parser<CallerLimitSpec> = (input, ctx) => {
  if (input.kind === "scalar" && typeof input.value === "number") {
    return text(() => parseCallerLimit(String(input.value)))(
      { ...input, value: String(input.value) },
      ctx,
    );
  }
  if (input.kind !== "map") return text(parseCallerLimit)(input, ctx);
  const fields = new Map<string, Input>();
  for (const e of input.entries) {
    if (!(CALLER_LIMIT_KEYS as readonly string[]).includes(e.key)) {
      throw new ConfigError(unknownKey(input.path, e.key, CALLER_LIMIT_KEYS), e.where);
    }
    fields.set(e.key, e.value);
  }
  const rate = fields.get("rate");
  if (rate === undefined) return fail(input, "a caller limit needs a rate (calls a second)");
  const burst = fields.get("burst");
  const concurrent = fields.get("concurrent");
  return callerLimit(
    integer(1, 1_000_000)(rate, ctx),
    burst === undefined ? undefined : integer(1, 10_000_000)(burst, ctx),
    concurrent === undefined ? undefined : integer(1, 4096)(concurrent, ctx),
  );
};

/** A list of `HOST:PORT` endpoints (port 1 to 65535), none listed twice. */
export const endpointList: Parser<string[]> = (input, ctx) => {
  const list = listOf(hostPort(1))(input, ctx);
  list.forEach((ep, i) => {
    if (list.indexOf(ep) !== i) {
      fail(input.kind === "seq" ? input.items[i] : input, `${ep} is listed twice`);
    }
  });
  return list;
};

/**
 * A member named by its name (a DNS label, lower-cased) or overlay address (normalised), from
 * its text; throws what is wrong with it.
 */
export function peerRefText(s: string): string {
  const v = s.trim();
  const ip = parseAddress(v);
  if (ip !== null) return formatAddress(ip);
  return dnsLabel(v);
}

/** A member named by its name (a DNS label, lower-cased) or overlay address (normalised). */
export const peerRef: Parser<string> = text(peerRefText);

/** `--keep-peer` values: names or addresses, none twice. */
export const peerList: Parser<string[]> = (input, ctx) => {
  const list = listOf(peerRef)(input, ctx);
  list.forEach((p, i) => {
    if (list.indexOf(p) !== i) {
      fail(input.kind === "seq" ? input.items[i] : input, `${p} is listed twice`);
    }
  });
  return list;
};

/** `--label` values (texts or {@link parseLabel} results) as a mapping; no key twice. */
export function labelsFromFlag(value: unknown, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of Array.isArray(value) ? value : [value]) {
    let pair: LabelPair;
    if (typeof item === "string") {
      try {
        pair = parseLabel(item);
      } catch (e) {
        throw new ConfigError(`${flag}: ${(e as ConfigError).reason ?? (e as Error).message}`);
      }
    } else if (isLabelPair(item)) {
      pair = item;
    } else {
      throw new TypeError(`${flag}: expected "k=v" texts or parseLabel results`);
    }
    if (Object.hasOwn(out, pair.key)) {
      throw new ConfigError(`${flag}: label ${JSON.stringify(pair.key)} is given twice`);
    }
    out[pair.key] = pair.value;
  }
  return out;
}

function isLabelPair(v: unknown): v is LabelPair {
  return typeof v === "object" && v !== null && typeof (v as LabelPair).key === "string" &&
    typeof (v as LabelPair).value === "string";
}

/** `--service` values (texts or {@link parseService} results) as the list `services:` holds. */
export function servicesFromFlag(value: unknown, flag: string): unknown[] {
  return (Array.isArray(value) ? value : [value]).map((item) => {
    if (typeof item !== "string") return item;
    try {
      return parseService(item);
    } catch (e) {
      throw new ConfigError(`${flag}: ${(e as ConfigError).reason ?? (e as Error).message}`);
    }
  });
}

/**
 * Parses a `--label` argument `key=value` (Kubernetes label syntax) with
 * lib/members/labels.ts; throws a ConfigError.
 */
export function parseLabel(text: string): LabelPair {
  try {
    return parseLabelText(text);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
}

/**
 * Parses a `--service` argument `name:port/protocol` (`web:8080/tcp`; the protocol defaults to
 * tcp) with lib/members/services.ts; throws a ConfigError.
 */
export function parseService(text: string): ServiceSpec {
  try {
    return parseServiceText(text);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
}
