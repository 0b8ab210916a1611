/**
 * A peer as the device holds it: identity, endpoint, sessions, timers, staged packets and
 * counters.
 * @module
 */

import type { Endpoint } from "../io/driver.ts";
import type { LocalIdentity } from "../protocol/noise.ts";
import { Handshake } from "../protocol/noise.ts";
import { CookieGenerator } from "../protocol/cookie.ts";
import type { ProtocolTimers } from "../protocol/constants.ts";
import { encodeKey } from "../crypto/keys.ts";
import { Keypair } from "./keypair.ts";
import { PeerTimers } from "./timers.ts";

/** Per-peer traffic counters. */
export interface PeerCounters {
  /** Bytes received on the underlay from this peer (authenticated transport data). */
  rxBytes: number;
  /** Bytes sent on the underlay to this peer. */
  txBytes: number;
  /** Transport packets received (keepalives included). */
  rxPackets: number;
  /** Transport packets sent (keepalives included). */
  txPackets: number;
  /** Transport packets received that carried data (keepalives not counted). */
  rxData: number;
  /** Transport packets sent that carried data (keepalives not counted). */
  txData: number;
  /** Handshakes completed. */
  handshakes: number;
  /** Handshake initiations sent. */
  initiationsSent: number;
  /**
   * Responses to our initiations that came from the peer's index but did not authenticate:
   * the peer answered with a key we do not hold (a preshared key it lost in a restart).
   */
  rejectedResponses: number;
}

/** A peer of a device. */
export class Peer {
  /** The peer's static public key, base64 (its name in configs and `wg`). */
  readonly publicKeyText: string;
  /** Handshake state. */
  readonly handshake: Handshake;
  /** MAC1/MAC2 for what we send to this peer. */
  readonly cookies: CookieGenerator;
  /** Protocol timers. */
  readonly timers: PeerTimers;
  /** The current session. */
  current: Keypair<Peer> | null = null;
  /** The previous session, still accepted for receiving. */
  previous: Keypair<Peer> | null = null;
  /** A responder's new session, waiting for the initiator's first packet. */
  next: Keypair<Peer> | null = null;
  /** Where to send; follows the peer's last authenticated packet (see device/roaming.ts). */
  endpoint: Endpoint | null = null;
  /**
   * [0]: monotonic ms of the last authenticated packet that came over UDP (see roaming). A typed
   * array: a number field of this class is tagged (its constructor has parameter properties), and
   * a time stored per packet would cost a heap number each.
   */
  readonly udpHeardAt: Float64Array = new Float64Array([-Infinity]);
  /**
   * The other place the peer is known to send from (see device/roaming.ts): the endpoint it
   * last roamed away from, or where an authenticated packet came from that did not move it.
   */
  otherEndpoint: Endpoint | null = null;
  /**
   * Places the peer sent from before {@link Peer.otherEndpoint}, the oldest replaced (see
   * device/roaming.ts `heardFrom`): a peer may keep sending from one a while after newer places
   * were heard (its data on a connection while a handshake came on another).
   */
  readonly earlierEndpoints: (Endpoint | null)[] = [null, null, null, null];
  /** The slot of {@link Peer.earlierEndpoints} the next place goes to. */
  earlierNext = 0;
  /** Times the endpoint moved to another place: roams, and moves of routes and paths. */
  endpointMoves = 0;
  /**
   * The UDP endpoint a route moved the peer off because its pings there went unanswered (see
   * device/roaming.ts `leaveFailedUdp`): the peer's packets still coming from it do not move the
   * peer back; null when none is held.
   */
  failedUdp: Endpoint | null = null;
  /** Packets waiting for a session. */
  staged: Uint8Array[] = [];
  /** Monotonic ms of the last initiation sent (rate limit). */
  lastInitiationSent = -Infinity;
  /**
   * When both sides start a handshake at once, each ends up holding both sessions; both settle
   * on the one started by the larger static key, once the other side has shown it holds it by
   * sending on it (a peer that restarted since has only its new one). True when that is the peer.
   * Worked out again by {@link Peer.localKeyChanged}.
   */
  winsCrossing: boolean;
  /** Unix ms of the last completed handshake, 0 when none. */
  lastHandshakeUnixMs = 0;
  /**
   * Data passes only on sessions made with a tagged preshared key (Keypair.presharedKeyTag):
   * a mesh member that requires post-quantum keys (`--require-pq`). Datagrams to the device's
   * exempt ports pass regardless: the key exchange itself.
   */
  requireTagged = false;
  /** Traffic counters. */
  readonly counters: PeerCounters = {
    rxBytes: 0,
    txBytes: 0,
    rxPackets: 0,
    txPackets: 0,
    rxData: 0,
    txData: 0,
    handshakes: 0,
    initiationsSent: 0,
    rejectedResponses: 0,
  };

  constructor(
    /** The peer's static public key. */
    readonly publicKey: Uint8Array,
    presharedKey: Uint8Array,
    local: LocalIdentity,
    timers: ProtocolTimers,
    persistentKeepaliveSeconds: number,
  ) {
    this.publicKeyText = encodeKey(publicKey);
    this.winsCrossing = compareBytes(publicKey, local.publicKey) > 0;
    this.handshake = new Handshake(publicKey, presharedKey, local);
    this.cookies = new CookieGenerator(publicKey, timers.cookieRefreshTime);
    this.timers = new PeerTimers(timers, persistentKeepaliveSeconds * 1000);
  }

  /**
   * Our static key changed (written into `local`'s arrays): the static-static DH is computed
   * again on next use and the crossing rule follows the new key. The caller wipes the sessions.
   */
  localKeyChanged(local: LocalIdentity): void {
    this.winsCrossing = compareBytes(this.publicKey, local.publicKey) > 0;
    this.handshake.forgetStaticStatic();
  }

  /** Every live session of this peer. */
  keypairs(): Keypair<Peer>[] {
    const out: Keypair<Peer>[] = [];
    if (this.current) out.push(this.current);
    if (this.previous) out.push(this.previous);
    if (this.next) out.push(this.next);
    return out;
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
