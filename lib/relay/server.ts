/**
 * The relay: forwards WireGuard messages between two members that cannot reach each other,
 * without being able to read them, and without ever being an open reflector.
 *
 * Sessions are set up inside the tunnels: a member asks (`relay-open`), the relay checks that
 * both ends are members and that limits allow, and grants each side an id and a MAC key per
 * direction (lib/relay/messages.ts). Data comes outside the tunnels (lib/relay/wire.ts): a packet
 * is forwarded only when its id is one the relay handed out (one map lookup; anything else is
 * dropped before any MAC is computed), its MAC is right, and its sender is within its rate. The
 * inner message is WireGuard ciphertext end to end; the relay learns only who talks to whom.
 *
 * Pure: time, randomness, membership and sending are injected, and the caller runs the timer
 * (`sweep`). Every drop and refusal is counted, never thrown or logged per packet.
 * @module
 */

import { type Endpoint, sameEndpoint } from "../io/driver.ts";
import { encodeKey } from "../crypto/keys.ts";
import { readU32 } from "../protocol/bytes.ts";
import { RateLimiter } from "../protocol/ratelimiter.ts";
import { ReasonCounter } from "../metrics/reasons.ts";
import { checkRate, DEFAULT_RELAY_RATE, type RelayRate, TokenBucket } from "./bucket.ts";
import { type FairSender, FairShare } from "./fair_share.ts";
import { RelayMacKey } from "./mac.ts";
import type {
  RelayClosed,
  RelayGrant,
  RelayNotice,
  RelayRequest,
  RelaySession,
} from "./messages.ts";
import {
  isHeadTag,
  isToRelay,
  openRelay,
  RELAY_HEADER_SIZE,
  RELAY_ID_OFFSET,
  RELAY_MIN_INNER,
  toFromRelay,
} from "./wire.ts";

/** Why the relay dropped a data packet. */
export const RELAY_DROP_REASONS = [
  /** Not a member-to-relay packet, or too short to hold a header and a WireGuard message. */
  "malformed",
  /** Longer than `maxPacket`. */
  "too-large",
  /** An id the relay never handed out, or one already closed: dropped before any MAC. */
  "unknown-session",
  /** The session went idle past `idleMs` and waits for the sweep. */
  "expired",
  /**
   * It came from elsewhere than where the sender's authenticated WireGuard packets come from
   * (its endpoint, or the few places they came from before): a captured packet replayed (a relay
   * packet has no counter), dropped before its MAC is checked or its rate charged.
   */
  "source",
  /** The MAC is wrong. */
  "mac",
  /**
   * A head-and-tag MAC on a session whose grant did not offer it (a member of this pair did not
   * ask with `ht`), dropped before its MAC is checked.
   */
  "form",
  /** The sending member is over its rate (`--relay-rate`), checked before the MAC. */
  "rate",
  /**
   * The relay is saturated and the sending member over its fair share of it
   * (lib/relay/fair_share.ts), checked before the MAC.
   */
  "share",
  /** The relay knows no underlay endpoint for the receiving member. */
  "no-endpoint",
] as const;

/** Why the relay dropped a data packet. */
export type RelayDropReason = typeof RELAY_DROP_REASONS[number];

/** Why the relay refused a `relay-open`; the asker gets no answer either way. */
export const RELAY_REFUSALS = [
  /** The asker is not a member. */
  "not-member",
  /** The asker named someone who is not a member. */
  "peer-not-member",
  /** The asker named itself, or the relay. */
  "self",
  /** The asker asks too often. */
  "open-rate",
  /** One of the two members holds `maxSessionsPerMember` sessions already. */
  "member-limit",
  /** The relay holds `maxSessions` sessions already. */
  "total-limit",
] as const;

/** Why the relay refused a `relay-open`. */
export type RelayRefusal = typeof RELAY_REFUSALS[number];

