/**
 * The transport a relaying-capable device runs on: the node's own underlay transport and a
 * {@link RelayTransport} side by side. Sends go by endpoint (`relay://` ones to the relay
 * transport, the rest to the underlay); datagrams from the underlay go by type: relay-to-member
 * packets (0x16) are unwrapped by the relay transport, member-to-relay packets (0x15) go to the
 * relay server when this node is one (else they are counted and dropped), and everything else
 * (WireGuard, the join exchange) goes to the device as before.
 * @module
 */

import type { DatagramSink, Endpoint, Transport } from "../io/driver.ts";
import { readU32 } from "../protocol/bytes.ts";
import { RELAY_SCHEME } from "./endpoint.ts";
import type { RelayTransport } from "./transport.ts";
import { MSG_RELAY_FROM_RELAY, MSG_RELAY_TO_RELAY } from "./wire.ts";

/** Options of a {@link RelayMux}. */
export interface RelayMuxOptions {
  /**
   * Gets member-to-relay packets (type 0x15) when this node relays: typically
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

  /** Joins `underlay` and `relay` (which should relay through `underlay`). */
  constructor(underlay: Transport, relay: RelayTransport, opts: RelayMuxOptions = {}) {
    this.underlay = underlay;
    this.relay = relay;
    this.name = `${underlay.name}+relay`;
    this.#onToRelay = opts.onToRelay;
  }

  /** Starts or stops handing member-to-relay packets to a relay server (undefined: stop). */
  setRelayHandler(onToRelay: ((data: Uint8Array, from: Endpoint) => void) | undefined): void {
    this.#onToRelay = onToRelay;
  }

  /** The underlay's port. */
  get port(): number {
    return this.underlay.port;
  }

  /** Starts both sides into `sink`, sorting the underlay's datagrams by type. */
  start(sink: DatagramSink): void {
    this.relay.start(sink);
    this.underlay.start({
      datagram: (data, from) => {
        const type = data.length >= 4 ? readU32(data, 0) : 0;
        if (type === MSG_RELAY_FROM_RELAY) {
          this.relay.deliver(data, from);
        } else if (type === MSG_RELAY_TO_RELAY) {
          if (this.#onToRelay !== undefined) this.#onToRelay(data, from);
          else this.stats.notRelaying++;
        } else {
          sink.datagram(data, from);
        }
      },
      flush: () => sink.flush(),
    });
  }

  /** Sends to a relay endpoint through the relay side, to any other on the underlay. */
  send(data: Uint8Array, to: Endpoint, tos?: number): void {
    if (to.proto === "relay") this.relay.send(data, to, tos);
    else this.underlay.send(data, to, tos);
  }

  /** Lends a send slot of the underlay for a direct endpoint; none for a relay one. */
  reserve(max: number, to: Endpoint): Uint8Array | null {
    const u = this.underlay;
    return to.proto === "relay" || u.reserve === undefined ? null : u.reserve(max, to);
  }

  /** Queues the underlay's slot just reserved. */
  commit(length: number, to: Endpoint, tos?: number): void {
    const u = this.underlay;
    if (to.proto === "relay" || u.commit === undefined) {
      throw new Error(`${this.name}: commit without reserve`);
    }
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
