/**
 * Reads and writes the wg-quick(8) configuration format: an `[Interface]` section and any number of
 * `[Peer]` sections of `Key = Value` lines, keys case-insensitive, `#` starting a comment.
 *
 * Keys stay base64 text (validated as canonical 32-byte keys, as wg does) so this module needs no
 * crypto; addresses are validated (by lib/net's parsers) but kept as written, except that an
 * endpoint's host is lowercased, as every host:port is. Fields that only wg-quick's steps around
 * the interface use (DNS, Table, FwMark, hooks, SaveConfig) are parsed and kept too: `weft up`
 * honours them or refuses the file naming the key (see `wgquick_agent.ts`).
 * @module
 */

import { InputTooLargeError, readTextFileBounded } from "./bounded_read.ts";
import { ConfigError } from "./config_error.ts";
import { isIP } from "../net/ip.ts";
import { Cidr } from "../net/cidr.ts";
import { isDnsName } from "../net/names.ts";
import {
  formatHostPort,
  type HostPort,
  type HostPortError,
  parseHostPort,
} from "../net/hostport.ts";

/**
 * A peer's underlay address: an IPv4 address, an IPv6 address (without brackets, optionally with
 * a `%zone`) or a hostname (lowercased), and a port from 1 to 65535.
 */
export type WgQuickEndpoint = HostPort;

/** The `[Interface]` section. */
export interface WgQuickInterface {
  /** The base64 private key. */
  privateKey: string;
  /** `Address` entries as written (`10.0.0.1/24`, `fd00::1/64`, or without a prefix). */
  addresses: string[];
  /** `ListenPort`, 0 to 65535 (0: any). */
  listenPort?: number;
  /** `MTU`. */
  mtu?: number;
  /** `DNS` entries that are IP addresses: the resolvers. */
  dns: string[];
  /** `DNS` entries that are names: the search domains. */
  dnsSearch: string[];
  /** `FwMark`: the mark of the UDP socket's packets (SO_MARK); absent when off. */
  fwMark?: number;
  /** `Table` (`off`, `auto`, a number or a name), kept as written. */
  table?: string;
  /** `PreUp` commands in order. */
  preUp: string[];
  /** `PostUp` commands in order. */
  postUp: string[];
  /** `PreDown` commands in order. */
  preDown: string[];
  /** `PostDown` commands in order. */
  postDown: string[];
  /** `SaveConfig`. */
  saveConfig?: boolean;
}

/** One `[Peer]` section. */
export interface WgQuickPeer {
  /** The base64 public key; unique within a file. */
  publicKey: string;
  /** The base64 preshared key. */
  presharedKey?: string;
  /** Where to send the first handshake. */
  endpoint?: WgQuickEndpoint;
  /** `AllowedIPs` CIDRs as written (an address without a prefix means a single host). */
  allowedIPs: string[];
  /** Seconds between keepalives; absent when off. */
  persistentKeepalive?: number;
}

/** A whole wg-quick file. */
export interface WgQuickConfig {
  /** The `[Interface]` section. */
  interface: WgQuickInterface;
  /** The `[Peer]` sections in file order. */
  peers: WgQuickPeer[];
}

// Canonical base64 of 32 bytes: the 43rd character carries 4 data bits, so its low 2 bits are 0.
const KEY_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** Whether `text` is a WireGuard key as wg accepts it: canonical base64 of 32 bytes. */
export function isWgKey(text: string): boolean {
  return KEY_RE.test(text);
}

function cidrProblem(text: string): string | undefined {
  // The one CIDR parser decides; the reason is said in this file format's words.
  if (text.trim() === text && Cidr.tryParse(text) !== null) return undefined;
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  if (!isIP(addr)) return `${JSON.stringify(addr)} is not an IP address`;
  const max = addr.includes(":") ? 128 : 32;
  return `bad prefix length ${JSON.stringify(text.slice(slash + 1))} (0 to ${max})`;
}

/** Whether `text` is a DNS name as wg-quick takes it: letters, digits, `-` and `_`. */
function isHostname(text: string): boolean {
  return isDnsName(text, { underscore: true });
}

