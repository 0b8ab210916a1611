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
 *
 * With sessions on demand (`onDemand`), only the active members (lib/mesh/peers/activity.ts:
 * those with traffic, and the kept ones) have a path entry: the timer's work and the probes
 * grow with them, not with the members known. A member that calls us or pings our paths is
 * woken (made active) first.
 *
 * This class composes the parts: the probes in and out (probes.ts), call-me (callme.ts),
 * LAN discovery (lan.ts) and the figures (status.ts); it keeps the view, the timer, the
 * device's events and the path changes.
 * @module
 */

import type { Device, DeviceEvent } from "../../device/device.ts";
import { moveEndpoint } from "../../device/roaming.ts";
import type { Endpoint } from "../../io/driver.ts";
import { LogBudget } from "../../log/budget.ts";
import type { Logger } from "../../log/logger.ts";
import type { Member, MembershipView, ViewChange } from "../../members/member.ts";
import type { LanPeer } from "../../nat/announce.ts";
import { type Candidate, Candidates, type InterfaceAddress } from "../../nat/candidates.ts";
import {
  DEFAULT_PATH_TIMING,
  type PathChange,
  PathTable,
  type PathTiming,
} from "../../nat/paths.ts";
import { PathCrypto } from "../../nat/probe.ts";
import { formatHostPort, parseHostPort } from "../../net/hostport.ts";
import { isIpEndpoint } from "../../net/resolve.ts";
import { parseKey } from "../../crypto/keys.ts";
import { Cidr } from "../../net/cidr.ts";
import type { PathMetrics } from "../../nat/metrics.ts";
import type { PeerStatus } from "../../status/status.ts";
import type { ControlPort } from "../sync/control_channel.ts";
import { MAX_LAN } from "../../members/member.ts";
import { CallMe } from "./callme.ts";
import { LanDiscovery, type LanDiscoveryOptions } from "./lan.ts";
import { candidatesOf, newPeerState, type PeerState } from "./peer.ts";
import { PathProbes } from "./probes.ts";
import { PathCounters, pathMetrics, peerPathStatus } from "./status.ts";
import type { ControlMessage } from "../sync/protocol.ts";
import type { AgentConfig } from "../../config/agent_types.ts";
import { routeOf, type RouteReason } from "../../relay/route_choice.ts";

/** What the routes read of a peer's paths (see {@link MeshPaths.info}). */
export interface PeerPathInfo {
  /** The direct path chosen and its last pong (monotonic ms), or null. */
  direct: {
    endpoint: string;
    lastPongAt: number;
    rttMs: number;
    /** Pings to it missed in a row. */
    misses: number;
  } | null;
  /** The WireGuard session works, whichever way its packets go. */
  works: boolean;
  /** When the peer was first seen (monotonic ms). */
  since: number;
}

/** The NAT section of a mesh agent's options. */
export interface NatOptions extends LanDiscoveryOptions {
  /**
   * Probe the members' candidate endpoints and move each session to the best path that answers
   * (default true). Off: sessions use the first endpoint of each member's record, as before.
   */
  natTraversal?: boolean;
  /**
   * This machine's interface addresses (with the listen port) are candidates, published in its
   * member record for members on the same LAN (default true). Off: only what it advertises and
   * where others see it.
   */
  lanCandidates?: boolean;
  /**
   * Lists this machine's interface addresses; default `Deno.networkInterfaces` (simulations).
   * @ignore internal: tests' timing and interfaces
   */
  interfaces?: () => InterfaceAddress[];
  /**
   * Overrides of the path schedule (tests).
   * @ignore internal: tests' timing and interfaces
   */
  pathTiming?: Partial<PathTiming>;
}

/**
 * The NAT section of a parsed configuration: `--no-nat-traversal`, and `--no-lan-discovery`,
 * which turns off both ways of finding members on the LAN (announcements and interface
 * addresses as candidates).
 */
