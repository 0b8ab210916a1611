/**
 * How this node follows the health of a peer that becomes active (sessions on demand:
 * ./activity.ts): with probes of its own, or from messages it gets anyway. A leader follows its
 * members by their hellos (../../health/heard.ts: a member gone quiet is probed until heard
 * again) and probes only those it keeps (other leaders, relays); a node takes its sync's probes of
 * the leaders (one a hello) as their samples, and probes the other peers it talks to.
 * @module
 */

import type { HeardLiveness } from "../../health/heard.ts";
import type { Member } from "../../members/member.ts";
import { DEFAULT_HELLO_MS } from "../sync/protocol.ts";

/** What the watch starts and stops. */
export interface HealthWatchDeps {
  /** Starts following a peer's health, probed or not (the agent's `watchPeer`). */
  watchPeer: (publicKey: string, opts?: { probe?: boolean }) => void;
  /** Stops following it (the agent's `unwatchPeer`). */
  unwatchPeer: (publicKey: string) => void;
  /** A member of the view by key. */
  member: (publicKey: string) => Member | undefined;
  /** Whether this node keeps the peer whatever its traffic (a leader, a relay, keep-peer). */
  kept: (publicKey: string) => boolean;
  /** On a leader, its members' liveness from their hellos; null on a node. */
  heard: HeardLiveness | null;
}

/** The activity tracker's `watch` and `unwatch` for this node. See the module docs. */
export function healthWatch(d: HealthWatchDeps): {
  watch: (publicKey: string) => void;
  unwatch: (publicKey: string) => void;
} {
  return {
    watch: (key) => {
      if (!d.heard) {
        // The sync's probes of the leaders are their samples: no second probe.
        d.watchPeer(key, { probe: d.member(key)?.role !== "leader" });
      } else if (d.kept(key)) d.watchPeer(key);
      else {
        d.watchPeer(key, { probe: false });
        d.heard.follow(key, DEFAULT_HELLO_MS);
      }
    },
    unwatch: (key) => {
      d.heard?.unfollow(key);
      d.unwatchPeer(key);
    },
  };
}