/**
 * Parses an `Endpoint` value: `host:port`, `[v6]:port` (a `%zone` allowed) or `name:port`
 * (names may hold `_`); returns the reason, in wg-quick's words, on error.
 */
export function parseEndpoint(text: string): WgQuickEndpoint | string {
  try {
    return parseHostPort(text, { underscore: true, zone: true });
  } catch (e) {
    const err = e as HostPortError;
    const t = JSON.stringify(text);
    switch (err.code) {
      case "brackets":
        return `bad endpoint ${t}: expected [address]:port`;
      case "ipv6":
        return `bad endpoint ${t}: ${JSON.stringify(err.host)} is not an IPv6 address`;
      case "no-port":
        return `bad endpoint ${t}: expected host:port`;
      case "unbracketed":
        return `bad endpoint ${t}: put IPv6 addresses in brackets, as [${err.host}]:${err.portText}`;
      case "host":
        return `bad endpoint ${t}: ${
          JSON.stringify(err.host)
        } is neither an IP address nor a hostname`;
      default:
        return `bad port ${JSON.stringify(err.portText)} in endpoint ${t} (1 to 65535)`;
    }
  }
}

function parseInteger(text: string, min: number, max: number): number | undefined {
  if (!/^[0-9]{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

/** Splits a comma list; an empty value is an empty list, but empty items are errors. */
function splitList(value: string): string[] | undefined {
  if (value === "") return [];
  const items = value.split(",").map((s) => s.trim());
  return items.includes("") ? undefined : items;
}

type Section = "interface" | "peer";

interface Draft {
  iface?: Partial<WgQuickInterface> & { line: number };
  peers: (Partial<WgQuickPeer> & { line: number })[];
}

const INTERFACE_KEYS: Record<string, string> = {
  privatekey: "PrivateKey",
  address: "Address",
  listenport: "ListenPort",
  mtu: "MTU",
  dns: "DNS",
  fwmark: "FwMark",
  table: "Table",
  preup: "PreUp",
  postup: "PostUp",
  predown: "PreDown",
  postdown: "PostDown",
  saveconfig: "SaveConfig",
};

const PEER_KEYS: Record<string, string> = {
  publickey: "PublicKey",
  presharedkey: "PresharedKey",
  endpoint: "Endpoint",
  allowedips: "AllowedIPs",
  persistentkeepalive: "PersistentKeepalive",
};

// Keys that wg-quick accumulates over repeated lines; the others may appear once per section.
const REPEATABLE = new Set([
  "address",
  "dns",
  "allowedips",
  "preup",
  "postup",
  "predown",
  "postdown",
]);

/** Options for {@linkcode parseWgQuick}. */
export interface ParseWgQuickOptions {
  /** The file name, for error messages. */
  file?: string;
}

/** Parses wg-quick text; throws {@linkcode ConfigError} naming the line on the first problem. */
export function parseWgQuick(text: string, options: ParseWgQuickOptions = {}): WgQuickConfig {
  const file = options.file;
  const fail = (reason: string, line?: number): never => {
    throw new ConfigError(reason, { file, line });
  };
  const draft: Draft = { peers: [] };
  let section: Section | undefined;
  let seen = new Set<string>();
  const peerKeys = new Map<string, number>();

  const lines = text.replace(/^\uFEFF/, "").split(/\r\n|\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i];
    const hash = raw.indexOf("#");
    const content = (hash < 0 ? raw : raw.slice(0, hash)).trim();
    if (content === "") continue;

    if (content.startsWith("[")) {
      const m = /^\[\s*([^\]]*?)\s*\]$/.exec(content);
      if (!m) fail(`malformed section header ${JSON.stringify(content)}`, lineNo);
      const name = m![1].toLowerCase();
      if (name === "interface") {
        if (draft.iface) {
          fail(`duplicate [Interface] section (the first is at line ${draft.iface.line})`, lineNo);
        }
        draft.iface = { line: lineNo };
        section = "interface";
      } else if (name === "peer") {
        draft.peers.push({ line: lineNo });
        section = "peer";
      } else {
        fail(`unknown section [${m![1]}] (expected [Interface] or [Peer])`, lineNo);
      }
      seen = new Set();
      continue;
    }

    const eq = content.indexOf("=");
    if (eq < 0) {
      fail(`expected "Key = Value" or a [Section], got ${JSON.stringify(content)}`, lineNo);
    }
    const key = content.slice(0, eq).trim();
    const value = content.slice(eq + 1).trim();
    if (key === "") fail(`missing key before "="`, lineNo);
    const lower = key.toLowerCase();
    if (section === undefined) {
      fail(`${key} is outside a section (put it under [Interface] or [Peer])`, lineNo);
    }
    const known = section === "interface" ? INTERFACE_KEYS : PEER_KEYS;
    const canonical = Object.hasOwn(known, lower) ? known[lower] : undefined;
    if (canonical === undefined) {
      const other = section === "interface" ? PEER_KEYS : INTERFACE_KEYS;
      const hint = Object.hasOwn(other, lower)
        ? ` (${other[lower]} belongs in ${section === "interface" ? "[Peer]" : "[Interface]"})`
        : "";
      fail(
        `unknown key ${key} in [${section === "interface" ? "Interface" : "Peer"}]${hint}`,
        lineNo,
      );
    }
    if (!REPEATABLE.has(lower)) {
      if (seen.has(lower)) fail(`duplicate ${canonical} in this section`, lineNo);
      seen.add(lower);
    }
    if (value === "" && !REPEATABLE.has(lower)) fail(`empty value for ${canonical}`, lineNo);

    const list = (what: string, check: (item: string) => string | undefined): string[] => {
      const items = splitList(value);
      if (items === undefined) return fail(`empty entry in the ${canonical} list`, lineNo);
      for (const item of items) {
        const problem = check(item);
        if (problem !== undefined) fail(`bad ${what} in ${canonical}: ${problem}`, lineNo);
      }
      return items;
    };
    const keyValue = (): string => {
      if (!isWgKey(value)) {
        fail(`bad key for ${canonical}: expected 44 characters of base64 ending in "="`, lineNo);
      }
      return value;
    };
    const hook = (): string => {
      if (value === "") fail(`empty value for ${canonical}`, lineNo);
      return value;
    };

    if (section === "interface") {
      const it = draft.iface!;
      switch (lower) {
        case "privatekey":
          it.privateKey = keyValue();
          break;
        case "address":
          (it.addresses ??= []).push(...list("address", cidrProblem));
          break;
        case "listenport": {
          const port = parseInteger(value, 0, 65535);
          if (port === undefined) fail(`bad port ${JSON.stringify(value)} (0 to 65535)`, lineNo);
          it.listenPort = port;
          break;
        }
        case "mtu": {
          const mtu = parseInteger(value, 68, 65535);
          if (mtu === undefined) fail(`bad MTU ${JSON.stringify(value)} (68 to 65535)`, lineNo);
          it.mtu = mtu;
          break;
        }
        case "dns":
          for (
            const item of list(
              "DNS entry",
              (s) =>
                isIP(s) || isHostname(s)
                  ? undefined
                  : `${JSON.stringify(s)} is neither an IP address nor a search domain`,
            )
          ) {
            if (isIP(item)) (it.dns ??= []).push(item);
            else (it.dnsSearch ??= []).push(item);
          }
          break;
        case "fwmark": {
          if (value.toLowerCase() === "off") break;
          const mark = /^0x[0-9a-f]{1,8}$/i.test(value)
            ? parseInt(value.slice(2), 16)
            : parseInteger(value, 0, 0xffffffff);
          if (mark === undefined) fail(`bad FwMark ${JSON.stringify(value)}`, lineNo);
          if (mark !== 0) it.fwMark = mark;
          break;
        }
        case "table":
          if (!/^[A-Za-z0-9_.-]+$/.test(value)) fail(`bad Table ${JSON.stringify(value)}`, lineNo);
          it.table = value;
          break;
        case "preup":
          (it.preUp ??= []).push(hook());
          break;
        case "postup":
          (it.postUp ??= []).push(hook());
          break;
        case "predown":
          (it.preDown ??= []).push(hook());
          break;
        case "postdown":
          (it.postDown ??= []).push(hook());
          break;
        case "saveconfig": {
          const v = value.toLowerCase();
          if (v !== "true" && v !== "false") {
            fail(`bad SaveConfig ${JSON.stringify(value)} (true or false)`, lineNo);
          }
          it.saveConfig = v === "true";
          break;
        }
      }
    } else {
      const peer = draft.peers[draft.peers.length - 1];
      switch (lower) {
        case "publickey": {
          peer.publicKey = keyValue();
          const first = peerKeys.get(value);
          if (first !== undefined) {
            fail(`duplicate PublicKey: the peer at line ${first} has the same key`, lineNo);
          }
          peerKeys.set(value, peer.line);
          break;
        }
        case "presharedkey":
          peer.presharedKey = keyValue();
          break;
        case "endpoint": {
          const ep = parseEndpoint(value);
          if (typeof ep === "string") fail(ep, lineNo);
          peer.endpoint = ep as WgQuickEndpoint;
          break;
        }
        case "allowedips":
          (peer.allowedIPs ??= []).push(...list("CIDR", cidrProblem));
          break;
        case "persistentkeepalive": {
          if (value.toLowerCase() === "off") break;
          const secs = parseInteger(value, 0, 65535);
          if (secs === undefined) {
            fail(`bad PersistentKeepalive ${JSON.stringify(value)} (0 to 65535 or off)`, lineNo);
          }
          if (secs !== 0) peer.persistentKeepalive = secs;
          break;
        }
      }
    }
  }

  if (!draft.iface) fail("no [Interface] section");
  const it = draft.iface!;
  if (it.privateKey === undefined) fail("the [Interface] section has no PrivateKey", it.line);
  const iface: WgQuickInterface = {
    privateKey: it.privateKey!,
    addresses: it.addresses ?? [],
    dns: it.dns ?? [],
    dnsSearch: it.dnsSearch ?? [],
    preUp: it.preUp ?? [],
    postUp: it.postUp ?? [],
    preDown: it.preDown ?? [],
    postDown: it.postDown ?? [],
  };
  if (it.listenPort !== undefined) iface.listenPort = it.listenPort;
  if (it.mtu !== undefined) iface.mtu = it.mtu;
  if (it.fwMark !== undefined) iface.fwMark = it.fwMark;
  if (it.table !== undefined) iface.table = it.table;
  if (it.saveConfig !== undefined) iface.saveConfig = it.saveConfig;

  const peers = draft.peers.map((p): WgQuickPeer => {
    if (p.publicKey === undefined) fail("this [Peer] section has no PublicKey", p.line);
    const peer: WgQuickPeer = { publicKey: p.publicKey!, allowedIPs: p.allowedIPs ?? [] };
    if (p.presharedKey !== undefined) peer.presharedKey = p.presharedKey;
    if (p.endpoint !== undefined) peer.endpoint = p.endpoint;
    if (p.persistentKeepalive !== undefined) peer.persistentKeepalive = p.persistentKeepalive;
    return peer;
  });
  return { interface: iface, peers };
}

/** wg-quick files larger than this are refused unread (1 MiB). */
export const MAX_WGQUICK_BYTES = 1 << 20;

/** Reads and parses a wg-quick file; errors name the file. */
export async function loadWgQuickFile(path: string): Promise<WgQuickConfig> {
  let text: string;
  try {
    text = await readTextFileBounded(path, MAX_WGQUICK_BYTES);
  } catch (e) {
    if (!(e instanceof InputTooLargeError)) throw e;
    throw new ConfigError(`the file is larger than ${MAX_WGQUICK_BYTES} bytes (1 MiB)`, {
      file: path,
    });
  }
  return parseWgQuick(text, { file: path });
}

/** Serializes a config to wg-quick text that {@linkcode parseWgQuick} reads back to the same value. */
export function serializeWgQuick(config: WgQuickConfig): string {
  const out: string[] = [];
  const bad = (reason: string): never => {
    throw new ConfigError(`cannot serialize: ${reason}`);
  };
  const key = (name: string, value: string): string => {
    if (!isWgKey(value)) bad(`${name} is not a valid key`);
    return value;
  };
  const text = (name: string, value: string): string => {
    // A newline or '#' would change the meaning of the file when read back.
    if (/[\r\n#]/.test(value) || value.trim() !== value || value === "") {
      bad(`${name} ${JSON.stringify(value)} cannot be written on one line`);
    }
    return value;
  };
  const cidrs = (name: string, items: string[]): string => {
    for (const item of items) {
      const problem = cidrProblem(item);
      if (problem !== undefined) bad(`${name}: ${problem}`);
    }
    return items.join(", ");
  };
  const port = (name: string, value: number, min: number): number => {
    if (!Number.isInteger(value) || value < min || value > 65535) bad(`${name} ${value}`);
    return value;
  };

  const it = config.interface;
  out.push("[Interface]");
  out.push(`PrivateKey = ${key("PrivateKey", it.privateKey)}`);
  if (it.addresses.length > 0) out.push(`Address = ${cidrs("Address", it.addresses)}`);
  if (it.listenPort !== undefined) out.push(`ListenPort = ${port("ListenPort", it.listenPort, 0)}`);
  if (it.mtu !== undefined) out.push(`MTU = ${port("MTU", it.mtu, 68)}`);
  const dns = [...it.dns, ...it.dnsSearch];
  for (const d of it.dns) if (!isIP(d)) bad(`DNS server ${JSON.stringify(d)} is not an IP`);
  for (const d of it.dnsSearch) if (!isHostname(d)) bad(`search domain ${JSON.stringify(d)}`);
  if (dns.length > 0) out.push(`DNS = ${dns.join(", ")}`);
  if (it.fwMark !== undefined) {
    if (!Number.isInteger(it.fwMark) || it.fwMark < 0 || it.fwMark > 0xffffffff) {
      bad(`FwMark ${it.fwMark}`);
    }
    out.push(`FwMark = ${it.fwMark}`);
  }
  if (it.table !== undefined) out.push(`Table = ${text("Table", it.table)}`);
  for (
    const [name, cmds] of [
      ["PreUp", it.preUp],
      ["PostUp", it.postUp],
      ["PreDown", it.preDown],
      ["PostDown", it.postDown],
    ] as const
  ) {
    for (const cmd of cmds) out.push(`${name} = ${text(name, cmd)}`);
  }
  if (it.saveConfig !== undefined) out.push(`SaveConfig = ${it.saveConfig}`);

  for (const peer of config.peers) {
    out.push("", "[Peer]");
    out.push(`PublicKey = ${key("PublicKey", peer.publicKey)}`);
    if (peer.presharedKey !== undefined) {
      out.push(`PresharedKey = ${key("PresharedKey", peer.presharedKey)}`);
    }
    if (peer.allowedIPs.length > 0) {
      out.push(`AllowedIPs = ${cidrs("AllowedIPs", peer.allowedIPs)}`);
    }
    if (peer.endpoint !== undefined) {
      const ep = formatHostPort(peer.endpoint);
      if (typeof parseEndpoint(ep) === "string") bad(`Endpoint ${JSON.stringify(ep)}`);
      out.push(`Endpoint = ${ep}`);
    }
    if (peer.persistentKeepalive !== undefined && peer.persistentKeepalive !== 0) {
      out.push(
        `PersistentKeepalive = ${port("PersistentKeepalive", peer.persistentKeepalive, 0)}`,
      );
    }
  }
  return out.join("\n") + "\n";
}

const IFNAME_RE = /^[a-zA-Z0-9_=+.-]{1,15}$/;

/** Whether `name` is an interface name wg-quick accepts: 1 to 15 of `a-zA-Z0-9_=+.-`. */
function isInterfaceName(name: string): boolean {
  return IFNAME_RE.test(name);
}

/** The interface name wg-quick derives from a config path (`/etc/wireguard/wg0.conf` -> `wg0`). */
export function interfaceNameFromPath(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  const name = base.endsWith(".conf") ? base.slice(0, -".conf".length) : undefined;
  if (name === undefined || !isInterfaceName(name)) {
    throw new ConfigError(
      "the config file name must be an interface name (1 to 15 characters of a-z A-Z 0-9 _ = + . -)" +
        ' followed by ".conf"',
      { file: path },
    );
  }
  return name;
}
