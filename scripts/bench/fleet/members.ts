/**
 * The simulated members of the fleet bench: N members in one process, each with its own keys,
 * speaking the real wire protocol to one leader: the join exchange (lib/mesh/join/crypto.ts), the
 * WireGuard handshake and transport data (./tunnel.ts), and the membership sync on the control
 * port (lib/mesh/sync/protocol.ts): a hello (and a probe) every 3 s with the versions held, or
 * as seldom as the leader paces them (a large fleet), a link report every 5 s or as seldom as
 * the hellos (its link to the leader, as a node's reporter sends), views,
 * deltas and policies reassembled by part, `changed` answered with a hello, probes with acks, bye
 * on leave.
 *
 * To stay small a member holds its versions, not the records: a view's or delta's parts are
 * counted (and checked for this member's own key, which says whether it was removed), not
 * merged into a member list. Members share a pool of UDP sockets, each on its own loopback
 * address (the leader limits joins and handshakes per source address); a datagram goes to its
 * member by the receiver index (WireGuard) or request id (join) it carries.
 *
 * Times are Unix ms with fractions (`performance.timeOrigin + performance.now()`): the bench's
 * other process compares them with its own.
 * @module
 */

import type { Aead, Dh } from "../../../lib/crypto/types.ts";
import { selectSuite } from "../../../lib/crypto/select.ts";
import { encodeKey } from "../../../lib/crypto/keys.ts";
import type { Endpoint } from "../../../lib/io/driver.ts";
import { LinuxUdpTransport } from "../../../drivers/linux/udp.ts";
import { Poller } from "../../../drivers/linux/poller.ts";
import { type CheckedToken, checkJoinToken } from "../../../lib/mesh/join/client.ts";
import { joinResendDelayMs } from "../../../lib/mesh/join/resend.ts";
import {
  type JoinPending,
  MSG_JOIN_COOKIE,
  MSG_JOIN_RESPONSE,
  openJoinCookie,
  openJoinResponse,
  setJoinMac2,
} from "../../../lib/mesh/join/crypto.ts";
import { readU32 } from "../../../lib/protocol/bytes.ts";
import {
  DEFAULT_TIMERS,
  MSG_COOKIE_REPLY,
  MSG_INITIATION,
  MSG_RESPONSE,
  MSG_TRANSPORT,
} from "../../../lib/protocol/constants.ts";
import { type ControlMessage, parseMessage } from "../../../lib/mesh/sync/protocol.ts";
import { PACKED } from "../../../lib/mesh/sync/packed.ts";
import { MANIFEST, PIECE } from "../../../lib/mesh/sync/manifest.ts";
import { CARRIED } from "../../../lib/mesh/sync/carried.ts";
import type { Member as MemberRecord } from "../../../lib/members/member.ts";
import { byeWaitFor } from "../../../lib/mesh/sync/bye.ts";
import { Tunnel } from "./tunnel.ts";
import { type PeerCounts, PeerSessions } from "./peer_sessions.ts";
import { type PeerLinkCounts, PeerLinks } from "./peer_links.ts";
import { LeaderHandshakes } from "./leader_handshakes.ts";
import { hash53 } from "./hash53.ts";
import { Member, type MemberState, now, type Peer, type Sock } from "./member.ts";
import {
  onAsk,
  onLack,
  onPiece,
  peerBytes,
  type PeerMessage,
  type SharedLink,
  sharedTotals,
} from "./member_shared.ts";
import {
  askAgain,
  askFor,
  hello,
  moveLan,
  onControl,
  report,
  type SyncLink,
  tellAgain,
  type WatchedMove,
} from "./member_sync.ts";
import { type CarriedLink, onCarried } from "./member_carried.ts";
import { type Reach, reachOf } from "./stats.ts";
import { sealMemberRequest } from "./join_request.ts";
import { receiveQueues, socketInode } from "./queued.ts";
import { heardThrough, QUEUE_CHECK_MS, ReadThrough, waitHeard } from "./read_through.ts";
import { TELL_TRIES } from "../../../lib/mesh/sync/tell_again.ts";

export { type MemberState, now } from "./member.ts";
export { percentile, type Reach } from "./stats.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

const TICK_MS = 100;
/** Each member is checked (session age, view) every 3 s: the members spread over these ticks. */
const HELLO_TICKS = 30;
/** Link reports every 5 s (as a node's link reporter sends its one link, to the leader), or
 * as seldom as the hellos when the leader paces them. */
const LINK_REPORT_MS = 5000;
/**
 * As a device: the initiator rekeys once its session is this old (when it next sends; here at
 * its next check, within 3 s; resends: ./leader_handshakes.ts), and sends a keepalive 10 s
 * after data came if it sent nothing since.
 */
