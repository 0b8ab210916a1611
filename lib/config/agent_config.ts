/**
 * The configuration of `weft --leader` and `weft --join`: one table of options (flag, YAML key,
 * type, default, checks, description), and a loader that reads the YAML file, rejects unknown keys
 * and wrong types with the file and line, fills in defaults and lays the command-line flags over
 * the file.
 *
 * Naming rule: an option's YAML key is its flag without the leading dashes, so `--listen-port` is
 * `listen-port:`. The two repeatable flags that build a collection are singular and their keys
 * plural: `--label k=v` is `labels:` (a mapping), `--service web:80/tcp` is `services:` (a list).
 * `config` exists only as a flag and `policy` only in the file. In `AgentConfig` each option is
 * the camelCase form of its key (`listenPort`), which is also commander's attribute name for the
 * flag (`label` and `service` for the two repeatable ones).
 *
 * Precedence: a flag replaces the file's value of that option as a whole (repeatable flags replace
 * the whole list or mapping), and the file replaces the default. `--leader` or `--join` on the
 * command line replaces the run mode of the file: the file's `leader` and `join` are then ignored.
 * @module
 */

import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type YAMLError,
  type YAMLMap,
} from "yaml";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { ConfigError } from "./wgquick.ts";
import { clip, quote } from "../text/quote.ts";
import { didYouMean } from "../text/did_you_mean.ts";
import { parseDuration } from "../text/duration.ts";
import {
  dnsLabelProblem,
  dnsZoneProblem,
  interfaceNameProblem,
  sanitizeHostname,
} from "../net/names.ts";
import { formatHostPort, isLoopbackHost, parseHostPort } from "../net/hostport.ts";
import { labelPairProblem, MAX_LABELS } from "../members/labels.ts";
import { Cidr } from "../net/cidr.ts";
import { aliasBomb, MAX_ALIAS_EXPANSION } from "./yaml_aliases.ts";
import { InputTooLargeError, readFileBounded } from "./bounded_read.ts";
import { type LogFormat, type LogLevel, parseLogFormat, parseLogLevel } from "../log/logger.ts";
import { BACKEND_NAMES } from "../crypto/select.ts";
import type { BackendName } from "../crypto/types.ts";
import type { ServiceSpec } from "../members/member.ts";

/** The `policy` section of the file, untouched, with what is needed to point at its lines. */
export interface PolicySource {
  /** The configuration file as given, for messages. */
  file: string;
  /** The whole text of the file; node ranges are offsets into it. */
  text: string;
  /** The document, needed to resolve aliases inside `node` (`alias.resolve(doc)`). */
  doc: Document;
  /** The `policy:` mapping node (`node.range[0]` is its offset in `text`). */
  node: YAMLMap.Parsed;
  /** Turns an offset in `text` into a 1-based line: `lineCounter.linePos(offset).line`. */
  lineCounter: LineCounter;
  /** The 1-based line where the mapping starts. */
  line: number;
  /** The mapping as plain data, aliases resolved. */
  value: Record<string, unknown>;
}

/** Where an option's value came from. */
export interface OptionOrigin {
  /** `default`, `file` (the YAML file) or `flag` (the command line). */
  source: "default" | "file" | "flag";
  /** The configuration file, for `file`. */
  file?: string;
  /** The 1-based line of the key in the file, for `file`. */
  line?: number;
  /** The flag as typed, e.g. `--listen-port`, for `flag`. */
  flag?: string;
}

/** The validated configuration of an agent run with `--leader` or `--join`. */
export interface AgentConfig {
  /** Run as the leader (`--leader`). */
  leader: boolean;
  /** Join the mesh with this token (`--join`); non-empty, its shape is checked by the caller. */
  join?: string;
  /** The overlay IPv4 network, canonical (`10.200.0.0/16`). */
  cidr: string;
  /** The overlay IPv6 network, canonical, when the mesh has one. */
  cidr6?: string;
  /** The UDP port for WireGuard traffic; 0 picks any. */
  listenPort: number;
  /** The absolute directory for keys and state. */
  stateDir: string;
  /** The TUN interface name. */
  interface: string;
  /** Run without a TUN device. */
  userspace: boolean;
  /** This node's name in the mesh: one lowercase DNS label. */
  hostname: string;
  /** Underlay endpoints to announce, `HOST:PORT` (`[v6]:PORT`), in order. */
  advertise: string[];
  /** The status/control HTTP endpoint, `HOST:PORT` (`[v6]:PORT`). */
  statusListen: string;
  /** Allow `statusListen` on an address other than loopback. */
  statusAllowRemote: boolean;
  /** The configuration file read, as given. */
  config?: string;
  /** The log level. */
  logLevel: LogLevel;
  /** The log format. */
  logFormat: LogFormat;
  /** The crypto backend to force; undefined picks the fastest available. */
  crypto?: BackendName;
  /** This node's labels. */
  labels: Record<string, string>;
  /** Services this node offers. */
  services: ServiceSpec[];
  /** The overlay DNS server's UDP port; 0 turns it off. */
  dnsPort: number;
  /** The overlay DNS zone, lowercase, ending with a dot. */
  dnsZone: string;
  /** Forward queries outside the zone to the system resolvers. */
  dnsForward: boolean;
  /** Seconds between keepalives to peers; 0 turns them off. */
  persistentKeepalive: number;
  /** The TUN MTU. */
  mtu: number;
  /** Milliseconds between health probes to each peer. */
  probeInterval: number;
  /** The `policy` section of the file, for the policy module to validate. */
  policy?: PolicySource;
  /** Where each option's value came from. */
  origin: OptionOrigins;
}

/** The name of an option: a property of `AgentConfig`. */
export type OptionKey = Exclude<keyof AgentConfig, "origin">;

