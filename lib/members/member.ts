/**
 * The mesh's shared vocabulary: members, services and health, as the leader keeps them and as
 * every node, the DNS server, the status page and the policy engine read them.
 * @module
 */

/** A service a member offers. */
export interface ServiceSpec {
  /** Service name, a DNS label (`web`, `db`). */
  name: string;
  /** Port it listens on. */
  port: number;
  /** Transport protocol. */
  protocol: "tcp" | "udp";
  /** SRV weight (default 1). */
  weight?: number;
  /** SRV priority (default 10). */
  priority?: number;
  /** Free-form labels, served as TXT. */
  labels?: Record<string, string>;
  /**
   * True when the node answers calls of this service (its actions) on the service port
   * (lib/services); absent for a service that is only a port.
   */
  rpc?: boolean;
  /**
   * False while the node's health check of the service fails: the service leaves DNS, the
   * rotation of calls and the election of its leader. Absent: healthy (or not checked).
   */
  healthy?: boolean;
}

/** One node of the mesh. */
export interface Member {
  /** The node's host name, unique in the mesh (a DNS label). */
  name: string;
  /** Base64 WireGuard public key. */
  publicKey: string;
  /** Overlay IPv4 address (no prefix). */
  address: string;
  /** Overlay IPv6 address, if the mesh has one. */
  address6?: string;
  /**
   * Underlay endpoints where the node can be reached (`host:port`), best first: the one the
   * leader observed, then those the node advertises (claims, unchecked).
   */
  endpoints: string[];
  /**
   * The underlay endpoint (`host:port`) the leader saw the node's join or latest hello come from
   * over UDP: set by the leader alone, never from what the node says. Absent when the leader saw
   * none (a hello over TCP or through a relay), and in a leader's own record.
   */
  observed?: string;
  /**
   * The node's own interface addresses with its WireGuard port (`host:port`, at most 8): members
   * on the same LAN reach each other there when their public endpoints are one NAT's address.
   */
  lan?: string[];
  /**
   * Granted labels (`role=web`, `env=prod`): from the token the node joined with, or set by the
   * leader's operator. Policies trust them; the node cannot change them.
   */
  labels: Record<string, string>;
  /**
   * Labels the node asserts about itself, all under `node.weft/`: untrusted, kept apart from the
   * granted ones (see `labels.ts`).
   */
  nodeLabels?: Record<string, string>;
  /** `leader` or `node`. */
  role: "leader" | "node";
  /**
   * Present when the node relays traffic for members without a direct path: the leader does, and
   * a node started with `--relay` that the leader granted relaying ({@link MemberGrants.relay}).
   */
  relay?: true;
  /** What the leader granted the node besides labels; absent: nothing. */
  grants?: MemberGrants;
  /**
   * The TCP port the node also takes WireGuard messages on (at its endpoints' addresses), for
   * peers whose UDP does not get through; absent when it has no TCP.
   */
  tcpPort?: number;
  /** Services the node advertises. */
  services: ServiceSpec[];
  /**
   * The routes the node offers to carry (`--advertise-routes`; `0.0.0.0/0` and `::/0` with
   * `--advertise-exit-node`), canonical and sorted: what it says, used only as far as the leader
   * approved it ({@link MemberGrants.routes}).
   */
  advertisedRoutes?: string[];
  /**
   * The subnet routes this node carries for the mesh now, set by the leader: advertised,
   * approved, and this node the primary for each (lib/routes/primary.ts). Members route them
   * through it.
   */
  routes?: string[];
  /** Present when the node offers itself as an exit node and the leader approved it. */
  exitNode?: true;
  /** Unix ms when the node joined. */
  joinedAt: number;
  /**
   * The id of the node's current run (random at each start, from its hellos): a peer that sees
   * it change knows the node restarted and lost its sessions, whatever else it missed.
   */
  run?: string;
  /**
   * Present while the node is stopped on purpose: it said bye to the leader, which withdrew its
   * services. It stays a member (name, address, key) and is online again at its next hello.
   */
  offline?: true;
}

/**
 * What the leader grants a node besides labels (from its join token, or `weft node set`): the
 * service names it may offer where a grant restricts them, and relaying for others.
 */
export interface MemberGrants {
  /** Service names it may offer (names no grant mentions stay open to every member). */
  services?: string[];
  /** It may relay for others. */
  relay?: true;
  /**
   * The routes it may carry (`weft route approve`, a token's `--approve-routes`): prefixes,
   * each approving the advertised routes inside it, and `exit` (lib/routes/prefixes.ts).
   */
  routes?: string[];
}

/** At most this many LAN candidates are kept in a member record (and sent in a hello). */
export const MAX_LAN = 8;

/** The membership view a node holds: a versioned list of members. */
export interface MembershipView {
  /** The overlay network (CIDR). */
  network: string;
  /** The overlay IPv6 network, when the mesh has one. */
  network6?: string;
  /** Increases on every change at the leader. */
  version: number;
  /** Every member, this node included. */
  members: Member[];
}

/**
 * How a view differs from the one of version `from`: the records new or changed (as the view
 * holds them) and the keys it no longer holds. A part that heard version `from` takes it instead
 * of a pass over every member (a leader's view changes with every batch of joins).
 */
export interface ViewChange {
  /** The version the change starts from. */
  from: number;
  /** Members new or changed since `from`: the view's own records. */
  upsert: readonly Member[];
  /** Members gone since `from`, by key. */
  remove: readonly string[];
}

/**
 * The view without the members that are offline (stopped on purpose), but for `self` (a node
 * restarting holds its own record offline until the leader hears its hello): what the parts
 * that hold paths and relay sessions to members follow, so a node that left loses them at once.
 */
export function onlineView(v: MembershipView, self: string): MembershipView {
  return v.members.some((m) => m.offline && m.publicKey !== self)
    ? { ...v, members: v.members.filter((m) => !m.offline || m.publicKey === self) }
    : v;
}

/** A change as {@link onlineView}s see it: a member gone offline (but `self`) is one removed. */
export function onlineChange(c: ViewChange, self: string): ViewChange {
  if (!c.upsert.some((m) => m.offline && m.publicKey !== self)) return c;
  const off = c.upsert.filter((m) => m.offline && m.publicKey !== self).map((m) => m.publicKey);
  return {
    from: c.from,
    upsert: c.upsert.filter((m) => !m.offline || m.publicKey === self),
    remove: [...c.remove, ...off],
  };
}