/** What a relay is built from. */
export interface RelayServerOptions {
  /** Monotonic milliseconds. */
  now: () => number;
  /** Sends a relay-to-member packet on the underlay; `data` is only valid during the call. */
  send: (data: Uint8Array, to: Endpoint) => void;
  /**
   * Sends, at once, a run of relay-to-member packets laid end to end in one receive buffer, all
   * to `to`: `length` bytes from `data`'s first byte, cut every `size` (the underlay's
   * `Transport.sendRun`; false: nothing sent). Given, packets forwarded one after another from
   * one UDP receive (as a GRO batch arrives: equal sizes, contiguous) to one member are held
   * until they stop lining up or {@link RelayServer.flush}, then go as one send, uncopied.
   */
  sendRun?: (data: Uint8Array, length: number, size: number, to: Endpoint) => boolean;
  /** True when `key` (base64) is a member of the mesh now. */
  isMember: (key: string) => boolean;
  /** The relay's own public key: nobody gets a session with it (it is reached directly). */
  selfKey?: string;
  /** Fills session ids and keys (default: the CSPRNG; tests fix them). */
  random?: (bytes: Uint8Array) => void;
  /** A session with no forwarded packet for this long ends. Default 120,000 ms. */
  idleMs?: number;
  /** Sessions a member may be part of. Default 64. */
  maxSessionsPerMember?: number;
  /** Sessions the relay holds in all. Default 16,384. */
  maxSessions?: number;
  /** Each member's rate (as sender); unset fields take {@link DEFAULT_RELAY_RATE}'s. */
  rate?: Partial<RelayRate>;
  /**
   * The CPU the relay's process spent so far, in milliseconds: how the fair share tells that
   * the relay is saturated (lib/relay/fair_share.ts). Absent: it never holds a member.
   */
  cpuMs?: () => number;
  /**
   * The longest relay packet forwarded. Default 1,468: a WireGuard message of the default
   * 1,420-byte MTU (1,452 bytes) and the 16-byte header; pass 16 + MTU + 32 for another MTU.
   */
  maxPacket?: number;
  /** `relay-open`s each member may send (default 10 a second, bursts of 20). */
  openRate?: { perSecond: number; burst: number };
}

/** A setup message for the member `to` (base64), to send inside its tunnel. */
export interface RelayOutgoing {
  /** The member to send it to. */
  to: string;
  /** The message. */
  msg: RelayNotice;
}

/** What a `relay-open` or `relay-close` came to. */
export interface RelayResult {
  /** Why nothing was granted, or null. */
  refused: RelayRefusal | null;
  /** The messages to send, each to its member. */
  send: RelayOutgoing[];
}

/** Packets and bytes. */
export interface Traffic {
  /** Packets. */
  packets: number;
  /** Bytes, relay header included. */
  bytes: number;
}

/** One session as status shows it. */
export interface RelaySessionInfo {
  /** One member (the one that asked first). */
  a: string;
  /** The other. */
  b: string;
  /** Forwarded from a to b. */
  aToB: Traffic;
  /** Forwarded from b to a. */
  bToA: Traffic;
  /** Milliseconds since the last forwarded packet (or the open). */
  idleMs: number;
}

/** The relay's counters. */
export interface RelayServerStats {
  /** Sessions open now. */
  sessions: number;
  /** Sessions granted. */
  opened: number;
  /** Sessions ended by a member, by a member leaving, or by the sweep finding a non-member. */
  closed: number;
  /** Sessions ended for being idle. */
  expired: number;
  /** Data packets handed to `forward`. */
  received: Traffic;
  /** Data packets forwarded. */
  forwarded: Traffic;
  /** MACs computed (each costs a pass over the packet: drops before it are cheap). */
  macChecks: number;
  /** Of the packets forwarded, those in the head-and-tag MAC form. */
  headTag: number;
  /** Packets dropped, by reason. */
  drops: Record<RelayDropReason, number>;
  /** Opens refused, by reason. */
  refusals: Record<RelayRefusal, number>;
  /** Epochs of 100 ms the relay was saturated with several members sending. */
  saturatedEpochs: number;
}

