/**
 * A mesh agent's paths to the other members through NATs. It gathers this node's candidate
 * endpoints (interface addresses, `--advertise`, where the leader and peers see it), learns the
 * peers' from the membership (their `lan` and `endpoints`), from LAN announcements, from call-me
 * messages and from where their probes come from, and pings them with authenticated path probes
 * on the WireGuard socket (lib/nat/probe.ts). The path table (lib/nat/paths.ts) decides which
 * endpoint each session uses; this module sends what it asks for, moves the device's peer to the
 * chosen endpoint (with a handshake when the session does not work), and asks the leader to make
 * the peer punch at the same moment (call-me). Only members are ever probed, so hand-configured
 * peers see nothing new.
 *
 * One timer drives it all: it runs when the table has something due (every 250 ms while a peer
 * is punched), and at least every second to read the sessions' counters.
 * @module
 */

import type { Device, DeviceEvent } from "../device/device.ts";
import type { Endpoint } from "../io/driver.ts";
import { LogBudget } from "../log/budget.ts";
import type { Logger } from "../log/logger.ts";
import type { Member, MembershipView } from "../members/member.ts";
import { LanAnnouncer, type LanAnnouncerOptions, type LanPeer } from "../nat/announce.ts";
import { Candidates, type InterfaceAddress } from "../nat/candidates.ts";
import {
  DEFAULT_PATH_TIMING,
  type PathChange,
  type PathReason,
  PathTable,
  type PathTiming,
  type PeerCandidateKind,
} from "../nat/paths.ts";
import { PathCrypto } from "../nat/probe.ts";
import { formatHostPort, parseHostPort } from "../net/hostport.ts";
import { isIpEndpoint } from "../net/resolve.ts";
import { RateLimiter } from "../protocol/ratelimiter.ts";
import { parseKey } from "../crypto/keys.ts";
import { decodeBase64 } from "../crypto/base64.ts";
import type { PathMetrics } from "../status/metrics.ts";
import type { PeerStatus } from "../status/status.ts";
import { CALLME_INTERVAL_MS, fromWire, toWire } from "./callme.ts";
import type { ControlPort } from "./control_channel.ts";
import { MAX_LAN } from "./leader.ts";
import { SessionWatch } from "./session_watch.ts";
import type { ControlMessage } from "./sync.ts";
import type { Candidate } from "../nat/candidates.ts";

/** The NAT section of a mesh agent's options. */
export interface NatOptions {
  /**
   * Probe the members' candidate endpoints and move each session to the best path that answers
   * (default true). Off: sessions use the first endpoint of each member's record, as before.
   */
  natTraversal?: boolean;
  /** Find members on the same LAN by multicast announcements (default true; needs natTraversal). */
  lanDiscovery?: boolean;
  /** Lists this machine's interface addresses; default `Deno.networkInterfaces` (simulations). */
  interfaces?: () => InterfaceAddress[];
  /** Where LAN announcements go and how (tests: another port, a fake socket). */
  lanAnnounce?: Partial<
    Pick<
      LanAnnouncerOptions,
      | "port"
      | "group"
      | "intervalMs"
      | "bindAddress"
      | "multicastInterface"
      | "multicastLoopback"
      | "createSocket"
    >
  >;
  /** Overrides of the path schedule (tests). */
  pathTiming?: Partial<PathTiming>;
}

/** What the paths work with. */
export interface MeshPathsDeps {
  /** The device: its socket, its peers and their events. */
  device: Device;
  /** This node's private key, base64: the path probes' keys derive from it. */
  privateKey: string;
  /** The leader relays call-me messages; a node sends them to the leader. */
  role: "leader" | "node";
  /** The control channel (call-me). */
  channel: ControlPort;
  /** The logger. */
  logger: Logger;
  /** The leader's overlay address now (the only sender of call-me a node believes). */
  leaderAddress: () => string;
  /** Overlay addresses and networks: never an underlay candidate. */
  overlay: string[];
  /** This node's advertised endpoints. */
  advertise: string[];
  /** The mesh's LAN key, if known yet. */
  lanKey: Uint8Array | null;
  /** Publishes this node's LAN candidates when they change (a node says hello; the leader
   * updates its record). */
  publishLan: (lan: string[]) => void;
  /**
   * The LAN candidates published already (the leader's record's). Default: the list as it is
   * at the start, which a node's hellos read themselves.
   */
  publishedLan?: string[];
}

