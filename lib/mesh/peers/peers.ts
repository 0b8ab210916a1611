/**
 * The device's peers made to match a membership view: every other member is a peer with its
 * overlay address (and IPv6 address) as allowed IPs and its first endpoint (a keepalive only for
 * the peers the activity tracker holds active: activity.ts), a member that left is
 * removed, and endpoints that are names are kept resolved (see `PeerNames`). Applying a view costs
 * a map lookup per unchanged member, so a change costs each node little even in a large mesh.
 * Peers set or removed on the device from outside (the UAPI's `wg set`) are put back in step at
 * the next view, whole or a change: one no member holds goes, a member's that went comes back.
 * @module
 */

import type { PeerIdentity } from "../../agent/agent.ts";
import type { AgentConfig } from "../../config/agent_config.ts";
import type { Device } from "../../device/device.ts";
import type { Logger } from "../../log/logger.ts";
import type { Member, MembershipView, ViewChange } from "../../members/member.ts";
import { EndpointResolver, isIpEndpoint, type NameLookup } from "../../net/resolve.ts";
import { PeerNames } from "./names.ts";
import type { ActivityTiming } from "./activity.ts";

/** The peers section of a mesh agent's options. */
export interface PeersOptions {
  /** Keepalive to every active peer (see `keepPeers`), seconds. Default 25. */
  persistentKeepalive?: number;
  /**
   * Members (by name or overlay address) this node keeps a session with whatever its traffic,
   * beside the leaders and the relays (`--keep-peer`). The others get one on demand: from the
   * first packet exchanged until they are idle (lib/mesh/peers/activity.ts).
   */
  keepPeers?: string[];
  /**
   * Overrides of when an active peer goes idle and how often that is checked (tests).
   * @ignore internal: tests' timing
   */
  activityTiming?: Partial<ActivityTiming>;
}

/** The peers section of a parsed configuration. */
export function peersFromConfig(config: AgentConfig): PeersOptions {
  return {
    persistentKeepalive: config.persistentKeepalive,
    ...(config.keepPeer?.length ? { keepPeers: [...config.keepPeer] } : {}),
  };
}

/**
 * The members this node has as peers, by public key: filled as views are applied, read to name
 * peers in status and metrics (it exists before the agent that reads it).
 */
export class MemberIndex {
  readonly #byKey = new Map<string, Member>();

  /** The member record of a peer. */
  get(publicKey: string): Member | undefined {
    return this.#byKey.get(publicKey);
  }

  /** A peer's name and overlay address ("" for a key that is no member). */
  identity(publicKey: string): PeerIdentity {
    const m = this.#byKey.get(publicKey);
    return { name: m?.name ?? "", address: m?.address ?? "" };
  }

  /** Members held. */
  get size(): number {
    return this.#byKey.size;
  }

  /** Records a member. */
  set(m: Member): void {
    this.#byKey.set(m.publicKey, m);
  }

  /** Forgets a member. */
  delete(publicKey: string): void {
    this.#byKey.delete(publicKey);
  }

  /** Forgets every member not in `wanted`. */
  keepOnly(wanted: Set<string>): void {
    for (const k of this.#byKey.keys()) if (!wanted.has(k)) this.#byKey.delete(k);
  }
}

/** Keeps the device's peers in step with the view. See the module docs. */
export class MeshPeers {
  readonly #device: Device;
  readonly #index: MemberIndex;
  readonly #keepalive: (publicKey: string) => number;
  readonly #logger: Logger;
  readonly #names: PeerNames;
  readonly #chosen: (publicKey: string) => string | null;
  readonly #routesOf: (m: Member) => readonly string[];
  // What was last set per peer (endpoint, allowed IPs, name), to skip members that did not change.
  readonly #applied = new Map<string, string>();
  // Members whose device peer could not be set, by key, with the record that failed: tried
  // again at each view (a change names only the members it changed), warned of once a record.
  readonly #failed = new Map<string, Member>();
  // Keys whose device peer something else set or removed since the last view (the UAPI's
  // `wg set`): a change looks at them as a whole view would, a peer no member holds removed and
  // a member's lost peer set again. Only keys with something to do are held: a device peer, or
  // a member.
  readonly #outside = new Set<string>();
  // True while this sets or removes a device peer: its own changes are not the outside's.
  #own = false;
  readonly #unwatch: () => void;