interface MemberState extends FairSender {
  key: string;
  /** Sessions this member is part of. */
  sessions: number;
  bucket: TokenBucket;
  /**
   * The endpoint the integration gave (its WireGuard peer endpoint): replay-protected. The only
   * one used: a relay packet carries no counter, so its source could be a replay from anywhere
   * and is never learnt.
   */
  given: Endpoint | null;
  /** Its last `relay-open` said it takes the head-and-tag MAC form (`ht`). */
  headTag: boolean;
}

interface Direction {
  id: number;
  mac: RelayMacKey;
  /** The key as granted, to grant it again on a repeated open. */
  keyText: string;
  from: MemberState;
  to: MemberState;
  pair: Pair;
  /**
   * The head-and-tag MAC form is taken (both members asked with `ht`). The whole form always
   * is: it is the stronger, and a member that has not taken the latest grant still sends it.
   */
  headTag: boolean;
  packets: number;
  bytes: number;
}

interface Pair {
  name: string;
  a: MemberState;
  b: MemberState;
  ab: Direction;
  ba: Direction;
  lastActive: number;
}

const MAX_ID_TRIES = 64;
/** The most packets in one held run: a UDP GSO send takes 64 segments. */
const RUN_MAX_PACKETS = 64;
/** The most bytes in one held run: the largest UDP payload of an IPv4 datagram. */
const RUN_MAX_BYTES = 65507;
/** Session ids are drawn from 30 bits; see #freshId. */
const ID_MASK = 0x3fffffff;

/** A relay. See the module docs. */
export class RelayServer {
  readonly #now: () => number;
  readonly #send: (data: Uint8Array, to: Endpoint) => void;
  #sendRun:
    | ((data: Uint8Array, length: number, size: number, to: Endpoint) => boolean)
    | undefined;
  /**
   * The run held (see `sendRun`): its first packet (a view of the receive buffer, valid until
   * the receive batch ends), destination, bytes, packet size and count; null for none.
   */
  #runFirst: Uint8Array | null = null;
  #runTo: Endpoint | null = null;
  #runBytes = 0;
  #runSize = 0;
  #runCount = 0;
  readonly #isMember: (key: string) => boolean;
  readonly #selfKey: string | undefined;
  readonly #random: (bytes: Uint8Array) => void;
  readonly #idleMs: number;
  readonly #perMember: number;
  readonly #maxSessions: number;
  readonly #rate: RelayRate;
  readonly #maxPacket: number;
  readonly #opens: RateLimiter;
  #heard: (key: string, from: Endpoint) => boolean = () => false;
  readonly #fair: FairShare;
  readonly #members = new Map<string, MemberState>();
  /** Endpoints given for members that hold no session yet. */
  readonly #endpoints = new Map<string, Endpoint>();
  readonly #pairs = new Map<string, Pair>();
  readonly #byId = new Map<number, Direction>();
  readonly #idBytes = new Uint8Array(4);
  #opened = 0;
  #closed = 0;
  #expired = 0;
  #inPackets = 0;
  #inBytes = 0;
  #outPackets = 0;
  #outBytes = 0;
  #macChecks = 0;
  #headTag = 0;
  readonly #drops = new ReasonCounter(RELAY_DROP_REASONS);
  readonly #refusals = new ReasonCounter(RELAY_REFUSALS);