/** How often the sessions' counters are read at least (the timer's longest sleep). */
const SAMPLE_MS = 1_000;
/** The timer's shortest sleep: whatever is due waits this long, so nothing spins. */
const MIN_DELAY_MS = 10;
/** How often the interface addresses are read again. */
export const INTERFACE_CHECK_MS = 10_000;
/** At most one forced handshake per peer this often. */
const HANDSHAKE_EVERY_MS = 1_000;
/** How many of a peer's last pings are remembered to refuse replays of them. */
const RECENT_PINGS = 64;
/** A received call-me's candidates are kept this long beside the view's. */
const CALLME_KEEP_MS = 120_000;

/** Why a probe or a call-me was dropped (beyond the probe codec's own reasons). */
type DropReason =
  | "rate-limited"
  | "replay"
  | "send-error"
  | "callme-not-leader"
  | "callme-not-member"
  | "callme-malformed"
  | "callme-rate-limited";

/** What is kept per peer beside its path table entry. */
interface PeerState {
  readonly session: SessionWatch;
  /** The candidate list last given to the table (its JSON), to skip unchanged views. */
  applied: string;
  /** The candidates of the last call-me received, and when. */
  callme: { list: Candidate[]; at: number } | null;
  callmeSentAt: number;
  calledAt: number;
  handshakeAt: number;
  /** The txids of the last pings answered: a ping seen again is a replay. */
  readonly pings: Set<string>;
  /** "No direct path" was logged and nothing changed since. */
  noneLogged: boolean;
  /** When the peer was first seen. */
  readonly since: number;
  /** Unix ms of the last path change, or null. */
  changedAt: number | null;
}

const REASONS: readonly PathReason[] = ["punched", "lan", "rtt", "failed", "roamed"];

