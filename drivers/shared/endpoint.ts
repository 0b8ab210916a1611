/**
 * Parsing, formatting and interning of underlay endpoints, shared by all transports.
 *
 * Every transport owns an {@link EndpointTable}: the same address and port always yields the same
 * frozen object, so the device can detect roaming with `!==`. IPv4-mapped IPv6 addresses
 * (`::ffff:a.b.c.d`, what a dual-stack socket reports for IPv4 peers) are normalised to IPv4.
 * A table makes endpoints of one protocol: UDP ones print as `1.2.3.4:51820` (as they always
 * have), TCP ones as `tcp://1.2.3.4:51820`, so the two never compare or print alike.
 * @module
 */

import type { Endpoint } from "../../lib/io/driver.ts";
import { formatAddressWords, isMappedV4, parseAddressWords } from "../../lib/net/ip.ts";
import { parseHostPort } from "../../lib/net/hostport.ts";
import { objectSlots } from "./object_array.ts";

/** An endpoint made by an {@link EndpointTable}; carries the address as four 32-bit words. */
export class InternedEndpoint implements Endpoint {
  /** The IP address as canonical text (RFC 5952 for IPv6, dotted quad for IPv4). */
  readonly address: string;
  /** The port. */
  readonly port: number;
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** The underlay protocol of the table that made it. */
  readonly proto: EndpointProto;
  /** The address as IPv6 in four big-endian words; IPv4 is IPv4-mapped (`0, 0, 0xffff, v4`). */
  readonly words: readonly [number, number, number, number];
  readonly #text: string;

  /** Builds an endpoint; use {@link EndpointTable} instead so endpoints stay interned. */
  constructor(
    words: readonly [number, number, number, number],
    port: number,
    proto: EndpointProto = "udp",
  ) {
    this.words = Object.freeze([words[0] >>> 0, words[1] >>> 0, words[2] >>> 0, words[3] >>> 0]);
    this.port = port;
    this.family = isMappedV4(this.words) ? 4 : 6;
    this.proto = proto;
    this.address = formatAddressWords(this.words);
    const hostPort = this.family === 4 ? `${this.address}:${port}` : `[${this.address}]:${port}`;
    this.#text = proto === "udp" ? hostPort : `${proto}://${hostPort}`;
    Object.freeze(this);
  }

  /** `address:port`, with brackets around IPv6 addresses; `tcp://` (`ws://`, `wss://`) in front. */
  toString(): string {
    return this.#text;
  }
}

/** The underlay protocol of an endpoint (`ws`, `wss`: a WebSocket served by the TCP transport). */
export type EndpointProto = "udp" | "tcp" | "ws" | "wss";

const SCHEMES: ReadonlySet<string> = new Set(["udp", "tcp", "ws", "wss"]);

/**
 * Splits an optional `udp://`, `tcp://`, `ws://` or `wss://` prefix (any case) off endpoint text; without one the
 * protocol is undefined and the caller picks its own.
 */
export function splitScheme(text: string): { proto: EndpointProto | undefined; rest: string } {
  const sep = text.indexOf("://");
  if (sep < 0) return { proto: undefined, rest: text };
  const scheme = text.slice(0, sep).toLowerCase();
  if (!SCHEMES.has(scheme)) {
    throw new Error(`invalid endpoint "${text}": unknown scheme "${text.slice(0, sep)}"`);
  }
  return { proto: scheme as EndpointProto, rest: text.slice(sep + 3) };
}

/**
 * The default number of keys in a table's generation: room for the endpoints of a mesh of
 * 10,000 members in one (see {@link EndpointTable}).
 */
export const DEFAULT_ENDPOINT_LIMIT = 16_384;

// A direct-mapped cache in front of the map lets the FFI receive path find an endpoint from raw
// address words without building a string key.
const CACHE_SLOTS = 1024;

/**
 * Interns endpoints for one transport. Bounded in two generations of `limit` keys each: when the
 * current one is full it becomes the old one (the older is dropped) and a new one starts; a
 * lookup that finds its endpoint in the old generation moves it to the current one, the same
 * object. So an endpoint looked up again before `limit` other keys are added keeps its identity
 * however many pass through (a mesh of 10,000 members, or a flood of spoofed sources, which
 * cannot grow memory past two generations); one unseen for longer may come back as a new object
 * (equal in value: the device's roaming compares values when the objects differ).
 */
export class EndpointTable {
  /** The protocol of every endpoint this table makes. */
  readonly proto: EndpointProto;
  readonly #limit: number;
  /** The current generation. */
  #byKey = new Map<string, InternedEndpoint>();
  /** The previous one: what is looked up again is moved to the current one. */
  #old = new Map<string, InternedEndpoint>();
  readonly #counts: { endpointsEvicted?: number } | null;
  readonly #cacheKeys = new Int32Array(CACHE_SLOTS * 5);
  // Of the objects' kind from the start (object_array.ts), as the warm-up's tables' are by then.
  readonly #cacheValues = objectSlots<InternedEndpoint>(CACHE_SLOTS);

  /**
   * Makes an empty table of `proto` endpoints, `limit` keys a generation; the keys it lets go
   * are counted into `counts.endpointsEvicted`, if given.
   */
  constructor(
    limit: number = DEFAULT_ENDPOINT_LIMIT,
    proto: EndpointProto = "udp",
    counts?: { endpointsEvicted?: number },
  ) {
    this.#limit = limit;
    this.proto = proto;
    this.#counts = counts ?? null;
  }