  /** A relay with no sessions. Throws a RangeError on a limit that is not a positive number. */
  constructor(opts: RelayServerOptions) {
    this.#now = opts.now;
    this.#send = opts.send;
    this.#sendRun = opts.sendRun;
    this.#isMember = opts.isMember;
    this.#selfKey = opts.selfKey;
    this.#random = opts.random ?? ((b) => crypto.getRandomValues(b));
    this.#idleMs = positive("idleMs", opts.idleMs, 120_000);
    this.#perMember = positive("maxSessionsPerMember", opts.maxSessionsPerMember, 64);
    this.#maxSessions = positive("maxSessions", opts.maxSessions, 16_384);
    this.#maxPacket = positive("maxPacket", opts.maxPacket, 1468);
    if (this.#maxPacket < RELAY_HEADER_SIZE + RELAY_MIN_INNER) {
      throw new RangeError(
        `relay: maxPacket must be at least ${RELAY_HEADER_SIZE + RELAY_MIN_INNER}`,
      );
    }
    this.#rate = { ...DEFAULT_RELAY_RATE, ...opts.rate };
    checkRate(this.#rate);
    this.#fair = new FairShare(this.#now(), opts.cpuMs ?? null);
    this.#opens = new RateLimiter({
      perSecond: opts.openRate?.perSecond ?? 10,
      burst: opts.openRate?.burst ?? 20,
      now: this.#now,
    });
  }

  /** Sessions open now. */
  get sessionCount(): number {
    return this.#pairs.size;
  }

  /** Handles a setup request from member `from` (as the tunnel it came through says). */
  handle(msg: RelayRequest, from: string): RelayResult {
    if (msg.t === "relay-open") return this.open(from, msg.to, msg.ht === true);
    return { refused: null, send: this.close(from, msg.to) };
  }

  /**
   * Member `from` asks for a session with member `to`. Granted: both get a `relay-session`
   * (mirror images). Asked again while open: the same session is granted again, to both, and
   * its idle time starts over (a member that restarted gets its keys back). Refused: nothing
   * to send, and the reason is counted. `headTag`: `from` takes the head-and-tag MAC form; a
   * session offers it (in both grants, both directions) once both members asked with it, and
   * the grants then sent to both say so (same ids and keys: nothing in flight is lost).
   */
  open(from: string, to: string, headTag = false): RelayResult {
    const refused = this.#check(from, to);
    if (refused !== null) {
      this.#refusals.add(refused);
      return { refused, send: [] };
    }
    this.#member(from).headTag = headTag;
    let pair = this.#pairs.get(pairName(from, to));
    if (pair === undefined) {
      const full = this.#checkRoom(from, to);
      if (full !== null) {
        this.#refusals.add(full);
        return { refused: full, send: [] };
      }
      pair = this.#create(from, to);
    }
    pair.lastActive = this.#now();
    pair.ab.headTag = pair.ba.headTag = pair.a.headTag && pair.b.headTag;
    return { refused: null, send: [this.#grant(pair.a, pair), this.#grant(pair.b, pair)] };
  }

  /** Member `from` ends its session with `to`; the other member is told. */
  close(from: string, to: string): RelayOutgoing[] {
    const pair = this.#pairs.get(pairName(from, to));
    if (pair === undefined) return [];
    this.#remove(pair);
    this.#closed++;
    return [closedNotice(to, from)];
  }

  /**
   * Gives the underlay endpoint of member `key`, as the relay's WireGuard peer knows it (null:
   * none). It wins over what relay packets' sources say, because WireGuard only roams on
   * packets it has not seen before, while a relay packet carries no counter and could be a
   * replay from anywhere. Relay endpoints are ignored: the relay never relays through a relay.
   */
  setEndpoint(key: string, endpoint: Endpoint | null): void {
    const ep = endpoint !== null && endpoint.proto !== "relay" ? endpoint : null;
    const m = this.#members.get(key);
    if (m !== undefined) m.given = ep;
    if (ep === null) this.#endpoints.delete(key);
    else this.#endpoints.set(key, ep);
  }

  /**
   * Takes the relay's second word on where a member sends from: `heard(key, from)` is true when
   * member `key`'s authenticated WireGuard packets come from `from` (or did lately: its peer's
   * endpoint or the last few places it left, lib/device/roaming.ts `heardFrom`). A
   * relayed packet from there is taken though the relay's copy of the member's endpoint (where
   * it sends to it) is elsewhere. Unset: only that endpoint.
   */
  setHeard(heard: (key: string, from: Endpoint) => boolean): void {
    this.#heard = heard;
  }

  /** Member `key` left the mesh: its sessions end and the other members are told. */
  removeMember(key: string): RelayOutgoing[] {
    const out: RelayOutgoing[] = [];
    for (const pair of [...this.#pairs.values()]) {
      if (pair.a.key !== key && pair.b.key !== key) continue;
      this.#remove(pair);
      this.#closed++;
      out.push(closedNotice(pair.a.key === key ? pair.b.key : pair.a.key, key));
    }
    this.#members.delete(key);
    this.#endpoints.delete(key);
    return out;
  }

  /**
   * Forwards one member-to-relay packet from the underlay; `data` is rewritten in place and
   * sent. Returns null when forwarded, else why it was dropped (also counted).
   */
  forward(data: Uint8Array, from: Endpoint): RelayDropReason | null {
    this.#inPackets++;
    this.#inBytes += data.length;
    if (data.length > this.#maxPacket) return this.#drop("too-large");
    if (data.length < RELAY_HEADER_SIZE + RELAY_MIN_INNER || !isToRelay(data)) {
      return this.#drop("malformed");
    }
    const dir = this.#byId.get(readU32(data, RELAY_ID_OFFSET));
    if (dir === undefined) return this.#drop("unknown-session");
    const headTag = isHeadTag(data);
    if (headTag && !dir.headTag) return this.#drop("form");
    const now = this.#now();
    const pair = dir.pair;
    if (now - pair.lastActive >= this.#idleMs) return this.#drop("expired");
    const src = dir.from;
    // Only a place the sender's authenticated WireGuard packets came from may spend its rate: a
    // replay from anywhere else would use it up (a member that moved is followed as soon as its
    // WireGuard session roams, which only fresh packets make it do). Its endpoint first (one
    // compare), else the device's word: a member sends its relayed packets the way it reaches
    // the relay, which after a restart or a fallback to TCP need not be where the relay sends.
    if (
      (src.given === null || !sameEndpoint(src.given, from)) && !this.#heard(src.key, from)
    ) {
      return this.#drop("source");
    }
    const len = data.length;
    // Rate and share first: a packet over them costs the relay a lookup, not a MAC, which is
    // what frees a saturated relay for the others. They are spent only once the MAC is right,
    // so forged packets cost the member nothing.
    if (!src.bucket.allows(len, now)) return this.#drop("rate");
    if (!this.#fair.allows(src, len, now, pair)) return this.#drop("share");
    this.#macChecks++;
    if (!openRelay(data, dir.mac)) return this.#drop("mac");
    const to = dir.to.given;
    if (to === null) return this.#drop("no-endpoint");
    src.bucket.take(len, now);
    this.#fair.pass(src, len);
    pair.lastActive = now;
    dir.packets++;
    dir.bytes += data.length;
    this.#outPackets++;
    this.#outBytes += data.length;
    if (headTag) this.#headTag++;
    toFromRelay(data);
    this.#out(data, to, from);
    return null;
  }

  /**
   * Starts (or with undefined stops) sending runs as the `sendRun` option does: for an
   * underlay known only after the relay is made. A run held goes first.
   */
  setSendRun(
    sendRun:
      | ((data: Uint8Array, length: number, size: number, to: Endpoint) => boolean)
      | undefined,
  ): void {
    this.flush();
    this.#sendRun = sendRun;
  }

  /**
   * Sends the run held, if any (see `sendRun`). The caller calls it at the end of each batch of
   * received packets, before the buffer they were read into is reused.
   */
  flush(): void {
    const first = this.#runFirst;
    if (first === null) return;
    const to = this.#runTo!;
    this.#runFirst = this.#runTo = null;
    if (this.#runCount === 1) {
      this.#send(first, to);
      return;
    }
    if (this.#sendRun!(first, this.#runBytes, this.#runSize, to)) return;
    // Not taken as a run (the underlay closed, cannot reach `to`, or its queue waits for the
    // socket): one by one, queued behind what waits.
    const buf = new Uint8Array(first.buffer, first.byteOffset, this.#runBytes);
    for (let off = 0; off < this.#runBytes; off += this.#runSize) {
      this.#send(buf.subarray(off, Math.min(off + this.#runSize, this.#runBytes)), to);
    }
  }

  /**
   * Sends one forwarded packet: it joins the run held when it lies right after it in the same
   * buffer, goes to the same endpoint and is no longer than its packets (all full so far);
   * otherwise the run held goes and this one starts the next. Only UDP to UDP: a stream's
   * frames are not kept in a buffer until the batch ends.
   */
  #out(data: Uint8Array, to: Endpoint, from: Endpoint): void {
    if (
      this.#sendRun === undefined || (from.proto ?? "udp") !== "udp" ||
      (to.proto ?? "udp") !== "udp"
    ) {
      this.#send(data, to);
      return;
    }
    const len = data.length;
    const first = this.#runFirst;
    if (
      first !== null && to === this.#runTo && data.buffer === first.buffer &&
      data.byteOffset === first.byteOffset + this.#runBytes && len <= this.#runSize &&
      this.#runBytes === this.#runCount * this.#runSize && this.#runCount < RUN_MAX_PACKETS &&
      this.#runBytes + len <= RUN_MAX_BYTES
    ) {
      this.#runBytes += len;
      this.#runCount++;
      return;
    }
    this.flush();
    this.#runFirst = data;
    this.#runTo = to;
    this.#runBytes = this.#runSize = len;
    this.#runCount = 1;
  }

  /**
   * Ends sessions idle for `idleMs` and those of anyone no longer a member; forgets members
   * left without sessions. Returns the `relay-closed` notices to send. Call it every few
   * seconds.
   */
  sweep(now: number = this.#now()): RelayOutgoing[] {
    const out: RelayOutgoing[] = [];
    for (const pair of [...this.#pairs.values()]) {
      const idle = now - pair.lastActive >= this.#idleMs;
      const aIn = this.#isMember(pair.a.key);
      const bIn = this.#isMember(pair.b.key);
      if (!idle && aIn && bIn) continue;
      this.#remove(pair);
      if (idle) this.#expired++;
      else this.#closed++;
      if (aIn) out.push(closedNotice(pair.a.key, pair.b.key));
      if (bIn) out.push(closedNotice(pair.b.key, pair.a.key));
    }
    for (const [key, m] of this.#members) if (m.sessions === 0) this.#members.delete(key);
    return out;
  }

  /** The counters (a copy). */
  get stats(): RelayServerStats {
    return {
      sessions: this.#pairs.size,
      opened: this.#opened,
      closed: this.#closed,
      expired: this.#expired,
      received: { packets: this.#inPackets, bytes: this.#inBytes },
      forwarded: { packets: this.#outPackets, bytes: this.#outBytes },
      macChecks: this.#macChecks,
      headTag: this.#headTag,
      drops: this.#drops.snapshot(),
      refusals: this.#refusals.snapshot(),
      saturatedEpochs: this.#fair.saturatedEpochs,
    };
  }

  /** Every open session with its traffic. */
  sessions(now: number = this.#now()): RelaySessionInfo[] {
    return [...this.#pairs.values()].map((p) => ({
      a: p.a.key,
      b: p.b.key,
      aToB: { packets: p.ab.packets, bytes: p.ab.bytes },
      bToA: { packets: p.ba.packets, bytes: p.ba.bytes },
      idleMs: now - p.lastActive,
    }));
  }

  #drop(reason: RelayDropReason): RelayDropReason {
    this.#drops.add(reason);
    return reason;
  }

  #check(from: string, to: string): RelayRefusal | null {
    if (!this.#isMember(from)) return "not-member";
    if (to === from || to === this.#selfKey) return "self";
    if (!this.#isMember(to)) return "peer-not-member";
    if (!this.#opens.allow(from)) return "open-rate";
    return null;
  }

  #checkRoom(from: string, to: string): RelayRefusal | null {
    if (this.#pairs.size >= this.#maxSessions) return "total-limit";
    const a = this.#members.get(from)?.sessions ?? 0;
    const b = this.#members.get(to)?.sessions ?? 0;
    return a >= this.#perMember || b >= this.#perMember ? "member-limit" : null;
  }

  #member(key: string): MemberState {
    let m = this.#members.get(key);
    if (m === undefined) {
      m = {
        key,
        sessions: 0,
        bucket: new TokenBucket(this.#rate, this.#now(), this.#maxPacket),
        given: this.#endpoints.get(key) ?? null,
        headTag: false,
        fairEpoch: 0,
        offered: 0,
        passed: 0,
      };
      this.#members.set(key, m);
    }
    return m;
  }

  #create(from: string, to: string): Pair {
    const a = this.#member(from);
    const b = this.#member(to);
    const pair = { name: pairName(from, to), a, b, lastActive: this.#now() } as Pair;
    pair.ab = this.#direction(a, b, pair);
    pair.ba = this.#direction(b, a, pair);
    this.#pairs.set(pair.name, pair);
    a.sessions++;
    b.sessions++;
    this.#opened++;
    return pair;
  }

  #direction(from: MemberState, to: MemberState, pair: Pair): Direction {
    const raw = new Uint8Array(32);
    this.#random(raw);
    const dir: Direction = {
      id: this.#freshId(),
      mac: new RelayMacKey(raw),
      keyText: encodeKey(raw),
      from,
      to,
      pair,
      headTag: false,
      packets: 0,
      bytes: 0,
    };
    raw.fill(0);
    this.#byId.set(dir.id, dir);
    return dir;
  }

  /**
   * A random id, not 0 and not in use. The wire carries 32 bits; the relay draws 30, so every id
   * is a small integer to V8 and the per-packet lookups never box a number (a full 32-bit id
   * allocated on each packet here). 2^30 ids still leave a blind guess at one of 32,768 live
   * ones a 1-in-32,768 chance, and a hit only buys the MAC check it then fails.
   */
  #freshId(): number {
    for (let i = 0; i < MAX_ID_TRIES; i++) {
      this.#random(this.#idBytes);
      const id = readU32(this.#idBytes, 0) & ID_MASK;
      if (id !== 0 && !this.#byId.has(id)) return id;
    }
    // 16,384 sessions hold at most 32,768 of 2^30 ids: only a broken random source gets here.
    throw new Error("relay: the random source keeps repeating session ids");
  }

  #grant(m: MemberState, pair: Pair): RelayOutgoing {
    const [send, recv] = m === pair.a ? [pair.ab, pair.ba] : [pair.ba, pair.ab];
    const msg: RelaySession = {
      t: "relay-session",
      peer: (m === pair.a ? pair.b : pair.a).key,
      send: grantOf(send),
      recv: grantOf(recv),
    };
    return { to: m.key, msg };
  }

  #remove(pair: Pair): void {
    this.#pairs.delete(pair.name);
    for (const d of [pair.ab, pair.ba]) {
      this.#byId.delete(d.id);
      d.mac.destroy();
      d.keyText = "";
    }
    pair.a.sessions--;
    pair.b.sessions--;
  }
}

/** A direction as its grant says it. */
function grantOf(d: Direction): RelayGrant {
  return d.headTag ? { id: d.id, key: d.keyText, ht: true } : { id: d.id, key: d.keyText };
}

/** The map key of the unordered pair {a, b}. */
function pairName(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

function closedNotice(to: string, peer: string): RelayOutgoing {
  const msg: RelayClosed = { t: "relay-closed", peer };
  return { to, msg };
}

function positive(name: string, v: number | undefined, dflt: number): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n <= 0) {
    throw new RangeError(`relay: ${name} must be a positive integer, got ${v}`);
  }
  return n;
}
