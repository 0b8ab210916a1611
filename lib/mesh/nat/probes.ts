/**
 * The path probes of the mesh's paths (mesh_paths.ts), in and out: answers a member's ping
 * (refusing replays, at most 20 a second per peer) and learns where it came from, hands a pong
 * to the path table, and sends the pings the table asks for on the device's socket.
 * @module
 */

import type { Device } from "../../device/device.ts";
import type { Endpoint } from "../../io/driver.ts";
import type { Candidates } from "../../nat/candidates.ts";
import type { PathChange, PathTable } from "../../nat/paths.ts";
import type { PathCrypto } from "../../nat/probe.ts";
import { RateLimiter } from "../../protocol/ratelimiter.ts";
import type { PeerState } from "./peer.ts";
import type { NatDropReason } from "./status.ts";
import type { ReasonCounter } from "../../metrics/reasons.ts";

/** How many of a peer's last pings are remembered to refuse replays of them. */
const RECENT_PINGS = 64;

/** What the probes work with. */
export interface PathProbesDeps {
  /** The device: its socket and endpoints. */
  device: Device;
  /** Seals and opens the probes. */
  crypto: PathCrypto;
  /** The path table. */
  table: PathTable;
  /** This node's candidates (a pong says where a peer sees us). */
  own: Candidates;
  /** The peers' states by public key. */
  peers: ReadonlyMap<string, PeerState>;
  /** Where dropped probes are counted. */
  drops: ReasonCounter<NatDropReason>;
  /** Takes a path change a pong made. */
  apply: (key: string, change: PathChange | null) => void;
  /**
   * A ping from a member with no path entry (sessions on demand: idle here): makes it active
   * and returns its state, or undefined for a key that is no member.
   */
  wake?: (key: string) => PeerState | undefined;
}

/** Path probes in and out. See the module docs. */
export class PathProbes {
  readonly #d: PathProbesDeps;
  readonly #pongLimit = new RateLimiter({ perSecond: 20, burst: 20, maxEntries: 4096 });
  #unsent = 0;

  constructor(deps: PathProbesDeps) {
    this.#d = deps;
  }

  /** A path probe from the underlay; true when it was taken (the schedule may have changed). */
  handle(data: Uint8Array, from: Endpoint): boolean {
    const d = this.#d;
    const r = d.crypto.open(data);
    if ("drop" in r) return false; // counted by the codec
    const now = performance.now();
    if (r.type === "ping") {
      // The codec opened it with a member's key: a member that probes us wants a session.
      const st = d.peers.get(r.peerKey) ?? d.wake?.(r.peerKey);
      if (!st) {
        // A member we hold no session for and could not wake: unanswered, and counted, so a
        // member left unprobed (its pings never answered) shows.
        d.drops.add("inactive");
        return false;
      }
      // A ping captured and sent again (from anywhere) would make us answer and probe there.
      if (st.pings.has(r.txid)) {
        d.drops.add("replay");
        return false;
      }
      if (!this.#pongLimit.allow(r.peerKey)) {
        d.drops.add("rate-limited");
        return false;
      }
      st.pings.add(r.txid);
      if (st.pings.size > RECENT_PINGS) st.pings.delete(st.pings.values().next().value!);
      this.#send(d.crypto.pong(r.peerKey, r.txid, from), from);
      // Where its ping came from is where it can be reached (its NAT just opened that door).
      d.table.get(r.peerKey)?.addCandidate(from.toString(), "peer-observed", now);
    } else {
      const at = from.toString();
      const pinged = (endpoint: string) => {
        if (endpoint === at) return true;
        try {
          // Candidate texts may be written otherwise (IPv6): compare as the device interns them.
          return d.device.endpoint(endpoint).toString() === at;
        } catch {
          return false;
        }
      };
      d.apply(r.peerKey, d.table.pong(r.peerKey, r.txid, now, pinged));
      if (d.own.observe(r.peerKey, r.observed.address, r.observed.port)) d.own.refresh();
    }
    return true;
  }

  /** Pings a peer's candidate endpoint (the table asked for it). */
  ping(key: string, endpoint: string, now: number): void {
    const d = this.#d;
    const pp = d.table.get(key);
    if (!pp) return;
    let ping: { bytes: Uint8Array; txid: string };
    try {
      ping = d.crypto.ping(key);
    } catch {
      // An unusable key (low order): recorded as sent, so it is not due again at once.
      pp.sent(endpoint, `unsent-${this.#unsent++}`, now);
      return;
    }
    pp.sent(endpoint, ping.txid, now);
    let to: Endpoint;
    try {
      to = d.device.endpoint(endpoint);
    } catch {
      d.drops.add("send-error");
      return;
    }
    this.#send(ping.bytes, to);
  }

  #send(bytes: Uint8Array, to: Endpoint): void {
    try {
      this.#d.device.sendDatagram(bytes, to);
    } catch {
      this.#d.drops.add("send-error"); // an unreachable family or a closing socket: the next round
    }
  }
}