/** The origin of every option. */
export type OptionOrigins = { [K in OptionKey]: OptionOrigin };

/** A label as `parseLabel` returns it. */
export interface LabelPair {
  /** The label key, e.g. `role` or `example.com/tier`. */
  key: string;
  /** The value, possibly empty. */
  value: string;
}

/**
 * The flags given on the command line, by commander attribute name. Only flags the user set
 * should be present (see `userSetFlags`); undefined values are ignored.
 */
export interface AgentFlags {
  /** `--leader`. */
  leader?: boolean;
  /** `--join <token>`. */
  join?: string;
  /** `--cidr <cidr>`. */
  cidr?: string;
  /** `--cidr6 <cidr>`. */
  cidr6?: string;
  /** `--listen-port <port>`: a number, or its decimal text. */
  listenPort?: number | string;
  /** `--state-dir <dir>`. */
  stateDir?: string;
  /** `--interface <name>`. */
  interface?: string;
  /** `--userspace`. */
  userspace?: boolean;
  /** `--hostname <name>`. */
  hostname?: string;
  /** `--advertise <host:port>`, repeatable. */
  advertise?: string | string[];
  /** `--status-listen <host:port>`. */
  statusListen?: string;
  /** `--status-allow-remote`. */
  statusAllowRemote?: boolean;
  /** `--config <file>`. */
  config?: string;
  /** `--log-level <level>`. */
  logLevel?: string;
  /** `--log-format <format>`. */
  logFormat?: string;
  /** `--crypto <backend>`. */
  crypto?: string;
  /** `--label <k=v>`, repeatable: `k=v` texts or `parseLabel` results. */
  label?: string | LabelPair | (string | LabelPair)[];
  /** `--service <name:port/proto>`, repeatable: texts or `parseService` results. */
  service?: string | ServiceSpec | (string | ServiceSpec)[];
  /** `--dns-port <port>`. */
  dnsPort?: number | string;
  /** `--dns-zone <zone>`. */
  dnsZone?: string;
  /** `--dns-forward`. */
  dnsForward?: boolean;
  /** `--persistent-keepalive <seconds>`. */
  persistentKeepalive?: number | string;
  /** `--mtu <bytes>`. */
  mtu?: number | string;
  /** `--probe-interval <duration>`: `500ms`, `5s`, `1m`, or a number of seconds. */
  probeInterval?: number | string;
}

/** Facts about the machine that some defaults depend on; tests pass their own. */
export interface SystemInfo {
  /** The effective user id; null when unknown (treated as not root). */
  uid: number | null;
  /** `$HOME`. */
  home: string | undefined;
  /** `$XDG_STATE_HOME`. */
  xdgStateHome: string | undefined;
  /** The machine's host name, as the system reports it. */
  hostname: string;
  /** The working directory, against which relative paths from flags are resolved. */
  cwd: string;
}

/** The arguments of `loadAgentConfig`. */
export interface LoadAgentConfigOptions {
  /** The flags the user set; see `AgentFlags`. */
  flags?: AgentFlags;
  /** The YAML file to read; defaults to `flags.config`; no file when both are absent. */
  configPath?: string;
  /** Overrides for the machine facts used by defaults (for tests). */
  system?: Partial<SystemInfo>;
}

/** One row of the option table, for `--help` text and the README. */
export interface OptionHelp {
  /** The property of `AgentConfig`. */
  name: OptionKey;
  /** The flag, e.g. `--listen-port`; absent for options only the file can set. */
  flag?: string;
  /** The flag's argument, e.g. `<port>`; absent for switches. */
  arg?: string;
  /** Commander's attribute name for the flag (the key in `AgentFlags`). */
  attribute?: string;
  /** Whether the flag may be given more than once. */
  repeatable: boolean;
  /** The YAML key; absent for options only a flag can set. */
  yaml?: string;
  /** The value's type, e.g. `integer`, `list of HOST:PORT`. */
  type: string;
  /** The default, as text (`none` when unset). */
  default: string;
  /** What values are accepted. */
  validation: string;
  /** What the option does. */
  description: string;
}

// ---------------------------------------------------------------------------------------------
// Values as read from either source, with enough context to report where a bad one came from.

interface Where {
  file?: string;
  line?: number;
}

interface InputBase {
  /** What the message calls the value: `listen-port`, `services[1].port`, `--listen-port`. */
  path: string;
  where: Where;
  fromFlag: boolean;
}

interface ScalarInput extends InputBase {
  kind: "scalar";
  value: unknown;
  /** The text as written in YAML, before it became a number or boolean. */
  text?: string;
}

interface SeqInput extends InputBase {
  kind: "seq";
  items: Input[];
}

interface MapEntry {
  key: string;
  where: Where;
  value: Input;
}

interface MapInput extends InputBase {
  kind: "map";
  entries: MapEntry[];
}

type Input = ScalarInput | SeqInput | MapInput;

interface ParseContext {
  /** Relative paths are resolved against this directory. */
  baseDir: string;
  sys: SystemInfo;
}

interface YamlSource {
  file: string;
  text: string;
  doc: Document;
  lineCounter: LineCounter;
  aliases: number;
}

// Resolving aliases copies their target; a cap keeps a hostile file from exploding in size.
const MAX_ALIASES = 100;

function fail(input: Input, reason: string): never {
  throw new ConfigError(`${input.path}: ${reason}`, input.where);
}

