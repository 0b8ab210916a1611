/**
 * A transport whose endpoints are the virtual `relay://` ones: what the device sends to a peer
 * there is wrapped by a {@link RelayClient} and sent to the relay over an underlying transport;
 * relay-to-member packets the integration hands to `deliver` are unwrapped and given to the
 * device as coming from the peer's virtual endpoint. So the device needs to know nothing of
 * relays: roaming moves a peer onto the relay when its packets arrive that way, and off it when
 * they arrive direct again.
 * @module
 */

import type { DatagramSink, Endpoint, Transport } from "../io/driver.ts";
import type { RelayClient } from "./client.ts";
import { isRelayEndpoint } from "./endpoint.ts";
import { RELAY_HEADER_SIZE } from "./wire.ts";

/** Counters of a relay transport (the client counts its own drops). */
export interface RelayTransportStats {
  /** Messages sent through a relay. */
  sent: number;
  /** Messages not sent: no session, too large, or an endpoint that is not a relay one. */
  sendDrops: number;
  /** Messages handed to the sink. */
  delivered: number;
  /** Relay packets `deliver` dropped (the client says why). */
  deliverDrops: number;
}

/** Sends to and receives from `relay://` endpoints. See the module docs. */
export class RelayTransport implements Transport {
  /** Always `relay`. */
  readonly name = "relay";
  /** The client holding the sessions. */
  readonly client: RelayClient;
  /** The counters. */
  readonly stats: RelayTransportStats = { sent: 0, sendDrops: 0, delivered: 0, deliverDrops: 0 };
  readonly #underlay: Transport;
  /** Views 16 bytes into the underlay's send slots (the same slot object comes back each time). */
  readonly #innerViews = new WeakMap<Uint8Array, Uint8Array>();
  /** The underlay's slot lent by the last {@link reserve}, and where it goes. */
  #slot: Uint8Array | null = null;
  #slotTo: Endpoint | null = null;
  #sink: DatagramSink | null = null;
  #closed = false;

  /**
   * Relays through `underlay` (the node's own UDP/TCP transport, which it does not start or
   * close: the integration owns it).
   */
  constructor(client: RelayClient, underlay: Transport) {
    this.client = client;
    this.#underlay = underlay;
  }

  /** The underlay's port (relay packets leave from it). */
  get port(): number {
    return this.#underlay.port;
  }

  /** Keeps `sink` for what `deliver` unwraps. */
  start(sink: DatagramSink): void {
    this.#sink = sink;
  }

  /**
   * Wraps `data` for the peer of relay endpoint `to` and sends it to the relay the client picks
   * for that peer (the fastest that works: not necessarily the one `to` names, so a failed
   * relay is left at once, before the device roams), marked `tos` on the way to the relay.
   */
  send(data: Uint8Array, to: Endpoint, tos?: number): void {
    this.#slot = null;
    if (this.#closed || !isRelayEndpoint(to)) {
      this.stats.sendDrops++;
      return;
    }
    const w = this.client.wrap(to.peerKey, data);
    if (w === null) {
      this.stats.sendDrops++;
      return;
    }
    this.#underlay.send(w.bytes, w.relayEndpoint, tos);
    this.stats.sent++;
  }

  /**
   * Zero-copy send: lends the part after the relay header of a send slot of the underlay, to
   * the relay the client picks for the peer of relay endpoint `to`, so the device seals its
   * message there and {@link commit} only writes the header and MAC in front of it. Null when
   * the underlay lends no slots (or none now), the client has no usable session, or it would
   * not fit: `send` then handles (and counts) the message.
   */
  reserve(max: number, to: Endpoint): Uint8Array | null {
    this.#slot = null;
    const u = this.#underlay;
    if (this.#closed || u.reserve === undefined || !isRelayEndpoint(to)) return null;
    const relayEp = this.client.reserve(to.peerKey, max);
    if (relayEp === null) return null;
    const slot = u.reserve(RELAY_HEADER_SIZE + max, relayEp);
    if (slot === null) return null;
    this.#slot = slot;
    this.#slotTo = relayEp;
    let inner = this.#innerViews.get(slot);
    if (inner === undefined) {
      inner = slot.subarray(RELAY_HEADER_SIZE);
      this.#innerViews.set(slot, inner);
    }
    return inner;
  }

  /**
   * Queues the message of `length` bytes built in the slot {@link reserve} lent, with its relay
   * header and MAC, to the relay; throws when nothing is reserved (a caller's bug).
   */
  commit(length: number, _to: Endpoint, tos?: number): void {
    const slot = this.#slot;
    const relayEp = this.#slotTo;
    this.#slot = null;
    this.#slotTo = null;
    if (slot === null || relayEp === null) throw new Error("relay: commit without reserve");
    const total = this.client.sealReserved(slot, length);
    this.#underlay.commit!(total, relayEp, tos);
    this.stats.sent++;
  }

  /** Flushes the underlay (a slot reserved and not committed is forgotten, as there). */
  flush(): void {
    this.#slot = null;
    this.#underlay.flush();
  }

  /** Parses `relay://<relay>/<peer>` among the relays and peers the client knows. */
  endpoint(text: string): Endpoint {
    return this.client.parseEndpoint(text);
  }

  /**
   * Hands a relay-to-member packet (type 0x16 or 0x18) from the underlay to the sink, unwrapped; the
   * caller flushes the sink at the end of its batch. False when it was dropped.
   */
  deliver(data: Uint8Array, from: Endpoint): boolean {
    const sink = this.#sink;
    if (sink === null || this.#closed) {
      this.stats.deliverDrops++;
      return false;
    }
    const u = this.client.unwrap(data, from);
    if (typeof u === "string") {
      this.stats.deliverDrops++;
      return false;
    }
    this.stats.delivered++;
    sink.datagram(u.inner, u.virtualEndpoint);
    return true;
  }

  /** Stops sending and delivering; the underlay stays open (it is not ours). */
  close(): Promise<void> {
    this.#closed = true;
    this.#sink = null;
    return Promise.resolve();
  }
}
