/**
 * The transport a relaying-capable device runs on: the node's own underlay transport and a
 * {@link RelayTransport} side by side. Sends go by endpoint (`relay://` ones to the relay
 * transport, the rest to the underlay); datagrams from the underlay go by type: relay-to-member
 * packets (0x16, 0x18) are unwrapped by the relay transport, member-to-relay ones (0x15, 0x17) go
 * to the relay server when this node is one (else they are counted and dropped), and everything
 * else (WireGuard, the join exchange) goes to the device as before. A send slot lent for a relay
 * endpoint is the underlay's, past the relay header.
 * @module
 */

import type { DatagramSink, Endpoint, Transport } from "../io/driver.ts";
import { RELAY_SCHEME } from "./endpoint.ts";
import type { RelayTransport } from "./transport.ts";
import { isFromRelay, isToRelay } from "./wire.ts";

/** Options of a {@link RelayMux}. */
export interface RelayMuxOptions {
  /**
   * Gets member-to-relay packets (types 0x15 and 0x17) when this node relays: typically
   * `(data, from) => server.forward(data, from)`. `data` is only valid during the call.
   */
  onToRelay?: (data: Uint8Array, from: Endpoint) => void;
}

/** Counters of a {@link RelayMux}. */
export interface RelayMuxStats {
  /** Member-to-relay packets that arrived with no relay server here. */
  notRelaying: number;
}

/** An underlay and a relay transport as one. See the module docs. */
export class RelayMux implements Transport {
  /** The underlay's name with `+relay`. */
  readonly name: string;
  /** The node's own transport. */
  readonly underlay: Transport;
  /** The relay side. */
  readonly relay: RelayTransport;
  /** The counters. */
  readonly stats: RelayMuxStats = { notRelaying: 0 };
  #onToRelay: ((data: Uint8Array, from: Endpoint) => void) | undefined;
  #onBatchEnd: (() => void) | undefined;

  /** Joins `underlay` and `relay` (which should relay through `underlay`). */
  constructor(underlay: Transport, relay: RelayTransport, opts: RelayMuxOptions = {}) {
    this.underlay = underlay;
    this.relay = relay;
    this.name = `${underlay.name}+relay`;
    this.#onToRelay = opts.onToRelay;
  }

  /**
   * Starts or stops handing member-to-relay packets to a relay server (undefined: stop);
   * `onBatchEnd` is called at the end of each batch the underlay hands in, before the device's
   * flush (the server sends the run it holds: `RelayServer.flush`).
   */
  setRelayHandler(
    onToRelay: ((data: Uint8Array, from: Endpoint) => void) | undefined,
    onBatchEnd?: () => void,
  ): void {
    this.#onToRelay = onToRelay;
    this.#onBatchEnd = onToRelay === undefined ? undefined : onBatchEnd;
  }

  /** The underlay's port. */
  get port(): number {
    return this.underlay.port;
  }

  /** Starts both sides into `sink`, sorting the underlay's datagrams by type. */
  start(sink: DatagramSink): void {
    this.relay.start(sink);
    this.underlay.start({
      datagram: (data, from, waitedMs) => {
        if (isFromRelay(data)) {
          this.relay.deliver(data, from);
        } else if (isToRelay(data)) {
          if (this.#onToRelay !== undefined) this.#onToRelay(data, from);
          else this.stats.notRelaying++;
        } else {
          sink.datagram(data, from, waitedMs);
        }
      },
      flush: () => {
        this.#onBatchEnd?.();
        sink.flush();
      },
    });
  }

  /** Sends to a relay endpoint through the relay side, to any other on the underlay. */
  send(data: Uint8Array, to: Endpoint, tos?: number): void {
    if (to.proto === "relay") this.relay.send(data, to, tos);
    else this.underlay.send(data, to, tos);
  }

  /**
   * Lends a send slot of the underlay: for a direct endpoint the slot itself, for a relay one
   * its part after the relay header (the relay side writes the header on commit).
   */
  reserve(max: number, to: Endpoint): Uint8Array | null {
    if (to.proto === "relay") return this.relay.reserve(max, to);
    const u = this.underlay;
    return u.reserve === undefined ? null : u.reserve(max, to);
  }

  /** Queues the slot just reserved, on the side that lent it. */
  commit(length: number, to: Endpoint, tos?: number): void {
    if (to.proto === "relay") return this.relay.commit(length, to, tos);
    const u = this.underlay;
    if (u.commit === undefined) throw new Error(`${this.name}: commit without reserve`);
    u.commit(length, to, tos);
  }

  /** Flushes the underlay (the relay side sends through it). */
  flush(): void {
    this.underlay.flush();
  }

  /** Passes the device's word on to the underlay (TCP endpoints are its). */
  authenticated(from: Endpoint): void {
    this.underlay.authenticated?.(from);
  }

  /** Passes the device's word on to the underlay (stream endpoints are its). */
  release(ep: Endpoint): void {
    this.underlay.release?.(ep);
  }

  /** `relay://...` text gives a relay endpoint; anything else the underlay's. */
  endpoint(text: string): Endpoint {
    return text.toLowerCase().startsWith(RELAY_SCHEME)
      ? this.relay.endpoint(text)
      : this.underlay.endpoint(text);
  }

  /** Closes both sides. */
  async close(): Promise<void> {
    await Promise.allSettled([this.relay.close(), this.underlay.close()]);
  }
}