  /** Peers of `device`, recorded in `index`. */
  constructor(opts: {
    device: Device;
    index: MemberIndex;
    logger: Logger;
    /** Keepalive seconds of a peer (sessions on demand: its active ones only). Default 25. */
    keepalive?: number | ((publicKey: string) => number);
    lookup?: NameLookup;
    /** The endpoint a peer's path probes chose, if any: it wins over the view's first one. */
    chosenEndpoint?: (publicKey: string) => string | null;
    /** The routes this node uses through a member (subnet routes it carries), if any. */
    routesOf?: (m: Member) => readonly string[];
  }) {
    const device = this.#device = opts.device;
    this.#routesOf = opts.routesOf ?? (() => []);
    this.#chosen = opts.chosenEndpoint ?? (() => null);
    this.#index = opts.index;
    this.#logger = opts.logger;
    const keepalive = opts.keepalive ?? 25;
    this.#keepalive = typeof keepalive === "number" ? () => keepalive : keepalive;
    this.#unwatch = device.onPeerChanged((key) => {
      if (this.#own) return;
      if (device.peer(key) || this.#index.get(key)) this.#outside.add(key);
      else this.#outside.delete(key);
    });
    this.#names = new PeerNames({
      resolver: new EndpointResolver({ lookup: opts.lookup }),
      logger: opts.logger,
      port: {
        progress: (key) => {
          const p = device.peer(key);
          return p
            ? { initiations: p.counters.initiationsSent, lastHandshake: p.lastHandshakeUnixMs }
            : null;
        },
        setEndpoint: (key, endpoint) => {
          const p = device.peer(key);
          if (!p || p.endpoint?.toString() === endpoint) return false;
          p.endpoint = device.endpoint(endpoint);
          // Whatever waited for an endpoint goes now, and a stale one is confirmed or replaced.
          device.initiateHandshake(key);
          return true;
        },
      },
    });
  }

  /**
   * Makes the device's peers match a view: every other member, with its /32 (and /128) and the
   * routes used through it. `again`: every member's record looked at anew, not only those the
   * view changed (the routes used through them changed: `weft set --exit-node`). `change`: how
   * the view differs from the one applied before (a leader's batch of joins): only the members
   * it names are looked at.
   */
  apply(v: MembershipView, again = false, change: ViewChange | null = null): void {
    const device = this.#device;
    const me = device.publicKey;
    if (change && !again) {
      // Those that failed at an earlier view (not this one's again at once).
      const failed = this.#failed.size ? [...this.#failed.keys()] : [];
      for (const key of change.remove) {
        if (key === me) continue;
        this.#index.delete(key);
        this.#remove(key);
      }
      for (const m of change.upsert) if (m.publicKey !== me) this.#take(m, false);
      for (const key of failed) {
        const m = this.#index.get(key);
        if (m) this.#take(m, false);
        else this.#failed.delete(key);
      }
      this.#outsideChanges();
      return;
    }
    this.#outside.clear(); // the whole view below looks at every peer
    let others = 0;
    for (const m of v.members) {
      if (m.publicKey === me) continue;
      others++;
      this.#take(m, again);
    }
    if (device.peerCount > others || this.#index.size > others) {
      const wanted = new Set(v.members.map((m) => m.publicKey));
      for (const p of device.peers()) {
        if (!wanted.has(p.publicKeyText)) this.#remove(p.publicKeyText);
      }
      this.#index.keepOnly(wanted);
      for (const k of this.#failed.keys()) if (!wanted.has(k)) this.#failed.delete(k);
    }
  }

  /**
   * The device peers set or removed from outside since the last view, as a whole view leaves
   * them: one no member holds goes, a member's that went is set again.
   */
  #outsideChanges(): void {
    if (this.#outside.size === 0) return;
    const keys = [...this.#outside];
    this.#outside.clear();
    for (const key of keys) {
      if (key === this.#device.publicKey) continue;
      const m = this.#index.get(key);
      if (m === undefined) this.#remove(key);
      else this.#take(m, false); // a no-op while the device has its peer
    }
  }

  /** Member `m` as the device's peer (`again`: looked at even when its record did not change). */
  #take(m: Member, again: boolean): void {
    const device = this.#device;
    // Deltas keep the record objects of unchanged members: those cost one map lookup.
    if (
      !again && this.#index.get(m.publicKey) === m && device.peer(m.publicKey) &&
      !this.#failed.has(m.publicKey)
    ) return;
    this.#index.set(m);
    // The first endpoint is the best; a name is resolved off this path (meanwhile the first
    // address in the list, if any, serves).
    const first = m.endpoints[0] as string | undefined;
    const named = first !== undefined && !isIpEndpoint(first);
    // A path the probes confirmed beats the view's guess (behind a NAT, the first endpoint is
    // often a door that only opens from inside).
    const endpoint = this.#chosen(m.publicKey) ??
      (named ? m.endpoints.find(isIpEndpoint) : first);
    const allowed = [
      `${m.address}/32`,
      ...(m.address6 ? [`${m.address6}/128`] : []),
      ...this.#routesOf(m),
    ];
    const key = JSON.stringify([endpoint, allowed, named ? first : null]);
    if (this.#applied.get(m.publicKey) === key && device.peer(m.publicKey)) return;
    const prev = this.#applied.get(m.publicKey);
    const prevEndpoint = prev ? JSON.parse(prev)[0] : undefined;
    try {
      this.#ownChange(() =>
        device.setPeer({
          publicKey: m.publicKey,
          allowedIps: allowed,
          // An endpoint learned from the peer's own packets wins until the view's changes.
          endpoint: !device.peer(m.publicKey)?.endpoint || prevEndpoint !== endpoint
            ? endpoint
            : undefined,
          persistentKeepalive: this.#keepalive(m.publicKey),
        })
      );
      this.#applied.set(m.publicKey, key);
      this.#failed.delete(m.publicKey);
      if (named) this.#names.track(m.publicKey, first);
      else this.#names.untrack(m.publicKey);
    } catch (e) {
      if (this.#failed.get(m.publicKey) !== m) {
        this.#logger.warn("bad member record", { name: m.name, error: String(e) });
      }
      this.#failed.set(m.publicKey, m);
    }
  }

  /** A member that left: its peer goes. */
  #remove(key: string): void {
    this.#applied.delete(key);
    this.#failed.delete(key);
    this.#names.untrack(key);
    if (this.#ownChange(() => this.#device.removePeer(key))) {
      this.#logger.info("peer removed", { publicKey: key });
    }
  }

  // A device change of this part's own: its peer watcher does not take it for the outside's.
  #ownChange<T>(change: () => T): T {
    this.#own = true;
    try {
      return change();
    } finally {
      this.#own = false;
    }
  }

  /** Stops the name lookups. */
  close(): void {
    this.#unwatch();
    this.#names.close();
  }
}
