/**
 * The text of WireGuard's cross-platform userspace API (https://www.wireguard.com/xplatform/):
 * framing of `get=1` / `set=1` requests, parsing and validating a whole `set` request before any
 * of it is applied, and formatting `get` responses. No I/O and no device here.
 *
 * Keys travel as 64 hex digits. A response ends with `errno=N` and an empty line; N is 0 or a
 * negated errno.h value, as wireguard-go sends it, because `wg` negates what it reads back and
 * only then prints e.g. "Invalid argument".
 * @module
 */

import { Cidr } from "../net/cidr.ts";
import { parseHostPort } from "../net/hostport.ts";

/** errno.h EINVAL: a malformed request, unknown key or bad value. */
export const EINVAL = 22;
/** errno.h EMSGSIZE: a request larger than the server accepts. */
export const EMSGSIZE = 90;
/** errno.h EOPNOTSUPP: a change this implementation cannot make (private key, port, fwmark). */
export const EOPNOTSUPP = 95;

/** A request the API refuses; `errno` is the positive errno.h value. */
export class UapiError extends Error {
  /** The positive errno.h value. */
  readonly errno: number;

  /** An error with a positive errno.h value and a message for logs. */
  constructor(errno: number, message: string) {
    super(message);
    this.name = "UapiError";
    this.errno = errno;
  }
}

const HEX = "0123456789abcdef";
const HEX_KEY_RE = /^[0-9a-fA-F]{64}$/;

/** A 32-byte key as 64 lowercase hex digits. */
export function keyToHex(key: Uint8Array): string {
  if (key.length !== 32) throw new RangeError(`a key has 32 bytes, not ${key.length}`);
  let out = "";
  for (const b of key) out += HEX[b >> 4] + HEX[b & 15];
  return out;
}