function describe(input: Input): string {
  if (input.kind === "seq") return "a list";
  if (input.kind === "map") return "a mapping";
  const v = input.value;
  if (v === null || v === undefined) return "no value";
  // A flag's text is shown as typed unless quotes are needed to see where it starts and ends.
  if (typeof v === "string") return input.fromFlag && /^\S+$/.test(v) ? clip(v) : quote(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return v instanceof Uint8Array ? "binary data" : `a value of type ${typeof v}`;
}

type Parser<T> = (input: Input, ctx: ParseContext) => T;

function boolean(input: Input): boolean {
  if (input.kind === "scalar" && typeof input.value === "boolean") return input.value;
  return fail(input, `expected true or false, got ${describe(input)}`);
}

function integer(min: number, max: number): Parser<number> {
  return (input) => {
    if (input.kind === "scalar") {
      let v = input.value;
      // Flags arrive as text unless the CLI already parsed them.
      if (input.fromFlag && typeof v === "string" && /^\s*[0-9]+\s*$/.test(v)) v = Number(v);
      if (typeof v === "number" && Number.isInteger(v) && v >= min && v <= max) return v;
    }
    return fail(input, `expected an integer from ${min} to ${max}, got ${describe(input)}`);
  };
}

function string(input: Input): string {
  if (input.kind === "scalar" && typeof input.value === "string") return input.value;
  const hint = input.kind === "scalar" &&
      (typeof input.value === "number" || typeof input.value === "boolean")
    ? " (put it in quotes to make it a string)"
    : "";
  return fail(input, `expected a string, got ${describe(input)}${hint}`);
}

/** A string option whose text `convert` checks and normalises, throwing an Error if bad. */
function text<T>(convert: (s: string, input: Input, ctx: ParseContext) => T): Parser<T> {
  return (input, ctx) => {
    const s = string(input);
    try {
      return convert(s, input, ctx);
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      return fail(input, (e as Error).message);
    }
  };
}

function listOf<T>(item: Parser<T>): Parser<T[]> {
  return (input, ctx) => {
    if (input.kind !== "seq") return fail(input, `expected a list, got ${describe(input)}`);
    return input.items.map((i) => item(i, ctx));
  };
}

/**
 * A duration in ms from `500ms`, `5s`, `1m`, `1h` or a bare number of seconds (YAML `5`), kept
 * within `min`..`max` ms.
 */
function duration(minMs: number, maxMs: number): Parser<number> {
  return (input) => {
    let ms = NaN;
    // YAML reads `5` as a number: seconds, as a bare number is in text.
    if (input.kind === "scalar" && typeof input.value === "number") ms = input.value * 1000;
    if (input.kind === "scalar" && typeof input.value === "string") {
      try {
        ms = parseDuration(input.value);
      } catch {
        // Said below, with the range.
      }
    }
    if (ms >= minMs && ms <= maxMs) return ms;
    return fail(
      input,
      `expected a duration from ${minMs} ms to ${maxMs / 1000} s, as 500ms, 5s or 1m, ` +
        `got ${describe(input)}`,
    );
  };
}

function oneOf<T extends string>(names: readonly T[]): Parser<T> {
  return text((s) => {
    const v = s.trim().toLowerCase();
    if ((names as readonly string[]).includes(v)) return v as T;
    throw new Error(`expected one of ${names.join(", ")}, got ${quote(s)}`);
  });
}

function cidr(family: 4 | 6, minBits: number, maxBits: number): Parser<string> {
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

function hostPort(minPort: number): Parser<string> {
  return text((s) => formatHostPort(parseHostPort(s.trim(), { minPort })));
}

function dnsLabel(s: string): string {
  const v = s.trim().toLowerCase();
  const p = dnsLabelProblem(v);
  if (p !== undefined) throw new Error(`${quote(s)} ${p}`);
  return v;
}

const directory: Parser<string> = text((s, input, ctx) => {
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

const labelMap: Parser<Record<string, string>> = (input) => {
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

const SERVICE_KEYS = ["name", "port", "protocol", "weight", "priority", "labels"] as const;

function unknownKey(path: string | undefined, key: string, known: readonly string[]): string {
  const guess = didYouMean(key, known);
  const hint = guess === undefined ? "" : ` (did you mean ${JSON.stringify(guess)}?)`;
  return `${path === undefined ? "" : `${path}: `}unknown key ${JSON.stringify(key)}${hint}`;
}

const service: Parser<ServiceSpec> = (input, ctx) => {
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
  const spec: ServiceSpec = {
    name: text(dnsLabel)(name, ctx),
    port: integer(1, 65535)(port, ctx),
    protocol: fields.has("protocol")
      ? oneOf(["tcp", "udp"] as const)(fields.get("protocol")!, ctx)
      : "tcp",
  };
  const weight = fields.get("weight");
  const priority = fields.get("priority");
  const labels = fields.get("labels");
  // SRV weight and priority are 16-bit fields (RFC 2782).
  if (weight !== undefined) spec.weight = integer(0, 65535)(weight, ctx);
  if (priority !== undefined) spec.priority = integer(0, 65535)(priority, ctx);
  if (labels !== undefined) spec.labels = labelMap(labels, ctx);
  return spec;
};

const serviceList: Parser<ServiceSpec[]> = (input, ctx) => {
  const list = listOf(service)(input, ctx);
  const seen = new Set<string>();
  list.forEach((s, i) => {
    const id = `${s.name}/${s.protocol}`;
    if (seen.has(id)) {
      const item = input.kind === "seq" ? input.items[i] : input;
      fail(item, `service ${id} is listed twice`);
    }
    seen.add(id);
  });
  return list;
};

const endpointList: Parser<string[]> = (input, ctx) => {
  const list = listOf(hostPort(1))(input, ctx);
  list.forEach((ep, i) => {
    if (list.indexOf(ep) !== i) {
      fail(input.kind === "seq" ? input.items[i] : input, `${ep} is listed twice`);
    }
  });
  return list;
};

// ---------------------------------------------------------------------------------------------
// The option table.

interface OptionSpec<T> {
  flag?: string;
  arg?: string;
  attribute?: string;
  yaml?: string;
  repeatable?: boolean;
  type: string;
  default: string;
  validation: string;
  description: string;
  defaultValue(sys: SystemInfo): T;
  parse?: Parser<T>;
  /** For YAML-only options that keep the raw node. */
  parseNode?(node: unknown, y: YamlSource, where: Where): T;
  /** Brings a commander value to the shape `parse` reads from YAML. */
  fromFlag?(value: unknown, flag: string): unknown;
}

const none = () => undefined;

/** The default state directory for a user: /var/lib/weft for root, else under XDG state home. */
export function defaultStateDir(sys: Partial<SystemInfo> = {}): string {
  const s = liveSystem(sys);
  if (s.uid === 0) return "/var/lib/weft";
  const xdg = s.xdgStateHome;
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg !== undefined && isAbsolute(xdg)) return join(xdg, "weft");
  const home = s.home;
  if (home === undefined || home === "") {
    throw new ConfigError(
      "no default state directory: $HOME is not set; give --state-dir or state-dir in the file",
    );
  }
  return join(home, ".local", "state", "weft");
}

function labelsFromFlag(value: unknown, flag: string): Record<string, string> {
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

function servicesFromFlag(value: unknown, flag: string): unknown[] {
  return (Array.isArray(value) ? value : [value]).map((item) => {
    if (typeof item !== "string") return item;
    try {
      return parseService(item);
    } catch (e) {
      throw new ConfigError(`${flag}: ${(e as ConfigError).reason ?? (e as Error).message}`);
    }
  });
}

const OPTIONS: { readonly [K in OptionKey]: OptionSpec<AgentConfig[K]> } = {
  leader: {
    flag: "--leader",
    yaml: "leader",
    type: "boolean",
    default: "false",
    validation: "true or false; exactly one of leader and join",
    description: "run as the leader: create the mesh, hand out addresses and tokens",
    defaultValue: () => false,
    parse: boolean,
  },
  join: {
    flag: "--join",
    arg: "<token>",
    yaml: "join",
    type: "string",
    default: "none",
    validation: "a join token from `weft token create`",
    description: "join the mesh that issued this token",
    defaultValue: none,
    parse: text((s) => {
      if (s.trim() === "") throw new Error("the token is empty");
      return s.trim();
    }),
  },
  cidr: {
    flag: "--cidr",
    arg: "<cidr>",
    yaml: "cidr",
    type: "IPv4 CIDR",
    default: "10.200.0.0/16",
    validation: "an IPv4 network /8 to /30 without host bits",
    description: "the overlay network the leader allocates addresses from",
    defaultValue: () => "10.200.0.0/16",
    parse: cidr(4, 8, 30),
  },
  cidr6: {
    flag: "--cidr6",
    arg: "<cidr>",
    yaml: "cidr6",
    type: "IPv6 CIDR",
    default: "none",
    validation: "an IPv6 network /8 to /126 without host bits",
    description: "an IPv6 overlay network, allocated alongside the IPv4 one",
    defaultValue: none,
    parse: cidr(6, 8, 126),
  },
  listenPort: {
    flag: "--listen-port",
    arg: "<port>",
    yaml: "listen-port",
    type: "integer",
    default: "51820",
    validation: "0 to 65535 (0: any free port)",
    description: "the UDP port for encrypted traffic",
    defaultValue: () => 51820,
    parse: integer(0, 65535),
  },
  stateDir: {
    flag: "--state-dir",
    arg: "<dir>",
    yaml: "state-dir",
    type: "path",
    default: "/var/lib/weft as root, else $XDG_STATE_HOME/weft or ~/.local/state/weft",
    validation: "a directory; in the file, relative to the file; `~/` is expanded",
    description: "where keys, addresses and membership are kept",
    defaultValue: (sys) => defaultStateDir(sys),
    parse: directory,
  },
  interface: {
    flag: "--interface",
    arg: "<name>",
    yaml: "interface",
    type: "string",
    default: "weft0",
    validation: "a Linux interface name: 1 to 15 printable ASCII characters, no / : % or spaces",
    description: "the TUN interface name",
    defaultValue: () => "weft0",
    parse: text((s) => {
      const p = interfaceNameProblem(s);
      if (p !== undefined) throw new Error(`${quote(s)} ${p}`);
      return s;
    }),
  },
  userspace: {
    flag: "--userspace",
    yaml: "userspace",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "no TUN device: carry overlay traffic in-process (no root needed)",
    defaultValue: () => false,
    parse: boolean,
  },
  hostname: {
    flag: "--hostname",
    arg: "<name>",
    yaml: "hostname",
    type: "string",
    default: "the machine's host name, lowercased, as a DNS label",
    validation: "one DNS label: letters, digits and inner '-', up to 63; stored lowercase",
    description: "this node's name in the mesh and in overlay DNS",
    defaultValue: (sys) => sanitizeHostname(sys.hostname),
    parse: text(dnsLabel),
  },
  advertise: {
    flag: "--advertise",
    arg: "<host:port>",
    yaml: "advertise",
    repeatable: true,
    type: "list of HOST:PORT",
    default: "none",
    validation: "IPv4:PORT, [IPv6]:PORT or NAME:PORT, port 1 to 65535, no repeats",
    description: "underlay endpoints other nodes should use to reach this one",
    defaultValue: () => [],
    parse: endpointList,
    fromFlag: (v) => (Array.isArray(v) ? v : [v]),
  },
  statusListen: {
    flag: "--status-listen",
    arg: "<host:port>",
    yaml: "status-listen",
    type: "HOST:PORT",
    default: "127.0.0.1:51880",
    validation: "HOST:PORT, port 0 to 65535; loopback unless status-allow-remote",
    description: "the status and control HTTP endpoint",
    defaultValue: () => "127.0.0.1:51880",
    parse: hostPort(0),
  },
  statusAllowRemote: {
    flag: "--status-allow-remote",
    yaml: "status-allow-remote",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "allow status-listen on an address other hosts can reach",
    defaultValue: () => false,
    parse: boolean,
  },
  config: {
    flag: "--config",
    arg: "<file>",
    type: "path",
    default: "none",
    validation: "a YAML file (flag only)",
    description: "read options from this YAML file; flags override it",
    defaultValue: none,
    parse: text((s) => {
      if (s.trim() === "") throw new Error("the path is empty");
      return s;
    }),
  },
  logLevel: {
    flag: "--log-level",
    arg: "<level>",
    yaml: "log-level",
    type: "string",
    default: "info",
    validation: "debug, info, warn or error",
    description: "the least severe messages logged",
    defaultValue: () => "info",
    parse: text((s) => parseLogLevel(s)),
  },
  logFormat: {
    flag: "--log-format",
    arg: "<format>",
    yaml: "log-format",
    type: "string",
    default: "text",
    validation: "text or json",
    description: "the log line format",
    defaultValue: () => "text",
    parse: text((s) => parseLogFormat(s)),
  },
  crypto: {
    flag: "--crypto",
    arg: "<backend>",
    yaml: "crypto",
    type: "string",
    default: "the fastest available",
    validation: BACKEND_NAMES.join(", ").replace(/, ([^,]*)$/, " or $1"),
    description: "force a crypto backend",
    defaultValue: none,
    parse: oneOf(BACKEND_NAMES),
  },
  labels: {
    flag: "--label",
    arg: "<key=value>",
    attribute: "label",
    yaml: "labels",
    repeatable: true,
    type: "mapping of strings",
    default: "none",
    validation:
      "Kubernetes label syntax: [prefix/]name (name up to 63), value up to 63; joiners: node.weft/ only",
    description: "the leader's labels; a joining node's own (untrusted) node.weft/ labels",
    defaultValue: () => ({}),
    parse: labelMap,
    fromFlag: labelsFromFlag,
  },
  services: {
    flag: "--service",
    arg: "<name:port/proto>",
    attribute: "service",
    yaml: "services",
    repeatable: true,
    type: "list of {name, port, protocol, weight?, priority?, labels?}",
    default: "none",
    validation: "name a DNS label, port 1 to 65535, protocol tcp or udp (default tcp), " +
      "weight and priority 0 to 65535",
    description: "services this node offers, published in overlay DNS",
    defaultValue: () => [],
    parse: serviceList,
    fromFlag: servicesFromFlag,
  },
  dnsPort: {
    flag: "--dns-port",
    arg: "<port>",
    yaml: "dns-port",
    type: "integer",
    default: "15353",
    validation: "0 to 65535 (0: no DNS server)",
    description: "the UDP port of the overlay DNS server",
    defaultValue: () => 15353,
    parse: integer(0, 65535),
  },
  dnsZone: {
    flag: "--dns-zone",
    arg: "<zone>",
    yaml: "dns-zone",
    type: "string",
    default: "overlay.local.",
    validation: "a DNS name; a final dot is added if missing; stored lowercase",
    description: "the zone overlay names are served under",
    defaultValue: () => "overlay.local.",
    parse: text((s) => {
      const v = s.trim().toLowerCase();
      const p = dnsZoneProblem(v);
      if (p !== undefined) throw new Error(`${quote(s)} ${p}`);
      return v.endsWith(".") ? v : `${v}.`;
    }),
  },
  dnsForward: {
    flag: "--dns-forward",
    yaml: "dns-forward",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "forward queries outside the zone to the system resolvers",
    defaultValue: () => false,
    parse: boolean,
  },
  persistentKeepalive: {
    flag: "--persistent-keepalive",
    arg: "<seconds>",
    yaml: "persistent-keepalive",
    type: "integer",
    default: "25",
    validation: "0 to 65535 (0: off)",
    description: "seconds between keepalives that hold NAT mappings open",
    defaultValue: () => 25,
    parse: integer(0, 65535),
  },
  mtu: {
    flag: "--mtu",
    arg: "<bytes>",
    yaml: "mtu",
    type: "integer",
    default: "1420",
    validation: "576 to 65535; at least 1280 with cidr6",
    description: "the MTU of the overlay interface",
    defaultValue: () => 1420,
    parse: integer(576, 65535),
  },
  probeInterval: {
    flag: "--probe-interval",
    arg: "<duration>",
    yaml: "probe-interval",
    type: "duration",
    default: "5s",
    validation: "100ms to 1h, as 500ms, 5s or 1m; a bare number is seconds",
    description: "how often each peer is probed through the tunnel for RTT and loss (health)",
    defaultValue: () => 5000,
    parse: duration(100, 3_600_000),
  },
  policy: {
    yaml: "policy",
    type: "mapping",
    default: "none",
    validation: "any mapping here; checked by the policy module (file only)",
    description: "access policy between nodes",
    defaultValue: none,
    parseNode: policyFromNode,
  },
};

const KEYS = Object.keys(OPTIONS) as OptionKey[];
const YAML_KEYS: ReadonlyMap<string, OptionKey> = new Map(
  KEYS.filter((k) => OPTIONS[k].yaml !== undefined).map((k) => [OPTIONS[k].yaml!, k]),
);
const FLAG_ATTRIBUTES: ReadonlyMap<string, OptionKey> = new Map(
  KEYS.filter((k) => OPTIONS[k].flag !== undefined).map((k) => [OPTIONS[k].attribute ?? k, k]),
);

function policyFromNode(node: unknown, y: YamlSource, where: Where): PolicySource | undefined {
  let target = node;
  if (isAlias(target)) target = target.resolve(y.doc);
  if (target === null || target === undefined || (isScalar(target) && target.value === null)) {
    return undefined;
  }
  if (!isMap(target)) {
    const got = isSeq(target)
      ? "a list"
      : `${JSON.stringify((target as { value?: unknown }).value)}`;
    throw new ConfigError(`policy: expected a mapping, got ${got}`, where);
  }
  const map = target as YAMLMap.Parsed;
  const bomb = aliasBomb(map, y.doc);
  if (bomb) {
    throw new ConfigError(
      `policy: aliases expand to more than ${MAX_ALIAS_EXPANSION} values (refused as an alias bomb)`,
      { file: y.file, line: lineOf(y, bomb) ?? where.line },
    );
  }
  let value: Record<string, unknown>;
  try {
    value = map.toJS(y.doc, { maxAliasCount: MAX_ALIASES }) as Record<string, unknown>;
  } catch (e) {
    // yaml's own alias bound, on a shape the check above lets through.
    throw new ConfigError(`policy: ${(e as Error).message}`, where);
  }
  return {
    file: y.file,
    text: y.text,
    doc: y.doc,
    node: map,
    lineCounter: y.lineCounter,
    line: y.lineCounter.linePos(map.range[0]).line,
    value,
  };
}

/** Every option, in table order, for `--help` text and the README. */
export function optionHelp(): OptionHelp[] {
  return KEYS.map((name) => {
    const o = OPTIONS[name];
    const row: OptionHelp = {
      name,
      repeatable: o.repeatable ?? false,
      type: o.type,
      default: o.default,
      validation: o.validation,
      description: o.description,
    };
    if (o.flag !== undefined) {
      row.flag = o.flag;
      row.attribute = o.attribute ?? name;
    }
    if (o.arg !== undefined) row.arg = o.arg;
    if (o.yaml !== undefined) row.yaml = o.yaml;
    return row;
  });
}

/** The option table as Markdown (flag, YAML key, type, default, accepted values, meaning). */
export function optionTableMarkdown(): string {
  const cell = (s: string) => s.replaceAll("|", "\\|");
  const lines = [
    "| Flag | YAML key | Type | Default | Accepted | Meaning |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of optionHelp()) {
    const flag = r.flag === undefined
      ? "—"
      : `\`${r.flag}${r.arg ? ` ${r.arg}` : ""}\`${r.repeatable ? " (repeatable)" : ""}`;
    const yaml = r.yaml === undefined ? "—" : `\`${r.yaml}\``;
    lines.push(
      `| ${cell(flag)} | ${yaml} | ${cell(r.type)} | ${cell(r.default)} | ` +
        `${cell(r.validation)} | ${cell(r.description)} |`,
    );
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// CLI argument parsers.

/** Parses a `--label` argument `key=value` (Kubernetes label syntax); throws a ConfigError. */
export function parseLabel(text: string): LabelPair {
  const eq = text.indexOf("=");
  if (eq < 0) throw new ConfigError(`invalid label ${quote(text)}: expected KEY=VALUE`);
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  const p = labelPairProblem(key, value);
  if (p !== undefined) throw new ConfigError(`invalid label ${quote(text)}: ${p}`);
  return { key, value };
}

/**
 * Parses a `--service` argument `name:port/protocol` (`web:8080/tcp`; the protocol defaults to
 * tcp); throws a ConfigError.
 */
export function parseService(text: string): ServiceSpec {
  const m = /^([^:/]*):([^/]*)(?:\/(.*))?$/.exec(text.trim());
  const bad = (why: string) => new ConfigError(`invalid service ${quote(text)}: ${why}`);
  if (!m) throw bad("expected NAME:PORT/PROTOCOL, as in web:8080/tcp");
  const name = m[1].toLowerCase();
  const p = dnsLabelProblem(name);
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

/**
 * The flags of a commander command that did not come from their defaults (set on the command
 * line, or from the environment), restricted to options of this table.
 */
export function userSetFlags(command: {
  opts(): Record<string, unknown>;
  getOptionValueSource(key: string): string | undefined;
}): AgentFlags {
  const out: Record<string, unknown> = {};
  for (const [attr, value] of Object.entries(command.opts())) {
    const source = command.getOptionValueSource(attr);
    if (FLAG_ATTRIBUTES.has(attr) && source !== undefined && source !== "default") {
      out[attr] = value;
    }
  }
  return out as AgentFlags;
}

// ---------------------------------------------------------------------------------------------
// Loading.

function tryOr<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch {
    return fallback;
  }
}

/** Machine facts, read only when a default needs them (reading may need --allow-sys/env). */
function liveSystem(over: Partial<SystemInfo>): SystemInfo {
  return {
    get uid() {
      return "uid" in over ? over.uid ?? null : tryOr(() => Deno.uid(), null);
    },
    get home() {
      return "home" in over ? over.home : tryOr(() => Deno.env.get("HOME"), undefined);
    },
    get xdgStateHome() {
      return "xdgStateHome" in over
        ? over.xdgStateHome
        : tryOr(() => Deno.env.get("XDG_STATE_HOME"), undefined);
    },
    get hostname() {
      return over.hostname ?? tryOr(() => Deno.hostname(), "");
    },
    get cwd() {
      return over.cwd ?? tryOr(() => Deno.cwd(), "/");
    },
  };
}

/** Configuration files larger than this are refused, whatever they are (1 MiB). */
export const MAX_CONFIG_BYTES = 1 << 20;

/** Longest text one option value may have, from a flag or the file. */
export const MAX_VALUE_CHARS = 4096;

async function readConfigText(file: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readFileBounded(file, MAX_CONFIG_BYTES);
  } catch (e) {
    const why = e instanceof InputTooLargeError
      ? `the configuration file is larger than ${MAX_CONFIG_BYTES} bytes (1 MiB)`
      : e instanceof Deno.errors.NotFound
      ? "the configuration file does not exist"
      : e instanceof Deno.errors.IsADirectory
      ? "is a directory, not a configuration file"
      : e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable
      ? "permission denied reading the configuration file"
      : `cannot read the configuration file: ${(e as Error).message}`;
    throw new ConfigError(why, { file });
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError("the configuration file is not valid UTF-8 text", { file });
  }
}

function lineOf(y: YamlSource, node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] | null } | null)?.range;
  return range ? y.lineCounter.linePos(range[0]).line : undefined;
}

function yamlInput(node: unknown, path: string, y: YamlSource, fallbackLine?: number): Input {
  const where: Where = { file: y.file, line: lineOf(y, node) ?? fallbackLine };
  const base = { path, where, fromFlag: false };
  if (isAlias(node)) {
    if (++y.aliases > MAX_ALIASES) {
      throw new ConfigError(`more than ${MAX_ALIASES} aliases`, where);
    }
    return yamlInput(node.resolve(y.doc) ?? null, path, y, where.line);
  }
  if (isScalar(node)) {
    tooLong(node.value, path, where);
    return { ...base, kind: "scalar", value: node.value, text: node.source };
  }
  if (isSeq(node)) {
    const items = node.items.map((item, i) => yamlInput(item, `${path}[${i}]`, y, where.line));
    return { ...base, kind: "seq", items };
  }
  if (isMap(node)) {
    const entries = node.items.map((pair): MapEntry => {
      const keyWhere: Where = { file: y.file, line: lineOf(y, pair.key) ?? where.line };
      const key = yamlKey(pair.key, path, keyWhere);
      return {
        key,
        where: keyWhere,
        value: yamlInput(pair.value, `${path}.${key}`, y, keyWhere.line),
      };
    });
    return { ...base, kind: "map", entries };
  }
  return { ...base, kind: "scalar", value: null };
}

function yamlKey(key: unknown, path: string | undefined, where: Where): string {
  if (isScalar(key) && key.value !== null && typeof key.value !== "object") {
    return key.source ?? String(key.value);
  }
  const at = path === undefined ? "" : `${path}: `;
  throw new ConfigError(`${at}keys must be plain words, not lists, mappings or empty`, where);
}

// yaml reports a duplicate key by its first character only; read the key from the text.
function duplicateKeyName(text: string, at: number): string {
  const m = /^("(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*'|[^\s:#,{}[\]][^:#\n,{}]*?)\s*:/.exec(
    text.slice(at, at + 1100),
  );
  return m ? ` ${JSON.stringify(m[1].replace(/^["']|["']$/g, ""))}` : "";
}

function yamlError(e: YAMLError, y: YamlSource): ConfigError {
  const line = y.lineCounter.linePos(e.pos[0]).line;
  const reason = e.code === "DUPLICATE_KEY"
    ? `duplicate key${duplicateKeyName(y.text, e.pos[0])}`
    : e.code === "MULTIPLE_DOCS"
    ? "the file holds more than one YAML document (a second `---`)"
    : `invalid YAML: ${e.message}`;
  return new ConfigError(reason, { file: y.file, line });
}

type Values = { -readonly [K in OptionKey]?: AgentConfig[K] };

async function readFileOptions(
  file: string,
  sys: SystemInfo,
  values: Values,
  origin: Partial<OptionOrigins>,
): Promise<void> {
  const text = await readConfigText(file);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const y: YamlSource = { file, text, doc, lineCounter, aliases: 0 };
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) throw yamlError(problem, y);
  let root: unknown = doc.contents;
  if (isAlias(root)) root = root.resolve(doc);
  if (root === null || root === undefined || (isScalar(root) && root.value === null)) return;
  if (!isMap(root)) {
    const got = isSeq(root) ? "a list" : "a single value";
    throw new ConfigError(`expected a mapping of option names to values at the top, got ${got}`, {
      file,
      line: lineOf(y, root),
    });
  }
  const ctx: ParseContext = { baseDir: dirname(resolve(sys.cwd, file)), sys };
  for (const pair of (root as YAMLMap).items) {
    const where: Where = { file, line: lineOf(y, pair.key) };
    const name = yamlKey(pair.key, undefined, where);
    const key = YAML_KEYS.get(name);
    if (key === undefined) {
      const reason = name === "config"
        ? `"config" can only be given on the command line (--config)`
        : unknownKey(undefined, name, [...YAML_KEYS.keys()]);
      throw new ConfigError(reason, where);
    }
    const spec = OPTIONS[key] as OptionSpec<unknown>;
    const value = spec.parseNode
      ? spec.parseNode(pair.value, y, where)
      : spec.parse!(yamlInput(pair.value, name, y, where.line), ctx);
    (values as Record<string, unknown>)[key] = value;
    origin[key] = { source: "file", file, line: where.line };
  }
}

function flagInput(value: unknown, path: string): Input {
  const base = { path, where: {}, fromFlag: true };
  if (Array.isArray(value)) {
    return {
      ...base,
      kind: "seq",
      items: value.map((v, i) => flagInput(v, `${path}[${i}]`)),
    };
  }
  if (
    typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype
  ) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]): MapEntry => ({ key: k, where: {}, value: flagInput(v, `${path}.${k}`) }));
    return { ...base, kind: "map", entries };
  }
  tooLong(value, path, base.where);
  return { ...base, kind: "scalar", value };
}