export function natFromConfig(
  config: Pick<AgentConfig, "natTraversal" | "lanDiscovery">,
): Pick<NatOptions, "natTraversal" | "lanDiscovery" | "lanCandidates"> {
  return {
    ...(config.natTraversal ? {} : { natTraversal: false }),
    ...(config.lanDiscovery ? {} : { lanDiscovery: false, lanCandidates: false }),
  };
}

/**
 * Whether an address is in the subnet of one of the interfaces (read again at most every 5 s).
 * An interface listed without its prefix (a simulation's) says nothing: then every address is.
 */
export function onLinkCheck(interfaces: () => InterfaceAddress[]): (address: string) => boolean {
  let nets: Cidr[] | null = null;
  let readAt = -Infinity;
  return (address) => {
    const now = performance.now();
    if (now - readAt > 5_000) {
      readAt = now;
      try {
        const list = interfaces();
        nets = list.length > 0 && list.every((i) => i.cidr)
          ? list.map((i) => Cidr.parse(i.cidr!))
          : null;
      } catch {
        nets = null;
      }
    }
    if (nets === null) return true;
    const bare = address.replace(/%.*$/, "");
    return nets.some((n) => n.containsText(bare));
  };
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
  /** The overlay address of the leader in use now (a node's call-me go to it). */
  leaderAddress: () => string;
  /** Whether an overlay address is a leader's (call-me from any leader count; absent: in use). */
  isLeader?: (address: string) => boolean;
  /** The leader: whether member `from` may know of member `to` (call-me passed on only then). */
  mayCall?: (from: string, to: string) => boolean;
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
  /**
   * Sessions on demand: only the members {@link MeshPaths.activate} names are probed and
   * called; the rest are known (their candidates wait in the view) and cost nothing. Default
   * false: every member is probed, as before.
   */
  onDemand?: boolean;
  /**
   * A member asked for a session (its call-me, or its path ping came): told so the owner of the
   * active set takes it in (it calls `activate`). Default: the paths activate it themselves.
   */
  wake?: (publicKey: string) => void;
}

/** A device endpoint of a direct UDP path (not a relay's, not TCP); none counts as direct. */
function isDirectEndpoint(ep: Endpoint | null): boolean {
  return ep === null || routeOf(ep) === "direct";
}

/** Endpoint text of a direct UDP path: no `relay://` or `tcp://` scheme. */
function isDirectText(text: string): boolean {
  return !text.includes("://") || text.startsWith("udp://");
}

/** How often the sessions' counters are read at least (the timer's longest sleep). */
const SAMPLE_MS = 1_000;
/** The timer's shortest sleep: whatever is due waits this long, so nothing spins. */
const MIN_DELAY_MS = 10;
/** How often the interface addresses are read again. */
export const INTERFACE_CHECK_MS = 10_000;
/** At most one forced handshake per peer this often. */
const HANDSHAKE_EVERY_MS = 1_000;
/** A received call-me's candidates are kept this long beside the view's. */
const CALLME_KEEP_MS = 120_000;

/** This node's paths to the other members. See the module docs. */
export class MeshPaths {
  readonly #d: MeshPathsDeps;
  readonly #crypto: PathCrypto;
  readonly #own: Candidates;
  readonly #table: PathTable;
  readonly #timing: PathTiming;
  readonly #me: string;
  readonly #members = new Map<string, Member>();
  readonly #peers = new Map<string, PeerState>();
  // Sessions on demand: where an idle member last announced itself on the LAN (one entry per
  // member at most), a candidate for when it becomes active.
  readonly #lanSeen = new Map<string, string>();
  readonly #counters = new PathCounters();
  readonly #probes: PathProbes;
  readonly #callme: CallMe;
  readonly #lan: LanDiscovery;
  // Path lines are one per change and per peer left without a path, but a large mesh
  // coming up at once must not flood the log either.
  readonly #budget = new LogBudget({ burst: 50, intervalMs: 1000 });
  readonly #stops: (() => void)[] = [];
  #published = "";
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #closed = false;

