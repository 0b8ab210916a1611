/**
 * A mesh agent's relay parts below its device, made with the transport (before the agent): the
 * relay client always, the relay server when this node relays, and the mux that puts them on
 * the agent's transport.
 * @module
 */

import { BatchClock } from "../../io/batch_clock.ts";
import type { Transport } from "../../io/driver.ts";
import type { MembershipView } from "../../members/member.ts";
import { RelayClient } from "../../relay/client.ts";
import { RelayMux } from "../../relay/mux.ts";
import { RelayServer } from "../../relay/server.ts";
import { RelayTransport } from "../../relay/transport.ts";
import { RELAY_HEADER_SIZE } from "../../relay/wire.ts";

/** The relay client, and the server when this node relays. */
export interface RelayParts {
  /** The client: this node's packets through other relays. */
  client: RelayClient;
  /** The server, when this node relays for others. */
  server: RelayServer | null;
  /** The transport under the mux, where the server's packets go. */
  underlay: Transport | null;
  /** The members' keys now (only members may use the relay). */
  members: Set<string>;
}

/** What decides the relay parts: the role, `--relay`, the MTU and the rate per member. */
export interface RelayPartsOptions {
  /** `leader` or `node`: the leader always relays. */
  role: "leader" | "node";
  /** This node relays for others. */
  relay?: boolean;
  /** The tunnel's MTU (default 1420). */
  mtu?: number;
  /** A relay's rate per member, Mbit/s. */
  relayRateMbps?: number;
}

/** The relay client, and the server when this node relays (the leader always does). */
export function makeRelayParts(opts: RelayPartsOptions, view: MembershipView): RelayParts {
  // Read once per batch of packets, not per packet: the client stamps every packet it wraps and
  // unwraps, the server every packet it forwards (a clock read costs as much as their MAC).
  const now = new BatchClock().now;
  const parts: RelayParts = {
    client: new RelayClient({ now }),
    server: null,
    underlay: null,
    members: new Set(view.members.map((m) => m.publicKey)),
  };
  if (opts.role !== "leader" && !opts.relay) return parts;
  const mtu = opts.mtu ?? 1420;
  parts.server = new RelayServer({
    now,
    // The underlay is there before the first packet: wrapRelays sets it as the agent starts.
    send: (data, to) => parts.underlay?.send(data, to),
    isMember: (key) => parts.members.has(key),
    // A WireGuard message of a full MTU-sized packet, in the relay header.
    maxPacket: RELAY_HEADER_SIZE + mtu + 32,
    ...(opts.relayRateMbps === undefined ? {} : { rate: relayRate(opts.relayRateMbps) }),
    ...(processCpuMs === null ? {} : { cpuMs: processCpuMs }),
  });
  return parts;
}

/** `Deno.cpuUsage` (microseconds of user and system CPU), which Deno's types do not list yet. */
type CpuUsage = () => { user: number; system: number };

/**
 * The CPU this process spent so far, ms: how the relay tells it is saturated; null where the
 * runtime cannot tell (then the relay never holds a member to a share).
 */
const processCpuMs: (() => number) | null = (() => {
  const usage = typeof Deno === "undefined"
    ? undefined
    : (Deno as unknown as { cpuUsage?: CpuUsage }).cpuUsage;
  if (typeof usage !== "function") return null;
  return () => {
    const u = usage();
    return (u.user + u.system) / 1000;
  };
})();

/** The agent's transport with relaying on top: see lib/relay/mux.ts. */
export function wrapRelays(underlay: Transport, relay: RelayParts): Transport {
  relay.underlay = underlay;
  const mux = new RelayMux(underlay, new RelayTransport(relay.client, underlay));
  const server = relay.server;
  if (server) {
    // A GRO batch of one member's packets goes back out as one GSO send, from where it was read.
    if (underlay.sendRun !== undefined) {
      server.setSendRun((data, length, size, to) => underlay.sendRun!(data, length, size, to));
    }
    mux.setRelayHandler((data, from) => server.forward(data, from), () => server.flush());
  }
  return mux;
}

/** A relay's per-member rate from Mbit/s: bytes a second, and a packet for every 1,000 bytes. */
function relayRate(mbps: number): { bytesPerSecond: number; packetsPerSecond: number } {
  const bytesPerSecond = Math.round(mbps * 125_000);
  return { bytesPerSecond, packetsPerSecond: Math.max(1, Math.round(bytesPerSecond / 1000)) };
}