/** This node's paths to the other members. See the module docs. */
export class MeshPaths {
  readonly #d: MeshPathsDeps;
  readonly #opts: NatOptions;
  readonly #crypto: PathCrypto;
  readonly #own: Candidates;
  readonly #table: PathTable;
  readonly #timing: PathTiming;
  readonly #me: string;
  readonly #members = new Map<string, Member>();
  readonly #peers = new Map<string, PeerState>();
  readonly #pongLimit = new RateLimiter({ perSecond: 20, burst: 20, maxEntries: 4096 });
  // Per (sender, target) pair: a node asks at most once per peer per 5 s, so this only stops
  // a node that floods the leader with call-me messages.
  readonly #relayLimit = new RateLimiter({ perSecond: 1, burst: 3, maxEntries: 65_536 });
  readonly #changes: Record<PathReason, number> = {
    punched: 0,
    lan: 0,
    rtt: 0,
    failed: 0,
    roamed: 0,
  };
  readonly #drops: Record<DropReason, number> = {
    "rate-limited": 0,
    "replay": 0,
    "send-error": 0,
    "callme-not-leader": 0,
    "callme-not-member": 0,
    "callme-malformed": 0,
    "callme-rate-limited": 0,
  };
  // Path lines are one per change and per peer left without a path, but a large mesh
  // coming up at once must not flood the log either.
  readonly #budget = new LogBudget({ burst: 50, intervalMs: 1000 });
  readonly #stops: (() => void)[] = [];
  #lanKey: Uint8Array | null;
  #announcer: LanAnnouncer | null = null;
  #announcerStart: Promise<void> | null = null;
  #published = "";
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #unsent = 0;
  #callmesSent = 0;
  #callmesReceived = 0;
  #lanStrangers = 0;
  #closed = false;

  /** Paths of `deps.device`'s node; nothing runs before {@link start}. */
  constructor(deps: MeshPathsDeps, opts: NatOptions = {}) {
    this.#d = deps;
    this.#opts = opts;
    this.#me = deps.device.publicKey;
    this.#crypto = new PathCrypto({
      dh: deps.device.dhBackend,
      privateKey: parseKey(deps.privateKey, "private key"),
      isMember: (key) => this.#members.has(key),
    });
    this.#own = new Candidates({
      listenPort: deps.device.listenPort,
      overlay: deps.overlay,
      advertise: deps.advertise,
      interfaces: opts.interfaces,
    });
    this.#timing = { ...DEFAULT_PATH_TIMING, ...opts.pathTiming };
    this.#table = new PathTable(this.#timing);
    this.#lanKey = deps.lanKey?.slice() ?? null;
    this.#published = JSON.stringify(deps.publishedLan ?? this.lan());
  }

  /**
   * Follows the device's events and call-me messages, publishes this node's LAN candidates,
   * starts LAN discovery (when on and the LAN key is known) and takes `view`'s members.
   */
  start(view: MembershipView): void {
    const d = this.#d;
    this.#stops.push(d.device.onEvent((e) => this.#onEvent(e)));
    this.#stops.push(d.channel.listen((msg, from) => this.#onControl(msg, from)));
    const check = setInterval(() => this.#refreshOwn(), INTERFACE_CHECK_MS);
    this.#stops.push(() => clearInterval(check));
    this.viewChanged(view);
    this.#refreshOwn();
    this.#startAnnouncer();
  }

  /** Takes a new membership view: members' candidates, departures, our own observed address. */
  viewChanged(v: MembershipView): void {
    if (this.#closed) return;
    const now = performance.now();
    const present = new Set<string>();
    let joined = false;
    for (const m of v.members) {
      if (m.publicKey === this.#me) {
        this.#observeSelf(m);
        continue;
      }
      present.add(m.publicKey);
      if (!this.#members.has(m.publicKey)) joined = true;
      this.#members.set(m.publicKey, m);
      this.#updatePeer(m, now);
    }
    let left = false;
    for (const key of [...this.#members.keys()]) {
      if (present.has(key)) continue;
      this.#members.delete(key);
      this.#peers.delete(key);
      this.#table.remove(key);
      this.#own.unobserve(key); // what it saw of us is no vote any more
      left = true;
    }
    // Keys refused before may be members now; departed members' keys are wiped.
    if (joined || left) this.#crypto.membersChanged();
    this.#schedule();
  }

  /** A path probe from the underlay (the device hands over what is not WireGuard). */
  handle(data: Uint8Array, from: Endpoint): void {
    if (this.#closed) return;
    const r = this.#crypto.open(data);
    if ("drop" in r) return; // counted by the codec
    const now = performance.now();
    if (r.type === "ping") {
      const st = this.#peers.get(r.peerKey);
      if (!st) return;
      // A ping captured and sent again (from anywhere) would make us answer and probe there.
      if (st.pings.has(r.txid)) {
        this.#drops.replay++;
        return;
      }
      if (!this.#pongLimit.allow(r.peerKey)) {
        this.#drops["rate-limited"]++;
        return;
      }
      st.pings.add(r.txid);
      if (st.pings.size > RECENT_PINGS) st.pings.delete(st.pings.values().next().value!);
      this.#send(this.#crypto.pong(r.peerKey, r.txid, from), from);
      // Where its ping came from is where it can be reached (its NAT just opened that door).
      this.#table.get(r.peerKey)?.addCandidate(from.toString(), "peer-observed", now);
    } else {
      this.#apply(r.peerKey, this.#table.pong(r.peerKey, r.txid, now));
      if (this.#own.observe(r.peerKey, r.observed.address, r.observed.port)) this.#own.refresh();
    }
    this.#schedule();
  }

  /** Takes the LAN key (from the leader) and starts LAN discovery with it, or switches to it. */
  setLanKey(key: Uint8Array): void {
    this.#lanKey = key.slice();
    if (this.#announcer) this.#announcer.setKey(key);
    else this.#startAnnouncer();
  }

  /** The endpoint the path probes chose for a peer, or null. */
  chosen(publicKey: string): string | null {
    return this.#table.get(publicKey)?.chosen ?? null;
  }

  /** This node's LAN candidates (`host:port`), at most 8: what its member record carries. */
  lan(): string[] {
    return this.#own.entries.filter((c) => c.kind === "lan").map((c) => c.endpoint)
      .slice(0, MAX_LAN);
  }

  /** This node's candidates with their kinds. */
  get candidates(): readonly Candidate[] {
    return this.#own.entries;
  }

  /** The port LAN announcements use, once discovery runs. */
  get lanPort(): number | null {
    return this.#announcer?.port ?? null;
  }

  /** Call-me messages sent and received (relayed ones not counted). */
  get callmes(): { sent: number; received: number } {
    return { sent: this.#callmesSent, received: this.#callmesReceived };
  }

  /** A peer's path fields for `/status`. */
  peerStatus(publicKey: string): Partial<PeerStatus> {
    const pp = this.#table.get(publicKey);
    const st = this.#peers.get(publicKey);
    if (!pp || !st) return { path: "none", candidates: [], pathChangedAt: null };
    const chosen = pp.chosen;
    return {
      path: pp.state,
      candidates: pp.stats(performance.now()).map((s) => ({
        endpoint: s.endpoint,
        kind: s.kinds[0],
        confirmed: s.confirmed,
        rttMs: Number.isNaN(s.rttMs) ? null : Math.round(s.rttMs * 10) / 10,
        chosen: s.endpoint === chosen,
      })),
      pathChangedAt: st.changedAt === null ? null : new Date(st.changedAt).toISOString(),
    };
  }

  /** The figures `/metrics` shows. */
  metrics(): PathMetrics {
    let stale = 0;
    const states = { direct: 0, none: 0 };
    for (const key of this.#table.keys()) {
      const pp = this.#table.get(key)!;
      stale += pp.ignoredPongs;
      states[pp.state]++;
    }
    const a = this.#announcer;
    return {
      changes: Object.fromEntries(REASONS.map((r) => [r, this.#changes[r]])),
      drops: { ...this.#crypto.drops, ...this.#drops, "stale-pong": stale },
      states,
      ...(a ? { announceDrops: { ...a.drops, "not-member": this.#lanStrangers } } : {}),
    };
  }

  /** Stops the timers, the listeners and LAN discovery. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const stop of this.#stops.splice(0)) stop();
    await this.#announcerStart;
    await this.#announcer?.close();
  }

  // ---- the view ----

  /** Gives the table a member's candidates: the view's and a recent call-me's. */
  #updatePeer(m: Member, now: number): void {
    let st = this.#peers.get(m.publicKey);
    if (!st) {
      st = {
        session: new SessionWatch(),
        pings: new Set(),
        applied: "",
        callme: null,
        callmeSentAt: -Infinity,
        calledAt: -Infinity,
        handshakeAt: -Infinity,
        noneLogged: false,
        since: now,
        changedAt: null,
      };
      this.#peers.set(m.publicKey, st);
    }
    if (st.callme && now - st.callme.at > CALLME_KEEP_MS) st.callme = null;
    const list = [...candidatesOf(m), ...(st.callme?.list ?? [])];
    const applied = JSON.stringify(list);
    if (applied === st.applied) return;
    st.applied = applied;
    this.#apply(m.publicKey, this.#table.peer(m.publicKey).setCandidates(list, now));
  }

  /** Where the leader sees us is the first endpoint of our own record (a node's). */
  #observeSelf(m: Member): void {
    if (this.#d.role !== "node") return;
    const first = m.endpoints[0];
    if (first === undefined || !isIpEndpoint(first)) return;
    let hp;
    try {
      hp = parseHostPort(first);
    } catch {
      return;
    }
    if (this.#own.observe("leader", hp.host, hp.port)) this.#own.refresh();
  }

  /** Reads the interfaces again; publishes and announces a changed LAN list. */
  #refreshOwn(): void {
    if (this.#closed) return;
    this.#own.refresh();
    const lan = this.lan();
    const text = JSON.stringify(lan);
    if (text === this.#published) return;
    this.#published = text;
    this.#d.publishLan(lan);
    this.#announcer?.announce();
  }

  // ---- the timer ----

  /** Arms the timer for the next thing due (never sooner than 10 ms, never later than 1 s). */
  #schedule(): void {
    if (this.#closed) return;
    const now = performance.now();
    const at = Math.max(Math.min(this.#table.nextDue(now), now + SAMPLE_MS), now + MIN_DELAY_MS);
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#tick();
    }, at - now);
  }

  #tick(): void {
    if (this.#closed) return;
    const now = performance.now();
    for (const key of this.#peers.keys()) this.#sample(key, now);
    const { changes, pings } = this.#table.tick(now);
    for (const c of changes) this.#apply(c.peer, c.change);
    for (const p of pings) this.#ping(p.peer, p.endpoint, now);
    for (const [key, st] of this.#peers) {
      this.#maybeCallMe(key, st, now);
      this.#maybeSayNone(key, st, now);
    }
    this.#schedule();
  }

  /** Reads a peer's session counters; tells the table when the session starts or stops working. */
  #sample(key: string, now: number): void {
    const st = this.#peers.get(key);
    const p = this.#d.device.peer(key);
    if (!st || !p) return;
    const before = st.session.works;
    const works = st.session.sample(p.counters, p.current !== null, now);
    if (works !== before) this.#apply(key, this.#table.peer(key).session(works, now));
  }

  #ping(key: string, endpoint: string, now: number): void {
    const pp = this.#table.get(key);
    if (!pp) return;
    let ping: { bytes: Uint8Array; txid: string };
    try {
      ping = this.#crypto.ping(key);
    } catch {
      // An unusable key (low order): recorded as sent, so it is not due again at once.
      pp.sent(endpoint, `unsent-${this.#unsent++}`, now);
      return;
    }
    pp.sent(endpoint, ping.txid, now);
    let to: Endpoint;
    try {
      to = this.#d.device.endpoint(endpoint);
    } catch {
      this.#drops["send-error"]++;
      return;
    }
    this.#send(ping.bytes, to);
  }

  #send(bytes: Uint8Array, to: Endpoint): void {
    try {
      this.#d.device.sendDatagram(bytes, to);
    } catch {
      this.#drops["send-error"]++; // an unreachable family or a closing socket: the next round
    }
  }

  // ---- path changes ----

  /** Counts and logs a change, and moves the device's peer to the new endpoint. */
  #apply(key: string, change: PathChange | null): void {
    const st = this.#peers.get(key);
    if (change === null || !st) return;
    this.#changes[change.reason]++;
    st.changedAt = Date.now();
    const name = this.#members.get(key)?.name ?? "";
    if (change.to === null) {
      st.noneLogged = true;
      this.#say("warn", "no direct path", {
        peer: name,
        from: change.from ?? "",
        reason: change.reason,
      });
      return; // the device keeps the last endpoint: nothing better is known
    }
    st.noneLogged = false;
    this.#say("info", change.from === null ? "path chosen" : "path changed", {
      peer: name,
      endpoint: change.to,
      ...(change.from === null ? {} : { from: change.from }),
      reason: change.reason,
    });
    const device = this.#d.device;
    const p = device.peer(key);
    if (!p) return;
    try {
      p.endpoint = device.endpoint(change.to);
    } catch {
      return;
    }
    // A working session just follows (sessions do not depend on the endpoint); without one the
    // last initiation went where nothing answers, and its retransmission is up to 5 s away.
    const now = performance.now();
    if (!st.session.works && now - st.handshakeAt >= HANDSHAKE_EVERY_MS) {
      st.handshakeAt = now;
      device.initiateHandshakeNow(key);
    }
  }

  /** Logs "no direct path" once for a peer whose first punching found nothing. */
  #maybeSayNone(key: string, st: PeerState, now: number): void {
    const pp = this.#table.get(key);
    if (!pp || st.noneLogged || pp.state !== "none" || pp.punching(now)) return;
    if (now - st.since < this.#timing.activeForMs) return;
    st.noneLogged = true;
    this.#say("warn", "no direct path", {
      peer: this.#members.get(key)?.name ?? "",
      reason: "unanswered",
      candidates: pp.stats(now).length,
    });
  }

  #say(level: "info" | "warn", event: string, fields: Record<string, unknown>): void {
    const left = this.#budget.take();
    if (left === null) return;
    this.#d.logger[level](event, left > 0 ? { ...fields, suppressed: left } : fields);
  }

  // ---- device events ----

  #onEvent(e: DeviceEvent): void {
    const st = this.#peers.get(e.peer);
    if (!st || this.#closed) return;
    const now = performance.now();
    switch (e.type) {
      case "handshake-complete":
        st.session.handshake();
        this.#sample(e.peer, now);
        break;
      case "keys-zeroed":
        this.#sample(e.peer, now);
        break;
      case "handshake-give-up":
        st.session.gaveUp(now);
        this.#apply(e.peer, this.#table.peer(e.peer).session(false, now));
        break;
      case "endpoint-changed":
        // The peer's packets come from elsewhere (its NAT mapping changed) and the device sends
        // there already. The event comes before the packet is counted (and, for a handshake,
        // before its keys are installed): once it is, the session is read and the table follows
        // the device when the session works and the endpoint is not worse than the chosen one.
        queueMicrotask(() => this.#roamed(e.peer, e.endpoint));
        break;
    }
    this.#schedule();
  }

  /** The device roamed to `endpoint`: adopted as the chosen path when the table agrees. */
  #roamed(key: string, endpoint: string): void {
    const pp = this.#table.get(key);
    if (this.#closed || !pp) return;
    const now = performance.now();
    this.#sample(key, now);
    this.#apply(key, pp.roamed(endpoint, now));
    this.#schedule();
  }

  // ---- call-me ----

  /** Asks the peer, through the leader, to punch now too: at most every 5 s per peer. */
  #maybeCallMe(key: string, st: PeerState, now: number): void {
    const pp = this.#table.get(key);
    if (!pp || !pp.punching(now)) return;
    if (pp.state === "direct" && st.session.works) return; // only exploring
    if (now - st.callmeSentAt < CALLME_INTERVAL_MS) return;
    // A punch the peer asked for needs no call-me back: it punches already.
    if (now - st.calledAt < CALLME_INTERVAL_MS) return;
    st.callmeSentAt = now;
    const c = toWire(this.#own.entries);
    this.#callmesSent++;
    if (this.#d.role === "leader") {
      const m = this.#members.get(key);
      if (m) this.#d.channel.send(m.address, { t: "callme", from: this.#me, c });
    } else {
      this.#d.channel.send(this.#d.leaderAddress(), { t: "callme", to: key, c });
    }
  }

  #onControl(msg: ControlMessage, from: string): void {
    if (msg.t !== "callme" || this.#closed) return;
    if (this.#d.role === "leader") this.#relay(msg, from);
    else this.#fromLeader(msg, from);
  }

  /** The leader: passes a member's call-me on to the member it names (or takes it itself). */
  #relay(msg: Extract<ControlMessage, { t: "callme" }>, from: string): void {
    // Only the leader says who called: a node's call-me names the peer to call.
    if (typeof msg.to !== "string" || msg.from !== undefined) {
      this.#drops["callme-malformed"]++;
      return;
    }
    let sender: Member | undefined;
    for (const m of this.#members.values()) if (m.address === from) sender = m;
    const target = this.#members.get(msg.to);
    if (!sender || (!target && msg.to !== this.#me) || msg.to === sender.publicKey) {
      this.#drops["callme-not-member"]++;
      return;
    }
    const c = fromWire(msg.c);
    if (c === null) {
      this.#drops["callme-malformed"]++;
      return;
    }
    if (!this.#relayLimit.allow(`${sender.publicKey}>${msg.to}`)) {
      this.#drops["callme-rate-limited"]++;
      return;
    }
    if (target) {
      this.#d.channel.send(target.address, { t: "callme", from: sender.publicKey, c: toWire(c) });
    } else this.#calledBy(sender.publicKey, c);
  }

  /** A node: a call-me counts only from the leader, and only for a member. */
  #fromLeader(msg: Extract<ControlMessage, { t: "callme" }>, from: string): void {
    if (from !== this.#d.leaderAddress()) {
      this.#drops["callme-not-leader"]++;
      return;
    }
    if (typeof msg.from !== "string" || !this.#members.has(msg.from)) {
      this.#drops["callme-not-member"]++;
      return;
    }
    const c = fromWire(msg.c);
    if (c === null) {
      this.#drops["callme-malformed"]++;
      return;
    }
    this.#calledBy(msg.from, c);
  }

  /** The peer punches towards us now: its candidates join its entry and we punch too. */
  #calledBy(key: string, c: Candidate[]): void {
    const st = this.#peers.get(key);
    const m = this.#members.get(key);
    if (!st || !m) return;
    const now = performance.now();
    this.#callmesReceived++;
    st.callme = { list: c, at: now };
    st.calledAt = now;
    this.#updatePeer(m, now);
    this.#table.peer(key).punch(now);
    this.#schedule();
  }

  // ---- LAN discovery ----

  #startAnnouncer(): void {
    const opts = this.#opts;
    const key = this.#lanKey;
    if (opts.lanDiscovery === false || key === null || this.#announcer || this.#announcerStart) {
      return;
    }
    const publicKey = decodeBase64(this.#me)!;
    this.#announcerStart = LanAnnouncer.start({
      ...opts.lanAnnounce,
      publicKey,
      listenPort: this.#d.device.listenPort,
      lanKey: key,
      logger: this.#d.logger,
      onPeer: (p) => this.#onLanPeer(p),
    }).then(async (a) => {
      if (this.#closed) return await a.close();
      this.#announcer = a;
      // The key may have changed while the socket was being bound.
      if (this.#lanKey) a.setKey(this.#lanKey);
    }).catch((e) => {
      // A machine without the port or multicast still runs; its LAN peers find it otherwise.
      this.#d.logger.warn("lan discovery did not start", { error: String(e) });
    }).finally(() => {
      this.#announcerStart = null;
    });
  }

  #onLanPeer(p: LanPeer): void {
    if (this.#closed) return;
    const pp = this.#table.get(p.publicKey);
    if (!pp) {
      this.#lanStrangers++; // made with the mesh's key by a key that left (or never joined)
      return;
    }
    const endpoint = formatHostPort({ host: p.address, port: p.port });
    if (pp.addCandidate(endpoint, "lan-announce", performance.now())) this.#schedule();
  }
}

/** A member's candidates from its record: LAN first, then its endpoints (names left out). */
function candidatesOf(m: Member): { endpoint: string; kind: PeerCandidateKind }[] {
  const out: { endpoint: string; kind: PeerCandidateKind }[] = [];
  for (const e of m.lan ?? []) if (isIpEndpoint(e)) out.push({ endpoint: e, kind: "lan" });
  m.endpoints.forEach((e, i) => {
    if (!isIpEndpoint(e)) return;
    // A node's first endpoint is where the leader sees it; the leader's are all advertised.
    out.push({ endpoint: e, kind: m.role === "node" && i === 0 ? "observed" : "advertised" });
  });
  return out;
}
