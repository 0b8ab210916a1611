/**
 * Virtual endpoints for peers reached through a relay: `relay://<relay>/<peer>` with short ids
 * (the first 8 characters of each key in URL-safe base64). A member's device sees relayed
 * packets from peer P through relay R as coming from one interned endpoint per (R, P), so the
 * device's ordinary roaming sends its replies back the same way, and a peer that comes back
 * direct roams away from it just as naturally.
 * @module
 */

import type { Endpoint } from "../io/driver.ts";
import { isKeyText } from "./messages.ts";

/** The scheme of relay endpoints. */
export const RELAY_SCHEME = "relay://";

/** A key's base64 in the URL-safe alphabet without padding (no `/`, so it fits in a path). */
export function urlKey(key: string): string {
  return key.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The short id of a key in endpoint text: its first 8 URL-safe base64 characters. */
export function shortId(key: string): string {
  return urlKey(key).slice(0, 8);
}

/** A peer reached through a relay. See the module docs. */
export class RelayEndpoint implements Endpoint {
  /** Both keys in full, URL-safe (`<relay>/<peer>`): unique per pair, as rate limiters key by it. */
  readonly address: string;
  /** Always 0: a relay endpoint has no port of its own. */
  readonly port = 0;
  /** Always 4; meaningless for a relay endpoint, present because the interface requires it. */
  readonly family = 4 as const;
  /** Always `relay`. */
  readonly proto = "relay" as const;
  /** The relay's public key, base64. */
  readonly relayKey: string;
  /** The peer's public key, base64. */
  readonly peerKey: string;
  readonly #text: string;

  /** Builds one; use {@link RelayEndpointTable} so they stay interned. */
  constructor(relayKey: string, peerKey: string) {
    this.relayKey = relayKey;
    this.peerKey = peerKey;
    this.address = `${urlKey(relayKey)}/${urlKey(peerKey)}`;
    this.#text = `${RELAY_SCHEME}${shortId(relayKey)}/${shortId(peerKey)}`;
    Object.freeze(this);
  }

  /** `relay://<relay short id>/<peer short id>`. */
  toString(): string {
    return this.#text;
  }

  /** `relay://<relay>/<peer>` with whole keys: parses back whatever the parser knows. */
  get fullText(): string {
    return `${RELAY_SCHEME}${this.address}`;
  }
}

/** True when `ep` is a relay endpoint. */
export function isRelayEndpoint(ep: Endpoint): ep is RelayEndpoint {
  return ep instanceof RelayEndpoint;
}

/** Interns relay endpoints: the same relay and peer always give the same object. */
export class RelayEndpointTable {
  readonly #byPair = new Map<string, RelayEndpoint>();

  /** The endpoint of `peerKey` through `relayKey`. */
  get(relayKey: string, peerKey: string): RelayEndpoint {
    const k = `${relayKey}|${peerKey}`;
    let ep = this.#byPair.get(k);
    if (ep === undefined) {
      ep = new RelayEndpoint(relayKey, peerKey);
      this.#byPair.set(k, ep);
    }
    return ep;
  }

  /** Forgets every endpoint through `relayKey`, or of `peerKey` when given. */
  forget(relayKey: string, peerKey?: string): void {
    for (const [k, ep] of this.#byPair) {
      if (ep.relayKey === relayKey && (peerKey === undefined || ep.peerKey === peerKey)) {
        this.#byPair.delete(k);
      }
    }
  }

  /** Forgets every endpoint of `peerKey`, through any relay (the peer left). */
  forgetPeer(peerKey: string): void {
    for (const [k, ep] of this.#byPair) if (ep.peerKey === peerKey) this.#byPair.delete(k);
  }

  /** How many endpoints are interned. */
  get size(): number {
    return this.#byPair.size;
  }

  /**
   * Parses `relay://<relay>/<peer>`, each part a whole key in URL-safe base64 (as
   * {@link RelayEndpoint.fullText} writes) or a short id resolved among `relays` and `peers`
   * (base64 keys). Throws a clear Error when the text is malformed or a short id matches no key,
   * or more than one.
   */
  parse(text: string, relays: Iterable<string>, peers: Iterable<string>): RelayEndpoint {
    if (!text.toLowerCase().startsWith(RELAY_SCHEME)) {
      throw new Error(`invalid relay endpoint "${text}": expected ${RELAY_SCHEME}<relay>/<peer>`);
    }
    const parts = text.slice(RELAY_SCHEME.length).split("/");
    if (parts.length !== 2 || parts.some((p) => !/^[A-Za-z0-9_-]{1,43}$/.test(p))) {
      throw new Error(`invalid relay endpoint "${text}": expected ${RELAY_SCHEME}<relay>/<peer>`);
    }
    const relay = resolve(text, "relay", parts[0], relays);
    const peer = resolve(text, "peer", parts[1], peers);
    return this.get(relay, peer);
  }
}

/**
 * The key `id` names: a whole URL-safe key (43 characters) stands for itself, known or not; a
 * short id (8) must start exactly one of `keys`.
 */
function resolve(text: string, what: string, id: string, keys: Iterable<string>): string {
  if (id.length === 43) {
    const key = `${id.replaceAll("-", "+").replaceAll("_", "/")}=`;
    if (isKeyText(key)) return key;
    throw new Error(`invalid relay endpoint "${text}": the ${what} is not a key`);
  }
  if (id.length !== 8) {
    throw new Error(`invalid relay endpoint "${text}": a ${what} id is 8 or 43 characters`);
  }
  const found: string[] = [];
  for (const k of keys) if (urlKey(k).startsWith(id)) found.push(k);
  if (found.length === 1) return found[0];
  throw new Error(
    found.length === 0
      ? `invalid relay endpoint "${text}": no known ${what} ${id}`
      : `invalid relay endpoint "${text}": ${what} ${id} is ambiguous`,
  );
}
