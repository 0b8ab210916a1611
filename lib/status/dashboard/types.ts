/**
 * The status document as the dashboard reads it. The page trusts nothing in it: every field may
 * be missing or of another type (an older or newer agent, a member's report), so every field is
 * optional here and the views check what they use.
 * @module
 */

/** A peer's health as the page draws it; anything else is drawn as `unknown`. */
export type Health = "up" | "degraded" | "down" | "unknown" | "idle";

/** A candidate endpoint of a mesh peer. */
export interface CandidateDoc {
  /** `host:port`. */
  endpoint?: string;
  /** How it was learnt (`lan`, `observed`, ...). */
  kind?: string;
  /** The one in use. */
  chosen?: boolean;
}

/** A link from this node (`peers[]`). */
export interface PeerDoc {
  /** Base64 public key. */
  publicKey?: string;
  /** Node name. */
  name?: string;
  /** Overlay address. */
  address?: string;
  /** Overlay prefixes routed to the peer. */
  allowedIps?: string[];
  /** Underlay endpoint. */
  endpoint?: string | null;
  /** Health. */
  health?: unknown;
  /** Why the peer has that health. */
  healthReason?: string;
  /** Mean probe RTT, ms. */
  rttMs?: unknown;
  /** Probe loss, 0..1. */
  loss?: unknown;
  /** Underlay bytes received. */
  rxBytes?: unknown;
  /** Underlay bytes sent. */
  txBytes?: unknown;
  /** Seconds since the last handshake. */
  lastHandshakeAgeSeconds?: unknown;
  /** `direct`, `relay`, `none`, `idle`, or a state this page does not know. */
  path?: unknown;
  /** The relay's name when relayed. */
  via?: unknown;
  /** `udp`, `tcp` or `websocket`. */
  transport?: unknown;
  /** The TCP or WebSocket path goes through an HTTP proxy. */
  proxied?: unknown;
  /** That proxy, `http://host:port`. */
  proxy?: unknown;
  /** Candidate endpoints (mesh peers). */
  candidates?: (CandidateDoc | null)[];
  /** The pair's post-quantum preshared key (mesh peers). */
  pq?: { session?: unknown; state?: unknown; keyAgeSeconds?: unknown; required?: unknown } | null;
}

/** One instance of a service. */
export interface InstanceDoc {
  /** The node that offers it. */
  node?: unknown;
  /** Its address. */
  address?: unknown;
  /** Whether its check passes. */
  healthy?: unknown;
  /** Why not (`node-down`, `check-failing`, ...). */
  reason?: unknown;
  /** On this node. */
  local?: unknown;
  /** Answers calls (not DNS only). */
  rpc?: unknown;
}

/** A service's leader. */
export interface LeaderDoc {
  /** The leading node. */
  node?: unknown;
  /** Its address. */
  address?: unknown;
  /** The fencing token. */
  token?: unknown;
  /** The end of its lease. */
  expiresAt?: unknown;
}

/** A `node.services` entry. */
export interface ServiceDoc {
  /** Service name. */
  name?: unknown;
  /** Its instances. */
  instances?: unknown;
  /** Its leader, if any. */
  leader?: unknown;
  /** Offered on this node. */
  local?: unknown;
  /** The calls this node made of it, as counters (`count`, `errors`, `le`, `buckets`). */
  calls?: unknown;
}

/** A `node.segments` entry. */
export interface SegmentDoc {
  /** Segment name. */
  name?: unknown;
  /** VXLAN network identifier. */
  vni?: unknown;
  /** The bridge. */
  bridge?: unknown;
  /** The bridge's MTU. */
  mtu?: unknown;
  /** Whether it is up. */
  up?: unknown;
  /** Why not. */
  error?: unknown;
  /** Its members. */
  members?: unknown;
}

/** This node (`node`). */
export interface NodeDoc {
  /** Base64 public key. */
  publicKey?: string;
  /** Node name. */
  name?: string;
  /** Overlay addresses with prefix lengths. */
  addresses?: string[];
  /** `leader` or `node`. */
  role?: string;
  /** weft's version. */
  version?: string;
  /** Seconds since start. */
  uptimeSeconds?: unknown;
  /** The mesh's services (mesh agents). */
  services?: unknown;
  /** The segments this node is in. */
  segments?: unknown;
}

/** One side's view of a mesh link, or a member's report of a peer. */
export interface EndDoc {
  /** Peer name (in a member's peers). */
  name?: string;
  /** Peer key (in a member's peers). */
  publicKey?: string;
  /** The side's state. */
  state?: unknown;
  /** Whether the report is old. */
  stale?: unknown;
  /** RTT, ms. */
  rttMs?: unknown;
  /** The path. */
  path?: unknown;
  /** Bytes per second in. */
  rxRate?: unknown;
  /** Bytes per second out. */
  txRate?: unknown;
}

/** A link between two members (`mesh.links[]`). */
export interface LinkDoc {
  /** One member's name. */
  a?: unknown;
  /** The other's. */
  b?: unknown;
  /** The merged state. */
  state?: unknown;
  /** Whether a report is old. */
  stale?: unknown;
  /** `a`'s view. */
  aView?: unknown;
  /** `b`'s view. */
  bView?: unknown;
}

/** A member's link report. */
export interface ReportDoc {
  /** Its age. */
  ageSeconds?: unknown;
  /** Whether it is old. */
  stale?: unknown;
}

/** A mesh member (`mesh.members[]`). */
export interface MemberDoc {
  /** Name. */
  name: string;
  /** Base64 public key. */
  publicKey?: string;
  /** Overlay address. */
  address?: string;
  /** The mesh leader. */
  leader?: unknown;
  /** Subnets it routes. */
  routes?: string[];
  /** An exit node. */
  exitNode?: unknown;
  /** Stopped on purpose. */
  offline?: unknown;
  /** Its last link report. */
  report?: ReportDoc | null;
  /** Its peers, as its report says. */
  peers?: EndDoc[];
}

/** The mesh view of a mesh leader's document (`mesh`). */
export interface MeshDoc {
  /** Every member. */
  members: MemberDoc[];
  /** Every link between two. */
  links: LinkDoc[];
  /** How many links were left out (too many to send). */
  linksOmitted?: unknown;
}

/** The status document. */
export interface StatusDoc {
  /** This node. */
  node?: NodeDoc;
  /** Its links. */
  peers: PeerDoc[];
  /** The whole mesh (a mesh leader). */
  mesh?: unknown;
}

/** A health transition (the `health` event). */
export interface HealthEvent {
  /** The peer's key. */
  peer?: string;
  /** When, ms since the epoch. */
  at?: unknown;
  /** The state before. */
  from?: unknown;
  /** The state after. */
  to?: unknown;
  /** Why. */
  reason?: unknown;
}