  /** Paths of `deps.device`'s node; nothing runs before {@link start}. */
  constructor(deps: MeshPathsDeps, opts: NatOptions = {}) {
    this.#d = deps;
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
      // None: a mesh kept to the addresses it advertises (a loopback demo) stays there.
      interfaces: opts.lanCandidates === false ? () => [] : opts.interfaces,
    });
    this.#timing = { ...DEFAULT_PATH_TIMING, ...opts.pathTiming };
    this.#table = new PathTable(this.#timing);
    this.#probes = new PathProbes({
      device: deps.device,
      crypto: this.#crypto,
      table: this.#table,
      own: this.#own,
      peers: this.#peers,
      drops: this.#counters.drops,
      apply: (key, change) => this.#apply(key, change),
      wake: (key) => {
        this.#wake(key);
        return this.#peers.get(key);
      },
    });
    this.#callme = new CallMe({
      role: deps.role,
      channel: deps.channel,
      me: this.#me,
      leaderAddress: deps.leaderAddress,
      ...(deps.isLeader ? { isLeader: deps.isLeader } : {}),
      ...(deps.mayCall ? { mayCall: deps.mayCall } : {}),
      members: this.#members,
      candidates: () => this.#own.entries,
      drops: this.#counters.drops,
      calledBy: (key, c) => this.#calledBy(key, c),
    });
    this.#lan = new LanDiscovery({
      publicKey: this.#me,
      privateKey: parseKey(deps.privateKey, "private key"),
      onLink: onLinkCheck(opts.interfaces ?? (() => Deno.networkInterfaces())),
      listenPort: deps.device.listenPort,
      logger: deps.logger,
      lanKey: deps.lanKey,
      onPeer: (p) => this.#onLanPeer(p),
    }, opts);
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
    this.#lan.start();
  }

  /**
   * Takes a new membership view: members' candidates, departures, our own observed address.
   * With `change` (how it differs from the last view taken), only the members it names.
   */
  viewChanged(v: MembershipView, change: ViewChange | null = null): void {
    if (this.#closed) return;
    const now = performance.now();
    let joined = false;
    let left = false;
    if (change) {
      for (const key of change.remove) left = this.#leave(key) || left;
      for (const m of change.upsert) joined = this.#take(m, now) || joined;
    } else {
      const present = new Set<string>();
      for (const m of v.members) {
        if (m.publicKey !== this.#me) present.add(m.publicKey);
        joined = this.#take(m, now) || joined;
      }
      for (const key of [...this.#members.keys()]) {
        if (!present.has(key)) left = this.#leave(key) || left;
      }
    }
    // Keys refused before may be members now; departed members' keys are wiped.
    if (joined || left) this.#crypto.membersChanged();
    this.#schedule();
  }

  /** Member `m`'s record now (ours: what others observe of us); true when it is new. */
  #take(m: Member, now: number): boolean {
    if (m.publicKey === this.#me) {
      this.#observeSelf(m);
      return false;
    }
    const joined = !this.#members.has(m.publicKey);
    this.#members.set(m.publicKey, m);
    if (!this.#d.onDemand || this.#peers.has(m.publicKey)) this.#updatePeer(m, now);
    return joined;
  }

  /** Member `key` left; true when it was one. */
  #leave(key: string): boolean {
    if (!this.#members.delete(key)) return false;
    this.#peers.delete(key);
    this.#lanSeen.delete(key);
    this.#table.remove(key);
    this.#own.unobserve(key); // what it saw of us is no vote any more
    return true;
  }

  /**
   * Starts probing a member's paths (sessions on demand: it has traffic, or is kept): its
   * candidates from the view, and a punch with a call-me when no session works. A no-op for a
   * key that is no member or is active already.
   */
  activate(publicKey: string): void {
    const m = this.#members.get(publicKey);
    if (this.#closed || !m || this.#peers.has(publicKey)) return;
    const now = performance.now();
    this.#updatePeer(m, now);
    const lan = this.#lanSeen.get(publicKey);
    if (lan !== undefined) this.#table.get(publicKey)?.addCandidate(lan, "lan-announce", now);
    this.#sample(publicKey, now);
    this.#schedule();
  }

  /** Stops probing a member's paths (it went idle); the device keeps the endpoint it has. */
  deactivate(publicKey: string): void {
    if (!this.#d.onDemand || !this.#peers.delete(publicKey)) return;
    this.#table.remove(publicKey);
  }

  /** Members whose paths are probed now. */
  get activeCount(): number {
    return this.#peers.size;
  }

  /** The keys of the members whose paths are probed now (every member without `onDemand`). */
  activeKeys(): IterableIterator<string> {
    return this.#peers.keys();
  }

  /** A path probe from the underlay (the device hands over what is not WireGuard). */
  handle(data: Uint8Array, from: Endpoint): void {
    if (this.#closed) return;
    if (this.#probes.handle(data, from)) this.#schedule();
  }

  /** Takes the LAN key (from the leader) and starts LAN discovery with it, or switches to it. */
  setLanKey(key: Uint8Array): void {
    this.#lan.setKey(key);
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
    return this.#lan.port;
  }

  /** Call-me messages sent and received (relayed ones not counted). */
  get callmes(): { sent: number; received: number } {
    return this.#callme.counts;
  }

  /**
   * A peer's path fields for `/status`: `idle` for a member not probed now (sessions on demand:
   * no traffic yet, or gone quiet), which has no path to tell because none was asked for.
   */
  peerStatus(publicKey: string): Partial<PeerStatus> {
    if (this.#d.onDemand && this.#members.has(publicKey) && !this.#peers.has(publicKey)) {
      return { path: "idle", candidates: [], pathChangedAt: null };
    }
    return peerPathStatus(
      this.#table.get(publicKey),
      this.#peers.get(publicKey)?.changedAt,
      performance.now(),
    );
  }

  /**
   * The figures `/metrics` shows; `stateOf` names a peer's path state when more than the direct
   * path decides it (the routes: `relay`).
   */
  metrics(stateOf?: (key: string) => string | null): PathMetrics {
    return pathMetrics(
      this.#table,
      this.#counters,
      this.#crypto.drops,
      this.#lan.drops(),
      stateOf ? (key, pp) => stateOf(key) ?? pp.state : undefined,
    );
  }

  /**
   * What the routes need of a peer: the direct path chosen (with its last pong), and whether
   * the WireGuard session works (whatever way it goes). Null for a key that is no member.
   */
  info(publicKey: string): PeerPathInfo | null {
    const st = this.#peers.get(publicKey);
    if (!st) return null;
    const pp = this.#table.get(publicKey);
    const chosen = pp?.chosen ?? null;
    let direct: PeerPathInfo["direct"] = null;
    if (pp && chosen !== null) {
      const s = pp.stats().find((x) => x.endpoint === chosen);
      direct = {
        endpoint: chosen,
        lastPongAt: s?.lastPongAt ?? -Infinity,
        rttMs: s?.rttMs ?? NaN,
        misses: s?.misses ?? 0,
      };
    }
    return { direct, works: st.session.works, since: st.since };
  }

  /** Pings every candidate of a peer at the next tick (the routes ask while on a fallback). */
  probeSoon(publicKey: string): void {
    const pp = this.#table.get(publicKey);
    if (!pp || this.#closed) return;
    pp.probeSoon();
    this.#schedule();
  }

  /** Counts a change of route (relay, tcp, back to direct) with the path changes. */
  routeChanged(publicKey: string, reason: RouteReason): void {
    this.#counters.changes.add(reason);
    const st = this.#peers.get(publicKey);
    if (st) st.changedAt = Date.now();
  }

  /** Stops the timers, the listeners and LAN discovery. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const stop of this.#stops.splice(0)) stop();
    await this.#lan.close();
  }

  // ---- the view ----

  /** Gives the table a member's candidates: the view's and a recent call-me's. */
  #updatePeer(m: Member, now: number): void {
    let st = this.#peers.get(m.publicKey);
    if (!st) {
      st = newPeerState(now);
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
    this.#lan.announce();
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
    for (const p of pings) this.#probes.ping(p.peer, p.endpoint, now);
    for (const [key, st] of this.#peers) {
      this.#callme.maybeSend(key, this.#table.get(key), st, now);
      this.#maybeSayNone(key, st, now);
    }
    this.#schedule();
  }

  /** Reads a peer's session counters; tells the table when the session starts or stops working. */
  #sample(key: string, now: number): void {
    const st = this.#peers.get(key);
    const p = this.#d.device.peer(key);
    if (!st || !p) return;
    st.session.sample(p.counters, p.current !== null, now);
    // A session that works through a relay or over TCP says nothing of the direct path: the
    // table then judges it by its pongs alone.
    const works = st.session.works && isDirectEndpoint(p.endpoint);
    if (works !== st.tableWorks) {
      st.tableWorks = works;
      this.#apply(key, this.#table.peer(key).session(works, now));
    }
  }

  // ---- path changes ----

  /** Counts and logs a change, and moves the device's peer to the new endpoint. */
  #apply(key: string, change: PathChange | null): void {
    const st = this.#peers.get(key);
    if (change === null || !st) return;
    this.#counters.changes.add(change.reason);
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
    const left = p.endpoint;
    try {
      // The place left stays one the peer may send from (lib/device/roaming.ts).
      moveEndpoint(p, device.endpoint(change.to));
    } catch {
      return;
    }
    // A working session just follows (sessions do not depend on the endpoint); without one the
    // last initiation went where nothing answers, and its retransmission is up to 5 s away.
    const now = performance.now();
    if (!st.session.works && now - st.handshakeAt >= HANDSHAKE_EVERY_MS) {
      st.handshakeAt = now;
      device.initiateHandshakeNow(key);
    } else if (st.session.works && left !== null && !isDirectEndpoint(left)) {
      // Taken off a relay or a stream by a path that answers: the peer is brought along (see
      // lib/mesh/relay/mesh_routes.ts, which moves back to direct the same way).
      device.backOnUdp(key);
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
        st.tableWorks = false;
        this.#apply(e.peer, this.#table.peer(e.peer).session(false, now));
        break;
      case "endpoint-changed":
        // The peer's packets come from elsewhere (its NAT mapping changed) and the device sends
        // there already. The event comes before the packet is counted (and, for a handshake,
        // before its keys are installed): once it is, the session is read and the table follows
        // the device when the session works and the endpoint is not worse than the chosen one.
        // Onto a relay or TCP is the routes' business: the table holds direct UDP paths only.
        if (isDirectText(e.endpoint)) queueMicrotask(() => this.#roamed(e.peer, e.endpoint));
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

  #onControl(msg: ControlMessage, from: string): void {
    if (msg.t !== "callme" || this.#closed) return;
    this.#callme.handle(msg, from);
  }

  /** The peer punches towards us now: its candidates join its entry and we punch too. */
  #calledBy(key: string, c: Candidate[]): boolean {
    if (!this.#peers.has(key) && this.#members.has(key)) this.#wake(key);
    const st = this.#peers.get(key);
    const m = this.#members.get(key);
    if (!st || !m) return false;
    const now = performance.now();
    st.callme = { list: c, at: now };
    st.calledAt = now;
    this.#updatePeer(m, now);
    this.#table.peer(key).punch(now);
    this.#schedule();
    return true;
  }

  /** A member wants a session: the active set's owner is told (or the paths take it in). */
  #wake(key: string): void {
    if (this.#closed || !this.#members.has(key)) return;
    if (this.#d.wake) this.#d.wake(key);
    else this.activate(key);
  }

  // ---- LAN discovery ----

  /** A member announced itself on the LAN: its address is a candidate. False for a stranger. */
  #onLanPeer(p: LanPeer): boolean {
    const pp = this.#table.get(p.publicKey);
    const endpoint = formatHostPort({ host: p.address, port: p.port });
    if (!pp) {
      // A member not active now is no stranger: its announcement waits for traffic.
      if (!this.#members.has(p.publicKey)) return false;
      this.#lanSeen.set(p.publicKey, endpoint);
      return true;
    }
    if (pp.addCandidate(endpoint, "lan-announce", performance.now())) this.#schedule();
    return true;
  }
}
