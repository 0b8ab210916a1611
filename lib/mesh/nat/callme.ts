/**
 * The call-me exchange of the mesh's paths (mesh_paths.ts): a node asks the leader to make a peer
 * punch towards it at the same moment, the leader relays that to the peer (or takes it itself),
 * and a node takes a call-me only from a leader and only for a member. The candidates the
 * leader passes on are the caller's record's (where the leader saw it come from, what it
 * advertises, its LAN candidates), never the list the caller sent: a member could otherwise
 * have every other member ping addresses of its choosing.
 * @module
 */

import type { Member } from "../../members/member.ts";
import type { Candidate } from "../../nat/candidates.ts";
import type { PeerPaths } from "../../nat/paths.ts";
import { RateLimiter } from "../../protocol/ratelimiter.ts";
import { CALLME_INTERVAL_MS, fromWire, MAX_CALLME_CANDIDATES, toWire } from "./callme_message.ts";
import { isIpEndpoint } from "../../net/resolve.ts";
import type { ControlPort } from "../sync/control_channel.ts";
import type { PeerState } from "./peer.ts";
import type { NatDropReason } from "./status.ts";
import type { ReasonCounter } from "../../metrics/reasons.ts";
import type { ControlMessage } from "../sync/protocol.ts";

/** What the call-me exchange works with. */
export interface CallMeDeps {
  /** The leader relays call-me messages; a node sends them to the leader. */
  role: "leader" | "node";
  /** The control channel. */
  channel: ControlPort;
  /** This node's public key. */
  me: string;
  /** The overlay address of the leader in use now (a node's call-me go to it). */
  leaderAddress: () => string;
  /**
   * Whether an overlay address is one of the mesh's leaders (the only senders of call-me a node
   * believes: the peer may use another leader than this node). Absent: the leader in use only.
   */
  isLeader?: (address: string) => boolean;
  /** The members by public key (this node left out). */
  members: ReadonlyMap<string, Member>;
  /**
   * The leader: whether the member with key `from` may know of the one with key `to` (views
   * scoped by policy); a call-me between members that may not is refused. Absent: all may.
   */
  mayCall?: (from: string, to: string) => boolean;
  /** This node's candidates now: what a call-me carries. */
  candidates: () => readonly Candidate[];
  /** Where refused call-me messages are counted. */
  drops: ReasonCounter<NatDropReason>;
  /** A peer calls: it punches towards us now. False when it is no peer (nothing counted). */
  calledBy: (key: string, c: Candidate[]) => boolean;
}

/**
 * A member's candidates as its record holds them: its endpoints (the leader's observation first,
 * then what it advertises) and its LAN candidates, IP endpoints only, at most 16.
 */
export function recordCandidates(m: Member): Candidate[] {
  const out: Candidate[] = [];
  const wire = [
    ...m.endpoints.map((e) => ({ k: "advertised", e })),
    ...(m.lan ?? []).map((e) => ({ k: "lan", e })),
  ];
  for (const x of wire) {
    if (out.length >= MAX_CALLME_CANDIDATES || !isIpEndpoint(x.e)) continue;
    const c = fromWire([x])?.[0];
    if (c !== undefined && !out.some((o) => o.endpoint === c.endpoint)) out.push(c);
  }
  return out;
}

/** Sends, relays and takes call-me messages. See the module docs. */
export class CallMe {
  readonly #d: CallMeDeps;
  // Per (sender, target) pair: a node asks at most once per peer per 5 s, so this only stops
  // a node that floods the leader with call-me messages.
  readonly #relayLimit = new RateLimiter({ perSecond: 1, burst: 3, maxEntries: 65_536 });
  #sent = 0;
  #received = 0;

  constructor(deps: CallMeDeps) {
    this.#d = deps;
  }

  /** Call-me messages sent and received (relayed ones not counted). */
  get counts(): { sent: number; received: number } {
    return { sent: this.#sent, received: this.#received };
  }

  /** Asks the peer, through the leader, to punch now too: at most every 5 s per peer. */
  maybeSend(key: string, pp: PeerPaths | undefined, st: PeerState, now: number): void {
    if (!pp || !pp.punching(now)) return;
    if (pp.state === "direct" && st.session.works) return; // only exploring
    if (now - st.callmeSentAt < CALLME_INTERVAL_MS) return;
    // A punch the peer asked for needs no call-me back: it punches already.
    if (now - st.calledAt < CALLME_INTERVAL_MS) return;
    st.callmeSentAt = now;
    const c = toWire(this.#d.candidates());
    this.#sent++;
    const d = this.#d;
    if (d.role === "leader") {
      const m = d.members.get(key);
      if (m) d.channel.send(m.address, { t: "callme", from: d.me, c });
    } else {
      d.channel.send(d.leaderAddress(), { t: "callme", to: key, c });
    }
  }

  /** A call-me from the control channel: the leader relays it, a node takes it. */
  handle(msg: Extract<ControlMessage, { t: "callme" }>, from: string): void {
    // A call-me that names its caller comes from a leader: another leader's, to this one.
    if (this.#d.role === "leader" && msg.from === undefined) this.#relay(msg, from);
    else this.#fromLeader(msg, from);
  }

  /** The leader: passes a member's call-me on to the member it names (or takes it itself). */
  #relay(msg: Extract<ControlMessage, { t: "callme" }>, from: string): void {
    const d = this.#d;
    // Only the leader says who called: a node's call-me names the peer to call.
    if (typeof msg.to !== "string" || msg.from !== undefined) {
      d.drops.add("callme-malformed");
      return;
    }
    let sender: Member | undefined;
    for (const m of d.members.values()) if (m.address === from) sender = m;
    const target = d.members.get(msg.to);
    if (
      !sender || (!target && msg.to !== d.me) || msg.to === sender.publicKey ||
      // Passing it on would tell each of the other (its key, its endpoints).
      (target && d.mayCall && !d.mayCall(sender.publicKey, target.publicKey))
    ) {
      d.drops.add("callme-not-member");
      return;
    }
    if (fromWire(msg.c) === null) {
      d.drops.add("callme-malformed");
      return;
    }
    const c = recordCandidates(sender);
    if (!this.#relayLimit.allow(`${sender.publicKey}>${msg.to}`)) {
      d.drops.add("callme-rate-limited");
      return;
    }
    if (target) {
      d.channel.send(target.address, { t: "callme", from: sender.publicKey, c: toWire(c) });
    } else this.#take(sender.publicKey, c);
  }

  /** A node: a call-me counts only from the leader, and only for a member. */
  #fromLeader(msg: Extract<ControlMessage, { t: "callme" }>, from: string): void {
    const d = this.#d;
    if (from !== d.leaderAddress() && !d.isLeader?.(from)) {
      d.drops.add("callme-not-leader");
      return;
    }
    if (typeof msg.from !== "string" || !d.members.has(msg.from)) {
      d.drops.add("callme-not-member");
      return;
    }
    const c = fromWire(msg.c);
    if (c === null) {
      d.drops.add("callme-malformed");
      return;
    }
    this.#take(msg.from, c);
  }

  #take(key: string, c: Candidate[]): void {
    if (this.#d.calledBy(key, c)) this.#received++;
  }
}