  /** The number of keys held (an endpoint may be held under more than one spelling). */
  get size(): number {
    return this.#byKey.size + this.#old.size;
  }

  /** Forgets every endpoint. */
  clear(): void {
    this.#byKey.clear();
    this.#old.clear();
    this.#cacheValues.fill(undefined);
  }

  /** The endpoint held under `key` (moved to the current generation), if any. */
  #get(key: string): InternedEndpoint | undefined {
    const hit = this.#byKey.get(key);
    if (hit !== undefined) return hit;
    const old = this.#old.get(key);
    if (old !== undefined) this.#set(key, old);
    return old;
  }

  /** Holds `ep` under `key` in the current generation, starting a new one when it is full. */
  #set(key: string, ep: InternedEndpoint): void {
    if (this.#byKey.size >= this.#limit) {
      const c = this.#counts;
      // The older generation's keys that were not looked up again go now.
      if (c !== null) c.endpointsEvicted = (c.endpointsEvicted ?? 0) + this.#old.size;
      this.#old = this.#byKey;
      this.#byKey = new Map();
      // The receive path's cache answers without coming here: emptied, so that what it holds
      // is always in one of the two generations (a hit after this comes here first).
      this.#cacheValues.fill(undefined);
    }
    this.#byKey.set(key, ep);
  }

  /**
   * Parses `host:port` text (IPv6 in brackets, IP literals only), optionally prefixed with this
   * table's own scheme (`tcp://` for a TCP table, `udp://` for a UDP one); throws a clear Error.
   */
  parse(text: string): InternedEndpoint {
    const { proto, rest } = splitScheme(text);
    if (proto !== undefined && proto !== this.proto) {
      throw new Error(`invalid endpoint "${text}": this transport carries ${this.proto}`);
    }
    let host: string;
    let port: number;
    try {
      ({ host, port } = parseHostPort(rest, { host: "ip" }));
    } catch (e) {
      throw new Error(`invalid endpoint "${text}": ${(e as Error).message}`);
    }
    const words = parseAddressWords(host)!;
    return this.fromWords(words[0] | 0, words[1] | 0, words[2] | 0, words[3] | 0, port);
  }

  /**
   * The endpoint for an address as a transport reports it (e.g. `::ffff:1.2.3.4`) and a port.
   * Repeated spellings hit the map directly; throws if `host` is not an IP literal.
   */
  fromText(host: string, port: number): InternedEndpoint {
    const alias = `${host}|${port}`;
    const hit = this.#get(alias);
    if (hit !== undefined) return hit;
    const words = parseAddressWords(host);
    if (words === null) throw new Error(`"${host}" is not an IPv4 or IPv6 address`);
    if (port < 0 || port > 65535 || !Number.isInteger(port)) throw new Error(`bad port ${port}`);
    const ep = this.fromWords(words[0] | 0, words[1] | 0, words[2] | 0, words[3] | 0, port);
    this.#set(alias, ep);
    // A new generation above may have left the canonical key behind; keep the pair together.
    this.#set(`${ep.address}|${port}`, ep);
    return ep;
  }

  /**
   * The endpoint for an address given as four big-endian words (IPv4 mapped), signed or
   * unsigned, and a port.
   */
  fromWords(w0: number, w1: number, w2: number, w3: number, port: number): InternedEndpoint {
    // As signed words from here on: small integers to V8 whatever the address (see udp_recv.ts).
    w0 |= 0;
    w1 |= 0;
    w2 |= 0;
    w3 |= 0;
    const slot = (Math.imul(
      w0 ^ Math.imul(w1, 0x9e3779b1) ^ w2 ^ Math.imul(w3, 0x85ebca6b) ^
        (port * 0x10001),
      0x27d4eb2d,
    ) >>> 22) % CACHE_SLOTS;
    const k = slot * 5;
    const keys = this.#cacheKeys;
    const cached = this.#cacheValues[slot];
    if (
      cached !== undefined && keys[k] === w0 && keys[k + 1] === w1 &&
      keys[k + 2] === w2 && keys[k + 3] === w3 && keys[k + 4] === port
    ) {
      return cached;
    }
    const canonical = new InternedEndpoint([w0, w1, w2, w3], port, this.proto);
    const key = `${canonical.address}|${port}`;
    let ep = this.#get(key);
    if (ep === undefined) {
      ep = canonical;
      this.#set(key, ep);
    }
    keys[k] = w0;
    keys[k + 1] = w1;
    keys[k + 2] = w2;
    keys[k + 3] = w3;
    keys[k + 4] = port;
    this.#cacheValues[slot] = ep;
    return ep;
  }

  /**
   * Re-interns an endpoint from anywhere (another table, or a plain object) into this table, by
   * address and port: the result has this table's protocol whatever `ep.proto` says.
   */
  adopt(ep: Endpoint): InternedEndpoint {
    if (ep instanceof InternedEndpoint) {
      const w = ep.words;
      return this.fromWords(w[0] | 0, w[1] | 0, w[2] | 0, w[3] | 0, ep.port);
    }
    return this.fromText(ep.address, ep.port);
  }
}