const REKEY_MS = DEFAULT_TIMERS.rekeyAfterTime;
const KEEPALIVE_MS = DEFAULT_TIMERS.keepaliveTimeout;
/**
 * As a device: a session this old is not sent on (the leader drops what comes on it as expired);
 * what the member sends meanwhile waits for a new session, which it starts, at most
 * {@link STAGED_MAX} messages, the oldest going first.
 */
const REJECT_MS = DEFAULT_TIMERS.rejectAfterTime;
const STAGED_MAX = 16;
/**
 * The longest the simulator's poller serves its sockets before its event loop gets a turn: one
 * round over 256 sockets with full queues held it 2 to 3 s at 10,000 members, so its timers
 * (hellos, bye waits, progress lines) ran seconds late (drivers/linux/poller.ts, `roundMs`).
 */
const READ_ROUND_MS = 20;
/** Datagrams a socket's read takes at most (a shorter batch emptied it: ./read_through.ts). */
const READ_BATCH = 64;
/** Timers on the event loop, for the members' waits (./read_through.ts). */
const loopClock = {
  now: () => performance.now(),
  set: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clear: (id: unknown) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/** Options of a {@link Fleet}. */
export interface FleetOptions {
  /** A join token of the leader, with uses for every member. */
  token: string;
  /** Sockets in the pool (default 256). */
  sockets?: number;
  /** How long a join may go unanswered, ms (default 120 s). */
  joinTimeoutMs?: number;
  /** How long a handshake may go unanswered, ms (default 120 s). */
  handshakeTimeoutMs?: number;
  /** How long a member with a session may go without a whole view, ms (default 300 s). */
  viewTimeoutMs?: number;
  /** Silence from the leader, with members up, that counts as a stopped leader, ms (20 s). */
  silenceMs?: number;
  /** Hears a failure that ends the run: the leader refused or stopped answering. */
  onFatal: (message: string) => void;
  /** Hears a progress line now and then (joins answered, sessions, views). */
  onProgress?: (line: string) => void;
  /**
   * Whether members take shared views (say `fs`: a manifest from the leader, pieces from the
   * members it names, as a node does). Default true; false: whole views from the leader alone.
   */
  sharedViews?: boolean;
  /**
   * Whether what members send each other (shared views) goes over WireGuard sessions of their
   * own (./peer_sessions.ts: handshakes, sealing, UDP through the pool). Default false: handed
   * over in this process (./peer_links.ts), as none of it reaches the leader.
   */
  peerSessions?: boolean;
  /**
   * Whether members take and carry carried pushes (say `ck`: ./member_carried.ts), as a node
   * does. Default true; false: as an older node, the leader pushes to each itself.
   */
  carried?: boolean;
}

/** The simulated members. See the module docs. */
export class Fleet {
  readonly #opts: FleetOptions;
  readonly #checked: CheckedToken;
  readonly #dh: Dh;
  readonly #aead: Aead;
  readonly #poller = new Poller({
    onError: (e) => this.#fatal(`socket: ${e}`),
    roundMs: READ_ROUND_MS,
  });
  readonly #socks: Sock[] = [];
  readonly #moved: Sock[] = [];
  readonly #leaderText: string;
  // The leader's key as base64 (what a link report names it by).
  readonly #leaderKeyText: string;
  readonly members: Member[] = [];
  readonly #byIndex = new Map<number, Member>();
  readonly #byRequest = new Map<number, Member>();
  // Members by key and by overlay address; sessions between members by our index.
  readonly #byKey = new Map<string, Member>();
  readonly #byAddress = new Map<string, Member>();
  readonly #joining = new Set<Member>();
  // Handshakes with the leader in flight (./leader_handshakes.ts).
  readonly #handshakes: LeaderHandshakes;
  // Parsed control messages: binary ones by their hash (a number), text by the text.
  readonly #cache = new Map<string | number, ControlMessage | null>();
  readonly #lanKeys = new Map<string, string>();
  #nextIndex = 1;
  #tick = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #flushQueued = false;
  #lastHeard = now();
  #failed = false;
  // The kernel's receive queues by socket inode, and when they were read (./read_through.ts).
  #queues = new Map<string, number>();
  #queuesAt = -Infinity;
  /** The longest a datagram waited unread in a socket, ms (the kernel's receive time to the read). */
  readLagMaxMs = 0;
  /** Bytes and datagrams received from the leader. */
  bytesIn = 0;
  datagramsIn = 0;
  /** Counters of what was dropped or refused, by kind. */
  readonly drops: Record<string, number> = {};
  /**
   * Datagrams received, by kind: a control message's type, a keepalive, a handshake's message, a
   * member's datagram (what the leader's datagrams a join are made of).
   */
  readonly received: Record<string, number> = {};
  /**
   * Datagrams sent to the leader, by kind (as `received`): what the leader's socket takes in;
   * and `carried-sent`, carried parts passed on to other members (none to the leader).
   */
  readonly sent: Record<string, number> = {};
  /** A watched endpoint move: the member, its new address, and the version that carried it. */
  #move: WatchedMove | null = null;
  // How the members' sync messages go out.
  readonly #link: SyncLink;
  /** What the members counted of shared views, all together. */
  readonly shared = sharedTotals();
  // Sessions between members (with `peerSessions`), or links in this process.
  readonly #peers: PeerSessions;
  readonly #links: PeerLinks<PeerMessage | Uint8Array>;

  private constructor(opts: FleetOptions, checked: CheckedToken, dh: Dh, aead: Aead) {
    this.#opts = opts;
    this.#checked = checked;
    this.#dh = dh;
    this.#aead = aead;
    this.#leaderText = checked.token.leaders[0].endpoints[0];
    this.#leaderKeyText = encodeKey(checked.leaderKey);
    const shared: SharedLink = {
      send: (m, msg) => this.#send(m, msg),
      sendTo: opts.peerSessions
        ? (m, address, msg, peer) => this.#peers.send(m, address, peerBytes(msg), peer)
        : (m, address, msg) => this.#links.send(m, address, msg),
      isMember: (_m, address) => this.#byAddress.get(address)?.state === "up",
      ask: (m, v) => v > 0 ? askFor(this.#link, m, v, 0) : hello(this.#link, m),
      timer: (fn, ms, m) => {
        if (m) return this.#waitHeard(m, fn, ms);
        const t = setTimeout(fn, ms);
        return () => clearTimeout(t);
      },
      applied: (m, v, records) => {
        m.own = records.byKey.get(m.key) ?? null;
        m.history?.push(v, now());
        const move = this.#move;
        if (move && move.version === 0) {
          const r = records.byKey.get(move.key);
          if (r?.endpoints?.some((e) => e.startsWith(`${move.address}:`))) move.version = v;
        }
      },
      totals: this.shared,
    };
    this.#peers = new PeerSessions({
      dh,
      aead,
      byKey: (key) => this.#byKey.get(key),
      endpointOf: (m, other) => m.sock.t.endpoint(`${other.sock.address}:${other.sock.t.port}`),
      sendTo: (m, to, data) => this.#sendTo(m, to, data),
      nextIndex: () => this.#nextIndex++,
      receive: (m, from, payload) => this.#onPeerControl(m, from, payload),
      count: (kind) => this.#count(kind),
    });
    this.#handshakes = new LeaderHandshakes({
      byIndex: this.#byIndex,
      nextIndex: () => this.#nextIndex++,
      send: (m, data) => this.#sendRaw(m, data),
      up: (m) => {
        m.upAt = now();
        this.#hello(m);
        m.nextHelloAt = performance.now() + m.helloEvery;
        m.nextReportAt = performance.now() + LINK_REPORT_MS;
      },
      rekeyed: (m) => {
        // What waited for the new session goes on it (else a keepalive, so the leader takes it).
        const staged = m.staged;
        m.staged = null;
        if (staged?.length) { for (const msg of staged) this.#send(m, msg); }
        else this.#keepalive(m);
      },
      count: (kind) => this.#count(kind),
    });
    this.#links = new PeerLinks<PeerMessage | Uint8Array>({
      byAddress: (address) => this.#byAddress.get(address),
      receive: (m, from, msg) => this.#onPeerMessage(m, from, msg),
      count: (kind) => this.#count(kind),
    });
    // Carried parts go between members as shared views' messages do (the bytes, handed over).
    const carried: CarriedLink = {
      got: (kind) => this.#got(kind),
      sent: (kind, n) => this.#counted(this.sent, kind, n),
      sendTo: opts.peerSessions
        ? (m, address, bytes) => {
          const to = this.#byAddress.get(address);
          this.#peers.send(m, address, bytes, to && { publicKey: to.key } as MemberRecord);
        }
        : (m, address, bytes) => this.#links.send(m, address, bytes),
      apply: (m, msg) => onControl(this.#link, m, msg, this.#move, this.#lanKeys),
    };
    this.#link = {
      send: (m, msg) => this.#send(m, msg),
      got: (kind) => this.#got(kind),
      carried,
      ...(opts.sharedViews ?? true ? { shared } : {}),
    };
  }

  /** Opens the socket pool; members are made by {@link add}. */
  static async open(opts: FleetOptions): Promise<Fleet> {
    const suite = selectSuite();
    const checked = checkJoinToken(opts.token, suite.dh);
    const f = new Fleet(opts, checked, suite.dh, suite.aead);
    const n = opts.sockets ?? 256;
    for (let s = 0; s < n; s++) {
      f.#socks.push(await f.#openSock(`127.77.${s >> 6}.${(s & 63) + 1}`));
    }
    f.#timer = setInterval(() => f.#onTick(), TICK_MS);
    return f;
  }

  async #openSock(address: string): Promise<Sock> {
    const t = await LinuxUdpTransport.open({
      port: 0,
      hostname: address,
      poller: this.#poller,
      socketBuffer: 4 << 20,
      batch: READ_BATCH,
      // No coalesced receives: a socket with GRO keeps a view per segment it split (up to 128 per
      // buffer and segment size: drivers/linux/udp_recv.ts), which a leader's one socket can
      // afford and the pool's 256 could not (75 MiB of them held at 10,000 members).
      gro: false,
      onError: (e) => this.#count(`socket:${String(e).slice(0, 60)}`),
    });
    const sock: Sock = {
      t,
      address,
      leader: t.endpoint(this.#leaderText),
      dirty: false,
      members: new Set(),
      inode: "",
      read: new ReadThrough(READ_BATCH, performance.now()),
    };
    t.start({
      datagram: (d, _from, waitedMs) => {
        sock.read.datagram(waitedMs ?? 0);
        if ((waitedMs ?? 0) > this.readLagMaxMs) this.readLagMaxMs = waitedMs!;
        this.#onDatagram(d, sock, waitedMs ?? 0);
      },
      flush: () => {
        sock.read.batchEnd(performance.now());
        this.#flush();
      },
    });
    return sock;
  }

  /**
   * Makes `count` more members. What a member's join needs that does not depend on the leader's
   * answers is made now, not while joining: its keys, DH(its key, the leader's) and its first
   * join request (sealed to the leader's key with an ephemeral of its own). The simulator is
   * the load, not what is measured: on a machine the leader shares, the CPU it does not spend
   * in the joins is the leader's.
   */
  add(count: number): number[] {
    const out: number[] = [];
    for (let k = 0; k < count; k++) {
      const i = this.members.length;
      const priv = this.#dh.generatePrivate();
      const pub = this.#dh.publicKey(priv);
      const tunnel = new Tunnel(priv, pub, this.#checked.leaderKey, this.#dh, this.#aead);
      const sock = this.#socks[i % this.#socks.length];
      const m = new Member(i, priv, pub, tunnel, sock);
      m.fs = this.#opts.sharedViews ?? true;
      m.ck = this.#opts.carried ?? true;
      this.#byKey.set(m.key, m);
      m.request = this.#sealRequest(m);
      sock.members.add(m);
      this.members.push(m);
      out.push(i);
    }
    return out;
  }

  #sealRequest(m: Member): { message: Uint8Array; pending: JoinPending } {
    return sealMemberRequest(this.#dh, this.#aead, this.#checked, m);
  }

  /** Joins unanswered now. */
  get joining(): number {
    return this.#joining.size;
  }

  /** Members up (joined, session made) and not removed or gone. */
  live(): Member[] {
    return this.members.filter((m) => m.state === "up");
  }

  #count(kind: string): void {
    this.#counted(this.drops, kind);
  }

  #got(kind: string): void {
    this.#counted(this.received, kind);
  }

  #counted(counts: Record<string, number>, kind: string, n = 1): void {
    counts[kind] = (counts[kind] ?? 0) + n;
  }

  #fatal(message: string): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#opts.onFatal(
      `${message} (${this.live().length} members up; drops ${JSON.stringify(this.drops)})`,
    );
  }

  /**
   * How far member `m` has heard at monotonic `t`: what reached its socket until then was read
   * (`t` on a node; on the simulator, where its reading of the shared sockets stands).
   */
  #heard(m: Member, t: number): number {
    const sock = m.sock;
    const h = this.#heardAt(sock, t);
    if (h < t) this.#count("due-held-unread");
    return h;
  }

  #heardAt(sock: Sock, t: number): number {
    return heardThrough(sock.read, t, {
      queued: () => {
        const at = performance.now();
        if (at - this.#queuesAt > QUEUE_CHECK_MS) {
          this.#queues = receiveQueues();
          this.#queuesAt = at;
        }
        return {
          bytes: this.#queues.get(sock.inode ||= socketInode(sock.t.fd)) ?? 0,
          at: this.#queuesAt,
        };
      },
    });
  }

  /** Calls `fn` once `ms` passed and member `m` heard what came meanwhile (a wait for an answer). */
  #waitHeard(m: Member, fn: () => void, ms: number): () => void {
    return waitHeard(
      fn,
      ms,
      () => this.#heard(m, performance.now()),
      loopClock,
      () => this.#count("wait-held-unread"),
    );
  }

  // ---- sending ----

  #sendRaw(m: Member, data: Uint8Array): void {
    // Transport data is counted by what it carries (#send, #keepalive); the rest by its type.
    const type = data[0];
    if (type !== MSG_TRANSPORT) this.#counted(this.sent, `type-${type}`);
    m.sock.t.send(data, m.sock.leader);
    m.sock.dirty = true;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushQueued = false;
    for (const s of this.#socks) if (s.dirty) (s.dirty = false, s.t.flush());
    for (const s of this.#moved) if (s.dirty) (s.dirty = false, s.t.flush());
  }

  #send(m: Member, msg: ControlMessage): void {
    if (!m.tunnel.up) return;
    if (this.#expired(m)) {
      // As a device: staged for a new session, which starts now unless one is under way.
      this.#count("staged-session-expired");
      const staged = m.staged ??= [];
      staged.push(msg);
      if (staged.length > STAGED_MAX) staged.shift();
      if (!this.#handshakes.has(m)) this.#handshakes.initiate(m);
      return;
    }
    m.keepaliveAt = 0;
    this.#counted(this.sent, msg.t);
    this.#sendRaw(m, m.tunnel.seal(enc.encode(JSON.stringify(msg))));
  }

  /** Whether `m`'s session is too old to send on (REJECT_AFTER_TIME). */
  #expired(m: Member): boolean {
    return performance.now() - m.tunnel.sessionAt >= REJECT_MS;
  }

  #keepalive(m: Member): void {
    if (!m.tunnel.up || this.#expired(m)) return;
    m.keepaliveAt = 0;
    this.#counted(this.sent, "keepalive");
    this.#sendRaw(m, m.tunnel.keepalive());
  }

  #hello(m: Member): void {
    hello(this.#link, m);
  }

  // ---- sessions between members (shared views: ./peer_sessions.ts) ----

  #sendTo(m: Member, to: Endpoint, data: Uint8Array): void {
    m.sock.t.send(data, to);
    m.sock.dirty = true;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /** A control message from another member: a piece, an ask, a lack, or a carried part. */
  #onPeerControl(m: Member, from: string, payload: Uint8Array): void {
    if (payload[0] === CARRIED) return onCarried(this.#link.carried!, m, payload, from);
    const msg = this.#parse(payload);
    if (!msg) return this.#count("peer-control-malformed");
    this.#onPeerMessage(m, from, msg);
  }

  /**
   * A message from another member, parsed from a session's datagram or handed over in this
   * process (./peer_links.ts): an ask is checked by the holder, a piece by the fetch, as bytes';
   * a carried part (its bytes) as one from the leader is (./member_carried.ts).
   */
  #onPeerMessage(m: Member, from: string, msg: ControlMessage | PeerMessage | Uint8Array): void {
    if (msg instanceof Uint8Array) return onCarried(this.#link.carried!, m, msg, from);
    const link = this.#link.shared;
    if (!link) return;
    // The sender is the session's peer (WireGuard authenticated it), or the member that handed
    // it over.
    if (msg.t === "piece") return onPiece(link, m, msg.piece, from);
    if (msg.t === "pget") return onAsk(link, m, from, msg);
    if (msg.t === "plack") return onLack(link, m, from, msg);
    this.#count("peer-control-unexpected");
  }

  // ---- joining ----

  /** Starts the join of member `i` (its session and first view follow by themselves). */
  startJoin(i: number): void {
    const m = this.members[i];
    // The request made with the member, once; a later join (after a leave) seals a new one.
    const { message, pending } = m.request ?? this.#sealRequest(m);
    m.request = null;
    m.state = "joining";
    m.join = {
      message,
      pending,
      tries: 1,
      resends: 0,
      nextAt: performance.now() + joinResendDelayMs(1),
      startedAt: now(),
    };
    this.#byRequest.set(pending.requestId, m);
    this.#joining.add(m);
    this.#sendRaw(m, message);
  }

  #onJoinAnswer(m: Member, data: Uint8Array): void {
    const j = m.join!;
    const plain = openJoinResponse(this.#dh, this.#aead, j.pending, data);
    if (!plain) return this.#count("join-answer-unopened");
    this.#byRequest.delete(j.pending.requestId);
    this.#joining.delete(m);
    m.join = null;
    let res;
    try {
      res = JSON.parse(dec.decode(plain));
    } catch {
      return this.#fatal(`the leader's join answer to ${m.name} is malformed`);
    }
    if (!res.ok) return this.#fatal(`the leader refused ${m.name}'s join: ${res.error}`);
    m.joinedAt = now();
    m.address = res.member.address;
    m.leaderAddress = res.leader.address;
    this.#byAddress.set(m.address, m);
    m.tunnel.address(m.address, res.leader.address);
    this.#handshakes.initiate(m);
  }

  // ---- receiving ----

  #onDatagram(data: Uint8Array, sock: Sock, waitedMs: number): void {
    this.bytesIn += data.length;
    this.datagramsIn++;
    this.#lastHeard = now();
    if (data.length < 8) return this.#count("short");
    const type = readU32(data, 0);
    if (type === MSG_TRANSPORT) {
      if (this.#peers.onDatagram("transport", data)) return this.#got("member-transport");
      const m = this.#byIndex.get(readU32(data, 4));
      if (!m) return this.#count("transport-unknown-index");
      const payload = m.tunnel.open(data);
      // Data for another port (the leader's post-quantum offers: its members answer them, the
      // simulated ones do not) is counted apart from what did not open.
      if (payload === null) {
        this.#got(`transport-${m.tunnel.refused}`);
        return this.#count(`transport-${m.tunnel.refused}`);
      }
      if (payload.length === 0) this.#got("keepalive");
      if (payload.length > 0) {
        // Data (a keepalive is empty: `open` says so with an empty payload only for those).
        if (m.keepaliveAt === 0) m.keepaliveAt = performance.now() + KEEPALIVE_MS;
        m.heardWaitedMs = waitedMs;
        this.#onControl(m, payload);
      }
      return;
    }
    if (type === MSG_RESPONSE && this.#peers.onDatagram("response", data)) {
      return this.#got("member-response");
    }
    if (type === MSG_RESPONSE || type === MSG_COOKIE_REPLY) {
      this.#got(type === MSG_RESPONSE ? "handshake-response" : "cookie-reply");
      return this.#handshakes.onAnswer(type, data);
    }
    if (type === MSG_JOIN_RESPONSE || type === MSG_JOIN_COOKIE) {
      this.#got(type === MSG_JOIN_RESPONSE ? "join-response" : "join-cookie");
      const m = this.#byRequest.get(readU32(data, 4));
      if (!m || !m.join) return this.#count("join-unknown-request");
      if (type === MSG_JOIN_RESPONSE) return this.#onJoinAnswer(m, data);
      const cookie = openJoinCookie(this.#checked.leaderKey, m.join.message, data);
      if (!cookie) return this.#count("join-cookie-unopened");
      setJoinMac2(m.join.message, cookie);
      // As the join client: the same request again at once, with mac2, and the next resend a
      // whole wait from now.
      m.join.tries++;
      m.join.nextAt = performance.now() + joinResendDelayMs(m.join.resends + 1);
      this.#sendRaw(m, m.join.message);
      return;
    }
    if (type === MSG_INITIATION) {
      this.#got("initiation");
      return this.#onInitiation(data, sock);
    }
    this.#count("unknown-type");
  }

  // The leader starts a handshake when our session got old before our rekey got through, and
  // another member when it asks for pieces: the member it is for is found by the MAC1 among those
  // on the socket it came to, and who sent it by the static key it carries.
  #onInitiation(data: Uint8Array, sock: Sock): void {
    for (const m of sock.members) {
      if (m.state !== "up" && m.state !== "handshaking") continue;
      if (!m.tunnel.isFor(data)) continue;
      const index = this.#nextIndex++;
      const next = m.tunnel.nextIndex;
      // Another member is answered as WireGuard answers a peer it holds: one in its view (up).
      let p: Peer | undefined;
      const res = m.tunnel.answerAny(data, index, (key) => {
        // Members start sessions with each other only with `peerSessions`.
        if (!this.#link.shared || !this.#opts.peerSessions) return undefined;
        const s = this.#peers.tunnelFor(m, encodeKey(key));
        p = s?.peer;
        return s?.tunnel;
      });
      if (!res) continue;
      if (p && res.tunnel === p.tunnel) return this.#peers.answered(m, p, index, res.response);
      this.#count("initiation-from-leader");
      // Why the leader may have started it: how old the member's session is (past 180 s the
      // leader's has expired; younger, it heard nothing from the member for 15 s).
      const age = (performance.now() - m.tunnel.sessionAt) / 1000;
      this.#count(
        `initiation-from-leader-at-session-age-${
          age < 15 ? "0-15" : age < 120 ? "15-120" : age < 180 ? "120-180" : "180+"
        }s`,
      );
      if (next) this.#byIndex.delete(next);
      this.#byIndex.set(index, m);
      this.#sendRaw(m, res.response);
      return;
    }
    this.#count("initiation-unanswered");
  }

  #parse(payload: Uint8Array): ControlMessage | null {
    // A view's parts are the same bytes for every member: parsed once (a packed part, binary,
    // by a hash of its bytes; the body of the parts is then unpacked once too: member_sync.ts).
    // A shared view's pieces too: one object for every member (the payload is the tunnel's
    // scratch buffer, so a piece is copied out of it).
    const kind = payload[0];
    const binary = kind === PACKED || kind === PIECE || kind === MANIFEST;
    const text = binary ? hash53(payload) : dec.decode(payload);
    let msg = this.#cache.get(text);
    if (msg === undefined) {
      msg = parseMessage(kind === PIECE ? payload.slice() : payload);
      if (this.#cache.size >= 8192) this.#cache.clear();
      this.#cache.set(text, msg);
    }
    return msg;
  }

  #onControl(m: Member, payload: Uint8Array): void {
    // A carried part is checked and parsed once for every member (./member_carried.ts).
    if (payload[0] === CARRIED) return onCarried(this.#link.carried!, m, payload, m.leaderAddress);
    const msg = this.#parse(payload);
    if (!msg) return this.#count("control-malformed");
    this.#got(msg.t);
    onControl(this.#link, m, msg, this.#move, this.#lanKeys);
  }

  // ---- timers ----

  #onTick(): void {
    if (this.#failed) return;
    const t = performance.now();
    const bucket = this.#tick++ % HELLO_TICKS;
    const joinTimeout = this.#opts.joinTimeoutMs ?? 120_000;
    for (const m of this.#joining) {
      const j = m.join!;
      if (now() - j.startedAt > joinTimeout) {
        return this.#fatal(
          `no answer from the leader at ${this.#leaderText} to ${m.name}'s join after ` +
            `${j.tries} tries in ${Math.round(joinTimeout / 1000)} s`,
        );
      }
      // As the join client (UDP only: the simulated members have no TCP), on its schedule, once
      // the answer did not come by then (what came in time counts, read or not).
      if (t >= j.nextAt && this.#heard(m, t) >= j.nextAt) {
        j.tries++;
        j.nextAt = t + joinResendDelayMs(++j.resends + 1);
        this.#sendRaw(m, j.message);
      }
    }
    const hsTimeout = this.#opts.handshakeTimeoutMs ?? 120_000;
    const late = this.#handshakes.resend(t, now(), hsTimeout, (m) => this.#heard(m, t));
    if (late) {
      return this.#fatal(
        `the leader did not answer ${late.name}'s WireGuard handshake within ` +
          `${Math.round(hsTimeout / 1000)} s`,
      );
    }
    let up = 0;
    const viewTimeout = this.#opts.viewTimeoutMs ?? 300_000;
    for (let i = bucket; i < this.members.length; i += HELLO_TICKS) {
      const m = this.members[i];
      if (m.state !== "up") continue;
      up++;
      if (m.viewAt === 0 && now() - m.upAt > viewTimeout) {
        return this.#fatal(
          `${m.name} holds no whole view ${Math.round(viewTimeout / 1000)} s after its session ` +
            `came up (the leader's view parts keep getting lost, or never come)`,
        );
      }
      // Rekeyed before the leader's session gets old (the initiator's job).
      if (!this.#handshakes.has(m) && t - m.tunnel.sessionAt > REKEY_MS) {
        this.#handshakes.initiate(m);
      }
      this.#peers.idle(m, t);
    }
    // Each member's hellos and reports on its own interval (the leader may pace them).
    for (const m of this.members) {
      if (m.state !== "up") continue;
      if (t >= m.nextHelloAt) {
        m.nextHelloAt = t + m.helloEvery;
        this.#hello(m);
      }
      // Asked again only for what did not come in time (read or not: ./read_through.ts).
      if ((m.askAt !== 0 && t >= m.askAt) || (m.fetchAt !== 0 && t >= m.fetchAt)) {
        askAgain(this.#link, m, this.#heard(m, t));
      }
      if (m.tellAt !== 0 && t >= m.tellAt) tellAgain(this.#link, m, this.#heard(m, t));
      if (t >= m.nextReportAt) {
        m.nextReportAt = t + Math.max(LINK_REPORT_MS, m.helloEvery);
        report(this.#link, m, this.#leaderKeyText);
      }
      if (m.keepaliveAt !== 0 && t >= m.keepaliveAt) this.#keepalive(m);
    }
    const silence = this.#opts.silenceMs ?? 20_000;
    if (up > 0 && now() - this.#lastHeard > silence) {
      this.#fatal(
        `the leader at ${this.#leaderText} stopped answering: nothing heard for ` +
          `${Math.round(silence / 1000)} s`,
      );
    }
  }

  // ---- what the bench asks ----

  /**
   * Joins members `ids`, at most `concurrency` joins unanswered at once and at most `perSecond`
   * started a second (0: no bound); resolves once every one holds a session and a view.
   */
  async joinAll(ids: number[], concurrency: number, perSecond = 0): Promise<void> {
    let next = 0;
    const started = performance.now();
    let said = started;
    const members = ids.map((i) => this.members[i]);
    const progress = () => {
      if (performance.now() - said < 5000) return;
      said = performance.now();
      const joined = members.filter((m) => m.joinedAt > 0).length;
      const up = members.filter((m) => m.upAt > 0).length;
      const views = members.filter((m) => m.viewAt > 0).length;
      this.#opts.onProgress?.(
        `${Math.round((said - started) / 1000)} s: ${joined} joined, ${up} sessions, ` +
          `${views} views of ${ids.length}; drops ${JSON.stringify(this.drops)}`,
      );
    };
    while (next < ids.length) {
      progress();
      if (this.#failed) throw new Error("the fleet failed");
      const allowed = perSecond > 0
        ? Math.floor(((performance.now() - started) / 1000) * perSecond) + 1
        : Infinity;
      while (next < ids.length && this.#joining.size < concurrency && next < allowed) {
        this.startJoin(ids[next++]);
      }
      await sleep(5);
    }
    await this.until(() => {
      progress();
      return members.every((m) => m.viewAt > 0);
    }, "every member's view");
  }

  /** Waits for `cond`, checked every 10 ms; throws once the fleet failed. */
  async until(cond: () => boolean, what: string): Promise<void> {
    while (!cond()) {
      if (this.#failed) throw new Error(`the fleet failed while waiting for ${what}`);
      await sleep(10);
    }
  }

  /** Starts recording when live members reach each version (and policy version). */
  watch(): { at: number; bytes: number; datagrams: number } {
    for (const m of this.members) {
      m.history = m.state === "up" ? [] : null;
      m.policyHistory = m.state === "up" ? [] : null;
    }
    return { at: now(), bytes: this.bytesIn, datagrams: this.datagramsIn };
  }

  /**
   * Waits until every member that was live at {@link watch} (but `exclude`) holds version
   * `target` (of the view, or of the policy with `policy`), and says how long each took from
   * `since`.
   */
  async reach(
    target: number | "move",
    since: { at: number; bytes: number; datagrams: number },
    opts: { policy?: boolean; exclude?: number[] } = {},
  ): Promise<Reach> {
    const skip = new Set(opts.exclude ?? []);
    const watched = this.members.filter((m) => m.history !== null && !skip.has(m.i));
    let moved: Member | undefined;
    if (target === "move") {
      await this.until(() => (this.#move?.version ?? 0) > 0, "the moved endpoint in a view");
      target = this.#move!.version;
      moved = this.members.find((m) => m.key === this.#move!.key);
    }
    const want = target;
    const held = (m: Member) => (opts.policy ? m.pv : m.version) >= want;
    await this.until(() => watched.every((m) => m.state !== "up" || held(m)), `version ${want}`);
    const bytes = this.bytesIn - since.bytes;
    const datagrams = this.datagramsIn - since.datagrams;
    const reach = reachOf(watched, want, since.at, { bytes, datagrams }, opts.policy ?? false);
    // The hellos that said the move: the first and those told again until its record showed it.
    if (moved) reach.told = 1 + Math.min(moved.tellTries, TELL_TRIES);
    for (const m of this.members) m.history = m.policyHistory = null;
    this.#move = null;
    return reach;
  }

  /**
   * Moves member `i` to a socket on a new address and says hello from it with its new LAN
   * candidate, as a node whose interfaces changed: again until its record shows it (the tries
   * ride the fleet's 100 ms tick); returns the address.
   */
  async move(i: number): Promise<string> {
    const m = this.members[i];
    const k = this.#moved.length;
    const sock = await this.#openSock(`127.78.${k >> 6}.${(k & 63) + 1}`);
    this.#moved.push(sock);
    this.#move = { key: m.key, address: sock.address, version: 0 };
    m.sock.members.delete(m);
    m.sock = sock;
    sock.members.add(m);
    moveLan(this.#link, m, [`${sock.address}:${sock.t.port}`], performance.now());
    return sock.address;
  }

  /**
   * Member `i` leaves: bye up to three times until the leader answers, within the wait a node
   * in a mesh this size gives it (a second; 2 s at 10,000: lib/mesh/sync/bye.ts). When the answer
   * came is on the member (`byeOkAt`, from the kernel's receive time: member_sync.ts).
   */
  async leave(i: number): Promise<void> {
    const m = this.members[i];
    if (m.state !== "up") return;
    m.state = "leaving";
    const answered = new Promise<void>((r) => m.leaveDone = r);
    const waitMs = m.byeWaitMs = byeWaitFor(this.members.length);
    m.byeAt = performance.now();
    m.byeQueued = receiveQueues().get(m.sock.inode ||= socketInode(m.sock.t.fd)) ?? 0;
    for (let k = 0; k < 3 && (m.state as MemberState) === "leaving"; k++) {
      this.#send(m, { t: "bye", k: m.key });
      // Again only when the answer did not come in time (unread, it came: ./read_through.ts).
      await Promise.race([
        answered,
        new Promise<void>((r) => this.#waitHeard(m, r, waitMs / 3)),
      ]);
    }
    const ok = (m.state as MemberState) === "left";
    m.state = "left";
    // Its sessions with other members and the pieces it held go with it.
    this.#peers.dropAll(m);
    m.shared?.holder?.clear();
    // Unanswered: the tunnel stays a while, so an answer that comes late is seen (late, not lost).
    if (ok) m.tunnel.close();
    else setTimeout(() => m.tunnel.close(), LATE_BYE_MS);
  }

  /**
   * Sessions between members: made (either side), dropped for room or idle (with
   * `peerSessions`); else the payloads handed over in this process and dropped.
   */
  get peerSessions(): Readonly<PeerCounts | PeerLinkCounts> {
    return this.#opts.peerSessions ? this.#peers.counts : this.#links.counts;
  }

  /** Stops the timers and closes every socket. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    for (const s of [...this.#socks, ...this.#moved]) await s.t.close().catch(() => {});
    for (const m of this.members) m.tunnel.close();
  }
}

/** How long a member whose bye went unanswered still listens for a late answer, ms. */
export const LATE_BYE_MS = 10_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