/** Refuses a text value over {@link MAX_VALUE_CHARS} before anything parses or echoes it. */
function tooLong(value: unknown, path: string, where: Where): void {
  if (typeof value === "string" && value.length > MAX_VALUE_CHARS) {
    throw new ConfigError(
      `${path}: the value is ${value.length} characters long (at most ${MAX_VALUE_CHARS})`,
      where,
    );
  }
}

function applyFlags(
  flags: AgentFlags,
  sys: SystemInfo,
  values: Values,
  origin: Partial<OptionOrigins>,
): void {
  const given = Object.entries(flags).filter(([, v]) => v !== undefined);
  for (const [attr] of given) {
    if (!FLAG_ATTRIBUTES.has(attr)) {
      const guess = didYouMean(attr, [...FLAG_ATTRIBUTES.keys()]);
      throw new TypeError(
        `loadAgentConfig: unknown flag attribute ${JSON.stringify(attr)}` +
          (guess === undefined ? "" : ` (did you mean ${JSON.stringify(guess)}?)`),
      );
    }
  }
  // The run mode is one choice: a flag for either side replaces the file's choice entirely.
  if (given.some(([attr]) => attr === "leader" || attr === "join")) {
    delete values.leader;
    delete values.join;
    delete origin.leader;
    delete origin.join;
  }
  const ctx: ParseContext = { baseDir: sys.cwd, sys };
  for (const [attr, raw] of given) {
    const key = FLAG_ATTRIBUTES.get(attr)!;
    const spec = OPTIONS[key] as OptionSpec<unknown>;
    const flag = spec.flag!;
    for (const v of Array.isArray(raw) ? raw : [raw]) tooLong(v, flag, {});
    const shaped = spec.fromFlag ? spec.fromFlag(raw, flag) : raw;
    (values as Record<string, unknown>)[key] = spec.parse!(flagInput(shaped, flag), ctx);
    origin[key] = { source: "flag", flag };
  }
}

