/** One simulated member of the fleet bench: its keys, tunnel, socket and where its sync stands. */

import type { Endpoint } from "../../../lib/io/driver.ts";
import type { LinuxUdpTransport } from "../../../drivers/linux/udp.ts";
import { encodeKey } from "../../../lib/crypto/keys.ts";
import type { JoinPending } from "../../../lib/mesh/join/crypto.ts";
import { type ControlMessage, DEFAULT_HELLO_MS } from "../../../lib/mesh/sync/protocol.ts";
import type { Tunnel } from "./tunnel.ts";
import type { MemberShared } from "./member_shared.ts";
import type { ReadThrough } from "./read_through.ts";
import type { HeldCarry, HeldKey } from "./member_carried.ts";

/** Unix ms with fractions, comparable across processes of this machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Where a member stands. */
export type MemberState = "new" | "joining" | "handshaking" | "up" | "removed" | "leaving" | "left";

/** A UDP socket of the pool, bound to one loopback address. */
export interface Sock {
  /** The socket. */
  t: LinuxUdpTransport;
  /** The loopback address it is bound to. */
  address: string;
  /** The leader, as this socket sends to it. */
  leader: Endpoint;
  /** Whether it has datagrams queued to flush. */
  dirty: boolean;
  /** The members sending from it (the leader's initiations are tried on each). */
  members: Set<Member>;
  /** Its inode ("" until asked: ./queued.ts). */
  inode: string;
  /** How far it was read (./read_through.ts). */
  read: ReadThrough;
}

/** Parts of a view, delta or policy being reassembled by one member. */
export interface Assembly {
  /** What is reassembled (kind, versions, parts). */
  key: string;
  /** 1 per part held. */
  got: Uint8Array;
  /** Parts still lacking. */
  left: number;
  /** Whether a part named this member. */
  own: boolean;
  /** Whether a part removed this member. */
  removed: boolean;
  /** The first part missing, and one past the highest part held. */
  low: number;
  high: number;
  /** Packed parts held (lib/mesh/sync/packed.ts), by part: their body comes once all are. */
  packed: Map<number, Extract<ControlMessage, { t: "view" | "delta" }>> | null;
}

/** `held` when it reassembles `key`, else a fresh assembly of `parts` parts for it. */
export function assembly(held: Assembly | null, key: string, parts: number): Assembly {
  if (held && held.key === key) return held;
  return {
    key,
    got: new Uint8Array(parts),
    left: parts,
    own: false,
    removed: false,
    low: 0,
    high: 0,
    packed: null,
  };
}

/** A member's session with another member: the tunnel, where it is, what waits for the session. */
export interface Peer {
  /** The tunnel, the peer's key in the leader's place. */
  tunnel: Tunnel;
  /** The peer's overlay address, and its socket as `from`'s socket sends to it. */
  address: string;
  endpoint: Endpoint;
  /** Payloads waiting for the session (a few, as a device queues packets while it handshakes). */
  queue: Uint8Array[];
  /** Our indexes of its initiations and sessions (forgotten with it). */
  indexes: number[];
  /** Monotonic ms of its last use. */
  usedAt: number;
}

/** One simulated member. */
export class Member {
  state: MemberState = "new";
  readonly name: string;
  readonly key: string;
  readonly tunnel: Tunnel;
  sock: Sock;
  address = "";
  /** The first join request, sealed when the member was made (null once used). */
  request: { message: Uint8Array; pending: JoinPending } | null = null;
  join: {
    message: Uint8Array;
    pending: JoinPending;
    /** Requests sent (cookie replies' included), and resends of its own (lib/mesh/join/resend.ts). */
    tries: number;
    resends: number;
    /** Monotonic ms of the next resend. */
    nextAt: number;
    startedAt: number;
  } | null = null;
  joinedAt = 0;
  upAt = 0;
  viewAt = 0;
  version = 0;
  pv = 0;
  lk: string | undefined;
  view: Assembly | null = null;
  /** The snapshot (a whole view, in windows) being assembled: its version (0: none). */
  snapV = 0;
  /** Monotonic ms to ask again for the window lacking (0: none), and the tries so far. */
  fetchAt = 0;
  fetchTries = 0;
  /** The highest version heard of while a snapshot came. */
  newsDuring = 0;
  policy: Assembly | null = null;
  /** `[version, time, ...]` while a change is watched. */
  history: number[] | null = null;
  policyHistory: number[] | null = null;
  leaveDone: (() => void) | null = null;
  /** When its first bye went (performance.now()), and when the leader's answer came, if it did. */
  byeAt = 0;
  byeOkAt = 0;
  /** Bytes unread in its socket's receive queue when its bye went: what its answer waits behind. */
  byeQueued = 0;
  /** How long the node's wait for its bye's answer is, ms (lib/mesh/sync/bye.ts). */
  byeWaitMs = 0;
  /** How long the leader's answer to its bye waited unread in its socket, ms (-1: none yet). */
  byeOkLagMs = -1;
  /**
   * How long the datagram from the leader being handled waited unread in its socket, ms (the
   * kernel's receive time): a bye's answer counts from when it came to the member, not from when
   * the simulator, on the cores the leader uses and behind them, got to read it.
   */
  heardWaitedMs = 0;
  /** What waits for a new session: its session got too old to send on (null: nothing). */
  staged: ControlMessage[] | null = null;
  probeId = 1;
  reports = 0;
  /** The hello interval, ms: 3 s, or longer when the leader paces the fleet. */
  helloEvery = DEFAULT_HELLO_MS;
  /** Monotonic ms of the next hello, and of the next link report. */
  nextHelloAt = 0;
  nextReportAt = 0;
  /** News asked for and not held yet (as a node asks again): versions, tries, next ask (0: none). */
  askV = 0;
  askPv = 0;
  askTries = 0;
  askAt = 0;
  askFromV = 0;
  askFromPv = 0;
  /**
   * Its LAN candidates, once it moved (null: it says none), and its own record as the latest
   * view says it (null: none yet).
   */
  lan: string[] | null = null;
  own: { lan?: string[] } | null = null;
  /** A change told again until its record shows it (as lib/mesh/sync/tell_again.ts): tries, next (0: none). */
  tellTries = 0;
  tellAt = 0;
  prevIndex = 0;
  /** Monotonic ms when to send the next initiation of a handshake in flight (resent until answered). */
  resendAt = 0;
  /**
   * Monotonic ms when a keepalive is due (0: none): data came and nothing went back, as a
   * device's keepalive timer (10 s).
   */
  keepaliveAt = 0;
  /** Whether its hellos say `fs` (it takes shared views), and its shared view's state. */
  fs = true;
  shared: MemberShared | null = null;
  /** The leader's overlay address (its manifests' and pieces' sender). */
  leaderAddress = "";
  /** Its sessions with other members (shared views), by their overlay address. */
  peers: Map<string, Peer> | null = null;
  /**
   * Whether its hellos say `ck` (it takes and carries carried pushes: ./member_carried.ts), the
   * leader's push key it holds, and the leader's `carry` lists it holds.
   */
  ck = true;
  pushKey: HeldKey | null = null;
  carries: HeldCarry[] | null = null;

  constructor(readonly i: number, readonly priv: Uint8Array, pub: Uint8Array, t: Tunnel, s: Sock) {
    this.name = `f${i}`;
    this.key = encodeKey(pub);
    this.tunnel = t;
    this.sock = s;
  }
}