/** Parses 64 hex digits (either case) into 32 bytes; a UapiError (EINVAL) naming `what` if not. */
export function keyFromHex(text: string, what: string): Uint8Array {
  if (!HEX_KEY_RE.test(text)) {
    throw new UapiError(EINVAL, `invalid ${what}: want 64 hex digits`);
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The response line(s) that end a request: `errno=0` or the negated errno, then a blank line. */
export function formatErrno(errno: number): string {
  return `errno=${errno === 0 ? 0 : -Math.abs(errno)}\n\n`;
}

/**
 * Where the request at the start of `buf[0..length)` ends (the index just past the newline of its
 * terminating empty line), or -1 when it is not whole yet. A request is its lines up to and
 * including the first empty one. `from` skips bytes an earlier call already searched.
 */
export function findRequestEnd(buf: Uint8Array, length: number, from = 0): number {
  if (length > 0 && buf[0] === 0x0a) return 1;
  for (let i = Math.max(1, from); i < length; i++) {
    if (buf[i] === 0x0a && buf[i - 1] === 0x0a) return i + 1;
  }
  return -1;
}

/** One peer section of a `set` request, after validation. */
export interface UapiPeerChange {
  /** The peer's public key. */
  publicKey: Uint8Array;
  /** `remove=true`: the peer goes; anything after it in the section is ignored. */
  remove: boolean;
  /** `update_only=true`: change the peer only if it already exists. */
  updateOnly: boolean;
  /** A new preshared key (all zeros: none). */
  presharedKey?: Uint8Array;
  /** A new endpoint, `ip:port` or `[ipv6]:port`. */
  endpoint?: string;
  /** A new persistent keepalive interval in seconds (0: off). */
  persistentKeepalive?: number;
  /** `replace_allowed_ips=true`: `allowedIps` replace the peer's prefixes instead of adding. */
  replaceAllowedIps: boolean;
  /** Prefixes to add (or to set, with `replaceAllowedIps`), as `network/bits`. */
  allowedIps: string[];
}

/** A whole validated `set` request. */
export interface UapiSetRequest {
  /** `private_key=`: all zeros means "no key". */
  privateKey?: Uint8Array;
  /** `listen_port=`. */
  listenPort?: number;
  /** `fwmark=` (0: off). */
  fwmark?: number;
  /** `replace_peers=true`: every existing peer goes before the sections are applied. */
  replacePeers: boolean;
  /** The peer sections, in request order. */
  peers: UapiPeerChange[];
}

function parseUint(text: string, max: number, what: string): number {
  if (!/^[0-9]{1,10}$/.test(text) || Number(text) > max) {
    throw new UapiError(EINVAL, `invalid ${what} "${text}": want an integer 0-${max}`);
  }
  return Number(text);
}

function parseTrue(value: string, key: string): void {
  if (value !== "true") throw new UapiError(EINVAL, `invalid ${key} "${value}": only "true"`);
}

function parseEndpoint(value: string): string {
  try {
    parseHostPort(value, { host: "ip" });
  } catch (e) {
    throw new UapiError(EINVAL, `invalid endpoint "${value}": ${(e as Error).message}`);
  }
  return value;
}

function parseAllowedIp(value: string): string {
  // The protocol always carries the prefix length; a bare address is a malformed line.
  if (!value.includes("/") || value.trim() !== value) {
    throw new UapiError(EINVAL, `invalid allowed_ip "${value}": want address/bits`);
  }
  const cidr = Cidr.tryParse(value);
  if (cidr === null) throw new UapiError(EINVAL, `invalid allowed_ip "${value}"`);
  return cidr.toString();
}

/**
 * Parses the lines of a `set` request after `set=1` (without the empty line that ends it) and
 * validates all of them, so that a bad line anywhere rejects the whole request untouched.
 * Throws a UapiError (EINVAL) naming the first bad line.
 */
export function parseSetRequest(lines: readonly string[]): UapiSetRequest {
  const req: UapiSetRequest = { replacePeers: false, peers: [] };
  let peer: UapiPeerChange | null = null;
  for (const [i, line] of lines.entries()) {
    const eq = line.indexOf("=");
    // The line is not echoed: it may hold key material.
    if (eq <= 0) throw new UapiError(EINVAL, `malformed line ${i + 2}: want key=value`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === "public_key") {
      peer = {
        publicKey: keyFromHex(value, "public_key"),
        remove: false,
        updateOnly: false,
        replaceAllowedIps: false,
        allowedIps: [],
      };
      req.peers.push(peer);
      continue;
    }
    if (peer === null) {
      switch (key) {
        case "private_key":
          req.privateKey = keyFromHex(value, "private_key");
          break;
        case "listen_port":
          req.listenPort = parseUint(value, 0xffff, "listen_port");
          break;
        case "fwmark":
          req.fwmark = parseUint(value, 0xffffffff, "fwmark");
          break;
        case "replace_peers":
          parseTrue(value, key);
          req.replacePeers = true;
          break;
        default:
          throw new UapiError(EINVAL, `unknown device key "${key.slice(0, 40)}"`);
      }
      continue;
    }
    // Lines after remove=true are still validated, but change nothing (as wireguard-go).
    const target: UapiPeerChange = peer.remove ? { ...peer, allowedIps: [] } : peer;
    switch (key) {
      case "remove":
        parseTrue(value, key);
        peer.remove = true;
        break;
      case "update_only":
        parseTrue(value, key);
        target.updateOnly = true;
        break;
      case "preshared_key":
        target.presharedKey = keyFromHex(value, "preshared_key");
        break;
      case "endpoint":
        target.endpoint = parseEndpoint(value);
        break;
      case "persistent_keepalive_interval":
        target.persistentKeepalive = parseUint(value, 0xffff, key);
        break;
      case "replace_allowed_ips":
        parseTrue(value, key);
        target.replaceAllowedIps = true;
        target.allowedIps = [];
        break;
      case "allowed_ip":
        target.allowedIps.push(parseAllowedIp(value));
        break;
      case "protocol_version":
        if (value !== "1") {
          throw new UapiError(EINVAL, `unsupported protocol_version "${value.slice(0, 20)}"`);
        }
        break;
      default:
        throw new UapiError(EINVAL, `unknown peer key "${key.slice(0, 40)}"`);
    }
  }
  return req;
}

/** One peer as a `get` response shows it. */
export interface UapiPeerState {
  /** The peer's public key. */
  publicKey: Uint8Array;
  /** The preshared key; all zeros when there is none. */
  presharedKey: Uint8Array;
  /** `ip:port` or `[ipv6]:port`, null when unknown. */
  endpoint: string | null;
  /** Unix ms of the last completed handshake, 0 when none. */
  lastHandshakeUnixMs: number;
  /** Underlay bytes sent to the peer. */
  txBytes: number;
  /** Underlay bytes received from the peer. */
  rxBytes: number;
  /** Persistent keepalive interval in seconds, 0 when off. */
  persistentKeepalive: number;
  /** Prefixes routed to the peer, `network/bits`. */
  allowedIps: string[];
}

/** The device as a `get` response shows it. */
export interface UapiDeviceState {
  /** Our private key; all zeros is left out of the response. */
  privateKey: Uint8Array;
  /** The listen port; 0 is left out. */
  listenPort: number;
  /** The firewall mark; 0 is left out. */
  fwmark: number;
  /** The peers. */
  peers: UapiPeerState[];
}

function isZero(key: Uint8Array): boolean {
  for (const b of key) if (b !== 0) return false;
  return true;
}

/** The full response to `get=1`: the `key=value` lines, then `errno=0` and the empty line. */
export function formatGetResponse(state: UapiDeviceState): string {
  const out: string[] = [];
  if (!isZero(state.privateKey)) out.push(`private_key=${keyToHex(state.privateKey)}`);
  if (state.listenPort !== 0) out.push(`listen_port=${state.listenPort}`);
  if (state.fwmark !== 0) out.push(`fwmark=${state.fwmark}`);
  for (const p of state.peers) {
    out.push(`public_key=${keyToHex(p.publicKey)}`);
    out.push(`preshared_key=${keyToHex(p.presharedKey)}`);
    out.push("protocol_version=1");
    if (p.endpoint !== null) out.push(`endpoint=${p.endpoint}`);
    const ms = Math.max(0, Math.floor(p.lastHandshakeUnixMs));
    out.push(`last_handshake_time_sec=${Math.floor(ms / 1000)}`);
    out.push(`last_handshake_time_nsec=${(ms % 1000) * 1_000_000}`);
    out.push(`tx_bytes=${p.txBytes}`);
    out.push(`rx_bytes=${p.rxBytes}`);
    out.push(`persistent_keepalive_interval=${p.persistentKeepalive}`);
    for (const ip of p.allowedIps) out.push(`allowed_ip=${ip}`);
  }
  out.push("");
  return out.join("\n") + formatErrno(0);
}