/** How messages name an option: by the flag or the key, wherever its value came from. */
function locate(config: AgentConfig, key: OptionKey): { name: string; where: Where } {
  const o = config.origin[key];
  const spec = OPTIONS[key] as OptionSpec<unknown>;
  if (o.source === "flag") return { name: o.flag ?? spec.flag!, where: {} };
  return {
    name: spec.yaml ?? spec.flag!,
    where: o.source === "file" ? { file: o.file, line: o.line } : {},
  };
}

function crossCheck(config: AgentConfig): void {
  if (config.cidr6 !== undefined && config.mtu < 1280) {
    // IPv6 requires every link to carry 1280-byte packets (RFC 8200 section 5).
    const at = locate(config, config.origin.mtu.source === "default" ? "cidr6" : "mtu");
    throw new ConfigError(
      `${at.name}: an IPv6 overlay (cidr6) needs mtu 1280 or more, got ${config.mtu}`,
      at.where,
    );
  }
  const status = parseHostPort(config.statusListen, { minPort: 0 });
  if (!isLoopbackHost(status.host) && !config.statusAllowRemote) {
    const at = locate(config, "statusListen");
    throw new ConfigError(
      `${at.name}: ${config.statusListen} is reachable from other hosts; set ` +
        "status-allow-remote (--status-allow-remote) to serve status beyond loopback",
      at.where,
    );
  }
  if (config.dnsPort !== 0 && config.dnsPort === config.listenPort) {
    const at = locate(
      config,
      config.origin.dnsPort.source === "default" ? "listenPort" : "dnsPort",
    );
    throw new ConfigError(
      `${at.name}: dns-port and listen-port are both UDP port ${config.dnsPort}; pick two ports`,
      at.where,
    );
  }
}

/**
 * Reads the YAML file (if any), checks every key and value, fills in defaults, lays the given
 * flags over the result and checks options against each other. Throws a ConfigError naming the
 * file and line (or the flag) for bad input, and a TypeError when `flags` has a key that is not
 * an option's commander attribute (a bug in the caller). Does not check the run mode: see
 * `validateRunMode`.
 */
export async function loadAgentConfig(options: LoadAgentConfigOptions = {}): Promise<AgentConfig> {
  const flags = options.flags ?? {};
  const sys = liveSystem(options.system ?? {});
  const values: Values = {};
  const origin: Partial<OptionOrigins> = {};
  const file = options.configPath ?? flags.config;
  if (file !== undefined) {
    if (file.trim() === "") throw new ConfigError("--config: the path is empty");
    await readFileOptions(file, sys, values, origin);
  }
  applyFlags(flags, sys, values, origin);
  if (file !== undefined) {
    values.config = file;
    origin.config = { source: "flag", flag: "--config" };
  }
  for (const key of KEYS) {
    if (key in values) continue;
    (values as Record<string, unknown>)[key] = OPTIONS[key].defaultValue(sys);
    origin[key] = { source: "default" };
  }
  const config = { ...values, origin } as AgentConfig;
  crossCheck(config);
  return config;
}

/**
 * Checks that exactly one of leader and join is set, as running an agent requires (subcommands
 * such as `weft token` skip this); returns the mode.
 */
export function validateRunMode(config: AgentConfig): "leader" | "join" {
  const join = config.join !== undefined;
  if (config.leader && join) {
    const at = locate(config, config.origin.join.source === "file" ? "join" : "leader");
    throw new ConfigError(
      "leader and join exclude each other: a node either leads the mesh or joins one",
      at.where,
    );
  }
  if (config.leader) return "leader";
  if (join) return "join";
  throw new ConfigError(
    "give --leader to start a mesh or --join <token> to join one " +
      "(or `leader: true` / `join: <token>` in the configuration file)",
  );
}
